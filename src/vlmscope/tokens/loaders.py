"""Loaders that sample and size a clip's frames before the model's processor sees them, as a runtime's or the
model authors' own code does (knowledge/processing.json ``recipes``): qwen-vl-utils (Qwen's) and SGLang's Qwen-VL
preprocessing (``loader``), and the runtimes' loaders that take a number of frames evenly, or every frame
(``uniform``: vLLM's default loader, SGLang's Gemma 4 and MiniCPM-V paths). The tests run each loader's own code
on synthetic frames and compare."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TEXT_PIECES
from vlmscope.sources import ModelSource
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


def uniform(recipe: str, runtime: dict[str, Any], group: dict[str, Any], name: str, pre: dict[str, Any],
            video: VideoSpec, processor: Callable[[VideoSpec, dict[str, Any]], VideoTokens],
            files: ModelSource) -> VideoTokens:
    """A loader that takes ``group``'s number of frames (a number, the processor's own setting of that name, or
    every frame where none), spread evenly over the clip (every frame of a clip that has no more), which the
    processor then takes as they are, with the image settings the runtime passes it (vLLM's InternVL and
    MiniCPM-V, SGLang's MiniCPM-V); each frame's time from its index in the clip, or, where the runtime passes no
    metadata (SGLang's Gemma 4), from its place among those kept at the processor's default rate."""
    count = group["num_frames"]
    count = pre.get(count) if isinstance(count, str) else count
    kept = video.frames if count is None else min(int(count), video.frames)
    if kept < 1:
        raise RequestError("processor", f"{group['num_frames']}={count}", "at least 1 frame")
    indices: Sequence[int] = range(video.frames) if kept == video.frames else ()
    if kept < video.frames and kept <= MAX_TEXT_PIECES:  # more are counted, not listed
        indices = stamps.loader_indices(group["frame_indices"], video.frames, kept)
        kept = len(indices)
    taken = from_image(runtime, name)
    sized = _image_settings(taken, files.preprocessor or {}, files.config)
    if taken.get("samples_again") and pre.get("do_sample_frames") is True:  # vLLM's InternVL leaves it on
        raise RequestError("video recipe", recipe, f"a model whose {name} keeps the frames the loader hands "
                           f"over: with do_sample_frames on, {recipe}'s processor call samples them again, "
                           "which is not modelled; pass --processor do_sample_frames=false, or drop "
                           "--video-recipe")
    found = processor(replace(video, frames=kept), {"do_sample_frames": False, **sized})
    rate = group.get("timestamps_rate")
    text: tuple[str, ...] = ()
    if kept <= MAX_TEXT_PIECES:
        text = stamps.retimed(name, range(kept), rate) if rate else stamps.retimed(name, indices, video.fps)
    how = (f"{kept} of the {video.frames} frames, spread evenly ({group['frame_indices']})" if kept < video.frames
           else f"all {video.frames} frames" + (f" (at most {count})" if count is not None else ""))
    said = "".join(f" {k}={json.dumps(v)}," for k, v in sized.items())  # the image processor's, and fixed
    stamped = f", each frame's time its place over {rate:g} fps" if rate and text else ""
    return replace(found, video=video, recipe=recipe, text=text or found.text,
                   rule=f"{recipe} {runtime['version']}'s {group['loader']}: {how}{stamped}; then{said} {found.rule}")


def uniform_loader(runtime: dict[str, Any], name: str) -> dict[str, Any]:
    """The runtime's loader (knowledge/processing.json ``uniform``) that takes frames evenly for video processor
    ``name``; {} where it has none."""
    return next((g for g in runtime.get("uniform", ()) if name in g["processors"]), {})


def from_image(runtime: dict[str, Any], name: str) -> dict[str, Any]:
    """What a runtime's default loader path takes from the image processor for video processor ``name``
    (knowledge/processing.json: vLLM's InternVL, its size; MiniCPM-V 4.6, its slicing; SGLang's MiniCPM-V 4.6,
    fixed slicing and the config's patch and downsample mode); {} for the others."""
    return dict(uniform_loader(runtime, name).get("image_processor_settings", {}).get(name, {}))


def _image_settings(taken: dict[str, Any], image: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The settings ``taken`` names: the model's preprocessor config's, else that image processor class's
    defaults; those read from the model's config (a dotted key, and its default); and those the runtime fixes
    (frames unstacked); {} where it takes none."""
    if not taken:
        return {}
    own = {k: image[k] for k in taken["defaults"] if k in image}
    if "size" in own and not (isinstance(own["size"], dict) and {"height", "width"} <= own["size"].keys()):
        del own["size"]  # a size of another shape: the class's
    read = {}
    for key, (path, default) in taken.get("from_config", {}).items():
        value: Any = config
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        read[key] = default if value is None else value
    return {**taken["defaults"], **own, **read, **taken.get("fixed", {})}
