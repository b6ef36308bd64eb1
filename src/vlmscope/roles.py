"""Find the four roles (vision encoder, connector, language model, LM head) from the module structure.

No model types are listed here. The rules:
- LM head: the model's output embeddings.
- Patch embedding: the first patchifying convolution over image channels, or the first Linear whose
  input is one flattened patch (channels × patch², sizes read from the config).
- Vision encoder: the highest ancestor of the patch embedding that does not reach the token embeddings,
  when it holds a repeated block stack; otherwise the model has no vision tower (the patch embedding
  then belongs to the connector). Modules after the encoder stack that project to the language width
  (e.g. a patch merger) belong to the connector.
- Language model: the highest ancestor of the token embeddings that does not reach the vision encoder,
  with the largest block stack inside it. When vision and language share one trunk module, the
  language model is the largest stack outside the vision encoder plus the token embeddings and the
  norms beside the stack.
- Connector: every parameter left over (projector, resampler, learned separators).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from torch import nn

from vlmscope.errors import AnatomyError
from vlmscope.schema import ParamCounts
from vlmscope.walk import ModuleIndex, ancestors, parent_of, under


@dataclass(frozen=True)
class Roles:
    vision: str | None  # path of the vision encoder root; None when the model has no vision tower
    vision_stack: str | None
    patch_embedding: str | None
    language: tuple[str, ...]  # paths whose subtrees are the language model
    language_root: str  # module that owns the decoder stack (for its class name)
    language_stack: str
    embeddings: str
    head: str | None
    connector: tuple[str, ...]  # top-most leftover paths (modules or parameters), vision tail first
    extra_vision: tuple[str, ...] = ()  # further image towers (video, high resolution)
    other: tuple[str, ...] = ()  # encoders of other modalities (audio)


def is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or type(module).__name__.endswith("Norm")


def _highest_without(index: ModuleIndex, start: str, avoid: nn.Module) -> str:
    best = start
    for anc in ancestors(start):
        if anc != start and index.contains(anc, avoid):
            break
        best = anc
    return best


def _largest_stack(index: ModuleIndex, inside: str | None, outside: tuple[str, ...] = ()) -> str | None:
    stacks = [s for s in index.stacks()
              if (inside is None or under(s, inside)) and not any(under(s, o) for o in outside)]
    return max(stacks, key=index.count, default=None)


def _config_ints(config: Any, key: str) -> set[int]:
    """Every integer value of ``key`` in a config and its sub-configs (lists flattened)."""
    found: set[int] = set()
    data = config.to_dict() if hasattr(config, "to_dict") else {}
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == key and isinstance(v, int) and not isinstance(v, bool):
                    found.add(v)
                elif k == key and isinstance(v, (list, tuple)):
                    found.update(x for x in v if isinstance(x, int))
                else:
                    stack.append(v)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def patch_embedding(index: ModuleIndex) -> str | None:
    """Path of the module that turns image pixels into patch features."""
    config = getattr(index.model, "config", None)
    channels = _config_ints(config, "num_channels") or {3}
    patches = _config_ints(config, "patch_size")
    temporal = _config_ints(config, "temporal_patch_size") | {1}
    flat = {c * p * p * t for c in channels for p in patches for t in temporal}
    convs = [(p, m) for p, m in index.modules.items()
             if isinstance(m, (nn.Conv2d, nn.Conv3d)) and m.in_channels in channels]
    patchify = [p for p, m in convs if tuple(m.kernel_size) == tuple(m.stride)]
    if patchify or convs:
        return (patchify or [p for p, _ in convs])[0]
    linears = [(p, m) for p, m in index.modules.items() if isinstance(m, nn.Linear)]
    by_size = next((p for p, m in linears if m.in_features in flat), None)
    # A Linear over flattened patches whose size the config does not state is still named for its job.
    return by_size or next((p for p, _ in linears if "patch" in p.rpartition(".")[2]), None)


def _embeddings(index: ModuleIndex) -> nn.Module:
    model: Any = index.model
    try:
        found = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        found = None
    if isinstance(found, nn.Module):
        return found
    embeddings = [m for m in index.modules.values() if isinstance(m, nn.Embedding)]
    if not embeddings:
        raise AnatomyError("no input token embeddings found")
    return max(embeddings, key=lambda m: m.num_embeddings)


def _head(index: ModuleIndex) -> nn.Module | None:
    model: Any = index.model
    try:
        head = model.get_output_embeddings()
    except (NotImplementedError, AttributeError):
        return None
    return head if isinstance(head, nn.Module) else None


def _vision_tail(index: ModuleIndex, vision: str, stack: str, width: int) -> tuple[str, ...]:
    """Children of the vision encoder after its block stack that change the width (merger, projector).
    Pooling heads that keep the encoder's width (e.g. SigLIP's attention-pooling head) stay in the encoder."""
    owner = next(p for p in ancestors(stack) if parent_of(p) == vision or p == vision) if stack != vision else vision
    tail: list[str] = []
    seen_stack = False
    for child in index.children(vision):
        if child == owner or under(stack, child):
            seen_stack = True
            continue
        module = index.modules[child]
        if seen_stack and (_output_width(module) not in (None, width) or _input_width(module) not in (None, width)):
            tail.append(child)
    return tuple(tail)


def _input_width(module: nn.Module) -> int | None:
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    return first.in_features if first is not None else None


def _output_width(module: nn.Module) -> int | None:
    """Output width of the last Linear or convolution in a module, if it has one."""
    last = None
    for m in module.modules():
        if isinstance(m, nn.Linear):
            last = m.out_features
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            last = m.out_channels
    return last


def _vision_by_config(index: ModuleIndex) -> str | None:
    """The module built from the config's vision sub-config (used when no patch embedding is recognised)."""
    sub = getattr(getattr(index.model, "config", None), "vision_config", None)
    if sub is None:
        return None
    return next((p for p, m in index.modules.items() if p and getattr(m, "config", None) is sub), None)


