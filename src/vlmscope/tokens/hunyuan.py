"""HunYuan-V4-VL's video processor (HYV4VLVideoProcessor, transformers' video_processing_hy_v4_vl.py): every
frame, or its sampler's; every frame the same grid of merged patches, found by its smart_resize (never larger
than the frame, at most max_image_size pixels a frame, and the clip's tokens within size's longest_edge
pixels); per frame one token per merged patch and a newline token closing each row of them."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.tokens.frames import check_aspect, sampling
from vlmscope.tokens.rules import Encoded
from vlmscope.tokens.stamps import ASSUMED_FPS


def _sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[int, str]:
    """(frames kept, how) under its sample_frames: num_frames, else fps (2) of the clip's rate (24 where none is
    known), between min_frames and max_frames and at most the clip's; np.linspace over the clip, rounded."""
    total = video.frames
    if not pre.get("do_sample_frames"):
        return total, "every frame (do_sample_frames off)"
    num, fps = sampling(pre)
    least, most = int(pre["min_frames"]), int(pre["max_frames"])
    if num is None and fps is not None:
        num = min(max(int(total / (video.fps or ASSUMED_FPS) * fps), least), most, total)
    elif num is None:
        num = min(max(total, least), most)
    if num < 1:
        raise RequestError("processor", f"num_frames={num}", f"at least 1 frame for {name}")
    return num, f"{num} sampled" + (f" at {fps:g} fps" if pre.get("num_frames") is None and fps else "")


def frame_grid(height: int, width: int, frames: int, factor: int, clip_pixels: int,
               frame_pixels: int) -> tuple[int, int]:
    """(rows, columns) of merged patches of each frame, as its smart_resize finds them: the most rows that fit
    the frame, and, on the frame's aspect ray, the most columns within the clip's token budget (a frame of r × c
    merged patches costs r × (c + 1) tokens) and the frame's pixel cap; one merged patch where nothing fits."""
    if min(frames, height, width, factor, clip_pixels, frame_pixels) <= 0:
        raise ValueError("video dimensions, resize factor and pixel budgets must be positive")
    budget = clip_pixels // (factor * factor)
    for rows in range(max(1, height // factor), 0, -1):  # at most MAX_IMAGE_SIDE // factor rows: bounded
        low = 1 if rows == 1 else max(1, width * rows // height)
        high = min(max(1, width // factor), max(1, -(-width * (rows + 1) // height) - 1))
        cols = min(high, budget // (frames * rows) - 1 if budget > 0 else 0, frame_pixels // (factor * factor * rows))
        if cols >= low:
            return rows, cols
    return 1, 1


def hunyuan(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
            config: dict[str, Any]) -> VideoTokens:
    """HYV4VLVideoProcessor: the frames kept (``_sampled``), padded to whole temporal patches; each frame
    resized to the grid ``frame_grid`` finds; per frame (its encoder takes each alone, as an image) one token per
    merged patch and one newline token per row of them."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    kept, how = _sampled(name, pre, video)
    size, cap = dict(pre.get("size") or {}), dict(pre.get("max_image_size") or {})
    if not size.get("longest_edge") or not cap.get("longest_edge"):
        raise RequestError("processor", f"size={size}, max_image_size={cap}", "a longest_edge pixel count in each")
    check_aspect(video)
    rows, cols = frame_grid(video.height, video.width, kept, patch * merge, int(size["longest_edge"]),
                            int(cap["longest_edge"]))
    units, per = math.ceil(kept / tps), rows * (cols + 1)
    h, w = rows * merge * patch, cols * merge * patch
    unit = ImageTokens(per, 1, "one frame", grid=(rows * merge, cols * merge), frame=(h, w))
    rule = (f"{how}: {kept} frames, each {w}×{h} → {cols * merge}×{rows * merge} patches → {merge}×{merge} merge = "
            f"{rows}×{cols} tokens + {rows} row newlines = {per}; {units} × {per} = {units * per:,}")
    return VideoTokens(video, units * tps, units * per, rule, name, unit, units)
