"""Module tree → facts. Walk once, find the roles, read each role's blocks, name what they are."""

from __future__ import annotations

from typing import Any

from torch import nn

from vlmscope import blocks, identify
from vlmscope.roles import Roles, count_params, find_roles, role_of
from vlmscope.schema import (
    Anatomy,
    ConnectorFacts,
    HeadFacts,
    LanguageFacts,
    TreeNode,
    VisionFacts,
)
from vlmscope.sources import ModelSource
from vlmscope.tokens import Encoded, native_tokens
from vlmscope.walk import ModuleIndex, under

_BACKENDS = (("eager", None), ("sdpa", "_supports_sdpa"), ("flash_attention_2", "_supports_flash_attn"),
             ("flex", "_supports_flex_attn"))


def analyze(model: nn.Module, source: ModelSource) -> Anatomy:
    """Every fact vlmscope reports about ``model`` (a skeleton built from ``source``)."""
    index = ModuleIndex(model)
    roles = find_roles(index)
    config = getattr(model, "config", None)
    vision = _vision(index, roles, config)
    language = _language(index, roles)
    connector = _connector(index, roles, vision, source, config)
    return Anatomy(
        model_id=source.model_id,
        model_class=type(model).__name__,
        model_type=str(source.config["model_type"]),
        architecture=identify.architecture_kind(index, roles.language, config),
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


def _stack_block(index: ModuleIndex, stack: str) -> tuple[int, nn.Module]:
    module = index.modules[stack]
    assert isinstance(module, nn.ModuleList)
    return len(module), module[0]


def _positions(index: ModuleIndex, root: str) -> int | None:
    emb = index.first(root, nn.Embedding)
    if emb is None:
        return None
    module = index.modules[emb]
    assert isinstance(module, nn.Embedding)
    return module.num_embeddings


def _vision(index: ModuleIndex, roles: Roles, model_config: Any) -> VisionFacts:
    root = index.modules[roles.vision]
    conv = index.modules[roles.patch_embedding]
    assert isinstance(conv, (nn.Conv2d, nn.Conv3d))
    layers, block = _stack_block(index, roles.vision_stack)
    positions = _positions(index, roles.vision)
    patch = int(conv.kernel_size[-1])
    image_size = getattr(getattr(root, "config", None), "image_size", None)
    if image_size is None and positions:
        image_size = (blocks.square_side(positions) or blocks.square_side(positions - 1) or 0) * patch or None
    side = image_size // patch if image_size else None
    class_token = bool(positions and side and positions == side * side + 1)
    q_heads, _ = blocks.heads(block)
    mlp = blocks.block_mlp(block)
    facts = {"hidden_size": conv.out_channels, "layers": layers, "intermediate_size": mlp.dims[1],
             "heads": q_heads, "class_token": class_token, "patch_size": patch, "image_size": image_size}
    kind = type(conv).__name__
    embeddings = f"{kind}({conv.in_channels}→{conv.out_channels}, {patch}×{patch}/{conv.stride[-1]})"
    if positions:
        embeddings += f" + Embedding({positions})"
    return VisionFacts(
        class_name=type(root).__name__, path=roles.vision, family=identify.vision_family(facts), layers=layers,
        block_class=type(block).__name__, hidden_size=conv.out_channels, heads=q_heads, patch_size=patch,
        image_size=image_size, positions=positions, class_token=class_token, embeddings=embeddings,
        attention=blocks.attention_class(block), mlp=mlp, norm=blocks.block_norm(block),
    )


def _language(index: ModuleIndex, roles: Roles) -> LanguageFacts:
    layers, block = _stack_block(index, roles.language_stack)
    emb = index.modules[roles.embeddings]
    assert isinstance(emb, nn.Embedding)
    q_heads, kv_heads = blocks.heads(block)
    mlp = blocks.block_mlp(block)
    attn = blocks.attention(block)
    config = getattr(attn, "config", None) or getattr(index.modules[roles.language_root], "config", None)
    facts = {"hidden_size": emb.embedding_dim, "layers": layers, "intermediate_size": mlp.dims[1],
             "heads": q_heads, "kv_heads": kv_heads, "vocab": emb.num_embeddings,
             "class_name": type(index.modules[roles.language_root]).__name__}
    name_or_path = str(getattr(config, "_name_or_path", "") or "")
    return LanguageFacts(
        class_name=type(index.modules[roles.language_root]).__name__, path=roles.language_root,
        family=identify.language_family(facts, name_or_path), layers=layers, block_class=type(block).__name__,
        hidden_size=emb.embedding_dim, heads=q_heads, kv_heads=kv_heads, vocab_size=emb.num_embeddings,
        attention=blocks.attention_class(block), mlp=mlp, norm=blocks.block_norm(block),
        max_position_embeddings=getattr(config, "max_position_embeddings", None),
    )


def _connector(index: ModuleIndex, roles: Roles, vision: VisionFacts, source: ModelSource,
               config: Any) -> ConnectorFacts:
    cls, projection = identify.projection(index, roles.connector)
    queries = identify.learned_queries(index, roles.connector)
    pooling = identify.pooling(index, roles.connector, vision.hidden_size, config)
    merge = 1
    if "patch merge" in pooling:
        merge = int(pooling.split("patch merge")[0].split("×")[-1].strip())
    tokens, rule = (None, "no fixed image size")
    if vision.image_size and vision.patch_size:
        enc = Encoded(vision.image_size, vision.patch_size, vision.class_token,
                      queries[1] if queries else None, merge)
        tokens, rule = native_tokens(enc, source)
    return ConnectorFacts(
        class_name=_connector_class(index, roles, cls), paths=roles.connector, projection=projection,
        pooling=pooling, tokens_per_image=tokens, tokens_rule=rule,
        separators=identify.separators(index, roles.connector),
    )


def _connector_class(index: ModuleIndex, roles: Roles, projector_class: str) -> str:
    """The module that holds the whole connector, when one does; else the projector's class."""
    paths = roles.connector
    common = paths[0].rpartition(".")[0] if len(paths) > 1 else paths[0] if paths else ""
    while common and not all(under(p, common) for p in paths):
        common = common.rpartition(".")[0]
    module = index.modules.get(common)
    if module is not None and common and role_of(common, roles) == "connector":
        return type(module).__name__
    if module is not None and common and not any(under(p, common) for p in roles.language):
        return type(module).__name__
    return projector_class


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
                    role_of(path, roles) if path else "model", 1, tuple(children))
