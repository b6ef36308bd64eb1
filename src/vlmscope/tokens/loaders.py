"""Loaders that sample and size a clip's frames before the model's processor sees them, as a runtime's or the
model authors' own code does (knowledge/processing.json ``recipes``): qwen-vl-utils (Qwen's) and SGLang's Qwen-VL
preprocessing. The tests run each loader's own code on synthetic frames and compare."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.tokens import frames, processors, stamps
from vlmscope.tokens.frames import TRANSFORMERS


def loader(recipe: str, name: str, pre: dict[str, Any], video: VideoSpec,
           processor: Callable[[VideoSpec], VideoTokens]) -> VideoTokens:
    """A loader that samples and sizes the frames before the model's processor (knowledge/processing.json):
    qwen-vl-utils (Qwen's own) and SGLang's Qwen-VL preprocessing. From a file at the clip's rate, frames at
    2 fps rounded down to pairs (4 to 768, at most the clip's); each resized by their smart_resize within 768
    merged patches, shrunk so that all frames stay within 90% of 128,000 tokens' pixels, never under 128
    merged patches × 1.05. qwen-vl-utils' merged patch is the model's (patch × 2) and the processor takes the
    frames as they are (no resampling, no resize: its README's call); SGLang's is 28 pixels for every Qwen
    family, and the processor (``processor``, sampling off) resizes them again by its own budget."""
    known, kept, (h, w), most = _loaded(recipe, name, pre, video)
    said = (f"{recipe} {known['version']}: {kept} frames sampled at {known['fps']:g} fps of {video.fps:g}, each "
            f"{w}×{h} (≤ {int(most):,} pixels)")
    def text(tps: int) -> tuple[str, ...]:  # the timestamps by the loader's own frames
        return stamps.qwen3(stamps.loader_indices(str(known["frame_indices"]), video.frames, kept), video.fps, tps)

    if known.get("processor_resizes"):
        found = processor(VideoSpec(kept, w, h, video.fps))
        written = text(int(pre["temporal_patch_size"])) if found.text else ()
        return replace(found, video=video, recipe=recipe, text=written, rule=f"{said}; then {found.rule}")
    patch, merge, pair = int(pre["patch_size"]), int(pre["merge_size"]), int(known["frame_factor"])
    groups, per = kept // pair, (h // patch) * (w // patch) // (merge * merge)
    stamped = name == "Qwen3VLVideoProcessor"  # vision start and end, and a timestamp, per temporal patch
    tokens = groups * (per + (2 if stamped else 0))
    unit = ImageTokens(per, 1, f"one temporal patch of {pair} frames", grid=(h // patch, w // patch))
    rule = (f"{said} → {groups} temporal patches of {w // patch}×{h // patch} patches → {merge}×{merge} merge = "
            f"{per} tokens" + (" + vision start and end" if stamped else "") + f"; {tokens:,} in all")
    return VideoTokens(video, kept, tokens, rule, name, unit, groups, timestamps=groups if stamped else 0,
                       recipe=recipe, text=text(pair) if stamped else ())


def _loaded(recipe: str, name: str, pre: dict[str, Any],
            video: VideoSpec) -> tuple[dict[str, Any], int, tuple[int, int], float]:
    """(the recipe's constants, frames kept, (height, width) each, the pixel cap each) under ``recipe``."""
    recipes = processors.defaults("video")["recipes"]
    known = recipes.get(recipe)
    if known is None or name not in known.get("processors", ()):
        raise RequestError("video recipe", recipe, f"one for {name}: " + ", ".join(
            [TRANSFORMERS, *(r for r, v in recipes.items() if name in v.get("processors", ()))]))
    frames.needs_rate(video, recipe)
    pair = int(known["frame_factor"])
    factor = int(known.get("image_factor") or int(pre["patch_size"]) * int(known["spatial_merge"]))
    top = math.floor(min(int(known["max_frames"]), video.frames) / pair) * pair
    low = math.ceil(int(known["min_frames"]) / pair) * pair
    kept = video.frames / (video.fps or 1) * float(known["fps"])
    kept = math.floor(min(max(kept, low), top, video.frames) / pair) * pair
    if not pair <= kept <= video.frames:
        raise RequestError("video", str(video), f"a longer clip: {recipe} keeps {pair} to {video.frames} frames, "
                                                f"here {kept}")
    least = int(known["video_min_tokens"]) * factor * factor
    budget = int(known["model_seq_len"]) * factor * factor * 0.9
    most = max(min(int(known["video_max_tokens"]) * factor * factor, budget / kept * pair), int(least * 1.05))
    frames.check_aspect(video)
    # their smart_resize is Qwen2-VL's with sides rounded to at least one factor; the two differ only where
    # theirs would shrink a side to 0 (a frame it cannot use)
    return known, kept, processors.smart_resize(video.height, video.width, factor, least, most, least=factor), most
