"""Visual tokens per image at the vision encoder's native resolution (image_size × image_size).

The generic rule follows the structure: patches (+ class token) → feature selection → connector
(learned queries or s×s merge). Processing rules that only a family's processor knows (tiling, HD crops)
live in one named function each, cited to the transformers or published code they follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vlmscope.schema import VisionFacts
from vlmscope.sources import ModelSource


@dataclass(frozen=True)
class Encoded:
    """What the vision encoder and connector do to one crop; read off the anatomy."""

    image_size: int
    patch_size: int
    class_token: bool
    latents: int | None  # learned queries per crop, if a resampler
    merge: int  # s for an s×s patch merge, else 1
    avg_pool: int = 1  # k for a k×k average pool, else 1
    dynamic: bool = False  # native-resolution encoder (no fixed image size) with a patch merger
    tiled: bool = False  # pixel-shuffle connector: images are split into encoder-sized tiles


def encoded(vision: VisionFacts, queries: int | None, merge: int, avg_pool: int, merge_hint: str | None) -> Encoded:
    """What the anatomy says about one crop: the encoder's size and patch, and what the connector does."""
    return Encoded(vision.image_size or 0, vision.patch_size or 0, vision.class_token, queries, merge, avg_pool,
                   dynamic=vision.native_resolution,
                   tiled=merge_hint == "scale_factor")


def per_crop(enc: Encoded, config: dict[str, Any]) -> tuple[int, str]:
    """Tokens one crop becomes, with the rule written out."""
    side = enc.image_size // enc.patch_size
    n = side * side
    rule = f"{side}×{side} patches"
    if enc.class_token:
        n += 1
        rule += " + class token"
    strategy = config.get("vision_feature_select_strategy")
    if strategy == "default" or (strategy is None and enc.class_token):
        n -= 1  # transformers drops the first token: [:, 1:]
        rule += ", first token dropped"
    if enc.latents is not None:
        return enc.latents, f"{rule} → {enc.latents} resampler latents"
    for k, what in ((enc.avg_pool, "average pool"), (enc.merge, "merge")):
        if k > 1:
            n //= k * k
            rule += f" → {k}×{k} {what}"
    return n, f"{rule} = {n}"


@dataclass(frozen=True)
class ImageTokens:
    """Visual tokens one image of ``width`` × ``height`` becomes, and how many encoder passes it takes."""

    tokens: int | None
    crops: int  # vision-encoder passes at the native resolution (tiles, crops, global view)
    rule: str
    grid: tuple[int, int] | None = None  # patch rows × columns of a native-resolution encoder's one pass


def native_tokens(enc: Encoded, source: ModelSource) -> tuple[int, str]:
    """Tokens for one image of image_size × image_size, under the model's own processing rules."""
    found = image_tokens(enc, source, enc.image_size, enc.image_size)
    assert found.tokens is not None
    return found.tokens, found.rule


def image_tokens(enc: Encoded, source: ModelSource, width: int, height: int) -> ImageTokens:
    """Tokens for one ``width`` × ``height`` image, under the model's own processing rules."""
    config = source.config
    if config.get("model_type") == "phi3_v":
        from vlmscope.skeletons.phi3_v import hd_crops, visual_tokens

        n = visual_tokens(width, height, config, source.preprocessor)
        return ImageTokens(n, hd_crops(width, height, source.preprocessor) + 1,
                           f"Phi-3-vision HD transform of {width}×{height} (crops + global, newlines, separator) = {n}")
    if enc.dynamic:
        return _dynamic(enc, source.preprocessor or {}, width, height)
    base, rule = per_crop(enc, config)
    if config.get("image_grid_pinpoints"):
        return _anyres(enc, base, config, rule, width, height)
    if (source.preprocessor or {}).get("crop_to_patches"):
        return _crop_to_patches(enc, base, source.preprocessor or {}, width, height)
    if enc.tiled:
        return _tiles(enc, base, source.preprocessor or {}, width, height)
    if (source.preprocessor or {}).get("do_image_splitting"):
        n = base * 5
        return ImageTokens(n, 5, f"{rule}; image splitting: 4 crops + 1 global × {base} = {n}")
    return ImageTokens(base, 1, f"{rule} (the same for any image size)")


def _anyres(enc: Encoded, base: int, config: dict[str, Any], rule: str, width: int, height: int) -> ImageTokens:
    """LLaVA-NeXT AnyRes, as LlavaNextProcessor._get_number_of_features counts it: the base image plus the
    best-fitting tile grid, unpadded to the image's aspect ratio, plus one newline token per feature row."""
    from transformers.image_processing_utils import select_best_resolution

    size, side = enc.image_size, enc.image_size // enc.patch_size
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


def _defaults(name: str) -> dict[str, Any]:
    import json
    from importlib import resources

    data = json.loads(resources.files("vlmscope.knowledge").joinpath("processing.json").read_text())
    return data[name]  # type: ignore[no-any-return]


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


def _cap(height: int, width: int, limit: int) -> tuple[int, int]:
    """Shrink (keeping the aspect ratio) when the longer side exceeds ``limit``."""
    ratio = width / height
    if width >= height and width > limit:
        return max(int(limit / ratio), 1), limit
    if height > width and height > limit:
        return limit, max(int(limit * ratio), 1)
    return height, width


