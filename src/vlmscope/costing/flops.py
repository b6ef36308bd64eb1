"""FLOPs of one request: vision encoder + connector over all crops, the language model's prefill over visual
plus text tokens (through ``inputs_embeds``), and one decode step against a cache of ``context`` tokens.

Each is counted while the component's own forward runs on meta tensors; the LM head is counted for one
position (the next-token logits), as generation computes it. Each figure says how it was counted.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.counting import count, experts_batched, first_that_runs
from vlmscope.costing.echo import count_stacked, layers_echoed
from vlmscope.costing.inputs import (
    MetaPromotion,
    cache_keyword,
    cache_of,
    dtype_of,
    head_inside,
    language_forward,
    last_logits,
)
from vlmscope.costing.kvcache import cache_layers, kept_tokens
from vlmscope.costing.vision import (
    connector_flops,
    dynamic_tower_flops,
    map_connector_flops,
    patch_shapes,
    tower_flops,
    unpadded,
)
from vlmscope.data import Anatomy, CostRequest, Flops, ImageTokens, VideoTokens


def flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens, request: CostRequest,
          prefill_tokens: int | None, videos: tuple[VideoTokens, ...] = ()) -> Flops:
    """Vision, prefill and decode FLOPs of ``request``, with the method behind each."""
    with experts_batched(index.modules[""]):
        return _flops(index, roles, anatomy, img, request, prefill_tokens, videos)


def _flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens, request: CostRequest,
           prefill_tokens: int | None, videos: tuple[VideoTokens, ...]) -> Flops:
    vision, methods = _vision_flops(index, roles, anatomy, img, request)
    for clip in videos:
        more, said = _video_flops(index, roles, anatomy, clip, request)
        vision = None if vision is None or more is None else vision + more
        methods = [*methods, *said] if request.images else said
    lm = index.modules[roles.language_root]

    extra = _cross_states(lm, anatomy, img.states * request.images)
    if prefill_tokens and anatomy.architecture == "encoder-decoder":  # the decoder reads the encoded prompt
        extra["encoder_tokens"] = prefill_tokens

    def language() -> tuple[int | None, int]:
        prefill = _prefill_flops(lm, anatomy, prefill_tokens, index, roles, extra) if prefill_tokens else None
        return prefill, _decode_flops(lm, anatomy, request.context, index, roles, extra)

    # e.g. remote code whose language model has no inputs_embeds forward: not counted, and said so
    counted, how = first_that_runs(("forward", language))
    prefill, decode = counted if counted is not None else (None, None)
    parts = [*methods, f"language: {how}"]
    if counted is not None and prefill_tokens is None:  # the decode ran; the prompt's length is unknown
        parts.append("prefill: no prompt length (the visual tokens of an image are unknown: pass --image-size)")
    return Flops(vision, prefill, decode, "; ".join(parts))


def _video_flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, clip: VideoTokens,
                 request: CostRequest) -> tuple[int | None, list[str]]:
    """A clip of frames each encoded alone (a frame size, no patch grid): the model's own ``get_video_features``
    over all its frames, which is where each family pools and projects them (LLaVA-NeXT-Video pools before its
    projector, LLaVA-OneVision after it, Video-LLaVA keeps the class token); chunks of frames the encoder takes
    whole (Kimi-K2.5; ERNIE-4.5-VL's pairs of frames, merged in its resampler): the model's own
    ``get_video_features`` over one chunk of each size, times their number; a model without one, or a clip
    in temporal patches: each encoder pass counted as an image of the resized frames."""
    model, features = index.modules[""], _features(index, "video")
    frame = clip.unit.frame
    if frame is not None and clip.unit.grid is None and features is not None and takes(model, "pixel_values_videos"):
        def own() -> int:  # a pass's frames stacked as channels (Nemotron-H-Omni's tubelets of 2: 6)
            stacked = 3 * max(1, clip.frames // clip.units)
            pixels = torch.empty(1, clip.units, stacked, *frame, device="meta", dtype=dtype_of(model))
            with torch.no_grad():
                return count(lambda: features(pixel_values_videos=pixels))

        counted, how = first_that_runs(("the model's get_video_features", own))
        if counted is not None:
            return counted, [f"video {clip.video}: {clip.units:,} encoder passes of {frame[1]}×{frame[0]} "
                             f"({clip.unit.rule}) through {how}"]
    if clip.pooling is not None and features is not None and takes(model, "video_token_pooling"):
        patch = (anatomy.vision.patch_size or 0) if anatomy.vision else 0
        counted, how = _pooled_flops(index, roles, features, clip, patch)
        per = f"video {clip.video}: {clip.units:,} frames, each through {how}"
        return (None, [f"{per}: not counted"]) if counted is None else (counted * clip.units, [per])
    merged = _merge_sizes(index, clip.unit)  # frames merged by a size the call is given (VideoLLaMA3)
    if clip.unit.grid is not None and (clip.unit.frames > 1 or merged):  # chunks the encoder takes whole (Kimi)
        full, rest = divmod(clip.frames, clip.unit.frames)  # the last chunk may hold fewer frames
        step = clip.unit.temporal  # the grid's time: frames, or temporal patches (MiniMax-M3-VL's segments)
        grids = [[clip.unit.steps, *clip.unit.grid]] * full + ([[rest // step, *clip.unit.grid]] if rest else [])
        chunks = f"video {clip.video}: " + (f"{full:,} frames" if clip.unit.frames == 1 else (
            f"{full:,} chunks of {clip.unit.frames} frames" + (f" and one of {rest}" if rest else "")))
        how = "no get_video_features that takes video_grid_thw"
        if features is not None and takes(model, "video_grid_thw"):  # a chunk is a sequence of its own (a grid
            whole, how = _own_features_flops(index, roles, features, grids[:1], merged)  # apart): a size once
            last = _own_features_flops(index, roles, features, grids[-1:], merged)[0] if rest and full else 0
            if whole is not None and last is not None:
                return whole * full + last if full else whole, [f"{chunks}, through {how}"]
        return None, [f"{chunks}: not counted ({how})"]
    rest = clip.units - sum(n for n, _ in clip.parts)  # passes of other shapes (MiniCPM-V's canvases): apart
    more, said = _vision_flops(index, roles, anatomy, clip.unit, replace(request, images=rest))
    for n, part in clip.parts:
        counted = _vision_flops(index, roles, anatomy, part, replace(request, images=n))[0]
        more = None if more is None or counted is None else more + counted
    return more, [*said, f"video {clip.video}: {clip.units:,} encoder passes (temporal patches or frames), each "
                         "counted as an image of the resized frames"]


def _pooled_flops(index: ModuleIndex, roles: Roles, features: Callable[..., Any], clip: VideoTokens,
                  patch: int) -> tuple[int | None, str]:
    """FLOPs of one frame through a model's own get_video_features that is given the windows its adapter pools
    each frame's patches in (Molmo2: ``video_token_pooling``, a window's patch indices per token, with the
    frames' pooled grids): the frame's patches as meta tensors, the windows and grid as data (their values
    choose patches, not the work); a frame is pooled on its own, so a clip costs its frames' sum."""
    (h, w), (ph, pw) = clip.unit.frame or (0, 0), clip.pooling or (1, 1)
    if not patch:
        return None, "no patch size"
    rows, cols = -(-(h // patch) // ph), -(-(w // patch) // pw)
    pixels = torch.empty(1, (h // patch) * (w // patch), 3 * patch * patch, device="meta",
                         dtype=dtype_of(index.modules[roles.vision or ""]))
    windows, grids = torch.zeros(rows * cols, ph * pw, dtype=torch.long), torch.tensor([[1, rows, cols]])
    return first_that_runs(*_meta_then_cpu("the model's get_video_features with its pooling windows", lambda: features(
        pixel_values_videos=pixels, video_token_pooling=windows, video_grids=grids)))


def _meta_then_cpu(said: str, forward: Callable[[], Any]) -> list[tuple[str, Callable[[], int]]]:
    """Two ways to count a model's own features call (its data tensors on the CPU, its pixels meta): new tensors
    on the meta device, then, for a forward that reads values of a tensor it makes (ERNIE-4.5-VL's
    _temporal_slicing), on the CPU."""
    def way(on_meta: bool) -> Callable[[], int]:
        def counted() -> int:
            with MetaPromotion(), unpadded(), torch.no_grad():
                return count(forward, on_meta)
        return counted

    return [(said, way(True)), (f"{said}, new tensors on the CPU", way(False))]


def _merge_sizes(index: ModuleIndex, unit: ImageTokens) -> dict[str, torch.Tensor]:
    """The merge size a model's get_video_features is told with each grid, where it takes one (VideoLLaMA3:
    ``video_merge_sizes``, its video processor's, which differs from its images'): the grid's patches over the
    unit's tokens; {} where it takes none."""
    model = index.modules[""]
    for owner in (model, *model.children()):
        features = getattr(owner, "get_video_features", None)
        try:
            said = callable(features) and "video_merge_sizes" in inspect.signature(features).parameters
        except (TypeError, ValueError):
            continue
        if said and unit.grid is not None and unit.tokens:
            return {"video_merge_sizes": torch.tensor([math.isqrt(unit.grid[0] * unit.grid[1] // unit.tokens)])}
    return {}


def _own_features_flops(index: ModuleIndex, roles: Roles, features: Callable[..., Any], grids: list[list[int]],
                        merged: dict[str, torch.Tensor] | None = None,
                        kind: str = "video") -> tuple[int | None, str]:
    """FLOPs of a model's own ``get_video_features`` (``get_image_features``, kind "image") over ``grids``
    (frames, rows, columns each): its encoder over the patches and its connector over what the encoder leaves
    (Kimi-K2.5's video chunks, and its images: its projector sits outside the encoder), the grid as data on
    the CPU, the patches meta tensors in each layout the patch embedding may take."""
    grid_thw = torch.tensor(grids, device="cpu")
    tower = index.modules[roles.vision or ""]
    names = {"video": ("pixel_values_videos", "video_grid_thw"), "image": ("pixel_values", "image_grid_thw")}[kind]

    def call(shape: tuple[int, ...]) -> Callable[[], Any]:
        pixels = torch.randn(*shape, device="meta", dtype=dtype_of(tower))
        return lambda: features(**{names[0]: pixels, names[1]: grid_thw}, **(merged or {}))

    shapes = patch_shapes(index.modules[roles.patch_embedding or ""], int(grid_thw.prod(-1).sum()))
    ways = [_meta_then_cpu(f"the model's get_{kind}_features, patches as {'×'.join(map(str, shape))}", call(shape))
            for shape in shapes]
    return first_that_runs(*(w[0] for w in ways), *(w[1] for w in ways))  # every layout on meta, then on the CPU


def _features(index: ModuleIndex, kind: str) -> Callable[..., Any] | None:
    """The model's own ``get_{kind}_features``, or its inner model's."""
    model = index.modules[""]
    found = (getattr(m, f"get_{kind}_features", None) for m in (model, *model.children()))
    return next((f for f in found if callable(f)), None)


def _vision_flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens,
                  request: CostRequest) -> tuple[int | None, list[str]]:
    v = anatomy.vision
    if request.images == 0:  # a text-only request: the vision side does not run
        return 0, ["vision: no images in the request"]
    if v is not None and v.patch_size and img.tokens is not None and not v.native_resolution and (
            img.frame or v.image_size):
        frame = img.frame or (v.image_size or 0, v.image_size or 0)  # frames of their own size, or the native square
        total, methods = 0, list[str]()
        for count, height, width in img.views or ((img.crops, *frame),):  # views of different sizes each apart
            counted, how = tower_flops(index, roles, (height, width), v.patch_size, img.padded)
            if counted is None:  # a tower whose forward cannot run on meta tensors, even block by block
                return None, [f"vision: {how}"]
            tower, out = counted
            crops = count * request.images
            patches = (height // v.patch_size) * (width // v.patch_size)
            if out is not None and out.dim() == 3 and out.shape[1] < patches:  # merged inside the tower
                patches = out.shape[1]
            if img.padded and img.tokens is not None:  # the tower strips the padding: the connector reads the rest
                patches = min(patches, img.tokens)
            connector, how_c = map_connector_flops(index, roles, out, crops) if out is not None and out.dim() == 4 \
                else (None, "")
            if connector is None:  # a sequence, or a map the connector does not take: its modules over the tokens
                connector, how_c = connector_flops(index, roles, anatomy, crops, patches, v.hidden_size)
            total += tower * crops + connector
            methods = methods or [f"vision: {how}", f"connector: {how_c}"]
        return total, methods
    if v is None and img.grid is not None:  # flattened patches: the patch projection is the vision compute
        rows, cols = img.grid
        width = int(getattr(index.modules[roles.patch_embedding or ""], "in_features", 0))
        vision, how_c = connector_flops(index, roles, anatomy, request.images, rows * cols, width)
        return vision, [f"patch projection: {how_c}"]
    if v is not None and (not v.image_size or v.native_resolution) and img.grid is not None:
        outside = any(not p.startswith(f"{roles.vision}.") for p in roles.connector)
        features = _features(index, "image") if outside else None
        if features is not None and takes(index.modules[""], "image_grid_thw"):  # a projector apart: the model's own
            own, how = _own_features_flops(index, roles, features, [[1, *img.grid]], kind="image")
            if own is not None:
                return own * request.images, [f"vision and connector: {how}"]
        per_image, layout = dynamic_tower_flops(index, roles, img.grid, anatomy.connector.merge)
        how = layout if per_image is None else f"forward over the patch grid (with its merger), {layout}"
        return (None if per_image is None else per_image * request.images), [f"vision: {how}"]
    return None, []


def _head_flops(anatomy: Anatomy) -> int:
    return 2 * anatomy.lm_head.in_features * anatomy.lm_head.out_features


def _cross_states(lm: nn.Module, anatomy: Anatomy, states: int) -> dict[str, Any]:
    """The image states a cross-attention language model (Mllama) reads, as its forward takes them; none
    for any other model, or a request without images."""
    if not states or not takes(lm, "cross_attention_states"):
        return {}
    return {"cross_attention_states": torch.randn(1, states, anatomy.language.hidden_size, device="meta",
                                                  dtype=dtype_of(lm))}


def _prefill_flops(lm: nn.Module, anatomy: Anatomy, tokens: int, index: ModuleIndex, roles: Roles,
                   extra: dict[str, Any]) -> int:
    width = anatomy.language.hidden_size
    extra = {**extra, **last_logits(lm, roles)}
    # use_cache=True: with a cache, transformers skips a data-dependent packed-sequence check on the mask.
    run = lambda: language_forward(lm, 1, tokens, width, use_cache=True, **extra)  # noqa: E731
    return count_stacked(run, index, roles.language_stack) + (0 if head_inside(roles) else _head_flops(anatomy))


def _filled_cache(lm: nn.Module, width: int, context: int, extra: dict[str, Any], index: ModuleIndex,
                  stack: str | None) -> Any:
    """transformers' own cache for ``lm`` as a prefill of ``context`` tokens leaves it: the cache one token's
    forward fills (its layers' shapes as the model stores them: MLA's keys and values, per-layer head dims,
    fixed linear-attention states, a sparse-attention indexer's keys), and every tensor that a second token
    grows by one position then widened to ``context`` positions, or to the window − 1 a sliding-window layer
    keeps. What does not grow (cross-attention K/V, fixed states) stays as the first token left it."""
    keyword = cache_keyword(lm)
    with torch.device("meta"), torch.no_grad():  # echoed by kind: only each kind's real layer is filled,
        with layers_echoed(index, stack):  # which is all the echoed decode below reads
            cache = cache_of(language_forward(lm, 1, 1, width, use_cache=True, **extra))
        first = [_lengths(layer) for layer in cache_layers(cache)]
        with layers_echoed(index, stack):
            language_forward(lm, 1, 1, width, use_cache=True, **{keyword: cache})
    for layer, before in zip(cache_layers(cache), first, strict=True):
        cap = kept_tokens(layer)
        held = context if cap is None else min(context, cap)
        for name, length in _lengths(layer).items():
            if before.get(name) == length - 1:  # one position a token: widened to the context
                value = getattr(layer, name)
                setattr(layer, name, value.new_empty(*value.shape[:-2], held, value.shape[-1]))
        if isinstance(getattr(layer, "cumulative_length", None), int):
            layer.cumulative_length = context
    return cache


def _lengths(layer: Any) -> dict[str, int]:
    """The sequence length (dim −2) of each tensor a cache layer holds."""
    return {k: v.shape[-2] for k, v in vars(layer).items() if isinstance(v, torch.Tensor) and v.dim() >= 3}


def _decode_flops(lm: nn.Module, anatomy: Anatomy, context: int, index: ModuleIndex, roles: Roles,
                  extra: dict[str, Any]) -> int:
    """One token against a cache of ``context`` tokens, widened from the cache one token fills (same shapes
    as a prefill would leave). Every run gets a fresh copy: a decode step appends to the cache it is given."""
    width = anatomy.language.hidden_size
    # cross-attention K/V, if any, stay as the prefill left them
    filled = _filled_cache(lm, width, context, extra, index, roles.language_stack)
    keyword = cache_keyword(lm)

    def run() -> None:
        language_forward(lm, 1, 1, width, use_cache=True, **{keyword: copy.deepcopy(filled)})

    return count_stacked(run, index, roles.language_stack) + (0 if head_inside(roles) else _head_flops(anatomy))
