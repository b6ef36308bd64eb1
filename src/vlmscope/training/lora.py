"""Which parameters a recipe trains: LoRA adapters on the modules its targets name (matched as peft matches
``target_modules``), or whole roles of the model left unfrozen.

Targets, as ``--lora-targets`` takes them and peft matches them:
- names, comma-separated (a list in peft), or one plain name: a module whose dotted name equals one of them or
  ends with ``.name``;
- anything else is a regex that must match a module's whole dotted name (peft's ``re.fullmatch`` of a string);
- ``all-linear``: every ``nn.Linear`` except the model's output layer (the LM head).
A target that matches nothing is an error, as in peft. Here, unlike peft, a target also has to lie in one of
the recipe's roles (``--lora-roles``, language by default).

A LoRA adapter of rank r on a Linear of in → out features adds r·(in + out) parameters (A: in → r, B: r → out,
no bias); on a convolution, A has the layer's kernel and B is 1×1; on an embedding, r·(rows + dim).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

from torch import nn

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles, counted_role
from vlmscope.data.training import Method, Trainable, TrainRecipe
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_CONFIG_ITEMS

ALL_LINEAR = "all-linear"
ADAPTABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)


def _role(path: str, roles: Roles) -> str:
    return str(counted_role(path, roles))


def targets(index: ModuleIndex, roles: Roles, recipe: TrainRecipe) -> Iterator[tuple[str, nn.Module]]:
    """The modules the recipe's LoRA adapts: (dotted name, module), in the model's order."""
    wanted = recipe.lora_targets.strip()
    head = index.path_of(_output_layer(index.modules[""]))
    if wanted == ALL_LINEAR:
        linear = {n for n, m in index.modules.items() if isinstance(m, nn.Linear) and n != head}
        match: Callable[[str], bool] = linear.__contains__
    elif "," in wanted or re.fullmatch(r"[\w.]+", wanted):
        names = {n.strip() for n in wanted.split(",") if n.strip()}
        if len(names) > MAX_CONFIG_ITEMS:
            raise RequestError("lora_targets", f"{len(names):,} names", f"at most {MAX_CONFIG_ITEMS:,}")
        match = _by_names(names)
    else:
        try:
            pattern = re.compile(wanted)
        except re.error as exc:
            raise RequestError("lora_targets", wanted, f"a valid regex ({exc})") from None
        match = lambda name: pattern.fullmatch(name) is not None  # noqa: E731 (peft: re.fullmatch)
    found = [(name, module) for name, module in index.modules.items()
             if name and match(name) and _role(name, roles) in recipe.lora_roles]
    if not found:
        raise RequestError("lora_targets", wanted, f"names or a regex matching modules of the roles "
                           f"{', '.join(recipe.lora_roles)} (--lora-roles); none matched")
    for name, module in found:
        if not isinstance(module, ADAPTABLE):
            raise RequestError("lora_targets", name, "Linear, convolution or embedding modules (what LoRA "
                               f"adapts); {name} is a {type(module).__name__}")
    yield from found


def _by_names(names: set[str]) -> Callable[[str], bool]:
    """peft's rule for a list of names: the whole name, or a dotted tail of it, is one of them."""
    def match(name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[i:]) in names for i in range(len(parts)))
    return match


def _output_layer(model: nn.Module) -> nn.Module | None:
    get = getattr(model, "get_output_embeddings", None)
    try:
        return get() if callable(get) else None
    except (AttributeError, NotImplementedError):
        return None


def adapter_params(module: nn.Module, rank: int) -> int:
    """Parameters of one LoRA adapter of ``rank`` on ``module`` (as peft builds it)."""
    if isinstance(module, nn.Linear):
        return rank * (module.in_features + module.out_features)
    if isinstance(module, nn.Embedding):
        return rank * (module.num_embeddings + module.embedding_dim)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        kernel = math.prod(module.kernel_size)
        return rank * module.in_channels // module.groups * kernel + rank * module.out_channels
    raise TypeError(type(module).__name__)


def trainable(index: ModuleIndex, roles: Roles, recipe: TrainRecipe) -> Trainable:
    """The parameters ``recipe`` trains, per role."""
    per_role = dict.fromkeys(("vision", "connector", "language", "lm_head", "other"), 0)
    adapted = 0
    if recipe.method == Method.full:
        for name, n in index.params.items():
            role = _role(name, roles)
            if role not in recipe.freeze:
                per_role[role] += n
    else:
        for name, module in targets(index, roles, recipe):
            per_role[_role(name, roles)] += adapter_params(module, recipe.lora_rank)
            adapted += 1
    total = sum(per_role.values())
    base = index.total
    frozen = base - total if recipe.method == Method.full else base
    return Trainable(total, per_role["vision"], per_role["connector"], per_role["language"], per_role["lm_head"],
                     adapted, frozen)


def full_parameters(model: nn.Module, roles: Roles, recipe: TrainRecipe) -> list[nn.Parameter]:
    """A full fine-tune's trained parameters: those of every role ``--freeze`` leaves out (shared ones once)."""
    return [p for name, p in model.named_parameters() if _role(name, roles) not in recipe.freeze]


def trained_shapes(index: ModuleIndex, roles: Roles, recipe: TrainRecipe) -> list[tuple[int, ...]]:
    """Shapes of the tensors the recipe trains (the optimizer keeps state for each): the parameters of the
    roles not frozen, or each adapter's A and B (a convolution's A and B as peft builds them)."""
    if recipe.method == Method.full:
        return [tuple(p.shape) for p in full_parameters(index.modules[""], roles, recipe)]
    r = recipe.lora_rank
    out: list[tuple[int, ...]] = []
    for _, m in targets(index, roles, recipe):
        if isinstance(m, nn.Linear):
            out += [(r, m.in_features), (m.out_features, r)]
        elif isinstance(m, nn.Embedding):
            out += [(r, m.num_embeddings), (m.embedding_dim, r)]
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            kernel = tuple(int(k) for k in m.kernel_size)
            out += [(r, m.in_channels // m.groups, *kernel), (m.out_channels, r, *(1,) * len(kernel))]
    return out
