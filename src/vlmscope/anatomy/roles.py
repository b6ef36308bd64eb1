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

from vlmscope.anatomy import towers as towers_mod
from vlmscope.anatomy.blocks import is_norm
from vlmscope.anatomy.index import ModuleIndex, ancestors, config_ints, parent_of, under
from vlmscope.data import ParamCounts, Role
from vlmscope.errors import AnatomyError


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


def patch_embedding(index: ModuleIndex) -> str | None:
    """Path of the module that turns image pixels into patch features."""
    config = getattr(index.model, "config", None)
    channels = config_ints(config, "num_channels") or {3}
    patches = config_ints(config, "patch_size")
    temporal = config_ints(config, "temporal_patch_size") | {1}
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


@dataclass(frozen=True)
class _Anchors:
    """The modules every role is found from: token embeddings, LM head, patch embedding."""

    embeddings: str
    embeddings_module: nn.Module
    head: str | None
    patch: str | None


@dataclass(frozen=True)
class _Vision:
    root: str | None
    stack: str | None
    patch: str | None
    extra: tuple[str, ...] = ()  # a flat model's vision stack, outside any vision module


def find_roles(index: ModuleIndex) -> Roles:
    """Locate every role; raise AnatomyError naming the part that is missing."""
    anchors = _anchors(index)
    vision = _vision_root(index, anchors)
    language, owner, lang_stack = _language_roles(index, anchors, vision)
    vision = _flat_tower(index, anchors, vision, language)
    connector, towers, others = _leftover_roles(index, anchors, vision, language)
    return Roles(vision.root, vision.stack, vision.patch, language, owner, lang_stack, anchors.embeddings,
                 anchors.head, connector, towers, others)


def _anchors(index: ModuleIndex) -> _Anchors:
    emb_mod = _embeddings(index)
    emb = index.path_of(emb_mod)
    assert emb is not None
    return _Anchors(emb, emb_mod, index.path_of(_head(index)), patch_embedding(index))


def _vision_root(index: ModuleIndex, anchors: _Anchors) -> _Vision:
    """The highest ancestor of the patch embedding that does not reach the token embeddings (or the module
    built from the vision sub-config), with its largest block stack."""
    patch, vision = anchors.patch, None
    if patch is not None:
        vision = _highest_without(index, patch, anchors.embeddings_module)
    elif (vision := _vision_by_config(index)) is not None:
        patch = vision
    return _Vision(vision, _largest_stack(index, inside=vision) if vision else None, patch)


def _language_roles(index: ModuleIndex, anchors: _Anchors, vision: _Vision) -> tuple[tuple[str, ...], str, str]:
    """(language paths, module owning the decoder stack, the stack): the highest ancestor of the token
    embeddings that does not reach the vision encoder, or the shared trunk's stack, embeddings and norms."""
    avoid_path = (vision.root if vision.stack else vision.patch) or anchors.head
    if avoid_path is None:
        raise AnatomyError("neither an image input nor an LM head found")
    avoid = index.modules[avoid_path]
    root = _highest_without(index, anchors.embeddings, avoid)
    lang_stack = _largest_stack(index, inside=root) if root != anchors.embeddings else None
    if lang_stack is not None:
        return (root,), root, lang_stack
    # vision and language share one trunk: the largest stack outside the vision encoder, embeddings, norms
    outside = tuple(p for p in (vision.root if vision.stack else None, anchors.head) if p)
    lang_stack = _largest_stack(index, inside=None, outside=outside)
    if lang_stack is None:
        raise AnatomyError("no repeated transformer block stack found for the language model")
    stack_root = _highest_without(index, lang_stack, avoid)
    owner = parent_of(lang_stack) if stack_root == lang_stack else stack_root
    norms = tuple(c for c in index.children(owner) if is_norm(index.modules[c]))
    encoders = _text_encoders(index, anchors, lang_stack, outside)
    return (stack_root, anchors.embeddings, *norms, *encoders), owner, lang_stack


def _text_encoders(index: ModuleIndex, anchors: _Anchors, lang_stack: str, outside: tuple[str, ...]) -> tuple[str, ...]:
    """In a shared trunk, the other top-level stacks whose owner reads the token embeddings (the encoder of an
    encoder-decoder, which may also take the image patches): they are text stacks, so the language model's."""
    stacks = [s for s in index.stacks() if s != lang_stack and not any(under(s, o) for o in outside)]
    top = [s for s in stacks if not any(t != s and under(s, t) for t in (*stacks, lang_stack))]
    return tuple(parent_of(s) for s in top if parent_of(s) and not under(lang_stack, parent_of(s))
                 and _reads_tokens(index, parent_of(s), anchors.embeddings_module))