def find_roles(index: ModuleIndex) -> Roles:
    """Locate every role; raise AnatomyError naming the part that is missing."""
    emb_mod = _embeddings(index)
    emb = index.path_of(emb_mod)
    assert emb is not None
    head_mod = _head(index)
    head = index.path_of(head_mod)
    patch = patch_embedding(index)
    vision: str | None = None
    if patch is not None:
        vision = _highest_without(index, patch, emb_mod)
    elif (vision := _vision_by_config(index)) is not None:
        patch = vision
    vision_stack = _largest_stack(index, inside=vision) if vision else None
    avoid_path = (vision if vision_stack else patch) or head
    if avoid_path is None:
        raise AnatomyError("neither an image input nor an LM head found")
    avoid = index.modules[avoid_path]
    root = _highest_without(index, emb, avoid)
    lang_stack = _largest_stack(index, inside=root) if root != emb else None
    language: tuple[str, ...] = (root,)
    owner = root
    if lang_stack is None:  # vision and language share one trunk: stack, embeddings and final norms
        lang_stack = _largest_stack(index, inside=None,
                                    outside=tuple(p for p in (vision if vision_stack else None, head) if p))
        if lang_stack is None:
            raise AnatomyError("no repeated transformer block stack found for the language model")
        stack_root = _highest_without(index, lang_stack, avoid)
        owner = parent_of(lang_stack) if stack_root == lang_stack else stack_root
        norms = tuple(c for c in index.children(owner) if is_norm(index.modules[c]))
        language = (stack_root, emb, *norms)
    extra: tuple[str, ...] = ()
    if vision_stack is None and patch is not None:  # a flat model: look for the blocks the patches feed
        vision_stack = _flat_vision_stack(index, patch, language, head, emb_mod)
        extra = (vision_stack,) if vision_stack else ()
    if vision_stack is None:
        vision = None  # no vision tower: a patch embedding straight into the LM, or no image input at all
    tail: tuple[str, ...] = ()
    if vision and vision_stack and patch and under(vision_stack, vision):
        tail = _vision_tail(index, vision, vision_stack, _output_width(index.modules[patch]) or 0)
    taken = (*((vision,) if vision else ()), *extra, *language, *((head,) if head else ()))
    leftovers = tuple(p for p in _leftovers(index, taken) if p not in tail)
    towers = extra + tuple(p for p in leftovers if _is_tower(index, p))
    others = tuple(p for p in leftovers if p not in towers and _is_other_encoder(index, p))
    connector = (*tail, *(p for p in leftovers if p not in towers and p not in others))
    return Roles(vision, vision_stack, patch, language, owner, lang_stack, emb, head, connector, towers, others)


