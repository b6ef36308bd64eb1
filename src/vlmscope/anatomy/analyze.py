"""Module tree → facts. Walk once, find the roles, read each role's blocks, name what they are."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from vlmscope.anatomy import blocks
from vlmscope.anatomy import names as identify
from vlmscope.anatomy.index import ModuleIndex, under
from vlmscope.anatomy.roles import Roles, count_params, find_roles, role_of, stack_block
from vlmscope.data import Anatomy, ConnectorFacts, HeadFacts, LanguageFacts, Role, TreeNode, VisionFacts
from vlmscope.sources import ModelSource
from vlmscope.tokens import encoded, native_tokens


@dataclass(frozen=True)
class Reading:
    """A built skeleton walked once, with its roles found: what the anatomy and the cost sheet both read."""

    model: nn.Module
    index: ModuleIndex
    roles: Roles


def read(model: nn.Module) -> Reading:
    """Walk ``model`` once and find its roles."""
    index = ModuleIndex(model)
    return Reading(model, index, find_roles(index))

_BACKENDS = (("eager", None), ("sdpa", "_supports_sdpa"), ("flash_attention_2", "_supports_flash_attn"),
             ("flex", "_supports_flex_attn"))


def analyze(reading: Reading, source: ModelSource) -> Anatomy:
    """Every fact vlmscope reports about a skeleton built from ``source``."""
    model, index, roles = reading.model, reading.index, reading.roles
    config = getattr(model, "config", None)
    vision = _vision(index, roles) if roles.vision else None
    language = _language(index, roles)
    connector = _connector(reading, vision, source, config)
    return Anatomy(
        model_id=source.model_id,
        model_class=type(model).__name__,
        model_type=str(source.config["model_type"]),
        architecture=identify.architecture_kind(index, roles, config),
        params=count_params(index, roles),
        vision=vision,
        connector=connector,
        language=language,
        lm_head=_head(index, roles),
        attention_backends=tuple(name for name, attr in _BACKENDS if attr is None or getattr(model, attr, False)),
        source=source.info,
        tree=tree(index, roles),
        card=source.card,
    )


def _positions(index: ModuleIndex, root: str, hidden: int) -> int | None:
    """Learned positions of the vision tower: its first Embedding of the tower's width, or a (1, N, hidden)
    position tensor held as a bare parameter (BLIP-2's), or an (N, hidden) one named as positions (Mllama's,
    beside its embedding of tile arrangements), N > 1."""
    emb = index.first(root, nn.Embedding)
    module = index.modules[emb] if emb is not None else None
    if isinstance(module, nn.Embedding) and module.embedding_dim == hidden:
        return module.num_embeddings
    for name, p in index.modules[root].named_parameters():
        if p.dim() == 3 and p.shape[0] == 1 and p.shape[2] == hidden and p.shape[1] > 1:
            return int(p.shape[1])
        if p.dim() == 2 and p.shape[1] == hidden and p.shape[0] > 1 and "position" in name:
            return int(p.shape[0])
    return module.num_embeddings if isinstance(module, nn.Embedding) else None


def _patch_facts(module: nn.Module, config: Any) -> tuple[int, int | None, str]:
    """(output width, patch size, description) of a patch embedding (convolution or flattened-patch Linear);
    for a tower found through its config, the first Linear stands in."""
    if not isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
        first = next((m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))), None)
        if first is None:
            return 0, None, "?"
        module = first
    if isinstance(module, (nn.Conv2d, nn.Conv3d)):
        patch = int(module.kernel_size[-1])
        kernel = "×".join(map(str, module.kernel_size))
        return (int(module.out_channels), patch,
                f"{type(module).__name__}({module.in_channels}→{module.out_channels}, {kernel}/{module.stride[-1]})")
    assert isinstance(module, nn.Linear)
    size = getattr(config, "patch_size", None)
    side: int | None = size[-1] if isinstance(size, (list, tuple)) else size
    return int(module.out_features), side, f"Linear({module.in_features}→{module.out_features}) over flattened patches"


def _image_size(root: nn.Module) -> int | None:
    size = getattr(getattr(root, "config", None), "image_size", None)
    if isinstance(size, (list, tuple)):  # (height, width): report the height; square for nearly all towers
        size = size[0]
    return int(size) if isinstance(size, int) else None


def _vision(index: ModuleIndex, roles: Roles) -> VisionFacts:
    assert roles.vision is not None and roles.vision_stack is not None and roles.patch_embedding is not None
    root = index.modules[roles.vision]
    hidden, patch, embeddings = _patch_facts(index.modules[roles.patch_embedding], getattr(root, "config", None))
    layers, block = stack_block(index, roles.vision_stack)
    stages = _stage_widths(index.modules[roles.vision_stack])
    if stages:  # a hierarchical tower (DaViT, Swin): stages of blocks at widening widths; its output is the last's
        layers = sum(len(list(stage.children())) for stage in index.modules[roles.vision_stack].children())
        hidden = stages[-1]
        block = next(iter(block.children()))
    positions = _positions(index, roles.vision, hidden)
    image_size = _image_size(root)
    if image_size is None and positions and patch:
        image_size = (blocks.square_side(positions) or blocks.square_side(positions - 1) or 0) * patch or None
    side = image_size // patch if image_size and patch else None
    class_token = bool(positions and side and positions == side * side + 1)
    tiled = blocks.takes(root, "aspect_ratio_ids")  # an image's tiles with their aspect ratio (Mllama)
    q_heads, _ = blocks.heads(block)
    mlp = blocks.block_mlp(block)
    facts = {"hidden_size": hidden, "layers": layers, "intermediate_size": mlp.dims[1],
             "heads": q_heads, "class_token": class_token, "patch_size": patch, "image_size": image_size,
             "tiles_with_aspect": tiled,
             "learned_positions": bool(positions), "mlp_gated": mlp.gated, "stages": stages}
    if positions:
        embeddings += f" + Embedding({positions})"
    return VisionFacts(
        class_name=type(root).__name__, path=roles.vision, family=identify.vision_family(facts), layers=layers,
        block_class=type(block).__name__, hidden_size=hidden, heads=q_heads, patch_size=patch,
        image_size=image_size, positions=positions, class_token=class_token, embeddings=embeddings,
        attention=blocks.attention_class(block), mlp=mlp, norm=blocks.block_norm(block),
        # what the tower's forward takes says how it sees an image: the patch grid (``grid_thw``: any size as
        # flattened patches), a patch mask (frames of any size, padded), or each image's own size (Pixtral)
        native_resolution=blocks.takes(root, "grid_thw"), variable_frames=blocks.takes(root, "patch_attention_mask"),
        any_size=blocks.takes(root, "image_sizes"), aspect_tiles=tiled,
        patch_grids=blocks.takes(root, "spatial_shapes") or blocks.takes(root, "target_sizes"),
    )


def _stage_widths(stack: nn.Module) -> list[int]:
    """The width of each stage, where a stack's members are themselves lists of blocks at different widths
    (the first norm of each); [] for a stack of blocks."""
    stages = list(stack.children())
    if not stages or not all(isinstance(s, (nn.ModuleList, nn.Sequential)) and len(s) for s in stages):
        return []
    widths = [next((int(m.normalized_shape[0]) for m in s.modules() if isinstance(m, nn.LayerNorm)), 0)
              for s in stages]
    return widths if all(widths) and len(set(widths)) > 1 else []


def _language(index: ModuleIndex, roles: Roles) -> LanguageFacts:
    layers, block = stack_block(index, roles.language_stack)
    emb = index.modules[roles.embeddings]
    assert isinstance(emb, nn.Embedding)
    # a hybrid stack (linear attention, short convolutions, state-space layers) reads its heads off the
    # first block that has attention
    attending = block if blocks.attention(block) is not None else next(
        (b for b in index.modules[roles.language_stack].children() if blocks.attention(b) is not None), block)
    q_heads, kv_heads = blocks.heads(attending)
    mlp = blocks.block_mlp(block)
    attn = blocks.attention(attending)
    config = getattr(attn, "config", None) or getattr(index.modules[roles.language_root], "config", None)
    facts = {"hidden_size": emb.embedding_dim, "layers": layers, "intermediate_size": mlp.dims[1],
             "heads": q_heads, "kv_heads": kv_heads, "vocab": emb.num_embeddings,
             "class_name": type(index.modules[roles.language_root]).__name__}
    name_or_path = str(getattr(config, "_name_or_path", "") or "")
    return LanguageFacts(
        class_name=type(index.modules[roles.language_root]).__name__, path=roles.language_root,
        family=identify.language_family(facts, name_or_path), layers=layers, block_class=type(block).__name__,
        hidden_size=emb.embedding_dim, heads=q_heads, kv_heads=kv_heads, vocab_size=emb.num_embeddings,
        attention=blocks.attention_class(attending), mlp=mlp, norm=blocks.block_norm(block),
        max_position_embeddings=getattr(config, "max_position_embeddings", None),
    )


def _connector(reading: Reading, vision: VisionFacts | None, source: ModelSource, config: Any) -> ConnectorFacts:
    index, roles = reading.index, reading.roles
    cls, projection = identify.projection(index, roles.connector)
    queries = identify.learned_queries(index, roles.connector)
    pool = identify.pooling(index, roles.connector, vision.hidden_size if vision else 0, config)
    flat = 0
    if vision is None and roles.patch_embedding:  # flattened patches straight into the LM (Fuyu)
        flat = flat_patch_side(index.modules[roles.patch_embedding], source.config)
    facts = ConnectorFacts(
        class_name=_connector_class(index, roles, cls), paths=roles.connector, projection=projection,
        pooling=pool.text, tokens_per_image=None, tokens_rule="",
        separators=identify.separators(index, roles.connector),
        queries=queries[1] if queries else None, merge=pool.merge, avg_pool=pool.avg_pool,
        merge_hint=pool.merge_hint, resampler=pool.resampler, flat_patch=flat,
        processing=getattr(reading.model, "vlmscope_processing", None),
    )
    tokens, rule = native_tokens(encoded(vision, facts), source)
    return replace(facts, tokens_per_image=tokens, tokens_rule=rule)


def flat_patch_side(embed: nn.Module, config: dict[str, Any]) -> int:
    """Patch side of a model without a vision tower whose patch embedding is a Linear over flattened
    patches (in_features = channels × patch², as in Fuyu); 0 otherwise."""
    patch = int(config.get("patch_size") or 0)
    channels = int(config.get("num_channels") or 3)
    return patch if patch and getattr(embed, "in_features", None) == channels * patch * patch else 0


def _connector_class(index: ModuleIndex, roles: Roles, projector_class: str) -> str:
    """The module that holds the whole connector, when one does; else the projector's class."""
    paths = roles.connector
    if not paths:
        return "none"
    common = paths[0].rpartition(".")[0] if len(paths) > 1 else paths[0] if paths else ""
    while common and not all(under(p, common) for p in paths):
        common = common.rpartition(".")[0]
    module = index.modules.get(common)
    if module is None or not common:
        return projector_class
    if role_of(common, roles) is Role.connector:
        return _kind(module)
    holds_other_role = any(under(p, common) for p in roles.language) or under(common, roles.vision or "\0")
    return projector_class if holds_other_role else _kind(module)


