"""Visual tokens per video: which video processor a model has (its video_preprocessor_config.json, else
transformers' table for its model_type: knowledge/processing.json, copied from transformers and tested), its
settings (the model's files, the request's over them, the class's defaults under them), and its rule in
``frames``; one clear line for a model that takes no video, or a processor not modelled yet."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from vlmscope.data import Origin
from vlmscope.data.video import VIDEO_RECIPES, VideoSpec, VideoTokens
from vlmscope.errors import ConfigError, LimitError, RequestError, shown
from vlmscope.limits import MAX_TOKENS
from vlmscope.sources import ModelSource, hub
from vlmscope.tokens import (
    ernie,
    frames,
    framewise,
    glm5next,
    hunyuan,
    loaders,
    minicpm,
    minimax,
    molmo2,
    muse,
    nemotron,
    processors,
    stamps,
    videollama3,
)
from vlmscope.tokens.rules import Encoded

TRANSFORMERS = VIDEO_RECIPES[0]


def processor_of(source: ModelSource) -> str | None:
    """The model's video processor class: its video_preprocessor_config.json's ``video_processor_type``, else
    transformers' default for its model_type; None where transformers has none, or the model's processor class
    takes none (InstructBLIP's, which transformers maps to InstructBLIP-Video's): the model takes no video."""
    kind = str(source.config.get("model_type"))
    if kind in _video()["without_video"]:  # a video config beside it is never read
        return None
    named = (source.video or {}).get("video_processor_type")
    if isinstance(named, str) and named:
        return named.removesuffix("Fast")
    found = _video()["model_types"].get(kind)
    return found if isinstance(found, str) else None


def settings(source: ModelSource) -> dict[str, Any]:
    """The video processor's settings from the model's files: its own config, else (as transformers loads it)
    the image processor's preprocessor_config.json."""
    return dict(source.video if source.video is not None else source.preprocessor or {})


def passed(source: ModelSource) -> dict[str, Any]:
    """The video settings the model's processor class passes its video processor on every call, over the video
    processor's own (its videos_kwargs; knowledge/processing.json, from transformers and tested): MiniMax-M3-VL's
    do_resize=false, Qwen2.5-Omni's and Qwen3-Omni's size; {} for most. The request's settings go over them."""
    return dict(_video()["processor_kwargs"].get(str(source.config.get("model_type")), {}))


def modelled_settings(name: str | None) -> frozenset[str]:
    """The settings of video processor ``name`` that its token rule reads (and a request may change): those
    it takes (knowledge/processing.json, from transformers) that change frames, sizes or tokens."""
    known = _video()["processors"].get(name or "", {})
    return frozenset(known.get("accepted", ())) & (_MODELLED[name][1] if name in _MODELLED else frozenset())


def video_tokens(enc: Encoded | None, source: ModelSource, video: VideoSpec,
                 recipe: str = TRANSFORMERS, index: int = 0) -> VideoTokens:
    """What ``video`` becomes under the model's video processor, its frames sampled and resized by
    ``recipe`` (transformers' processor itself, or a loader before it: the model's authors', a runtime's); one
    clear line where the model takes no video, or its arithmetic or the recipe's is not modelled for it."""
    name = processor_of(source)
    if name is None:
        kind = source.config.get("model_type")
        named = _video()["without_video"].get(str(kind))
        why = (f"its processor class, {named}, takes no video processor" if named else
               f"transformers has no video processor for model_type {kind!r}")
        raise RequestError("video", str(video), f"a model whose processor takes video: {source.model_id}'s takes "
                                                f"none ({why})")
    if enc is None:  # a video processor, but no way in for pictures that vlmscope reads
        raise RequestError("video", str(video), f"a model whose vision input vlmscope reads: {source.model_id} has "
                                                f"a video processor ({name}), but no vision encoder or patch "
                                                "projection was found in its modules")
    rule, read = _MODELLED.get(name, (None, frozenset()))
    if rule is None:
        raise RequestError("video", str(video), f"a model whose video processor vlmscope models "
                                                f"({', '.join(sorted(_MODELLED))}): {source.model_id}'s {name} is "
                                                "not modelled yet")
    own, defaults = settings(source), _video()["processors"][name]
    pre = {**defaults, **own}
    try:
        found = rule(name, pre, enc, video, source.config) if recipe == TRANSFORMERS else _loaded(
            recipe, name, pre, video, lambda clip, given: rule(name, {**pre, **given}, enc, clip, source.config),
            source)
    except (RequestError, LimitError):
        raise
    except (TypeError, ValueError, KeyError, OverflowError, ZeroDivisionError) as exc:  # settings are untrusted
        raise ConfigError(source.info.location or source.model_id, f"its video processor's settings cannot be "
                          f"read ({type(exc).__name__}: {str(exc)[:80]}); fix them, or pass --processor "
                          "KEY=VALUE over them") from exc
    budget = "min_pixels" in own and "max_pixels" in own  # Qwen2-VL's constructor: they replace size
    taken = _decided(recipe, name)  # what the recipe's loader decides in the processor's stead
    assumed = tuple(f"{k}={json.dumps(defaults[k])}" for k in sorted(read - taken)
                    if k in defaults and k not in own and not (k == "size" and budget))
    found = _local_id(name, source, recipe, found, index)
    tokenizer = source.tokenizer
    if tokenizer is None and found.text and source.info.origin is Origin.hub:  # fetched only for this, only now
        tokenizer = hub.fetch_tokenizer(source.model_id)
    return _bounded(source, video, replace(found, assumed=assumed, text_tokens=stamps.count(tokenizer, found.text)))