def _reads_tokens(index: ModuleIndex, path: str, emb: nn.Module) -> bool:
    """Whether the subtree at ``path`` holds the token embeddings, as the module itself or as an embedding
    tied to its weight (an encoder-decoder's encoder and decoder each hold one)."""
    weight = getattr(emb, "weight", None)
    return any(m is emb or (isinstance(m, nn.Embedding) and weight is not None and m.weight is weight)
               for m in index.modules[path].modules())


def _flat_tower(index: ModuleIndex, anchors: _Anchors, vision: _Vision, language: tuple[str, ...]) -> _Vision:
    """A model without a vision module: the stack the patches feed is its vision stack. Without any
    stack, there is no vision tower (a patch embedding straight into the LM, or no image input at all)."""
    stack = vision.stack
    extra: tuple[str, ...] = ()
    if stack is None and vision.patch is not None:
        stack = _flat_vision_stack(index, vision.patch, language, anchors.head, anchors.embeddings_module)
        extra = (stack,) if stack else ()
    return _Vision(vision.root if stack is not None else None, stack, vision.patch, extra)


def _leftover_roles(index: ModuleIndex, anchors: _Anchors, vision: _Vision,
                    language: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(connector, further image towers, encoders of other modalities) from the parameters no role took;
    the vision tail (merger, projector after the encoder stack) leads the connector."""
    tail: tuple[str, ...] = ()
    if vision.root and vision.stack and vision.patch and under(vision.stack, vision.root):
        width = _output_width(index.modules[vision.patch]) or 0
        tail = _vision_tail(index, vision.root, vision.stack, width)
    head = (anchors.head,) if anchors.head else ()
    taken = (*((vision.root,) if vision.root else ()), *vision.extra, *language, *head)
    leftovers = tuple(p for p in _leftovers(index, taken) if p not in tail)
    towers = vision.extra + tuple(p for p in leftovers if towers_mod.is_tower(index, p))
    widths = {w for w in (_output_width(index.modules[vision.patch]) if vision.patch else None,
                          getattr(anchors.embeddings_module, "embedding_dim", None)) if w}
    image_towers = (*towers, *((vision.root,) if vision.root else ()))
    others = towers_mod.other_inputs(index, tuple(p for p in leftovers if p not in towers), image_towers, widths)
    encoded = {w for p in others if towers_mod.is_other_encoder(index, p) and (w := _output_width(index.modules[p]))}
    image = _output_width(index.modules[vision.patch]) if vision.patch else None
    others += tuple(p for p in leftovers if p not in towers and p not in others
                    and towers_mod.projects_other_encoder(index, p, encoded, image))
    return (*tail, *(p for p in leftovers if p not in towers and p not in others)), towers, others


def _flat_vision_stack(index: ModuleIndex, patch: str, language: tuple[str, ...], head: str | None,
                       emb: nn.Module) -> str | None:
    """In a model without a vision module, the stack (outside the language model) whose blocks take the
    patch embedding's width. A stack whose owner holds the token embeddings but not the patch embedding's
    own module is a text stack (the encoder of an encoder-decoder, also when it reads the patches through a
    tied copy beside the text, as UDOP's), not a vision one. A flat model's root holds both."""
    width = _output_width(index.modules[patch])
    for stack in sorted(index.stacks(), key=index.count, reverse=True):
        if any(under(stack, p) for p in (*language, *((head,) if head else ()))):
            continue
        owner = parent_of(stack)
        if _reads_tokens(index, owner, emb) and not under(patch, owner):  # a text or joint text-image encoder
            continue
        if _input_width(next(iter(index.modules[stack].children()))) == width:
            return stack
    return None


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
    buckets = dict.fromkeys((Role.vision, Role.connector, Role.language, Role.lm_head, Role.other), 0)
    for name, n in index.params.items():
        buckets[counted_role(name, roles)] += n
    return ParamCounts(total=index.total, **{str(role): n for role, n in buckets.items()})


def counted_role(path: str, roles: Roles) -> Role:
    """The role a parameter or module is counted under: its own, with trunks that hold several roles (``model``)
    counted with the connector, as the parameter counts do."""
    role = role_of(path, roles)
    return Role.connector if role is Role.model else role


def role_of(path: str, roles: Roles) -> Role:
    """The role of a module or parameter path; ``model`` for trunks that hold several roles."""
    if roles.head and under(path, roles.head):
        return Role.lm_head
    if any(under(path, p) for p in roles.other):
        return Role.other
    if any(under(path, p) for p in roles.connector):
        return Role.connector
    if (roles.vision is not None and under(path, roles.vision)) or any(under(path, p) for p in roles.extra_vision):
        return Role.vision
    if any(under(path, p) for p in roles.language):
        return Role.language
    return Role.model


def stack_block(index: ModuleIndex, stack: str) -> tuple[int, nn.Module]:
    """(length, representative block) of a stack: the first block of its most common class."""
    blocks = list(index.modules[stack].children())
    common = Counter(type(b) for b in blocks).most_common(1)[0][0]
    return len(blocks), next(b for b in blocks if type(b) is common)
