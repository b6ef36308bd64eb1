"""Molmo2's video processor (Molmo2VideoProcessor, transformers' video_processing_molmo2.py) and the text its
processor writes (processing_molmo2.py): frames sampled by its own rule, each resized to one square crop, its
patches pooled in pooling_size windows (3×3, where its images pool 2×2) by attention in the model's adapter;
per frame its time ('1.5 ', text), the frame start, one token per pooled window and the frame end."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TEXT_PIECES
from vlmscope.tokens import stamps
from vlmscope.tokens.frames import sampling
from vlmscope.tokens.rules import Encoded


def _rate(pre: dict[str, Any], video: VideoSpec) -> float:
    """The rate its times are read at: the clip's, else fps where sampling by one, else max_fps (its processor's
    stand-in for a clip without one)."""
    fps, most = pre.get("fps"), pre.get("max_fps")
    rate = video.fps or (fps if fps is not None and pre.get("do_sample_frames") else most)
    if rate is None or float(rate) <= 0:
        raise RequestError("processor", f"fps={fps}, max_fps={most}", "a positive frame rate for its timestamps")
    return float(rate)


def _sampled(pre: dict[str, Any], video: VideoSpec) -> list[int]:
    """Its sample_frames: duration × fps frames where fps is set, else num_frames (64), at most duration × max_fps
    where the clip is faster than max_fps; at least one, at most the clip's; then torch.arange(0, total,
    total / n), truncated."""
    total = video.frames
    if not pre.get("do_sample_frames"):
        return list(range(total))
    num, fps = sampling(pre)
    rate, most = _rate(pre, video), pre.get("max_fps")
    duration = total / rate
    if fps is not None:
        wanted = int(duration * fps)
    else:
        wanted = int(num if num is not None else 64)
        if most is not None and rate > float(most):
            wanted = min(wanted, int(duration * float(most)))
    return stamps.loader_indices("torch.arange, truncated", total, max(min(wanted, total), 1))


def molmo2(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
           config: dict[str, Any]) -> VideoTokens:
    """Molmo2VideoProcessor: the frames kept (``_sampled``), each resized to size (square) → patches pooled in
    pooling_size windows (the grid padded to whole windows); per frame the processor writes its time (text), the
    frame start, a token per window and the frame end (column tokens off: the processor's default)."""
    size, patch = dict(pre.get("size") or {}), int(pre["patch_size"])
    if size.get("height") != size.get("width") or not size.get("height"):
        raise RequestError("processor", size, f"a square size: {name} takes no other")
    ph, pw = (int(k) for k in pre["pooling_size"])
    side = int(size["height"]) // patch
    rows, cols = math.ceil(side / ph), math.ceil(side / pw)
    indices = _sampled(pre, video)
    kept, per, rate = len(indices), rows * cols, _rate(pre, video)
    text = tuple((" " if n else "") + f"{i / rate:.1f} " for n, i in enumerate(indices)) if kept <= MAX_TEXT_PIECES \
        else ()
    crop = int(size["height"])
    unit = ImageTokens(per, 1, "one frame", frame=(crop, crop))
    rule = (f"{kept} frames" + ("" if pre.get("do_sample_frames") else " (do_sample_frames off)") + f", each "
            f"{crop}×{crop} → {side}×{side} patches → {ph}×{pw} attention pool = {rows}×{cols} = {per} tokens + frame "
            f"start and end; {kept} × {per + 2} = {kept * (per + 2):,}, and {kept} timestamps ('1.5 ', as text)")
    return VideoTokens(video, kept, kept * (per + 2), rule, name, unit, kept, timestamps=kept, text=text,
                       pooling=(ph, pw))