def _local_id(name: str, source: ModelSource, recipe: str, found: VideoTokens, index: int) -> VideoTokens:
    """``found`` as the ``index``-th video of its prompt where the processor numbers them (MiniCPM-V's and
    MiniCPM-OCR's '<image_id>k</image_id>' before each, with use_image_id; under vLLM, MiniCPM-V 4.6's always):
    two special tokens more, and the index as text."""
    table = _video()["local_ids"]
    entry = table["processors"].get(name)
    if entry is None:
        return found
    if recipe == TRANSFORMERS:
        on = (source.preprocessor or {}).get(entry["setting"], entry["default"])
    else:
        on = str(source.config.get("model_type")) in table["recipes"].get(recipe, ())
    if not on:
        return found
    return replace(found, tokens=found.tokens + 2, text=(str(index), *found.text),
                   rule=f"{found.rule}; '<image_id>{index}</image_id>' before it (2 special tokens, the index as text)")


def _decided(recipe: str, name: str) -> frozenset[str]:
    """The processor settings a recipe's loader decides instead of the processor's: the settings it samples
    as, or its sampling (and the image settings it passes), and, where the processor takes its frames unresized
    (qwen-vl-utils), their size."""
    runtime = _video()["recipes"].get(recipe)
    if runtime is None:
        return frozenset()
    for group in runtime.get("sampled_as", ()):
        if name in group["processors"]:
            return frozenset(group["settings"])
    sampling = frozenset({"do_sample_frames", "fps", "num_frames", "min_frames", "max_frames", "max_duration"})
    if taken := loaders.from_image(runtime, name):
        return sampling | {key for part in ("defaults", "fixed", "from_config") for key in taken.get(part, {})}
    if loaders.uniform_loader(runtime, name) or runtime.get("processor_resizes"):
        return sampling
    return sampling | {"size", "min_pixels", "max_pixels", "cap_pixels_per_frame", "max_video_tokens"}


def _loaded(recipe: str, name: str, pre: dict[str, Any], video: VideoSpec,
            processor: Callable[[VideoSpec, dict[str, Any]], VideoTokens], files: ModelSource) -> VideoTokens:
    """``video`` as a runtime's loader hands it to the processor (``processor``: the clip, settings over the
    model's): one that samples as the processor would under some settings (vLLM's Qwen and GLM loaders, SGLang's
    GLM one: their frame indices are the processor's sampler's, so are the timestamps), one that takes a number
    of frames evenly, or every frame (``loaders.uniform``), or one that samples and sizes them itself (qwen-vl-utils,
    SGLang's Qwen one: ``loaders.loader``; the timestamps follow its own frame indices)."""
    recipes = _video()["recipes"]
    runtime = recipes.get(recipe, {})
    if name not in _takes(runtime):
        why = runtime.get("refused", {}).get(name)  # where the runtime's own path takes no clip: why not
        raise RequestError("video recipe", recipe, f"one for {name}: " + ", ".join(
            [TRANSFORMERS, *(r for r, known in recipes.items() if name in _takes(known))]) + (f" ({why})" * bool(why)))
    _served(recipe, runtime, files)
    for group in runtime.get("sampled_as", ()):
        if name not in group["processors"]:
            continue
        settings = group["settings"]
        if group.get("at_most_clip_frames"):  # vLLM's Glmga loader: never more frames than the clip has
            settings = {**settings, "max_frames": min(int(settings["max_frames"]), video.frames)}
        found = processor(video, settings)
        said = ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
        return replace(found, recipe=recipe, rule=f"{recipe} {runtime['version']}'s loader, as {said}: {found.rule}")
    if group := loaders.uniform_loader(runtime, name):
        return loaders.uniform(recipe, runtime, group, name, pre, video, processor, files)
    return loaders.loader(recipe, name, pre, video, lambda clip: processor(clip, {"do_sample_frames": False}))