def _kind(module: nn.Module) -> str:
    """A module's class, or for a bare container (ModuleList, Sequential, ModuleDict) what it holds:
    ``IdeficsGatedCrossAttentionLayer ×32``."""
    if type(module) not in (nn.ModuleList, nn.Sequential, nn.ModuleDict):
        return type(module).__name__
    kinds = Counter(type(m).__name__ for m in module.children())
    return " + ".join(f"{name} ×{n}" if n > 1 else name for name, n in kinds.items()) or type(module).__name__


def _head(index: ModuleIndex, roles: Roles) -> HeadFacts:
    if roles.head is None:
        return HeadFacts("none", "", 0, 0, False)
    head = index.modules[roles.head]
    emb = index.modules[roles.embeddings]
    tied = getattr(head, "weight", None) is getattr(emb, "weight", False)
    return HeadFacts(type(head).__name__, roles.head, int(getattr(head, "in_features", 0)),
                     int(getattr(head, "out_features", 0)), tied)


def tree(index: ModuleIndex, roles: Roles, path: str = "") -> TreeNode:
    """The module tree with runs of identical blocks collapsed into one node with ``repeat``."""
    module = index.modules[path]
    children: list[TreeNode] = []
    kids = index.children(path)
    if isinstance(module, nn.ModuleList) and kids and len({type(index.modules[k]) for k in kids}) == 1 \
            and len({index.count(k) for k in kids}) == 1 and len(kids) > 1:
        first = tree(index, roles, kids[0])
        name = f"{kids[0].rpartition('.')[2]}-{kids[-1].rpartition('.')[2]}"
        children.append(TreeNode(name, first.class_name, first.params, first.role, len(kids), first.children))
    else:
        children = [tree(index, roles, k) for k in kids]
    return TreeNode(path.rpartition(".")[2], type(module).__name__, index.count(path) if path else index.total,
                    role_of(path, roles) if path else Role.model, 1, tuple(children))
