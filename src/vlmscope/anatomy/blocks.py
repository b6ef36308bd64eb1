"""Facts about one repeated block: attention class, MLP shape, norm, heads."""

from __future__ import annotations

import inspect
import math
from typing import Any

from torch import nn

from vlmscope.data import MLPFacts, NormFacts

_MLP_WORDS = ("MLP", "FeedForward", "FFN", "Mlp")


def activation_name(module: nn.Module) -> str:
    """Short name of an activation module: GELUActivation → GELU, SiLUActivation → SiLU."""
    name = type(module).__name__.removesuffix("Activation").removeprefix("Pytorch")
    if name.endswith("Tanh") and name != "Tanh":
        return f"{name.removesuffix('Tanh')}(tanh)"
    return f"{name}(tanh)" if getattr(module, "approximate", "none") == "tanh" else name


def is_activation(module: nn.Module) -> bool:
    kind = type(module)
    return not list(module.parameters(recurse=False)) and not list(module.children()) and (
        kind.__module__ in ("torch.nn.modules.activation", "transformers.activations")
        or kind.__name__.endswith("Activation"))


def _find(block: nn.Module, words: tuple[str, ...]) -> nn.Module | None:
    for module in block.modules():
        if module is not block and any(w in type(module).__name__ for w in words):
            return module
    return None


def attention(block: nn.Module) -> nn.Module | None:
    found = _find(block, ("Attention",))
    if found is None:
        found = next((m for m in block.modules() if isinstance(m, nn.MultiheadAttention)), None)
    return found


def attention_class(block: nn.Module) -> str:
    attn = attention(block)
    return type(attn).__name__ if attn is not None else "?"


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def mlp_facts(module: nn.Module) -> MLPFacts:
    """Shape of a feed-forward module; gated MLPs (gate/up branches, fused or not) say so."""
    lins = linears(module)
    act = next((activation_name(m) for m in module.modules() if is_activation(m)), "?")
    name = type(module).__name__
    def dims(a: int, b: int, c: int) -> tuple[int, int, int]:
        return int(a), int(b), int(c)

    if len(lins) == 3 and lins[0].weight.shape == lins[1].weight.shape:
        return MLPFacts(name, dims(lins[0].in_features, lins[0].out_features, lins[2].out_features), True, act)
    if len(lins) == 2 and lins[0].out_features == 2 * lins[1].in_features:  # fused gate_up projection
        return MLPFacts(name, dims(lins[0].in_features, lins[1].in_features, lins[1].out_features), True, act)
    if lins:
        return MLPFacts(name, dims(lins[0].in_features, lins[0].out_features, lins[-1].out_features), False, act)
    return MLPFacts(name, (0, 0, 0), False, act)


def block_mlp(block: nn.Module) -> MLPFacts:
    found = _find(block, _MLP_WORDS)
    if found is not None:
        return mlp_facts(found)
    attn = attention(block)
    inline = [c for c in block.children() if isinstance(c, nn.Linear)]
    if len(inline) >= 2:  # fc1/fc2 held by the block itself (OPT, BLIP-2's OPT, GPT-J style)
        act = next((activation_name(c) for c in block.children() if is_activation(c)), "?")
        first, last = inline[0], inline[-1]
        return MLPFacts(f"{type(block).__name__} (inline)",
                        (int(first.in_features), int(first.out_features), int(last.out_features)), False, act)
    # fall back to the child with the most Linear weights outside attention
    candidates = [c for c in block.children() if c is not attn and linears(c)]
    found = max(candidates, key=lambda c: sum(m.weight.numel() for m in linears(c)), default=block)
    return mlp_facts(found)


def norm_facts(module: nn.Module) -> NormFacts:
    eps = getattr(module, "eps", getattr(module, "variance_epsilon", None))
    weight = getattr(module, "weight", None)
    shape = getattr(module, "normalized_shape", None)
    dim = int(shape[0]) if shape else (int(weight.shape[0]) if weight is not None else 0)
    return NormFacts(type(module).__name__, dim, float(eps) if eps is not None else None)


def is_norm(module: nn.Module) -> bool:
    """A normalisation layer: torch's LayerNorm / GroupNorm, or any class named ``...Norm`` (RMSNorm, ...)."""
    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or type(module).__name__.endswith("Norm")


def block_norm(block: nn.Module) -> NormFacts:
    """The block's own (pre/post) norm; a norm inside attention (QK-norm over one head) only as a last resort."""
    norm = next((m for m in block.children() if is_norm(m)), None)
    if norm is None:
        attn = attention(block)
        inner = set(attn.modules()) if attn is not None else set()
        norm = next((m for m in block.modules() if m is not block and m not in inner and is_norm(m)), None)
    if norm is None:
        norm = next((m for m in block.modules() if m is not block and is_norm(m)), None)
    return norm_facts(norm) if norm is not None else NormFacts("?", 0, None)


def safe_getattr(obj: Any, key: str) -> Any:
    """getattr that also survives configs raising their own errors for ambiguous (per-layer) fields."""
    try:
        return getattr(obj, key, None)
    except Exception:
        return None


def _config_value(attn: nn.Module, *keys: str) -> Any:
    config = getattr(attn, "config", None)
    for key in keys:
        value = safe_getattr(attn, key)
        if value is None and config is not None:
            value = safe_getattr(config, key)
        if isinstance(value, int):
            return value
    return None


def heads(block: nn.Module) -> tuple[int | None, int | None]:
    """(query heads, key/value heads) of a block's attention, read from the module and its config."""
    attn = attention(block)
    if attn is None:
        return None, None
    if isinstance(attn, nn.MultiheadAttention):
        return attn.num_heads, attn.num_heads
    q = _config_value(attn, "num_heads", "num_attention_heads")
    kv = _config_value(attn, "num_key_value_heads", "num_kv_heads")
    head_dim = _config_value(attn, "head_dim")
    k_proj = getattr(attn, "k_proj", None)
    if kv is None and head_dim and isinstance(k_proj, nn.Linear):
        kv = k_proj.out_features // head_dim
    return q, kv if kv is not None else q


def takes(module: nn.Module, argument: str) -> bool:
    """Whether ``module``'s forward takes the keyword ``argument``."""
    try:
        return argument in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n else None
