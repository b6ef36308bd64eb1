"""VideoLLaMA3's video processor (VideoLlama3VideoProcessor, transformers' video_processing_video_llama_3.py):
every frame, or its sampler's; each frame resized within the pixel budget shared by all frames; one token per
merged patch a frame, and, per frame, 'Time 1.5s:' (text) before its tokens and a comma between frames.

Its token compression (``use_token_compression``, on by default) drops each merged patch of a frame that
barely differs from the same patch of the frame before (mean absolute difference at most 0.1 of 255), keeping
at least one a frame: the count then depends on the pictures. vlmscope counts the most (every patch changes) and
gives the fewest (a still clip: the first frame whole, one token for each frame after it)."""

from __future__ import annotations

from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TEXT_PIECES
from vlmscope.tokens import processors, stamps
from vlmscope.tokens.frames import check_aspect, qwen2_wanted
from vlmscope.tokens.rules import Encoded


def _sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> list[int]:
    """The frame indices its sample_frames keeps: every frame, or Qwen2-VL's count (``frames.qwen2_wanted``:
    its sampler is a copy) spread by torch.arange(0, total, total / n), truncated."""
    total = video.frames
    if not pre.get("do_sample_frames"):
        return list(range(total))
    return stamps.loader_indices("torch.arange, truncated", total, qwen2_wanted(name, pre, video))


def videollama3(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
                config: dict[str, Any]) -> VideoTokens:
    """VideoLlama3VideoProcessor: the frames kept (``_sampled``), padded to whole temporal patches; each resized
    (smart_resize, in multiples of patch × merge) within shortest_edge pixels and longest_edge shared by the
    frames; one token per merged patch per frame, at most (its compression: the module's docstring)."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    if tps != 1:
        raise RequestError("processor", f"temporal_patch_size={tps}", f"1: {name}'s prompt writes one timestamp a "
                                                                     "frame")
    indices = _sampled(name, pre, video)
    kept, size = len(indices), dict(pre.get("size") or {})
    low, high = pre.get("min_pixels") or size.get("shortest_edge"), pre.get("max_pixels") or size.get("longest_edge")
    if not low or not high:  # min_pixels and max_pixels stand for the two edges (its constructor)
        raise RequestError("processor", size, "a video size with shortest_edge and longest_edge pixel counts")
    check_aspect(video)
    h, w = processors.smart_resize(video.height, video.width, patch * merge, int(low), int(high) // kept)
    per = (h // patch) * (w // patch) // (merge * merge)
    compressed = bool(pre.get("use_token_compression")) and kept > 1 and per > 1  # else nothing to drop
    fewest = per + kept - 1 if compressed else None
    rule = (f"{len(indices)} frames" + ("" if pre.get("do_sample_frames") else " (do_sample_frames off)")
            + f", each {w}×{h} → {w // patch}×{h // patch} patches → {merge}×{merge} merge = {per} tokens; "
            f"{kept} × {per} = {kept * per:,}" + (f" at most: its compression keeps what changes between frames, "
                                                  f"{fewest:,} for a still clip" if compressed else "")
            + f", and {kept} timestamps ('Time 1.5s:', as text)")
    text = stamps.videollama3(indices, video.fps) if kept <= MAX_TEXT_PIECES else ()
    unit = ImageTokens(per, 1, "one frame", grid=(h // patch, w // patch), frame=(h, w))
    return VideoTokens(video, kept, kept * per, rule, name, unit, kept, timestamps=kept, text=text, fewest=fewest)
