"""The vision side's activation peak, traced on meta tensors as the model's image-feature path runs: the
encoder over every frame of the request at once, then the connector over the encoder's output, which the
path holds meanwhile (Idefics2's SwiGLU projection widens every patch of every frame to 14,336 features
before its resampler pools them: the largest tensors of its whole prefill).

The encoder's inputs are made before the trace, as a processor hands them over (a GPU measurement counts
them with the weights). Where the model reads intermediate encoder layers (``vision_feature_layer``), the
encoder keeps every layer's hidden state, as it does when the model asks for them.
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.activations import traced_peak
from vlmscope.costing.echo import run_echoed
from vlmscope.costing.inputs import MetaPromotion
from vlmscope.costing.vision import (
    block_parts,
    hidden_of,
    packed_tower_calls,
    query_former_width,
    tower_call,
    unpadded,
)
from vlmscope.data import Anatomy, CostRequest, ImageTokens, VideoTokens

Peak = tuple[int | None, str, bool]  # (bytes, how it was obtained, whether the whole vision side was traced)


def vision_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest,
                img: ImageTokens) -> Peak:
    """The peak of the encoder and connector over every frame of the request (images × batch × crops); frames
    of different sizes (MiniCPM-V's view and slices) each group apart, the largest group's peak standing."""
    v = anatomy.vision
    if request.images == 0:
        return 0, "vision: no images", True
    if v is None or roles.vision is None:
        return None, "vision: not traced (no vision encoder)", False
    n = request.images * request.batch
    if v.native_resolution or (not v.image_size and img.frame is None):
        if img.grid is None:
            return None, "vision: not traced (no patch grid for this request)", False
        grid = img.grid if img.steps == 1 else (img.steps, *img.grid)  # a video chunk: its frames at once
        return _scaled(lambda k: _packed(index, roles, anatomy, [grid] * k), n)
    frame = img.frame or (v.image_size or 0, v.image_size or 0)

    def group(count: int, size: tuple[int, int]) -> Peak:  # frames of one size, ``count`` of them per image
        return _scaled(lambda k: _fixed(index, roles, anatomy, count * k, size, v.patch_size or 1, img.padded), n)

    groups = [group(count, (h, w)) for count, h, w in img.views or ((img.crops, *frame),)]
    untraced = next((g for g in groups if g[0] is None), None)
    if untraced is not None:
        return untraced
    peak = max(groups, key=lambda g: g[0] or 0)
    return peak[0], "; ".join(g[1] for g in groups), all(g[2] for g in groups)


def clips_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, img: ImageTokens,
               videos: tuple[VideoTokens, ...]) -> Peak:
    """The vision side's peak over the request's images and over each video apart (a model encodes its images
    and each video in calls of their own); the largest stands. A video's encoder passes are traced as
    images of its resized frames."""
    found = [vision_peak(index, roles, anatomy, request, img)] if request.images or not videos else []
    found += [vision_peak(index, roles, anatomy, replace(request, images=clip.units), clip.unit) for clip in videos]
    untraced = next((p for p in found if p[0] is None), None)
    if untraced is not None:
        return untraced
    top = max(found, key=lambda p: p[0] or 0)
    return top[0], "; ".join(dict.fromkeys(p[1] for p in found)), all(p[2] for p in found)


def _scaled(trace: Callable[[int], Peak], n: int) -> Peak:
    """``trace`` (the peak over k images) for n images: traced for one image and for two; beyond two, the
    one image's peak plus n − 1 times what the second added. Every tensor of the vision side grows by the
    same bytes per image (a batch dimension, or a packed sequence's length: the tests check it against a
    trace of them all), while tracing them all would build the index tensors some encoders read as numbers
    (masks, rotary positions, windows) for every image on the CPU: gigabytes for 10,000 images."""
    one = trace(n if n <= 2 else 1)
    if n <= 2 or one[0] is None:
        return one
    two = trace(2)
    if two[0] is None:
        return two
    each = two[0] - one[0]
    return one[0] + (n - 1) * each, f"{two[1]}; scaled to {n} images ({each:,} bytes each)", two[2]


def _fixed(index: ModuleIndex, roles: Roles, anatomy: Anatomy, frames: int, frame: tuple[int, int],
           patch: int, padded: int = 0) -> Peak:
    """An encoder of fixed-size frames over ``frames`` of them at once (each padded to ``padded`` patches where
    the processor pads them), then the connector."""
    tower, kwargs, on_meta = fixed_tower_call(index, roles, frames, frame, patch, padded)
    said = f"{frames} frame(s) of {frame[0]}×{frame[1]} at once"

    def whole() -> Any:
        with MetaPromotion(), unpadded():
            out = run_echoed(lambda: tower(**kwargs), index, roles.vision_stack)
            return out, connected(index, roles, anatomy, hidden_of(out), kwargs)

    if (peak := traced_peak(whole, index.model, on_meta)) is not None:
        return peak, f"vision: encoder and connector traced over {said}", True
    blocks = _per_block(index, roles, frames, frame, patch)
    if blocks is None:
        return None, "vision: not traced (its forward does not run on meta tensors)", False
    block_peak, tokens, width = blocks
    connector = traced_peak(lambda: connected(index, roles, anatomy, torch.randn(
        frames, tokens, width, dtype=torch.bfloat16)), index.model)
    if connector is None:
        return block_peak, f"vision: encoder traced block by block over {said}; connector: not traced", False
    return max(block_peak, connector), f"vision: encoder traced block by block over {said}, then the connector", True


def _packed(index: ModuleIndex, roles: Roles, anatomy: Anatomy, grids: list[tuple[int, ...]]) -> Peak:
    """A native-resolution encoder over every image (or video chunk: frames, rows, columns) packed into one
    sequence (its merger inside), then any connector outside it."""
    said = f"{len(grids)} image(s) of {'×'.join(map(str, grids[0]))} patches packed into one sequence"
    for layout, call in packed_tower_calls(index, roles, grids, anatomy.connector.merge, torch.bfloat16):
        def whole(call: Any = call) -> Any:
            out = run_echoed(call, index, roles.vision_stack)
            return out, connected(index, roles, anatomy, hidden_of(out))

        if (peak := traced_peak(whole, index.model, on_meta=False)) is not None:
            return peak, f"vision: encoder and connector traced over {said} ({layout})", True
    return None, "vision: not traced (its forward does not run on meta tensors)", False


def fixed_tower_call(index: ModuleIndex, roles: Roles, frames: int, frame: tuple[int, int],
                     patch: int, padded: int = 0) -> tuple[nn.Module, dict[str, Any], bool]:
    """``tower_call`` in bf16, asking for every layer's hidden state where the model reads chosen layers."""
    tower, kwargs, on_meta = tower_call(index, roles, frames, frame, patch, torch.bfloat16, padded)
    if takes(tower, "output_hidden_states") and _reads_layers(index.model):
        kwargs["output_hidden_states"] = True
    return tower, kwargs, on_meta


def _reads_layers(model: nn.Module) -> bool:
    """Whether the model takes its image features from chosen encoder layers (LLaVA's ``vision_feature_layer``),
    for which it asks the encoder for every layer's hidden state."""
    config = getattr(model, "config", None)
    return any(hasattr(config, key) for key in ("vision_feature_layer", "vision_feature_layers"))


def connected(index: ModuleIndex, roles: Roles, anatomy: Anatomy, hidden: torch.Tensor | None,
               given: dict[str, Any] | None = None) -> Any:
    """The connector modules in turn over the encoder's output (those inside the encoder ran with it).
    ``given``: the encoder's own inputs, for a connector that reads one of them too (MiniCPM-V's merger
    reads each frame's patch grid, as the encoder left it)."""
    if hidden is None:
        raise TypeError("the encoder returned no hidden state")
    x: Any = hidden
    for path in roles.connector:
        module = index.modules.get(path)
        if not isinstance(module, nn.Module) or path.startswith(f"{roles.vision}."):
            continue
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"the connector module {path} is fed no tensor")
        with MetaPromotion():  # a mask made on the CPU joins the meta tensors it meets
            out = _connector_call(module, x, anatomy.connector.queries, _grids(given or {}, x))
        x = hidden_of(out)
        x = out if x is None else x  # e.g. one tensor per image, which only the language model reads
    return x


