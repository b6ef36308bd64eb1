"""MiniCPM-V 4.6's video processor (MiniCPMV4_6VideoProcessor, transformers' video_processing_minicpmv4_6.py;
MiniCPM-OCR's is a copy): a frame a second, each a view and, when larger than scale_resolution², slices, as its
images are (``slicing``); with stack_frames above 1, each second's further sub-frames joined into one canvas
(a grid, 6-pixel lines between frames) that follows its second's frame as an image of its own."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_TEXT_PIECES, MAX_VIDEO_FRAMES
from vlmscope.tokens import slicing
from vlmscope.tokens.frames import needs_rate
from vlmscope.tokens.rules import Encoded

LINE = 6  # pixels between the sub-frames of a canvas (concat_frames_as_image)


def _sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[int, str]:
    """(frames kept, how) under its sample_frames: one frame a second (the second's first), or, for a clip longer
    than max_num_frames seconds, one every 0.1 s thinned evenly to max_num_frames; repeats kept."""
    if not pre.get("do_sample_frames"):
        return video.frames, "every frame (do_sample_frames off)"
    needs_rate(video, name)
    most, duration = int(pre["max_num_frames"]), video.frames / (video.fps or 1)
    if most < 1:
        raise RequestError("processor", f"max_num_frames={most}", "at least 1 frame")
    if duration > most:  # the count alone: no frame index is listed, however long the clip
        kept = min(int(duration / 0.1), most)
        return kept, f"{kept} sampled (one every 0.1 s of {duration:g} s, at most {most})"
    return math.ceil(duration), f"{math.ceil(duration)} sampled (one a second of {duration:g} s)"


def _stacked(name: str, pre: dict[str, Any], video: VideoSpec) -> list[int]:
    """The sub-frames of each second (stack_frames above 1): at j / stack_frames past each second within the
    clip, at most max_num_frames × (stack_frames - 1) of them in all (thinned by np.linspace), counted by the
    second they fall in; [] without stacking."""
    stack = int(pre.get("stack_frames") or 1)
    if stack <= 1:
        return []
    needs_rate(video, name)
    duration = video.frames / (video.fps or 1)
    seconds = math.ceil(duration)
    if seconds * (stack - 1) > MAX_VIDEO_FRAMES:  # settings are untrusted: bound the sub-frames listed
        raise LimitError("request", "video sub-frames", seconds * (stack - 1), MAX_VIDEO_FRAMES,
                         f"{name} at stack_frames={stack}")
    subs = [sec for sec in range(seconds) for j in range(1, stack) if sec + j / stack < duration]
    most = int(pre["max_num_frames"]) * (stack - 1)
    if len(subs) > most:
        import numpy as np

        subs = [subs[int(i)] for i in np.linspace(0, len(subs) - 1, most, dtype=int)]
    counts = [0] * seconds
    for sec in subs:
        counts[sec] += 1
    return counts


def canvas(n: int, height: int, width: int) -> tuple[int, int]:
    """(height, width) of the canvas ``n`` sub-frames are joined into (concat_frames_as_image): 2 × 2 for four,
    a row or a column for three or two (whichever is nearer square; two of a tie by the frame's aspect), else a
    row; 6 pixels between frames."""
    def off_square(shape: tuple[int, int]) -> float:
        rows, cols = shape
        return abs((cols * width + (cols - 1) * LINE) / max(1, rows * height + (rows - 1) * LINE) - 1.0)

    rows, cols = 1, n
    if n == 4:
        rows, cols = 2, 2
    elif n in (2, 3):
        row, column = (1, n), (n, 1)
        if n == 2 and off_square(row) == off_square(column):
            rows, cols = row if width / height >= 1.0 else column
        else:
            rows, cols = min((row, column), key=off_square)
    return rows * height + (rows - 1) * LINE, cols * width + (cols - 1) * LINE


def _image(enc: Encoded, pre: dict[str, Any], config: dict[str, Any],
           size: tuple[int, int]) -> tuple[ImageTokens, int]:
    """One image of ``size`` (height, width) as its images are cut (a view, maybe slices), and the newlines its
    processor writes between rows of slices."""
    (h, w), patch = size, enc.patch_size
    return slicing.slices(patch, pre, config, w, h), max(0, slicing.rows(patch, pre, config, w, h) - 1)


def _marked(unit: ImageTokens) -> int:
    """An image's tokens with its marks: start and end of image around the view, of slice around each slice."""
    return (unit.tokens or 0) + 2 * unit.crops


def minicpm(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
            config: dict[str, Any]) -> VideoTokens:
    """MiniCPMV4_6VideoProcessor: frames sampled a second apart (``_sampled``), and with stack_frames each
    second's sub-frames on a canvas after its frame (``_stacked``, ``canvas``); every such image a view and maybe
    slices; per image the processor writes the view's tokens between the start and end of image, each slice's
    between the start and end of slice, and a newline (text) between rows of slices."""
    kept, how = _sampled(name, pre, video)
    counts = _stacked(name, pre, video)
    if counts and not pre.get("do_sample_frames"):  # its preprocess takes the clip's last frames as sub-frames
        kept = video.frames - sum(counts)
        if kept < 1:
            raise RequestError("video", str(video), f"more frames, or do_sample_frames=true: {name} takes the last "
                                                    f"{sum(counts)} frames as sub-frames, which leaves none")
    frame = (video.height, video.width)
    unit, lines = _image(enc, pre, config, frame)
    canvases = Counter(canvas(n, *frame) for n in counts[:kept] if n)
    parts = [(n, *_image(enc, pre, config, size)) for size, n in sorted(canvases.items())]
    tokens = kept * _marked(unit) + sum(n * _marked(part) for n, part, _ in parts)
    newlines = kept * lines + sum(n * rows for n, _, rows in parts)
    stacked = sum(n for n, _, _ in parts)
    rule = (f"{how}: {kept} frames, each {unit.rule}" + (f", and {stacked} canvases of each second's sub-frames "
                                                          f"({'; '.join(f'{n} × {p.rule}' for n, p, _ in parts)})"
                                                          if stacked else "")
            + f"; with the start and end of each image and slice, {tokens:,}")
    return VideoTokens(video, kept, tokens, rule, name, unit, kept + stacked,
                       text=("\n",) * newlines if newlines <= MAX_TEXT_PIECES else (),
                       parts=tuple((n, part) for n, part, _ in parts))
