"""How each family's image processor cuts an image, and how many visual tokens that makes.

Each function follows one processor's own arithmetic and names the transformers (or published) code it
follows; the tests check each against that code. Torch-free: the dispatcher in ``rules`` picks one.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.sources.checks import size_setting

HD_TRANSFORM = "hd_transform"  # the value a rebuilt skeleton's ``vlmscope_processing`` gives for Phi-3-vision


def anyres(size: int, patch: int, base: int, config: dict[str, Any], width: int, height: int) -> ImageTokens:
    """LLaVA-NeXT AnyRes, as LlavaNextProcessor._get_number_of_features counts it: the base image plus the
    best-fitting tile grid, unpadded to the image's aspect ratio, plus one newline token per feature row."""
    from transformers.image_processing_utils import select_best_resolution

    side = size // patch
    best_h, best_w = select_best_resolution((height, width), config["image_grid_pinpoints"])
    cur_h, cur_w = side * (best_h // size), side * (best_w // size)
    if width / height > cur_w / cur_h:  # the image is wider than the grid: crop the padded height
        new_h = int(round(height * (cur_w / width), 7))
        cur_h -= ((cur_h - new_h) // 2) * 2
    else:
        new_w = int(round(width * (cur_h / height), 7))
        cur_w -= ((cur_w - new_w) // 2) * 2
    tiles, newlines = cur_h * cur_w, cur_h
    n = base + tiles + newlines
    grid = f"grid {best_w}×{best_h} px unpadded to {cur_h}×{cur_w} features"
    crops = 1 + (best_h // size) * (best_w // size)
    return ImageTokens(n, crops, f"AnyRes: base {base} + {grid} = {tiles} + {newlines} newlines = {n}")


def defaults(name: str) -> dict[str, Any]:
    """The cited processor defaults of one processing scheme (knowledge/processing.json), read once."""
    return _processing()[name]  # type: ignore[no-any-return]


@cache
def _processing() -> dict[str, Any]:
    import json
    from importlib import resources

    return json.loads(resources.files("vlmscope.knowledge").joinpath("processing.json").read_text())  # type: ignore[no-any-return]


def _rescale_longest(height: int, width: int, longest: int) -> tuple[int, int]:
    """Scale so the longer side is ``longest``; the other side is truncated and rounded up to even.
    (Divides by the aspect ratio in the same order as the processor, so float truncation agrees.)"""
    ratio = width / height
    if width >= height:
        short = int(longest / ratio)
        short += short % 2
        return max(short, 1), longest
    short = int(longest * ratio)
    short += short % 2
    return longest, max(short, 1)


def kept_tokens(height: int, width: int, limit: int) -> tuple[int, int]:
    """Shrink (keeping the aspect ratio) when the longer side exceeds ``limit``."""
    ratio = width / height
    if width >= height and width > limit:
        return max(int(limit / ratio), 1), limit
    if height > width and height > limit:
        return limit, max(int(limit * ratio), 1)
    return height, width


def tiles(image_size: int, base: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Idefics3 / SmolVLM: the image is rescaled (longest edge to a few tiles), its sides rounded up to whole
    tiles of the encoder's size, split into that grid, and a global view is added; every tile becomes
    ``base`` tokens after the pixel shuffle. As Idefics3ImageProcessor.get_number_of_image_patches counts."""
    rules = defaults("tiling")
    tile = int(size_setting(pre, "max_image_size").get("longest_edge", image_size))
    longest = int(size_setting(pre, "size").get("longest_edge", rules["size_longest_edge_in_tiles"] * tile))
    if not pre.get("do_image_splitting", rules["do_image_splitting"]):
        return ImageTokens(base, 1, f"one {tile}×{tile} view × {base} = {base}")
    h, w = kept_tokens(*_rescale_longest(height, width, longest), rules["absolute_max_size"])
    rows, cols = -(-h // tile), -(-w // tile)
    if rows * cols == 1:
        return ImageTokens(base, 1, f"fits one {tile}×{tile} tile × {base} = {base}")
    n = base * (rows * cols + 1)
    return ImageTokens(n, rows * cols + 1, f"{rows}×{cols} tiles of {tile}² + 1 global view, {base} each = {n}")


def _closest_grid(grids: list[tuple[int, int]], width: int, height: int, tile_area: int) -> tuple[int, int]:
    """(columns, rows) of the grid, in the processor's own order, whose aspect ratio is closest to the image's;
    on a tie the later one, while the image's area exceeds half the grid's tiles' (InternVL's and LFM2-VL's
    find_closest_aspect_ratio)."""
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_area * cols * rows:
            best = (cols, rows)
    return best


def crop_to_patches(image_size: int, base: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """InternVL / GOT-OCR2 (``crop_to_patches`` in the preprocessor config): the grid of encoder-sized tiles
    (between min_patches and max_patches of them) whose aspect ratio is closest to the image's — on a tie the
    grid with more tiles, while the image area exceeds half the tiles' area — plus a thumbnail when there
    is more than one tile. As GotOcr2ImageProcessor.get_number_of_image_patches counts."""
    low, high = int(pre.get("min_patches", 1)), int(pre.get("max_patches", 12))
    size = size_setting(pre, "size")
    tile_h, tile_w = int(size.get("height", image_size)), int(size.get("width", image_size))
    if high <= 1:
        return ImageTokens(base, 1, f"one {tile_w}×{tile_h} tile × {base} = {base}")
    # every (columns, rows) with low ≤ columns × rows ≤ high, ordered by area (stable: columns, then rows),
    # enumerated in O(high · log high) rather than over all high² pairs
    grids = sorted(((c, r) for c in range(1, high + 1) for r in range(max(1, -(-low // c)), high // c + 1)),
                   key=lambda g: g[0] * g[1])
    best = _closest_grid(grids, width, height, tile_h * tile_w)
    tiles = best[0] * best[1]
    crops = tiles + 1 if tiles > 1 else 1
    n = base * crops
    what = f"{best[0]}×{best[1]} tiles + 1 thumbnail" if tiles > 1 else "1 tile"
    return ImageTokens(n, crops, f"{what} of {tile_w}×{tile_h}, {base} each = {n}")


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: float,
                  least: int = 0) -> tuple[int, int]:
    """Round both sides to multiples of ``factor`` (at least ``least``: LFM2-VL's rounding) and keep the pixel
    count within [min, max] (Qwen2-VL's smart_resize)."""
    h, w = max(least, round(height / factor) * factor), max(least, round(width / factor) * factor)
    if h * w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        return (max(factor, math.floor(height / scale / factor) * factor),
                max(factor, math.floor(width / scale / factor) * factor))
    if h * w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        return math.ceil(height * scale / factor) * factor, math.ceil(width * scale / factor) * factor
    return h, w


def dynamic(patch: int, merge: int, pre: dict[str, Any], width: int, height: int,
            named: str | None = None) -> ImageTokens:
    """Qwen2-VL family: native resolution, sides rounded to multiples of patch × merge, pixel budget from the
    processor (min_pixels / max_pixels; where its files set none, image processor class ``named``'s own where
    knowledge/processing.json has it, else Qwen2-VL's), then an s×s merge of the patches."""
    rules, size = defaults("dynamic_resolution"), size_setting(pre, "size")
    own = rules["classes"].get(named or "")
    low = int(pre.get("min_pixels") or size.get("shortest_edge") or (own or rules)["min_pixels"])
    high = int(pre.get("max_pixels") or size.get("longest_edge") or (own or rules)["max_pixels"])
    h, w = smart_resize(height, width, patch * merge, low, high)
    n = (h // patch) * (w // patch) // (merge * merge)
    whose = f"{named}'s class defaults" if own else "transformers' Qwen2-VL processor defaults"
    budget = "" if pre else f" (pixel budget: {whose}; no preprocessor config)"
    merged = f" → {merge}×{merge} merge" if merge > 1 else ""
    return ImageTokens(n, 1, f"resized to {w}×{h}: {w // patch}×{h // patch} patches{merged} = "
                             f"{n}{budget}", grid=(h // patch, w // patch))


def config_size(config: dict[str, Any]) -> tuple[int, int]:
    """The square image size a config names (``image_size``), or (0, 0)."""
    side = config.get("image_size")
    return (side, side) if isinstance(side, int) and not isinstance(side, bool) else (0, 0)


def flat_patch_tokens(patch: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Fuyu: no vision encoder; the image is shrunk (never enlarged) to fit the processor's canvas, cut at
    whole patches, and every patch row ends with a newline token. As FuyuProcessor counts it."""
    rules = defaults("flat_patches")
    size = size_setting(pre, "size")
    canvas_h, canvas_w = int(size.get("height", rules["height"])), int(size.get("width", rules["width"]))
    scale = min(canvas_h / height, canvas_w / width)
    h, w = min(int(height * scale), height), min(int(width * scale), width)
    h, w = min(canvas_h, math.ceil(h / patch) * patch), min(canvas_w, math.ceil(w / patch) * patch)
    rows, cols = h // patch, w // patch
    n = rows * (cols + 1)
    return ImageTokens(n, 1, f"{w}×{h} px → {rows}×{cols} patches of {patch}² + {rows} row newlines = {n}",
                       grid=(rows, cols))


def _hd_transform_size(width: int, height: int, hd_num: int, crop: int) -> tuple[int, int]:
    """Size after HD_transform: the largest crop grid within hd_num crops, height padded to whole crops."""
    transposed = width < height
    if transposed:
        width, height = height, width
    ratio = width / height
    scale = 1
    while scale * math.ceil(scale / ratio) <= hd_num:
        scale += 1
    scale -= 1
    new_width = int(scale * crop)
    new_height = int(new_width / ratio)
    padded_height = int(math.ceil(new_height / crop) * crop)
    return (padded_height, new_width) if transposed else (new_width, padded_height)


def hd_transform(crop: int, base: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Phi-3-vision (the published image_processing_phi3_v.py): the HD transform cuts the image into at most
    num_crops crops of the encoder's size; with the global view each becomes ``base`` tokens, plus one
    separator and a newline per feature row, as Phi3VImageProcessor.calc_num_image_tokens_from_image_size
    counts them."""
    w, h = _hd_transform_size(width, height, int(pre.get("num_crops", 16)), crop)
    crops = (h // crop) * (w // crop)
    n = (crops + 1) * base + 1 + (h // crop + 1) * math.isqrt(base)
    return ImageTokens(n, crops + 1,
                       f"Phi-3-vision HD transform of {width}×{height} (crops + global, newlines, separator) = {n}")


def _edge_resize(height: int, width: int, shortest: int, longest: int) -> tuple[int, int]:
    """Idefics2: shrink (keeping the aspect ratio, truncating) so the longer side is at most ``longest``, then
    raise each side to at least ``shortest`` on its own."""
    ratio = width / height
    if width >= height and width > longest:
        width = longest
        height = int(width / ratio)
    elif height > width and height > longest:
        height = longest
        width = int(height * ratio)
    return max(height, shortest), max(width, shortest)


def variable_frames(image_size: int, base: int, rule: str, pre: dict[str, Any], width: int,
                    height: int) -> ImageTokens:
    """Idefics2 (an encoder that takes frames of any size with a patch mask): with image splitting, the
    image's four quadrants and the image itself; each resized by its edges (longest ≤ longest_edge, each
    side ≥ shortest_edge); all padded to the largest height and width among them. The encoder runs over
    those padded frames; every crop becomes ``base`` tokens. As Idefics2ImageProcessor does it."""
    rules = defaults("variable_frames")
    size = size_setting(pre, "size")
    shortest = int(size.get("shortest_edge", rules["shortest_edge"]))
    longest = int(size.get("longest_edge", image_size))
    crops = [(height, width)]
    if pre.get("do_image_splitting", rules["do_image_splitting"]):
        mid_h, mid_w = height // 2, width // 2
        crops = [(mid_h, mid_w), (mid_h, width - mid_w), (height - mid_h, mid_w), (height - mid_h, width - mid_w),
                 (height, width)]
    sizes = [_edge_resize(h, w, shortest, longest) for h, w in crops]
    frame = (max(h for h, _ in sizes), max(w for _, w in sizes))
    n = base * len(crops)
    if len(crops) == 1:
        return ImageTokens(n, 1, f"{rule} (the same for any image size); the encoder runs over it resized to "
                                 f"{frame[1]}×{frame[0]}", frame=frame)
    return ImageTokens(n, len(crops), f"{rule}; image splitting: 4 crops + 1 global, padded to {frame[1]}×{frame[0]}"
                                      f" frames, × {base} = {n}", frame=frame)


def longest_edge(image_size: int, patch: int, merge: int, pre: dict[str, Any], width: int,
                 height: int) -> ImageTokens:
    """Pixtral / Mistral 3: the image is shrunk (never enlarged) so that both sides fit ``longest_edge``
    (floored), then rounded up to whole merged patches; the encoder runs over that one frame, each row of
    merged patches ends with a break token, the last with the end token. As PixtralProcessor counts it
    (``get_resize_output_image_size``, ``_get_num_multimodal_tokens``: (columns + 1) × rows)."""
    size = size_setting(pre, "size")
    longest = int(size.get("longest_edge", image_size))
    step = patch * merge
    ratio = max(height / longest, width / longest)
    h, w = (math.floor(height / ratio), math.floor(width / ratio)) if ratio > 1 else (height, width)
    rows, cols = (h - 1) // step + 1, (w - 1) // step + 1
    n = (cols + 1) * rows
    merged = f" → {merge}×{merge} merge" if merge > 1 else ""
    return ImageTokens(n, 1, f"resized within {longest}² to {cols * step}×{rows * step}: "
                             f"{cols * merge}×{rows * merge} patches{merged} = {rows}×{cols} + {rows} row "
                             f"break/end tokens = {n}", frame=(rows * step, cols * step))


def soft_token_budget(patch: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Gemma 4: the image is resized, keeping its aspect ratio, to the largest size within a budget of
    ``max_soft_tokens`` × k² patches whose sides are whole multiples of k × patch; every k × k patches are
    pooled into one soft token. As Gemma4Processor._get_num_multimodal_tokens counts it (with
    ``get_aspect_ratio_preserving_size``); the begin/end-of-image tokens around them are not counted. The
    processor pads the patches to the budget, and the encoder runs over them all (``padded``)."""
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size

    patch = int(pre.get("patch_size") or patch)
    k = int(pre.get("pooling_kernel_size") or 1)
    budget = int(pre["max_soft_tokens"])
    h, w = get_aspect_ratio_preserving_size(height=height, width=width, patch_size=patch,
                                            max_patches=budget * k * k, pooling_kernel_size=k)
    rows, cols = h // patch, w // patch
    n = rows * cols // (k * k)
    return ImageTokens(n, 1, f"resized within {budget} × {k}² patches to {w}×{h}: {cols}×{rows} patches (padded to "
                             f"{budget * k * k} for the encoder) → {k}×{k} pool = {n}", grid=(rows, cols),
                       frame=(h, w), padded=budget * k * k)


def _canvas(height: int, width: int, tiles: int, tile: int) -> tuple[int, int]:
    """Mllama's tile canvas (height, width): of the arrangements of at most ``tiles`` tiles, the one that
    needs the least upscaling, else the least downscaling; on a tie the smallest area. As
    get_optimal_tiled_canvas picks it (an arrangement's first number is read as rows)."""
    canvases = [(a * tile, b * tile) for a in range(1, tiles + 1) for b in range(1, tiles + 1) if a * b <= tiles]
    scales = [min(h / height, w / width) for h, w in canvases]
    up = [x for x in scales if x >= 1]
    chosen = min(up) if up else max(scales)
    return min((c for c, x in zip(canvases, scales, strict=True) if x == chosen), key=lambda c: c[0] * c[1])


def aspect_ratio_tiles(tile: int, patch: int, class_token: bool, pre: dict[str, Any], config: dict[str, Any],
                       width: int, height: int) -> ImageTokens:
    """Mllama (Llama 3.2 Vision): the image is fitted to a canvas of at most ``max_image_tiles`` tiles of the
    encoder's size and cut into them; the tower runs over all ``max_image_tiles`` tiles (unused ones padded)
    and every tile's patches (+ class token) become states the cross-attention layers read. In the text, an
    image takes one position (its ``<|image|>`` token). As MllamaImageProcessor and MllamaProcessor do it."""
    vision = config.get("vision_config") or {}
    most = int(pre.get("max_image_tiles") or vision.get("max_num_tiles")
               or defaults("aspect_ratio_tiles")["max_image_tiles"])
    canvas_h, canvas_w = _canvas(height, width, most, tile)
    rows, cols = canvas_h // tile, canvas_w // tile
    per_tile = (tile // patch) ** 2 + (1 if class_token else 0)
    states = most * per_tile
    return ImageTokens(1, 1, f"{cols}×{rows} tiles of {tile}² (padded to {most}) → 1 image position in the text; "
                             f"{most} tiles × {per_tile} = {states} cross-attention states", states=states)


def _lfm2_grid(height: int, width: int, low: int, high: int, tile: int) -> tuple[int, int]:
    """(columns, rows) of the tile grid closest to the image's aspect ratio, as find_closest_aspect_ratio picks
    it from the grids of ``low``..``high`` tiles (ordered by area; on a tie the larger, while the image's area
    exceeds half the grid's)."""
    grids = sorted({(w, h) for n in range(low, high + 1) for w in range(1, n + 1) for h in range(1, n + 1)
                    if low <= w * h <= high}, key=lambda g: g[0] * g[1])
    return _closest_grid(grids, width, height, tile * tile)


def smart_tiles(patch: int, pre: dict[str, Any], config: dict[str, Any], width: int, height: int) -> ImageTokens:
    """LFM2-VL: an image too large for one view (beyond ``max_image_tokens`` × tolerance) is cut into the grid of
    ``tile_size`` tiles closest to its aspect ratio, plus a thumbnail (the image smart-resized within the token
    budget); a smaller image is that one view. After the factor × factor unshuffle every tile is
    (tile / patch / factor)² tokens. Every view is padded to the same number of patches for the tower. As
    Lfm2VlImageProcessor cuts it and Lfm2VlProcessor counts it."""
    s = {**defaults("smart_tiles"), **{k: v for k, v in config.items() if k in defaults("smart_tiles")},
         **{k: v for k, v in pre.items() if k in defaults("smart_tiles")}}
    p, f, tile = int(s["encoder_patch_size"] or patch), int(s["downsample_factor"]), int(s["tile_size"])
    low, high = int(s["min_image_tokens"]), int(s["max_image_tokens"])
    step = p * f
    rounded = max(p, round(height / step) * step) * max(p, round(width / step) * step)
    splitting = bool(s["do_image_splitting"]) and not int(s["min_tiles"]) == int(s["max_tiles"]) == 1
    h, w = smart_resize(height, width, step, low * step * step, high * step * step, least=step)
    view = math.ceil((h // p) / f) * math.ceil((w // p) / f)
    padded = max(high * f * f, (tile // p) ** 2 if splitting else 0)  # patches every view is padded to
    frame = (p, padded * p)
    if not (splitting and rounded > high * step * step * float(s["max_pixels_tolerance"])):
        return ImageTokens(view, 1, f"one view resized to {w}×{h}: {view} tokens", frame=frame)
    cols, rows = _lfm2_grid(height, width, int(s["min_tiles"]), int(s["max_tiles"]), tile)
    per_tile = math.ceil((tile // p) / f) ** 2
    thumb = bool(s["use_thumbnail"]) and cols * rows != 1
    n = cols * rows * per_tile + (view if thumb else 0)
    rule = f"{cols}×{rows} tiles of {tile}², {per_tile} each" + (f" + a {w}×{h} thumbnail of {view}" if thumb else "")
    return ImageTokens(n, cols * rows + thumb, f"{rule} = {n}", frame=frame)
