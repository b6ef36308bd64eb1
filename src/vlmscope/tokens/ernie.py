"""ERNIE-4.5-VL's video processor (Ernie4_5_VLMoeVideoProcessor, transformers'
video_processing_ernie4_5_vl_moe.py): its own sampler, frames padded to an even count, each frame resized
within the pixel budget as its images are, and its model's resampler merging 2×2 patches and then two frames
into one token. Its timestamps are drawn on the frames (pixels, not text), so the prompt holds the tokens alone."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.tokens import processors
from vlmscope.tokens.frames import check_aspect, needs_rate, sampling
from vlmscope.tokens.rules import Encoded


def _sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[int, str]:
    """(frames kept, how) under its sample_frames: num_frames (within min_frames..max_frames), else fps of the
    clip's rate, else every frame, clamped to min_frames..max_frames and the clip; torch.arange(0, total,
    total / n) then keeps ceil(n) frames (n may be fractional)."""
    total = video.frames
    if not pre.get("do_sample_frames"):
        return total, "every frame (do_sample_frames off)"
    num, fps = sampling(pre)
    least, most = int(pre["min_frames"]), int(pre["max_frames"])
    if num is not None:
        if not least <= num <= most:
            raise RequestError("processor", f"num_frames={num}", f"{least} to {most} frames ({name}'s min_frames "
                                                                 "and max_frames)")
        wanted: float = num
    else:
        if fps is not None:
            needs_rate(video, name)
        wanted = min(max(total / (video.fps or 1) * fps if fps is not None else total, least), most, total)
    if not 0 < wanted <= total:
        raise RequestError("video", str(video), f"a longer clip: {name} samples {wanted:g} frames, it has {total}")
    kept = math.ceil(total / (total / wanted))  # the length of torch.arange(0, total, total / wanted)
    return kept, f"{kept} sampled" + (f" at {fps:g} fps" if num is None and fps is not None else "")


def ernie(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
          config: dict[str, Any]) -> VideoTokens:
    """Ernie4_5_VLMoeVideoProcessor: frames sampled (``_sampled``), an odd count padded by repeating the last;
    each frame resized within size's shortest_edge..longest_edge pixels in multiples of patch × merge (the
    same smart_resize as its images); the encoder takes each frame alone, and the resampler merges merge × merge
    patches and then each pair of frames: one token per merged patch per pair, all the processor writes."""
    if int(pre["temporal_patch_size"]) != 2:  # its constructor's own refusal
        raise RequestError("processor", f"temporal_patch_size={pre['temporal_patch_size']}", f"2: {name} takes "
                                                                                            "no other")
    patch, merge = int(pre["patch_size"]), int(pre["merge_size"])
    kept, how = _sampled(name, pre, video)
    size = dict(pre.get("size") or {})
    if "shortest_edge" not in size or "longest_edge" not in size:
        raise RequestError("processor", size, "a video size with shortest_edge and longest_edge pixel counts")
    check_aspect(video)
    h, w = processors.smart_resize(video.height, video.width, patch * merge, int(size["shortest_edge"]),
                                   int(size["longest_edge"]))
    pairs, per = -(-kept // 2), (h // patch) * (w // patch) // (merge * merge)
    unit = ImageTokens(per, 1, "one pair of frames", grid=(h // patch, w // patch), frame=(h, w), frames=2)
    rule = (f"{how}: {kept} frames" + (", the last repeated" if kept % 2 else "") + f" → {pairs} pairs, each frame "
            f"{w}×{h} → {w // patch}×{h // patch} patches → {merge}×{merge} merge, a pair merged into one = {per} "
            f"tokens; {pairs} × {per} = {pairs * per} (timestamps drawn on the frames, not text)")
    return VideoTokens(video, 2 * pairs, pairs * per, rule, name, unit, pairs)
