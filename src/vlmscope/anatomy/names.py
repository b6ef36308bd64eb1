"""Names for what the structure shows: families (from signatures kept as data), kind, pooling, projector."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from torch import nn

from vlmscope.anatomy.blocks import activation_name, is_activation, is_norm, linears, mlp_facts, norm_facts
from vlmscope.anatomy.index import ModuleIndex, config_values, under
from vlmscope.data import ResamplerFacts, ResamplerKind, Separator


@cache
def signatures() -> dict[str, Any]:
    text = resources.files("vlmscope.knowledge").joinpath("signatures.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def _matches(spec: dict[str, Any], facts: dict[str, Any]) -> bool:
    for key, want in spec.items():
        if key.endswith("_min"):
            if facts.get(key[:-4]) is None or facts[key[:-4]] < want:
                return False
        elif key.endswith("_max"):
            if facts.get(key[:-4]) is None or facts[key[:-4]] > want:
                return False
        elif facts.get(key) != want:
            return False
    return True


def vision_family(facts: dict[str, Any]) -> str:
    """E.g. "CLIP ViT-L/14 @336"; an unmatched shape is described by its dimensions."""
    name = next((s["name"] for s in signatures()["vision"] if _matches(s["match"], facts)), None)
    if name is None and facts.get("stages"):
        widths = facts["stages"]
        name = f"hierarchical ViT ({len(widths)} stages, d={widths[0]}→{widths[-1]}, L={facts['layers']})"
    elif name is None:
        name = f"ViT (d={facts['hidden_size']}, L={facts['layers']})"
    patch, size = facts.get("patch_size"), facts.get("image_size")
    return f"{name}/{patch} @{size}" if patch and size else name


def language_family(facts: dict[str, Any], name_or_path: str) -> str:
    """E.g. "Mistral-7B"; a config hint (the text config's _name_or_path) may refine the base name."""
    base = next((s["name"] for s in signatures()["language"] if _matches(s["match"], facts)), None)
    if base is None:
        return f"{facts['class_name']} (d={facts['hidden_size']}, L={facts['layers']})"
    for hint in signatures()["language_hints"]:
        if hint["base"] == base and hint["name_or_path_contains"] in name_or_path.lower():
            return str(hint["name"])
    return str(base)


def architecture_kind(index: ModuleIndex, roles: Any, config: Any) -> str:
    """Fully autoregressive (visual tokens in the LM's input), cross-attention, or encoder-decoder."""
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    beside = roles.language_stack.rpartition(".")[0]
    stacks = [s for s in index.stacks() if any(under(s, c) for c in roles.connector) and s.rpartition(".")[0] == beside]
    for path, module in index.modules.items():
        if "CrossAttention" not in type(module).__name__ and "cross" not in path.rpartition(".")[2].lower():
            continue
        if any(under(path, p) for p in roles.language) or any(under(path, s) for s in stacks):
            return "cross-attention"
    return "fully autoregressive"


def _has_attention(index: ModuleIndex, paths: tuple[str, ...]) -> bool:
    return any(("Attention" in type(m).__name__ or isinstance(m, nn.MultiheadAttention))
               for p in paths if p in index.modules for m in index.modules[p].modules())


def _raw_params(index: ModuleIndex, paths: tuple[str, ...]) -> list[tuple[str, Any, nn.Module]]:
    """(name, tensor, owner) of connector parameters that sit directly on a non-layer module."""
    found = []
    for name, p in index.model.named_parameters():
        owner = index.modules.get(name.rpartition(".")[0])
        if owner is None or not any(under(name, c) for c in paths):
            continue
        if isinstance(owner, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LayerNorm)):
            continue
        leaf = name.rpartition(".")[2]
        if leaf in ("weight", "bias") or leaf.endswith(("_weight", "_bias")) or "Norm" in type(owner).__name__:
            continue
        found.append((name, p, owner))
    return found


