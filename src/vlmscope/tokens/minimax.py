"""MiniMax-M3-VL's video processor (MiniMaxM3VLVideoProcessor, with its processor's call): temporal patches as
Qwen2-VL's, but its processor turns the resize off (``do_resize=False`` in its videos_kwargs: its own loader
sizes the frames, and transformers has no copy of that loader), so the frames reach the encoder at the size
given; its encoder attends over segments of a few temporal patches at once. Its own small module: the
arithmetic is MiniMax-M3-VL's alone. Tested against the processor on synthetic frames
(tests/tokens/test_video.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.tokens import frames, processors
from vlmscope.tokens.framewise import default_indices, default_sampled
from vlmscope.tokens.rules import Encoded


def minimax(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
            config: dict[str, Any]) -> VideoTokens:
    """MiniMaxM3VLVideoProcessor: every frame unless do_sample_frames (then transformers' default sampler),
    padded to whole temporal patches by repeating the last; each frame as it is where do_resize is off (its
    processor's default: then its sides must be whole merged patches, as its patchify reshapes them), else
    resized within min_pixels..max_pixels (its smart_resize); one token per merged patch, and per temporal patch
    the image start and end marks and, for a clip with a frame rate, its first frame's time (']<]1.5
    seconds[>[', text). Its encoder takes vision_segment_max_frames temporal patches at once (one pass each)."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    kept, how = default_sampled(name, pre, video)
    factor = patch * merge
    frames.check_aspect(video)
    if pre.get("do_resize"):
        size = processors.smart_resize(video.height, video.width, factor, int(pre["min_pixels"]),
                                       int(pre["max_pixels"]))
    elif video.height % factor or video.width % factor:
        raise RequestError("video", str(video), f"frames whose sides are multiples of {factor} ({patch} × {merge}): "
                                                f"{name}'s processor takes them unresized (do_resize=false; its "
                                                f"model's loader sizes them), e.g. "
                                                f"{_whole(video.width, factor)}x{_whole(video.height, factor)}; or "
                                                "--processor do_resize=true to resize each within its pixel budget")
    else:
        size = (video.height, video.width)
        how += ", unresized (do_resize off: its processor's)"
    groups = math.ceil(kept / tps)

    def text() -> tuple[str, ...]:  # each temporal patch's first frame's time (only where written out)
        picked = default_indices(video.frames, kept) if pre.get("do_sample_frames") else range(kept)
        return tuple(f"]<]{picked[min(i * tps, kept - 1)] / (video.fps or 1):.1f} seconds[>[" for i in range(groups))

    stamped = video.fps is not None  # the clip's metadata has a rate: a time per temporal patch
    found = frames.patched(name, video, kept, how, size, pre, "image start and end",
                           "its first frame's second, as text" if stamped else "", text if stamped else None)
    return _segmented(found, pre, tps, groups)


def _segmented(found: VideoTokens, pre: dict[str, Any], tps: int, groups: int) -> VideoTokens:
    """The clip's encoder passes: segments of vision_segment_max_frames temporal patches (the last maybe fewer;
    null: the clip's all in one), each one pass over its patches together."""
    top = pre.get("vision_segment_max_frames")
    per = groups if top is None else int(top)
    if per < 1:
        raise RequestError("processor", f"vision_segment_max_frames={top}", "a positive count of temporal patches, "
                                                                            "or null")
    per = min(per, groups)
    unit = replace(found.unit, tokens=(found.unit.tokens or 0) * per, frames=per * tps, temporal=tps,
                   rule=f"one segment of {per} temporal patches of {tps} frames")
    passes = math.ceil(groups / per)
    return replace(found, unit=unit, units=passes, rule=f"{found.rule}; the encoder takes {passes:,} segments of at "
                                                        f"most {per} temporal patches")


def _whole(side: int, factor: int) -> int:
    return max(factor, round(side / factor) * factor)
