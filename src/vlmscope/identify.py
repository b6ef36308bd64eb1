"""Names for what the structure shows: families (from signatures kept as data), kind, pooling, projector."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from torch import nn

from vlmscope.blocks import activation_name, is_activation, linears, mlp_facts
from vlmscope.walk import ModuleIndex, under


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
    if name is None:
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


def architecture_kind(index: ModuleIndex, language_paths: tuple[str, ...], config: Any) -> str:
    """Fully autoregressive (visual tokens in the LM's input), cross-attention, or encoder-decoder."""
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    for path, module in index.modules.items():
        if any(under(path, p) for p in language_paths) and "CrossAttention" in type(module).__name__:
            return "cross-attention"
    return "fully autoregressive"


def learned_queries(index: ModuleIndex, paths: tuple[str, ...]) -> tuple[str, int] | None:
    """(owner path, count) of a 2-D learned query/latent tensor in the connector, as resamplers have."""
    for path in paths:
        for name, p in index.model.named_parameters():
            if under(name, path) and p.dim() >= 2 and name.rpartition(".")[0] in index.modules:
                owner = index.modules[name.rpartition(".")[0]]
                if not isinstance(owner, (nn.Linear, nn.Embedding, nn.Conv2d, nn.LayerNorm)) and p.shape[-2] > 1:
                    return name.rpartition(".")[0], int(p.shape[-2])
    return None


def separators(index: ModuleIndex, paths: tuple[str, ...]) -> tuple[str, ...]:
    """Learned single-vector parameters (image newline, separators) in the connector."""
    found = []
    for name, p in index.model.named_parameters():
        if any(under(name, c) for c in paths) and p.numel() == p.shape[-1]:
            owner = index.modules.get(name.rpartition(".")[0])
            norm_like = isinstance(owner, nn.LayerNorm) or "Norm" in type(owner).__name__
            if owner is not None and not isinstance(owner, nn.Linear) and not norm_like:
                found.append(f"{name.rpartition('.')[2]} ({p.shape[-1]})")
    return tuple(found)


def pooling(index: ModuleIndex, connector: tuple[str, ...], vision_hidden: int, config: Any) -> str:
    """How vision features are pooled or merged before the LM; tiling and learned separators follow."""
    parts: list[str] = []
    queries = learned_queries(index, connector)
    if queries is not None:
        owner, n = queries
        cls = type(index.modules[owner]).__name__
        kind = ("Perceiver resampler" if "Perceiver" in cls else
                "Q-Former" if "qformer" in cls.lower() else "Learned-query resampler")
        stacks = [s for s in index.stacks() if under(s, owner)]
        depth = f", {len(list(index.modules[stacks[0]].children()))} layers" if stacks else ""
        parts.append(f"{kind} ({n} latents{depth})")
    first = _first_linear(index, connector)
    if first is not None and first.in_features != vision_hidden and first.in_features % vision_hidden == 0:
        side = round((first.in_features // vision_hidden) ** 0.5)
        if side * side * vision_hidden == first.in_features:
            parts.append(f"{side}×{side} patch merge")
    extras = ["AnyRes tiling"] if getattr(config, "image_grid_pinpoints", None) else []
    seps = separators(index, connector)
    if seps:
        extras.append("learned " + ", ".join(s.split(" ")[0] for s in seps))
    main = " + ".join(parts) if parts else "none"
    return f"{main} ({'; '.join(extras)})" if extras else main


def _first_linear(index: ModuleIndex, connector: tuple[str, ...]) -> nn.Linear | None:
    for path in connector:
        module = index.modules.get(path)
        if module is not None and linears(module):
            return linears(module)[0]
    return None


def projection(index: ModuleIndex, connector: tuple[str, ...]) -> tuple[str, str]:
    """(class name, description) of the projector: the connector module that holds no learned queries."""
    queries = learned_queries(index, connector)
    for path in connector:
        module = index.modules.get(path)
        if module is None or not linears(module):
            continue
        inner = _projection_module(index, module, queries[0] if queries else None)
        return type(inner).__name__, describe(inner)
    return "none", "none"


def _projection_module(index: ModuleIndex, module: nn.Module, queries_owner: str | None) -> nn.Module:
    if queries_owner is None:
        return module
    resampler = index.modules[queries_owner]
    rest = [c for c in module.children() if c is not resampler and linears(c)]
    return rest[0] if rest else module


def describe(module: nn.Module) -> str:
    """Readable chain of a projector, e.g. "Linear(1024→4096) + GELU + Linear(4096→4096)"."""
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
    return " + ".join(steps) if steps else type(module).__name__