def _flat_vision_stack(index: ModuleIndex, patch: str, language: tuple[str, ...], head: str | None,
                       emb: nn.Module) -> str | None:
    """In a model without a vision module, the stack (outside the language model) whose blocks take the
    patch embedding's width. A stack whose owner reaches the token embeddings but not the patches is a
    text stack (e.g. the encoder of an encoder-decoder), not a vision one."""
    width = _output_width(index.modules[patch])
    for stack in sorted(index.stacks(), key=index.count, reverse=True):
        if any(under(stack, p) for p in (*language, *((head,) if head else ()))):
            continue
        owner = parent_of(stack)
        if index.contains(owner, emb) and not index.contains(owner, index.modules[patch]):
            continue
        if _input_width(next(iter(index.modules[stack].children()))) == width:
            return stack
    return None


def _is_other_encoder(index: ModuleIndex, path: str) -> bool:
    """An encoder of another modality (e.g. audio): its own input convolution that is not an image patch
    embedding, and a block stack of its own."""
    module = index.modules.get(path)
    if module is None:
        return False
    convs = [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    return bool(convs) and not any(m.in_channels == 3 for m in convs) and any(under(s, path) for s in index.stacks())


def _is_tower(index: ModuleIndex, path: str) -> bool:
    """A further image encoder (e.g. a video or high-resolution tower): a patchifying convolution over image
    channels and a block stack of its own."""
    module = index.modules.get(path)
    if module is None:
        return False
    has_patchify = any(isinstance(m, (nn.Conv2d, nn.Conv3d)) and m.in_channels == 3
                       and tuple(m.kernel_size) == tuple(m.stride) for m in module.modules())
    return has_patchify and any(under(s, path) for s in index.stacks())


def _leftovers(index: ModuleIndex, taken: tuple[str, ...]) -> tuple[str, ...]:
    """Top-most paths of parameters that belong to no other role."""
    tops: dict[str, None] = {}
    for name in index.params:
        if any(under(name, t) for t in taken):
            continue
        top = name
        for anc in ancestors(parent_of(name)):
            if anc == "" or any(under(t, anc) for t in taken):
                break
            top = anc
        tops[top] = None
    return tuple(tops)


def count_params(index: ModuleIndex, roles: Roles) -> ParamCounts:
    """Per-role parameter counts; each tensor counted once, so the roles sum to the total."""
    buckets = {"vision": 0, "connector": 0, "language": 0, "lm_head": 0, "other": 0}
    for name, n in index.params.items():
        role = role_of(name, roles)
        buckets["connector" if role == "model" else role] += n
    return ParamCounts(total=index.total, **buckets)


def role_of(path: str, roles: Roles) -> str:
    """The role of a module or parameter path; "model" for trunks that hold several roles."""
    if roles.head and under(path, roles.head):
        return "lm_head"
    if any(under(path, p) for p in roles.other):
        return "other"
    if any(under(path, p) for p in roles.connector):
        return "connector"
    if (roles.vision is not None and under(path, roles.vision)) or any(under(path, p) for p in roles.extra_vision):
        return "vision"
    if any(under(path, p) for p in roles.language):
        return "language"
    return "model"


def stack_block(index: ModuleIndex, stack: str) -> tuple[int, nn.Module]:
    """(length, representative block) of a stack: the first block of its most common class."""
    blocks = list(index.modules[stack].children())
    common = Counter(type(b) for b in blocks).most_common(1)[0][0]
    return len(blocks), next(b for b in blocks if type(b) is common)
