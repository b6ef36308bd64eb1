"""FLOPs of one request: vision encoder + connector over all crops, the language model's prefill over visual
plus text tokens (through ``inputs_embeds``), and one decode step against a cache of ``context`` tokens.

Each is counted while the component's own forward runs on meta tensors; the LM head is counted for one
position (the next-token logits), as generation computes it. Each figure says how it was counted.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.counting import count, first_that_runs
from vlmscope.costing.echo import count_stacked
from vlmscope.costing.inputs import cache_keyword, cache_of, language_forward
from vlmscope.costing.vision import connector_flops, dynamic_tower_flops, tower_flops
from vlmscope.data import Anatomy, CostRequest, Flops, ImageTokens


def flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens, request: CostRequest,
          prefill_tokens: int | None) -> Flops:
    """Vision, prefill and decode FLOPs of ``request``, with the method behind each."""
    vision, methods = _vision_flops(index, roles, anatomy, img, request)
    lm = index.modules[roles.language_root]

    def language() -> tuple[int | None, int]:
        prefill = _prefill_flops(lm, anatomy, prefill_tokens, index, roles) if prefill_tokens else None
        return prefill, _decode_flops(lm, anatomy, request.context, index, roles)

    # e.g. remote code whose language model has no inputs_embeds forward: not counted, and said so
    counted, how = first_that_runs(("forward", language))
    prefill, decode = counted if counted is not None else (None, None)
    return Flops(vision, prefill, decode, "; ".join([*methods, f"language: {how}"]))


def _vision_flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens,
                  request: CostRequest) -> tuple[int | None, list[str]]:
    v = anatomy.vision
    if request.images == 0:  # a text-only request: the vision side does not run
        return 0, ["vision: no images in the request"]
    if v is not None and v.image_size and v.patch_size and img.tokens is not None and not v.native_resolution:
        frame = img.frame or (v.image_size, v.image_size)  # padded frames of any size, or the native square
        tower, how = tower_flops(index, roles, frame, v.patch_size)
        if tower is None:  # a tower whose forward cannot run on meta tensors, even block by block
            return None, [f"vision: {how}"]
        crops = img.crops * request.images
        patches = (frame[0] // v.patch_size) * (frame[1] // v.patch_size)
        connector, how_c = connector_flops(index, roles, anatomy, crops, patches, v.hidden_size)
        return tower * crops + connector, [f"vision: {how}", f"connector: {how_c}"]
    if v is None and img.grid is not None:  # flattened patches: the patch projection is the vision compute
        rows, cols = img.grid
        width = int(getattr(index.modules[roles.patch_embedding or ""], "in_features", 0))
        vision, how_c = connector_flops(index, roles, anatomy, request.images, rows * cols, width)
        return vision, [f"patch projection: {how_c}"]
    if v is not None and (not v.image_size or v.native_resolution) and img.grid is not None:
        grid, merge = img.grid, anatomy.connector.merge
        per_image, how = first_that_runs(("forward over the patch grid (with its merger)",
                                          lambda: dynamic_tower_flops(index, roles, grid, merge)))
        return (None if per_image is None else per_image * request.images), [f"vision: {how}"]
    return None, []


def _head_flops(anatomy: Anatomy) -> int:
    return 2 * anatomy.lm_head.in_features * anatomy.lm_head.out_features


def _prefill_flops(lm: nn.Module, anatomy: Anatomy, tokens: int, index: ModuleIndex, roles: Roles) -> int:
    width = anatomy.language.hidden_size
    # use_cache=True: with a cache, transformers skips a data-dependent packed-sequence check on the mask.
    run = lambda: language_forward(lm, 1, tokens, width, use_cache=True)  # noqa: E731
    return count_stacked(run, index, roles.language_stack) + _head_flops(anatomy)


def _filled_cache(lm: nn.Module, context: int) -> Any:
    """A transformers DynamicCache holding ``context`` tokens of meta keys and values for every layer."""
    from transformers import DynamicCache

    config: Any = getattr(lm, "config")  # noqa: B009 - typed as Any on purpose
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    with torch.device("meta"):
        cache = DynamicCache(config=config)
        for layer in range(config.num_hidden_layers):
            keys = torch.empty(1, config.num_key_value_heads, context, head_dim)
            cache.update(keys, keys.clone(), layer)
    return cache


def _decode_flops(lm: nn.Module, anatomy: Anatomy, context: int, index: ModuleIndex, roles: Roles) -> int:
    """One token against a cache of ``context`` tokens. The cache is filled directly (same shapes as a
    prefill would leave); where the config does not say how, a real prefill fills it. Every run gets a
    fresh cache: a decode step appends to the cache it is given."""
    width = anatomy.language.hidden_size
    fillable, _ = first_that_runs(("config", lambda: _filled_cache(lm, 1)))  # does the config say how?
    if fillable is None:  # per-layer shapes the config does not give in one place (Gemma 4's head_dims)
        with torch.device("meta"):
            cache = cache_of(language_forward(lm, 1, context, width, use_cache=True))
        return count(lambda: language_forward(lm, 1, 1, width, use_cache=True, **{cache_keyword(lm): cache})) \
            + _head_flops(anatomy)

    def run() -> None:
        lm(inputs_embeds=torch.randn(1, 1, width), cache=_filled_cache(lm, context), use_cache=True)

    return count_stacked(run, index, roles.language_stack) + _head_flops(anatomy)
