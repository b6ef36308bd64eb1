"""MiniCPM-V's slices: the whole image as one view resized near ``scale_resolution``², and, for a larger image,
a grid of slices cut from it, each view at its own size. As MiniCPMV4_6ImageProcessor (also MiniCPM-V 4.7's)
resizes and cuts and MiniCPMV4_6Processor counts: (rows / patch) × (cols / patch) / 16 image tokens per view
(its ``downsample_mode`` "16x": the tower's 2×2 merger and the connector's; "4x" skips the first)."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.tokens.processors import defaults


def rows(patch: int, pre: dict[str, Any], config: dict[str, Any], width: int, height: int) -> int:
    """Rows of slices an image is cut into (0 where it is one view): the processor writes a newline between two."""
    s = _settings(patch, pre, config)
    grid = _grid(height, width, int(s["max_slice_nums"]), int(s["scale_resolution"])) if s["slice_mode"] else None
    return 0 if grid is None else grid[0]


def _settings(patch: int, pre: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The slicing settings: the processor's, else the tower's patch and the model's own ``downsample_mode``."""
    base = {**defaults("slices"), "patch_size": patch or defaults("slices")["patch_size"]}
    if config.get("downsample_mode") in ("4x", "16x"):
        base["downsample_mode"] = config["downsample_mode"]
    return {**base, **{k: v for k, v in pre.items() if k in defaults("slices")}}


def _to_multiple(length: float, step: int) -> int:
    return max(round(length / step) * step, step)


def _best_resize(height: float, width: float, side: int, step: int, upscale: bool) -> tuple[int, int]:
    """(height, width): scaled to about side² pixels at the image's aspect ratio where larger (or where
    ``upscale``), then each rounded to a multiple of ``step``."""
    if height * width > side * side or upscale:
        ratio = width / height
        height = int(side / math.sqrt(ratio))
        width = int(height * ratio)
    return _to_multiple(height, step), _to_multiple(width, step)


def _grid(height: int, width: int, most: int, side: int) -> tuple[int, int] | None:
    """(rows, columns) of slices, or None for an image that fits one view: of the slice counts around its
    area in side² units, the grid whose aspect is closest to the image's (on a tie, more rows)."""
    wanted = min(math.ceil(width * height / (side * side)), most)
    if wanted <= 1:
        return None
    aspect = math.log(width / height)
    best, error = (1, 1), float("inf")
    for n in (wanted - 1, wanted, wanted + 1):
        if n == 1 or n > most:
            continue
        for rows in (r for r in range(1, n + 1) if n % r == 0):
            e = abs(aspect - math.log((n // rows) / rows))
            if e < error or (e == error and rows > best[0]):
                best, error = (rows, n // rows), e
    return best


def slices(patch: int, pre: dict[str, Any], config: dict[str, Any], width: int, height: int) -> ImageTokens:
    """Tokens of one image. Where the processor's settings give none: the tower's patch, and the model's own
    ``downsample_mode`` (its forward reads the config's: "4x" for MiniCPM-OCR)."""
    s = _settings(patch, pre, config)
    p, side, most = int(s["patch_size"]), int(s["scale_resolution"]), int(s["max_slice_nums"])
    divisor = 4 if s["downsample_mode"] == "4x" else 16
    step = p * (2 if divisor == 4 else 4)
    grid = _grid(height, width, most, side) if s["slice_mode"] else None
    h, w = _best_resize(height, width, side, step, upscale=grid is None)
    view = (h // p) * (w // p) // divisor
    if pre.get("small_image_upsize") == "adaptive" and grid is None:  # MiniCPM-OCR reads the glyphs (OpenCV)
        return ImageTokens(view, 1, f"one view resized to {w}×{h}: {view} tokens (a small image of dense text is "
                                    "upsized further, by its content: not known from its size)", frame=(h, w))
    if grid is None:
        return ImageTokens(view, 1, f"one view resized to {w}×{h}: {view} tokens", frame=(h, w))
    rows, cols = grid
    sh, sw = _best_resize(_to_multiple(height, rows) / rows, _to_multiple(width, cols) / cols, side, step, True)
    per = (sh // p) * (sw // p) // divisor
    n = view + rows * cols * per
    views = ((1, h, w), (rows * cols, sh, sw)) if (h, w) != (sh, sw) else ((1 + rows * cols, h, w),)
    return ImageTokens(n, 1 + rows * cols, f"a {w}×{h} view of {view} + {rows}×{cols} slices of {sw}×{sh}, "
                                           f"{per} each = {n}", frame=(sh, sw), views=views)