def learned_queries(index: ModuleIndex, paths: tuple[str, ...]) -> tuple[str, int] | None:
    """(owner path, count) of a learned query/latent tensor in a connector that attends with it."""
    if not _has_attention(index, paths):
        return None
    for name, p, _ in _raw_params(index, paths):
        if p.dim() >= 2 and p.numel() // p.shape[-1] > 1:
            return name.rpartition(".")[0], int(p.numel() // p.shape[-1])
    return None


def separators(index: ModuleIndex, paths: tuple[str, ...]) -> tuple[Separator, ...]:
    """Learned single-vector parameters (image newline, separators) in the connector."""
    return tuple(Separator(name.rpartition(".")[2], int(p.shape[-1])) for name, p, _ in _raw_params(index, paths)
                 if p.numel() == p.shape[-1] and p.numel() > 1)


@dataclass(frozen=True)
class Pooling:
    text: str
    merge: int = 1  # s of an s×s space-to-depth merge
    avg_pool: int = 1  # k of a k×k average pool
    merge_hint: str | None = None  # the config key that names the merge (e.g. spatial_merge_size)
    resampler: ResamplerFacts | None = None


def resampler(index: ModuleIndex, connector: tuple[str, ...]) -> ResamplerFacts | None:
    """The connector's resampler (learned queries it attends with), its kind named from its classes."""
    queries = learned_queries(index, connector)
    if queries is None:
        return None
    owner, n = queries
    classes = [type(m).__name__ for p in connector if p in index.modules for m in index.modules[p].modules()]
    classes.append(type(index.modules[owner]).__name__)
    if any("Perceiver" in c for c in classes):
        kind = ResamplerKind.perceiver
    elif any("qformer" in c.lower() for c in classes):
        kind = ResamplerKind.qformer
    else:
        kind = ResamplerKind.learned_query
    stacks = [s for s in index.stacks() if any(under(s, c) for c in connector)]
    return ResamplerFacts(kind, n, len(list(index.modules[stacks[0]].children())) if stacks else None)


def _avg_pool(index: ModuleIndex, connector: tuple[str, ...]) -> tuple[str, int] | None:
    for path in connector:
        for m in index.modules[path].modules() if path in index.modules else ():
            if isinstance(m, nn.AvgPool2d):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                if k > 1:
                    return f"{k}×{k} average pooling", int(k)
            if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool1d)):
                return f"adaptive average pooling to {m.output_size}", 1
    return None


def pooling(index: ModuleIndex, connector: tuple[str, ...], vision_width: int, config: Any) -> Pooling:
    """How vision features are pooled or merged before the LM; tiling and learned separators follow."""
    parts: list[str] = []
    avg = 1
    if (found := resampler(index, connector)) is not None:
        parts.append(found.text)
    if (pool := _avg_pool(index, connector)) is not None:
        parts.append(pool[0])
        avg = pool[1]
    merge, merge_text, merge_hint = _merge(index, connector, vision_width, config)
    if merge_text:
        parts.append(merge_text)
    extras = ["AnyRes tiling"] if getattr(config, "image_grid_pinpoints", None) else []
    seps = separators(index, connector)
    if seps:
        extras.append("learned " + ", ".join(s.name for s in seps))
    main = " + ".join(parts) if parts else "none"
    return Pooling(f"{main} ({'; '.join(extras)})" if extras else main, merge, avg, merge_hint, found)