def _grids(given: dict[str, Any], hidden: torch.Tensor) -> dict[str, Any]:
    """The encoder's per-frame patch grids (frames × 2, on the CPU), divided by the side of the merge the
    encoder did inside where its output holds fewer states than the grids' patches."""
    grids = {k: v for k, v in given.items() if isinstance(v, torch.Tensor) and v.device.type == "cpu"
             and v.dim() == 2 and v.shape[-1] == 2 and not v.is_floating_point()}
    states = hidden.shape[0] * hidden.shape[1] if hidden.dim() == 3 else 0
    for name, grid in grids.items():
        patches = int(grid.prod(dim=-1).sum())
        side = math.isqrt(patches // states) if states and patches % states == 0 else 1
        grids[name] = grid // side if side * side * states == patches else grid
    return grids


def _connector_call(module: nn.Module, x: torch.Tensor, queries: int | None, grids: dict[str, Any]) -> Any:
    """One connector module over ``x`` as the model calls it: a query transformer's queries cross-attend to
    it (BLIP-2's Q-Former); a mask it requires covers every token, a patch grid it requires is the
    encoder's; features the model regroups before the module (InternVL's pixel shuffle: a first Linear
    wider than ``x``) arrive regrouped."""
    if (query_width := query_former_width(module, queries)) is not None:
        q = torch.randn(x.shape[0], queries or 0, query_width, dtype=x.dtype)
        return module(query_embeds=q, encoder_hidden_states=x)
    params = pyinspect.signature(module.forward).parameters
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    required = [n for n, p in params.items() if p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][1:]
    extra = {n: grids[n] if n in grids else torch.ones(*x.shape[:2], dtype=torch.bool, device="cpu")
             for n in required if n in grids or "mask" in n}
    try:
        return module(x, **extra)
    except RuntimeError:
        if x.dim() == 3 and x.shape[0] == 1:  # a packed sequence its model hands over unbatched (MiniMax-M3-VL)
            with contextlib.suppress(RuntimeError):
                return module(x[0], **extra)
        if first is None or x.dim() != 3 or first.in_features <= x.shape[-1]:
            raise
    grouped = torch.randn(x.shape[0], x.shape[1] * x.shape[2] // first.in_features, first.in_features,
                          dtype=x.dtype)
    return module(grouped, **extra)


def _per_block(index: ModuleIndex, roles: Roles, frames: int, frame: tuple[int, int],
               patch: int) -> tuple[int, int, int] | None:
    """(peak, tokens, width) of an encoder whose whole forward needs data: the patch embedding over every
    frame, then one block over the patch tokens of every frame (each block of the stack holds the same)."""
    parts = block_parts(index, roles, frame, patch)
    if parts is None:
        return None
    embed, blocks, tokens, width = parts
    embedded = traced_peak(lambda: embed(torch.randn(frames, 3, *frame, dtype=torch.bfloat16)), index.model)
    blocked = traced_peak(lambda: blocks[0](torch.randn(frames, tokens, width, dtype=torch.bfloat16), None),
                          index.model)
    return None if embedded is None or blocked is None else (max(embedded, blocked), tokens, width)