def _tiles(enc: Encoded, base: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Idefics3 / SmolVLM: the image is rescaled (longest edge to a few tiles), its sides rounded up to whole
    tiles of the encoder's size, split into that grid, and a global view is added; every tile becomes
    ``base`` tokens after the pixel shuffle. As Idefics3ImageProcessor.get_number_of_image_patches counts."""
    rules = _defaults("tiling")
    tile = int((pre.get("max_image_size") or {}).get("longest_edge", enc.image_size))
    longest = int((pre.get("size") or {}).get("longest_edge", rules["size_longest_edge_in_tiles"] * tile))
    if not pre.get("do_image_splitting", rules["do_image_splitting"]):
        return ImageTokens(base, 1, f"one {tile}×{tile} view × {base} = {base}")
    h, w = _cap(*_rescale_longest(height, width, longest), rules["absolute_max_size"])
    rows, cols = -(-h // tile), -(-w // tile)
    if rows * cols == 1:
        return ImageTokens(base, 1, f"fits one {tile}×{tile} tile × {base} = {base}")
    n = base * (rows * cols + 1)
    return ImageTokens(n, rows * cols + 1, f"{rows}×{cols} tiles of {tile}² + 1 global view, {base} each = {n}")


def _crop_to_patches(enc: Encoded, base: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """InternVL / GOT-OCR2 (``crop_to_patches`` in the preprocessor config): the grid of encoder-sized tiles
    (between min_patches and max_patches of them) whose aspect ratio is closest to the image's — on a tie the
    grid with more tiles, while the image area exceeds half the tiles' area — plus a thumbnail when there
    is more than one tile. As GotOcr2ImageProcessor.get_number_of_image_patches counts."""
    low, high = int(pre.get("min_patches", 1)), int(pre.get("max_patches", 12))
    size = pre.get("size") or {}
    tile_h, tile_w = int(size.get("height", enc.image_size)), int(size.get("width", enc.image_size))
    if high <= 1:
        return ImageTokens(base, 1, f"one {tile_w}×{tile_h} tile × {base} = {base}")
    grids = sorted(((c, r) for c in range(1, high + 1) for r in range(1, high + 1) if low <= c * r <= high),
                   key=lambda g: g[0] * g[1])
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in grids:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_h * tile_w * cols * rows:
            best = (cols, rows)
    tiles = best[0] * best[1]
    crops = tiles + 1 if tiles > 1 else 1
    n = base * crops
    what = f"{best[0]}×{best[1]} tiles + 1 thumbnail" if tiles > 1 else "1 tile"
    return ImageTokens(n, crops, f"{what} of {tile_w}×{tile_h}, {base} each = {n}")


def _smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Round both sides to multiples of ``factor`` and keep the pixel count within [min, max] (Qwen2-VL)."""
    h, w = round(height / factor) * factor, round(width / factor) * factor
    if h * w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        return (max(factor, math.floor(height / scale / factor) * factor),
                max(factor, math.floor(width / scale / factor) * factor))
    if h * w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        return math.ceil(height * scale / factor) * factor, math.ceil(width * scale / factor) * factor
    return h, w


def _dynamic(enc: Encoded, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Qwen2-VL family: native resolution, sides rounded to multiples of patch × merge, pixel budget from
    the processor (min_pixels / max_pixels), then an s×s merge of the patches."""
    rules = _defaults("dynamic_resolution")
    size = pre.get("size") or {}
    low = int(pre.get("min_pixels") or size.get("shortest_edge") or rules["min_pixels"])
    high = int(pre.get("max_pixels") or size.get("longest_edge") or rules["max_pixels"])
    factor = enc.patch_size * enc.merge
    h, w = _smart_resize(height, width, factor, low, high)
    n = (h // enc.patch_size) * (w // enc.patch_size) // (enc.merge * enc.merge)
    budget = "" if pre else " (pixel budget: transformers' Qwen2-VL processor defaults; no preprocessor config)"
    merge = f" → {enc.merge}×{enc.merge} merge" if enc.merge > 1 else ""
    return ImageTokens(n, 1, f"resized to {w}×{h}: {w // enc.patch_size}×{h // enc.patch_size} patches{merge} = "
                             f"{n}{budget}", grid=(h // enc.patch_size, w // enc.patch_size))


def flat_patch_side(embed: Any, config: dict[str, Any]) -> int:
    """Patch side of a model without a vision tower whose patch embedding is a Linear over flattened
    patches (in_features = channels × patch², as in Fuyu); 0 otherwise."""
    patch = int(config.get("patch_size") or 0)
    channels = int(config.get("num_channels") or 3)
    return patch if patch and getattr(embed, "in_features", None) == channels * patch * patch else 0


def config_size(config: dict[str, Any]) -> tuple[int, int]:
    """The square image size a config names (``image_size``), or (0, 0)."""
    side = config.get("image_size")
    return (side, side) if isinstance(side, int) and not isinstance(side, bool) else (0, 0)


def flat_patch_tokens(patch: int, pre: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Fuyu: no vision encoder; the image is shrunk (never enlarged) to fit the processor's canvas, cut at
    whole patches, and every patch row ends with a newline token. As FuyuProcessor counts it."""
    rules = _defaults("flat_patches")
    size = pre.get("size") or {}
    canvas_h, canvas_w = int(size.get("height", rules["height"])), int(size.get("width", rules["width"]))
    scale = min(canvas_h / height, canvas_w / width)
    h, w = min(int(height * scale), height), min(int(width * scale), width)
    h, w = min(canvas_h, math.ceil(h / patch) * patch), min(canvas_w, math.ceil(w / patch) * patch)
    rows, cols = h // patch, w // patch
    n = rows * (cols + 1)
    return ImageTokens(n, 1, f"{w}×{h} px → {rows}×{cols} patches of {patch}² + {rows} row newlines = {n}",
                       grid=(rows, cols))