def _served(recipe: str, runtime: dict[str, Any], files: ModelSource) -> None:
    """One clear line where the runtime picks its processor by the model's architecture (SGLang) and none of
    the model's is one whose processor is modelled: the runtime would take the clip another way."""
    served = runtime.get("architectures")
    named = files.config.get("architectures")
    named = [a for a in named if isinstance(a, str)] if isinstance(named, list) else []
    if served is None or set(named) & set(served["names"]):
        return
    said = shown(named[0], 48) if named else "none named"
    raise RequestError("video recipe", recipe, f"a model whose architecture has a modelled {recipe} processor, not "
                       f"{said} ({served['otherwise']})")


def _bounded(source: ModelSource, video: VideoSpec, found: VideoTokens) -> VideoTokens:
    if found.tokens > MAX_TOKENS:
        raise LimitError(source.info.location or source.model_id, f"tokens of the video {video}", found.tokens,
                         MAX_TOKENS, "see vlmscope.limits")
    return found


def alternatives(enc: Encoded | None, source: ModelSource, video: VideoSpec,
                 recipe: str = TRANSFORMERS, index: int = 0) -> tuple[VideoTokens, ...]:
    """The same clip under each other recipe the model's processor has (transformers' itself, and the loaders
    knowledge/processing.json names for it: qwen-vl-utils, SGLang, vLLM), to show beside ``recipe``'s; those
    that refuse the clip left out."""
    name = processor_of(source)
    found = []
    for other, known in {TRANSFORMERS: {"processors": [name]}, **_video()["recipes"]}.items():
        if other == recipe or name not in _takes(known):
            continue
        try:
            found.append(video_tokens(enc, source, video, other, index))
        except (RequestError, LimitError, ConfigError):
            continue
    return tuple(found)


def _takes(recipe: dict[str, Any]) -> list[str]:
    """The video processors a recipe has a loader for."""
    groups = [*recipe.get("sampled_as", ()), *recipe.get("uniform", ())]
    return [*recipe.get("processors", ()), *(name for group in groups for name in group.get("processors", ()))]


def _video() -> dict[str, Any]:
    return processors.defaults("video")


Rule = Callable[[str, dict[str, Any], Encoded, VideoSpec, dict[str, Any]], VideoTokens]
_SAMPLING = frozenset({"do_sample_frames", "fps", "num_frames", "size"})
_QWEN3 = _SAMPLING | {"min_frames", "max_frames", "patch_size", "temporal_patch_size", "merge_size",
                      "cap_pixels_per_frame", "max_video_tokens"}
_MINICPM = frozenset({"do_sample_frames", "max_num_frames", "stack_frames", "patch_size", "max_slice_nums",
                      "scale_resolution", "slice_mode", "downsample_mode"})