def _merge(index: ModuleIndex, connector: tuple[str, ...], vision_width: int,
           config: Any) -> tuple[int, str | None, str | None]:
    """(s, description, config key naming it) of an s×s merge: a projector whose input is s² vision
    features wide (space-to-depth), else a k×k, stride-k convolution in the connector."""
    first = _first_linear(index, connector)
    if vision_width and first is not None and first.in_features != vision_width \
            and first.in_features % vision_width == 0:
        side = round((first.in_features // vision_width) ** 0.5)
        if side > 1 and side * side * vision_width == first.in_features:
            return _hinted(side, config, "")
    if (side := _strided_merge(index, connector)) > 1:
        return side, f"{side}×{side} strided-conv merge", None
    if (side := _widened(index, connector)) > 1:  # projected per patch first, then merged (MiniMax-M3-VL)
        return _hinted(side, config, " after a projection")
    return 1, None, None


def _hinted(side: int, config: Any, after: str) -> tuple[int, str, str | None]:
    """An s×s merge named as the config key that sets it names it (Qwen2-VL's patch merger, a pixel shuffle)."""
    hint = next((h for h in signatures()["merge_hints"] if config_values(config, h["config_key"])), None)
    return side, (hint["name"] if hint else "{s}×{s} patch merge").format(s=side) + after, (
        hint["config_key"] if hint else None)


def _widened(index: ModuleIndex, connector: tuple[str, ...]) -> int:
    """s where a Linear of a connector module takes s² times what the Linear before it gives (s > 1), both its
    own (not inside a block of its: there an attention's k_proj and v_proj may stand so): the features of s×s
    patches joined between them."""
    for path in connector:
        module = index.modules.get(path)
        own = [m for m in module.children() if isinstance(m, nn.Linear)] if module is not None else []
        for before, after in itertools.pairwise(own):
            side = math.isqrt(after.in_features // max(1, before.out_features))
            if side > 1 and side * side * before.out_features == after.in_features:
                return side
    return 1


def _strided_merge(index: ModuleIndex, connector: tuple[str, ...]) -> int:
    """s of a Conv2d in the connector whose kernel and stride are both s×s (s > 1): an s×s patch merge."""
    for path in connector:
        module = index.modules.get(path)
        for m in module.modules() if module is not None else ():
            if isinstance(m, nn.Conv2d) and m.kernel_size == m.stride and m.kernel_size[0] == m.kernel_size[1] > 1:
                return int(m.kernel_size[0])
    return 1


def _first_linear(index: ModuleIndex, connector: tuple[str, ...]) -> nn.Linear | None:
    for path in connector:
        module = index.modules.get(path)
        if module is not None and linears(module):
            return linears(module)[0]
    return None


def projection(index: ModuleIndex, connector: tuple[str, ...]) -> tuple[str, str]:
    """(class name, description) of the projector: the connector module that holds no learned queries."""
    queries = learned_queries(index, connector)
    found = [m for m in (index.modules.get(p) for p in connector) if m is not None and _projects(m)]
    # a module holding a stack of repeated blocks is a resampler / Q-Former (named under pooling), not the projector
    plain = [m for m in found if not _holds_stack(m)]
    for module in plain or found:
        inner = _projection_module(index, module, queries[0] if queries else None)
        return type(inner).__name__, describe(inner)
    return "none", "none"


def _projects(module: nn.Module) -> bool:
    return bool(linears(module)) or bool(_matrices(module))


def _matrices(module: nn.Module) -> list[tuple[str, Any]]:
    """2-D weights a module applies itself (e.g. Gemma 3's mm_input_projection_weight), outside any Linear."""
    return [(n, p) for n, p in module.named_parameters(recurse=False) if p.dim() == 2]


def _holds_stack(module: nn.Module) -> bool:
    return any(isinstance(m, nn.ModuleList) and len(m) > 1 and len({type(c) for c in m}) == 1
               for m in module.modules())


def _projection_module(index: ModuleIndex, module: nn.Module, queries_owner: str | None) -> nn.Module:
    if queries_owner is None:
        return module
    resampler = index.modules[queries_owner]
    rest = [c for c in module.children() if c is not resampler and linears(c)]
    return rest[0] if rest else module


def describe(module: nn.Module) -> str:
    """Readable chain of a projector, e.g. "Linear(1024→4096) + GELU + Linear(4096→4096)"."""
    if isinstance(module, nn.ModuleList):
        blocks = list(module.children())
        return f"{len(blocks)} × {type(blocks[0]).__name__}" if blocks else "empty"
    lins = linears(module)
    if len(lins) == 3 and lins[0].weight.shape == lins[1].weight.shape:
        mlp = mlp_facts(module)
        a, b, c = mlp.dims
        kind = "SwiGLU" if mlp.activation.startswith("SiLU") else f"Gated-{mlp.activation}"
        return f"{kind} MLP ({a}→{b}→{c})"
    steps = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            steps.append(f"Linear({m.in_features}→{m.out_features})")
        elif is_activation(m):
            steps.append(activation_name(m))
    if not lins:  # weights applied directly (no Linear): its norm, then the matrix product (pooling: own column)
        norms = [f"{type(m).__name__}({norm_facts(m).dim})" for m in module.children() if is_norm(m)]
        steps = norms + [f"MatMul({p.shape[0]}→{p.shape[1]})" for _, p in _matrices(module)]
    return " + ".join(steps) if steps else type(module).__name__
