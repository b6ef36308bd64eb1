"""Find the four roles (vision encoder, connector, language model, LM head) from the module structure.

No model types are listed here. The rules:
- LM head: the model's output embeddings.
- Vision encoder: the highest ancestor of the first patch-embedding convolution that does not reach the
  language model's input embeddings.
- Language model: the highest ancestor of the largest repeated block stack outside the vision encoder
  that does not reach the vision encoder. When vision and language share one trunk module, the language
  model is that stack plus the input embeddings and the norms beside the stack.
- Connector: every parameter left over (projector, resampler, learned separators).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vlmscope.errors import AnatomyError
from vlmscope.schema import ParamCounts
from vlmscope.walk import ModuleIndex, ancestors, parent_of, under

_PATCH_EMBEDDINGS = (nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class Roles:
    vision: str  # path of the vision encoder root
    vision_stack: str
    patch_embedding: str
    language: tuple[str, ...]  # paths whose subtrees are the language model
    language_root: str  # module that owns the decoder stack (for its class name)
    language_stack: str
    embeddings: str
    head: str | None
    connector: tuple[str, ...]  # top-most leftover paths (modules or parameters)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith("Norm")


def _highest_without(index: ModuleIndex, start: str, avoid: nn.Module) -> str:
    best = start
    for anc in ancestors(start):
        if anc != start and index.contains(anc, avoid):
            break
        best = anc
    return best


def _largest_stack(index: ModuleIndex, inside: str | None, outside: str | None) -> str | None:
    stacks = [s for s in index.stacks()
              if (inside is None or under(s, inside)) and (outside is None or not under(s, outside))]
    return max(stacks, key=index.count, default=None)


def find_roles(index: ModuleIndex) -> Roles:
    """Locate every role; raise AnatomyError naming the part that is missing."""
    model: Any = index.model  # a transformers PreTrainedModel (or a rebuilt skeleton with the same API)
    head_mod = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb_mod = model.get_input_embeddings()
    emb = index.path_of(emb_mod)
    if emb is None:
        raise AnatomyError("no input token embeddings found")
    patch = index.first("", _PATCH_EMBEDDINGS)
    if patch is None:
        raise AnatomyError("no vision encoder found (no patch-embedding convolution)")
    vision = _highest_without(index, patch, emb_mod)
    vision_stack = _largest_stack(index, inside=vision, outside=None)
    head = index.path_of(head_mod)
    lang_stack = _largest_stack(index, inside=None, outside=vision)
    if vision_stack is None or lang_stack is None:
        raise AnatomyError("no repeated transformer block stack found for the " +
                           ("vision encoder" if vision_stack is None else "language model"))
    root = _highest_without(index, lang_stack, index.modules[vision])
    language: tuple[str, ...] = (root,)
    owner = root
    if not under(emb, root):  # vision and language share one trunk: add the embeddings and the final norm(s)
        owner = parent_of(lang_stack)
        norms = tuple(c for c in index.children(owner) if _is_norm(index.modules[c]))
        language = (root, emb, *norms)
    taken = (vision, *language, *((head,) if head else ()))
    return Roles(vision, vision_stack, patch, language, owner, lang_stack, emb, head,
                 _leftovers(index, taken))


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
    buckets = {"vision": 0, "connector": 0, "language": 0, "lm_head": 0}
    for name, n in index.params.items():
        buckets[role_of(name, roles)] += n
    return ParamCounts(total=index.total, **buckets)


def role_of(path: str, roles: Roles) -> str:
    """The role of a module or parameter path; "model" for trunks that hold several roles."""
    if roles.head and under(path, roles.head):
        return "lm_head"
    if under(path, roles.vision):
        return "vision"
    if any(under(path, p) for p in roles.language):
        return "language"
    if any(under(path, p) for p in roles.connector):
        return "connector"
    return "model"
