"""The KV cache layer by layer, as transformers' own cache holds it.

The language model runs on meta tensors in bf16 with ``use_cache=True``: one token, then one more against the
cache it filled. What each cache layer holds after the first and the second token gives its bytes per token
(full and sliding-window attention, MLA's keys and values as the model stores them) and its fixed state
(linear attention, short convolutions: the same at any context). A sliding-window layer keeps window − 1
tokens, as transformers' ``DynamicSlidingWindowLayer`` does. A language model that reads cross-attention
states (Mllama) runs once more with one such state, which gives what each state adds; an encoder–decoder's
cross-attention cache, filled from an encoder run over one token, gives what each encoded token adds.

Where that forward cannot run on meta tensors, the layout is read from the config, one attention layer's
heads for every layer that has attention, and the method says so.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from vlmscope.anatomy import blocks
from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing import activations
from vlmscope.costing.counting import first_that_runs
from vlmscope.costing.echo import layers_echoed
from vlmscope.costing.inputs import cache_keyword, cache_of, language_forward
from vlmscope.data import Anatomy, KVCache

SLIDING = ("sliding_attention", "chunked_attention", "hybrid_sliding", "reference_sliding_attention")
NO_CACHE = ("dummy", "conv", "linear_attention", "hybrid", "mamba")
MEASURED = "measured: transformers' cache filled on meta tensors (bf16), layer by layer"


# One layout per built skeleton: it does not depend on the request (several image sizes measure it once).
_LAYOUTS: weakref.WeakKeyDictionary[nn.Module, KVCache] = weakref.WeakKeyDictionary()


def kv_cache(index: ModuleIndex, roles: Roles, anatomy: Anatomy) -> KVCache:
    """The language model's cache layout: measured from transformers' cache, else read from the config."""
    lm = index.modules[roles.language_root]
    known = _LAYOUTS.get(lm)
    if known is not None:
        return known
    width = anatomy.language.hidden_size
    found, how = first_that_runs((MEASURED, lambda: _measured(index, roles.language_stack, lm, width)))
    layout = found if found is not None else _from_config(
        index, roles, anatomy, f"from the config (the cache could not be {how.removeprefix('not ')})")
    _LAYOUTS[lm] = layout
    return layout


def cache_layers(cache: Any) -> list[Any]:
    """A cache's per-layer objects (an encoder–decoder cache: its decoder self-attention's)."""
    inner = getattr(cache, "self_attention_cache", cache)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, list) or not layers:
        raise TypeError(f"no per-layer cache in {type(cache).__name__}")
    return layers


def _held(layer: Any) -> int:
    """Bytes of every tensor a cache layer holds (scalars for bookkeeping aside)."""
    seen: set[int] = set()
    total = 0
    stack = list(vars(layer).values())
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            key = value.untyped_storage()._cdata
            if value.dim() and key not in seen:
                seen.add(key)
                total += value.numel() * value.element_size()
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return total


def _measured(index: ModuleIndex, stack: str | None, lm: nn.Module, width: int) -> KVCache:
    """The cache one token fills, then what a second adds, layer by layer. The stack's blocks are echoed by
    kind: a cache layer of an echoed block is its kind's real layer's (the same class and inputs, the same
    ``layer_types`` entry), so the work grows with the kinds of layer, not the depth."""
    cache_key = cache_keyword(lm)
    maps: list[dict[int, int]] = []

    def step(cache: Any = None, **kwargs: Any) -> Any:
        if cache is not None:
            kwargs[cache_key] = cache
        with layers_echoed(index, stack) as stands_for:
            out = cache_of(language_forward(lm, 1, 1, width, torch.bfloat16, use_cache=True, **kwargs))
        maps.append(dict(stands_for))
        return out

    def held(layers: list[Any]) -> list[int]:
        found = [_held(layer) for layer in layers]
        return [found[maps[-1].get(i, i)] for i in range(len(found))]

    with activations.in_bf16(index.model), torch.no_grad(), torch.device("meta"):
        cache = step()
        first = held(cache_layers(cache))
        step(cache)
        second = held(cache_layers(cache))
        if maps[0] != maps[1]:
            raise ValueError("the echoed layers differ between the two tokens")
        caps = [kept_tokens(layer) for layer in cache_layers(cache)]
        encoded = getattr(getattr(cache, "cross_attention_cache", None), "layers", None)
        cross = sum(held(encoded)) if isinstance(encoded, list) else 0  # one encoded token's
        if takes(lm, "cross_attention_states"):
            with_state = step(cross_attention_states=torch.randn(1, 1, width, dtype=torch.bfloat16))
            cross = sum(_held(layer) for layer in cache_layers(with_state)) - sum(first)
    grown = [b - a for a, b in zip(first, second, strict=True)]
    if any(g < 0 for g in grown) or not any(grown):
        raise ValueError("the cache did not grow by one token")
    state = sum(a - g for a, g in zip(first, grown, strict=True))
    return KVCache(tuple(grown), tuple(caps), state, cross, MEASURED)


def kept_tokens(layer: Any) -> int | None:
    """Tokens a cache layer keeps at most: window − 1 for a sliding window, else None (the whole context)."""
    window = getattr(layer, "sliding_window", None)
    return int(window) - 1 if isinstance(window, int) and window > 0 else None


def _from_config(index: ModuleIndex, roles: Roles, anatomy: Anatomy, method: str) -> KVCache:
    """One attention layer's K/V for each layer that has attention, with the kinds transformers' cache reads
    from the config (``layer_types``, or a sliding window on every layer)."""
    lang = anatomy.language
    stack = list(index.modules[roles.language_stack].children())
    attn = next((a for a in map(blocks.attention, stack) if a is not None), None)
    head_dim = blocks.safe_getattr(attn, "head_dim") or lang.hidden_size // (lang.heads or 1)
    per_layer = 2 * (lang.kv_heads or lang.heads or 0) * int(head_dim) * 2
    layers = [b for b in stack if blocks.attention(b) is not None and "CrossAttention" not in type(b).__name__]
    config = getattr(attn, "config", None)
    kinds, windows = _layer_kinds(config) if config is not None else ([], [])
    if len(kinds) != len(stack):
        return KVCache((per_layer,) * len(layers), (None,) * len(layers), method=method)
    per_token, caps = [], []
    for kind, window in zip(kinds, windows, strict=True):
        if kind in NO_CACHE:
            continue
        per_token.append(per_layer)
        caps.append(window - 1 if kind in SLIDING and window else None)
    return KVCache(tuple(per_token), tuple(caps), method=method)


def _layer_kinds(config: Any) -> tuple[list[str], list[int | None]]:
    def read() -> tuple[list[str], list[int | None]]:
        from transformers.cache_utils import get_layer_types_and_kwargs

        kinds, kwargs = get_layer_types_and_kwargs(config)
        return list(kinds), [k.get("sliding_window") for k in kwargs]

    found, _ = first_that_runs(("transformers' cache layout", read))
    if found is not None:
        return found
    window = getattr(config, "sliding_window", None)  # older transformers: one kind for every layer
    if getattr(config, "use_sliding_window", True) is False or not isinstance(window, int):
        return [], []
    layers = int(getattr(config, "num_hidden_layers", 0))
    return ["sliding_attention"] * layers, [window] * layers