# Each modelled video processor: its rule, and the settings the rule reads (of those the class takes)
_MODELLED: dict[str, tuple[Rule, frozenset[str]]] = {
    "Qwen2VLVideoProcessor": (frames.qwen2, _SAMPLING | {"min_frames", "max_frames", "min_pixels", "max_pixels",
                                                         "patch_size", "temporal_patch_size", "merge_size",
                                                         "cap_pixels_per_frame", "max_video_tokens"}),
    "Qwen3VLVideoProcessor": (frames.qwen3, _QWEN3),
    "CohereCompassVideoProcessor": (frames.qwen3, _QWEN3),  # Qwen3-VL's, and its processor's text, line for line
    # Qwen3-VL's with temporal patches of one frame (its only size), and its processor's text per frame
    "Cosmos3EdgeVideoProcessor": (frames.qwen3, _QWEN3),
    "Glm4vVideoProcessor": (frames.glm4v, frozenset({"do_sample_frames", "fps", "size", "patch_size",
                                                     "temporal_patch_size", "merge_size", "max_duration"})),
    "Glm46VVideoProcessor": (frames.glm46v, frozenset({"do_sample_frames", "size", "patch_size", "temporal_patch_size",
                                                       "merge_size"})),
    "GlmgaVideoProcessor": (frames.glmga, frozenset({"do_sample_frames", "fps", "max_frames", "size", "patch_size",
                                                     "temporal_patch_size", "merge_size", "patch_expand_factor"})),
    "Glm5NextVideoProcessor": (glm5next.glm5next, frozenset({"do_sample_frames", "fps", "max_frames", "patch_size",
                                                             "temporal_patch_size", "merge_size", "patch_expand_factor",
                                                             "min_image_tokens", "max_image_tokens"})),
    "MuseGlimmerVideoProcessor": (muse.muse_glimmer, frozenset({"do_sample_frames", "fps", "num_frames", "patch_size",
                                                                "temporal_patch_size", "merge_size",
                                                                "max_video_frame_tokens", "frame_timestamp_format"})),
    "LlavaOnevisionVideoProcessor": (framewise.onevision, _SAMPLING),
    "LlavaNextVideoVideoProcessor": (framewise.next_video, frozenset({  # the crop sets the frame, not size
        "do_sample_frames", "fps", "num_frames", "crop_size", "do_center_crop"})),
    "VideoLlavaVideoProcessor": (framewise.video_llava, frozenset({
        "do_sample_frames", "fps", "num_frames", "crop_size", "do_center_crop"})),
    "Gemma4VideoProcessor": (framewise.gemma4, frozenset({"do_sample_frames", "fps", "num_frames", "max_soft_tokens",
                                                          "pooling_kernel_size", "patch_size"})),
    "Kimi_K25VideoProcessor": (framewise.kimi, frozenset({"do_sample_frames", "fps", "num_frames", "size",
                                                          "max_patches", "patch_size", "merge_size",
                                                          "temporal_patch_size"})),
    "InternVLVideoProcessor": (framewise.internvl, _SAMPLING | {"initial_shift"}),
    "SmolVLMVideoProcessor": (framewise.smolvlm, frozenset({"do_sample_frames", "fps", "num_frames",
                                                            "max_image_size"})),
    "MiniCPMV4_6VideoProcessor": (minicpm.minicpm, _MINICPM),
    "MiniCPMOcrVideoProcessor": (minicpm.minicpm, _MINICPM),  # MiniCPM-V 4.6's, its default "4x" apart
    "InstructBlipVideoVideoProcessor": (framewise.instructblip_video, _SAMPLING),
    "Ernie4_5_VLMoeVideoProcessor": (ernie.ernie, _SAMPLING | {"min_frames", "max_frames", "patch_size",
                                                              "temporal_patch_size", "merge_size"}),
    "VideoLlama3VideoProcessor": (videollama3.videollama3, _SAMPLING | {
        "min_frames", "max_frames", "min_pixels", "max_pixels", "patch_size", "temporal_patch_size", "merge_size",
        "use_token_compression"}),
    "HYV4VLVideoProcessor": (hunyuan.hunyuan, _SAMPLING | {"min_frames", "max_frames", "max_image_size", "patch_size",
                                                          "temporal_patch_size", "merge_size"}),
    "Molmo2VideoProcessor": (molmo2.molmo2, _SAMPLING | {"max_fps", "patch_size", "pooling_size"}),
    "MiniMaxM3VLVideoProcessor": (minimax.minimax, frozenset({"do_sample_frames", "fps", "num_frames", "do_resize",
                                                             "min_pixels", "max_pixels", "patch_size",
                                                             "temporal_patch_size", "merge_size",
                                                             "vision_segment_max_frames"})),
    "NemotronH_Omni_Reasoning_V3VideoProcessor": (nemotron.nemotron, frozenset({
        "do_sample_frames", "fps", "num_frames", "patch_size", "downsample_ratio", "video_target_num_patches",
        "video_maintain_aspect_ratio"})),
}
