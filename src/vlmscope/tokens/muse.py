"""MuseGlimmer's video processor (MuseGlimmerVideoProcessor; Muse Spark's too): temporal patches as Qwen2-VL's,
with a sampler of its own (a rate under a frame cap, whole temporal patches), a canvas of its own (the merged
patch grid nearest the frame's aspect under max_video_frame_tokens) and a prompt of its own (a timestamp per
temporal patch, in its frame_timestamp_format, between the video's start, separator and end marks). Its own
small module: the arithmetic is MuseGlimmer's alone. Tested against the processor on synthetic frames
(tests/tokens/test_video.py)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from typing import Any

from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.tokens import frames, stamps
from vlmscope.tokens.rules import Encoded

# the timestamp formats vlmscope writes (the setting is untrusted: a format string may not ask for more)
_FORMAT = re.compile(r"[^{}]{0,40}\{timestamp(?::\.[0-9][fg]?)?\}[^{}]{0,40}")


def muse_glimmer(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
                 config: dict[str, Any]) -> VideoTokens:
    """MuseGlimmerVideoProcessor: frames by ``_sampled``, or every frame; each resized to ``_canvas``; per
    temporal patch one token per merged patch after its timestamp (text), and the start, separator and end marks
    of the video (one more mark than temporal patches)."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    form = str(pre["frame_timestamp_format"])
    if not _FORMAT.fullmatch(form):
        raise RequestError("processor", f"frame_timestamp_format={form[:60]!r}", "one '{timestamp}' field, as "
                                                                                 "'Time: {timestamp:.1f}s'")
    indices, how = (_sampled(pre, video, tps) if pre.get("do_sample_frames")
                    else (range(video.frames), "every frame (do_sample_frames off)"))
    size = _canvas(video.height, video.width, patch * merge, int(pre["max_video_frame_tokens"]))
    groups = -(-len(indices) // tps)
    found = frames.patched(name, video, len(indices), how, size, pre, stamp=form, text=lambda: tuple(
        form.format(timestamp=t) for t in stamps.patch_starts(indices, video.fps, tps, groups)))
    tokens = found.tokens + groups + 1
    return replace(found, tokens=tokens, rule=f"{found.rule}; + the video's start, {groups - 1} separators and "
                                              f"end = {tokens:,}")


def _sampled(pre: dict[str, Any], video: VideoSpec, tps: int) -> tuple[list[int], str]:
    """MuseGlimmerVideoProcessor.sample_frames: fps (2) of the clip's rate (24 where none is known), at most
    num_frames (96) and the clip's frames, rounded down to whole temporal patches (one at least); spread by
    torch.linspace over the clip, truncated."""
    rate, total = video.fps or stamps.ASSUMED_FPS, video.frames
    fps, most = float(pre["fps"]), int(pre["num_frames"])
    if not 0 < fps < math.inf or most < 1:
        raise RequestError("processor", f"fps={fps:g}, num_frames={most}", "a positive rate and frame count")
    kept = min(int(total * fps / rate), most, total)
    kept = min(max(tps, kept // tps * tps), total)
    return (stamps.loader_indices("torch.linspace, truncated", total, kept),
            f"{kept} sampled at {fps:g} fps of {rate:g} (at most {most})")


def _canvas(height: int, width: int, side: int, most: int) -> tuple[int, int]:
    """smart_resize: of the merged patch grids around the frame's (scaled under ``most`` merged patches where
    larger), those within ``most``, the one whose aspect is nearest the frame's; in pixels (``side`` a patch)."""
    rows, cols = height / side, width / side
    ratio = cols / rows
    if rows * cols > most:
        rows = (most / ratio) ** 0.5
        cols = rows * ratio
    found = [(r, c) for r, c in set(itertools.product([math.floor(rows), math.ceil(rows)],
                                                      [math.floor(cols), math.ceil(cols)]))
             if r >= 1 and c >= 1 and r * c <= most] or [(max(1, round(rows)), max(1, round(cols)))]
    r, c = min(found, key=lambda grid: abs(grid[0] / grid[1] - height / width))
    return r * side, c * side
