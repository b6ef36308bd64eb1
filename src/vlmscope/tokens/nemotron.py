"""Nemotron-H-Omni's video processor (NemotronH_Omni_Reasoning_V3VideoProcessor, transformers'
video_processing_nemotron_h_omni.py) and its processor's prompt (processing_nemotron_h_omni.py): every frame
(or transformers' default sampler's), each resized to one tile of about video_target_num_patches patches
keeping its aspect; consecutive frames packed into tubelets (stacked as channels: the model's
video_temporal_patch_size, which its processor passes to the video processor); per tubelet the image start, a
token per pixel-shuffled patch and the image end, labelled with its frames (text)."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TEXT_PIECES
from vlmscope.tokens import framewise
from vlmscope.tokens.rules import Encoded


def tile(height: int, width: int, target: int, divisor: int, keep_aspect: bool) -> tuple[int, int]:
    """(patch rows, patch columns) of the tile a frame is resized to (its _compute_target_patches): near
    ``target`` patches on the frame's aspect, each side in multiples of the pixel-shuffle divisor (up where that
    stays within the target, else down), or the largest such square."""
    if target < 1 or divisor < 1:
        raise RequestError("processor", f"video_target_num_patches={target}", "a positive patch budget and ratio")
    if not keep_aspect:
        side = max(divisor, int(math.sqrt(target)) // divisor * divisor)
        return side, side
    aspect = width / max(height, 1)
    rows, cols = max(round(math.sqrt(target / aspect)), 1), max(round(math.sqrt(target * aspect)), 1)
    if divisor > 1:
        up = (rows + (-rows % divisor), cols + (-cols % divisor))
        rows, cols = up if up[0] * up[1] <= target else (max(divisor, rows - rows % divisor),
                                                         max(divisor, cols - cols % divisor))
    return rows, cols


def _labels(indices: list[int], fps: float | None, tps: int) -> tuple[str, ...]:
    """Its processor's label per tubelet: each frame's number and, with the clip's rate, the time it was
    sampled at (its index × whole milliseconds a frame), joined by ' and '; tubelets joined by a newline."""
    step = int(1000.0 / fps) if fps else 0
    said = [f"{'Frame' if n % tps == 0 else 'frame'} {n + 1}" + (f" sampled at {i * step / 1000.0:.2f} seconds"
                                                                 if fps else "") for n, i in enumerate(indices)]
    return tuple(("\n" if g else "") + " and ".join(said[g * tps:(g + 1) * tps]) + ": "
                 for g in range(math.ceil(len(said) / tps)))


def nemotron(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
             config: dict[str, Any]) -> VideoTokens:
    """NemotronH_Omni_Reasoning_V3VideoProcessor: the frames kept, each resized to ``tile``, packed in tubelets of
    the model's video_temporal_patch_size (the last padded with its last frame); per tubelet a token per
    merged patch (pixel shuffle by 1 / downsample_ratio) between the image start and end, and its label (text)."""
    kept, how = framewise.default_sampled(name, pre, video)
    tps, patch = int(config.get("video_temporal_patch_size") or 2), int(pre["patch_size"])
    divisor = round(1.0 / float(pre["downsample_ratio"]))
    rows, cols = tile(video.height, video.width, int(pre["video_target_num_patches"]), divisor,
                      bool(pre.get("video_maintain_aspect_ratio", True)))
    tubelets, per = math.ceil(kept / tps), rows * cols // (divisor * divisor)
    indices = framewise.default_indices(video.frames, kept) if pre.get("do_sample_frames") else list(range(kept))
    text = _labels(indices, video.fps, tps) if tubelets <= MAX_TEXT_PIECES else ()
    unit = ImageTokens(per, 1, f"one tubelet of {tps} frames", frame=(rows * patch, cols * patch))
    rule = (f"{how}: {kept} frames → {tubelets} tubelets of {tps}, each frame {cols * patch}×{rows * patch} → "
            f"{cols}×{rows} patches → pixel shuffle {divisor}×{divisor} = {per} tokens + image start and end; "
            f"{tubelets} × {per + 2} = {tubelets * (per + 2):,}, and {tubelets} frame labels (text)")
    return VideoTokens(video, tubelets * tps, tubelets * (per + 2), rule, name, unit, tubelets, timestamps=tubelets,
                       text=text)
