"""How the video processors that make each kept frame an image of its own (no temporal patches) turn a clip
into frames and tokens: LLaVA-OneVision, LLaVA-NeXT-Video, Video-LLaVA, Gemma 4, InternVL, SmolVLM, Kimi-K2.5 and
InstructBLIP-Video (MiniCPM-V's, with its canvases of sub-frames: ``minicpm``). One function per processor: its
sampling (transformers' default sampler, or the processor's own), the size its frames reach the encoder at, and
the tokens and text its model's processor writes per frame; the tests compare each with the real processor on
synthetic frames."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_TEXT_PIECES, MAX_VIDEO_FRAMES
from vlmscope.tokens import processors, stamps
from vlmscope.tokens.frames import needs_rate, sampling
from vlmscope.tokens.rules import Encoded, per_crop


def default_sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[int, str]:
    """(frames kept, how) under transformers' default sampler (``default_sample_indices_fn``): every frame
    unless do_sample_frames, then num_frames, or fps of the clip's own rate; frame i × total // n."""
    if not pre.get("do_sample_frames"):
        return video.frames, "every frame (do_sample_frames off)"
    num, fps = sampling(pre)
    if num is None and fps is not None:
        needs_rate(video, name)
        num = max(1, int(video.frames / (video.fps or 1) * fps))
    if num is not None and num > video.frames:
        raise RequestError("video", str(video), f"a longer clip: {name} samples {num} frames, it has {video.frames}")
    return (video.frames, "every frame") if num is None else (num, f"{num} sampled")


def default_indices(total: int, kept: int) -> list[int]:
    """The frames transformers' default sampler keeps of ``total`` for ``kept`` (each of them where equal)."""
    return [i * total // kept for i in range(kept)]


def onevision(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
              config: dict[str, Any]) -> VideoTokens:
    """LlavaOnevisionVideoProcessor: every frame unless do_sample_frames (then num_frames, or fps of the
    video's rate), each resized to the processor's size; the model pools each frame's patch map 2×2
    (bilinear, rounding up) and the processor adds one newline token per video."""
    kept, how = default_sampled(name, pre, video)
    size = dict(pre.get("size") or {})
    h, w = int(size.get("height", enc.image_size)), int(size.get("width", enc.image_size))
    side = enc.image_size // enc.patch_size
    pooled = math.ceil(side / 2)
    per = pooled * pooled
    unit = ImageTokens(per, 1, "one frame", frame=(h, w))
    tokens = kept * per + 1
    rule = (f"{how}: {kept} frames, each {w}×{h} → {side}×{side} patches → 2×2 pool = {per} tokens; "
            f"{kept} × {per} + 1 newline = {tokens}")
    return VideoTokens(video, kept, tokens, rule, name, unit, kept)


def _center_cropped(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[int, str, tuple[int, int]]:
    """(frames kept, how, (height, width)) of a processor that samples as transformers' default sampler does,
    resizes each frame on its shortest edge and center-crops it to crop_size (LLaVA-NeXT-Video, Video-LLaVA);
    without the crop, one line."""
    kept, how = default_sampled(name, pre, video)
    if not pre.get("do_center_crop", True):
        raise RequestError("processor", "do_center_crop=false", f"the center crop: {name}'s frames without it "
                                                                "are not modelled yet")
    crop = dict(pre.get("crop_size") or {})
    return kept, how, (int(crop["height"]), int(crop["width"]))


def next_video(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
               config: dict[str, Any]) -> VideoTokens:
    """LlavaNextVideoVideoProcessor: every frame unless do_sample_frames (then num_frames, or fps of the clip's
    rate); each resized on its shortest edge and center-cropped to crop_size; the model pools each frame's patch
    map 2×2 (average), and the processor counts a quarter of the crop's patches per frame."""
    kept, how, (h, w) = _center_cropped(name, pre, video)
    per = (h // enc.patch_size) * (w // enc.patch_size) // 4
    unit = ImageTokens(per, 1, "one frame", frame=(h, w))
    rule = (f"{how}: {kept} frames, each center-cropped to {w}×{h} → {w // enc.patch_size}×{h // enc.patch_size} "
            f"patches → 2×2 average pool = {per} tokens; {kept} × {per} = {kept * per}")
    return VideoTokens(video, kept, kept * per, rule, name, unit, kept)


def video_llava(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
                config: dict[str, Any]) -> VideoTokens:
    """VideoLlavaVideoProcessor: every frame unless do_sample_frames (then num_frames, or fps of the clip's rate);
    each resized on its shortest edge and center-cropped to crop_size; the video tower's every output token is
    kept, its class token too (the processor adds num_additional_image_tokens, 1, per frame)."""
    kept, how, (h, w) = _center_cropped(name, pre, video)
    cls = 1 if enc.class_token else 0
    per = (h // enc.patch_size) * (w // enc.patch_size) + cls
    unit = ImageTokens(per, 1, "one frame", frame=(h, w))
    rule = (f"{how}: {kept} frames, each center-cropped to {w}×{h} → {w // enc.patch_size}×{h // enc.patch_size} "
            f"patches" + (" + class token" if cls else "") + f" = {per} tokens; {kept} × {per} = {kept * per}")
    return VideoTokens(video, kept, kept * per, rule, name, unit, kept)


def gemma4(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
           config: dict[str, Any]) -> VideoTokens:
    """Gemma4VideoProcessor: num_frames (32) spread over the clip (frame i × total // n, transformers' default
    sampler; a shorter clip is refused, as there), each resized within max_soft_tokens (70) × k² patches keeping
    its aspect ratio and pooled k × k, as an image at that budget is; per frame the processor writes its
    mm:ss, begin-of-image, the tokens and end-of-image."""
    kept, how = default_sampled(name, pre, video)
    budget = {k: pre[k] for k in ("max_soft_tokens", "pooling_kernel_size", "patch_size")}
    unit = processors.soft_token_budget(enc.patch_size, budget, video.width, video.height)
    per = unit.tokens or 0
    rule = (f"{how}: {kept} frames, each {unit.rule} + begin and end of image; {kept} × {per + 2} = "
            f"{kept * (per + 2)}, and {kept} timestamps (mm:ss, as text)")
    text = stamps.gemma4(default_indices(video.frames, kept), video.fps) if kept <= MAX_TEXT_PIECES else ()
    return VideoTokens(video, kept, kept * (per + 2), rule, name, unit, kept, timestamps=kept, text=text)


def internvl(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
             config: dict[str, Any]) -> VideoTokens:
    """InternVLVideoProcessor: every frame unless do_sample_frames; then num_frames, else fps of the clip's rate
    (int(frames / rate × fps)), one every frames / n from initial_shift (half a step by default); each frame
    resized to ``size`` and encoded as one tile; per frame the processor writes 'FrameN: ' (text), the start
    and end of image, and the tile's tokens between them."""
    kept, how = video.frames, "every frame (do_sample_frames off)"
    if pre.get("do_sample_frames"):
        num, fps = pre.get("num_frames"), pre.get("fps")
        if num is None and fps is None:
            raise RequestError("processor", "num_frames=null, fps=null", f"num_frames or fps: {name} samples by one "
                                                                          "of them")
        if num is None:
            needs_rate(video, name)
            num = int(video.frames / (video.fps or 1) * float(fps or 0))
        num = int(num)
        if not 0 < num <= video.frames:
            raise RequestError("video", str(video), f"a longer clip: {name} samples {num} frames, it has "
                                                    f"{video.frames}")
        shift, step = pre.get("initial_shift", True), video.frames / num
        start = step / 2 if shift is True else float(shift or 0)  # torch.arange(start, frames, step): its length
        kept = max(0, math.ceil((video.frames - start) / step))
        how = f"{kept} sampled ({num} asked: from frame {start:g}, one every {step:g})"
        if not kept:
            raise RequestError("processor", f"initial_shift={shift}", f"a shift under the clip's {video.frames} frames")
    size = dict(pre.get("size") or {})
    return _one_tile(name, video, kept, how, (int(size["height"]), int(size["width"])), enc, config,
                     ("start and end of image", 2), "frame labels ('FrameN: ', as text)",
                     stamps.internvl(kept) if kept <= MAX_TEXT_PIECES else ())


def _one_tile(name: str, video: VideoSpec, kept: int, how: str, frame: tuple[int, int], enc: Encoded,
              config: dict[str, Any], marks: tuple[str, int], text: str,
              pieces: tuple[str, ...] = ()) -> VideoTokens:
    """``kept`` frames, each resized to ``frame`` (height, width) and encoded as one tile: the tile's tokens
    and the processor's image marks per frame, and one ``text`` string per frame (InternVL, SmolVLM), written
    as ``pieces`` where modelled."""
    per, crop = per_crop(enc, config)
    (h, w), (said, n) = frame, marks
    rule = (f"{how}: {kept} frames, each resized to {w}×{h}, one tile of {crop} + {said}; {kept} × {per + n} = "
            f"{kept * (per + n)}, and {kept} {text}")
    return VideoTokens(video, kept, kept * (per + n), rule, name, ImageTokens(per, 1, "one frame", frame=frame), kept,
                       timestamps=kept, text=pieces)


def _smolvlm_sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[list[int], str]:
    """(frame indices kept, how) under SmolVLMVideoProcessor.sample_frames: round(fps × duration) frames, at most
    num_frames, evenly over the clip (np.linspace, whole frames, repeats dropped), a second off each end where
    the clip is longer than num_frames × fps seconds and those two."""
    import numpy as np

    num, fps = pre.get("num_frames"), pre.get("fps")
    if num is None or fps is None:
        raise RequestError("processor", f"num_frames={num}, fps={fps}", f"both: {name} samples by a rate and a cap")
    needs_rate(video, name)
    rate, total, num, fps = video.fps or 1, video.frames, int(num), float(fps)
    duration = total / rate
    wanted = max(1, min(round(fps * duration), num))
    if wanted > MAX_VIDEO_FRAMES:  # settings are untrusted: bound the frame indices the sampler lists
        raise LimitError("request", "video frames sampled", wanted, MAX_VIDEO_FRAMES, f"{name} at fps={fps:g}")
    first, last = 0, total - 1
    if duration - 2 > num * fps:
        first, last = max(0, int(rate)), min(int(total - rate), total - 1)
    if first >= last:
        first, last = 0, total - 1
    kept = [int(i) for i in np.unique(np.linspace(first, last, wanted, dtype=int))]
    return kept, f"{len(kept)} sampled at {fps:g} fps of {rate:g} (at most {num}, frames {first} to {last})"


def smolvlm(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
            config: dict[str, Any]) -> VideoTokens:
    """SmolVLMVideoProcessor (SmolVLM2): every frame unless do_sample_frames, then its own sampler (a file's
    video_sampling sets num_frames and fps, as the constructor does); each frame resized square to
    max_image_size, a single image without splitting; per frame the processor writes 'Frame from mm:ss:'
    (text), then the fake-image mark, the global-image mark, the tokens and the fake-image mark again; the
    video's intro line is text too."""
    if "video_sampling" in pre:  # the constructor's: its max_frames and fps stand for num_frames and fps
        sampled = pre["video_sampling"]
        pre = {**pre, "num_frames": sampled["max_frames"], "fps": sampled["fps"]}
    indices, how = (_smolvlm_sampled(name, pre, video) if pre.get("do_sample_frames")
                    else (range(video.frames), "every frame (do_sample_frames off)"))
    side, kept = int(pre["max_image_size"]["longest_edge"]), len(indices)
    text = stamps.smolvlm(indices, video) if kept <= MAX_TEXT_PIECES and video.fps else ()
    return _one_tile(name, video, kept, how, (side, side), enc, config, ("fake, global and fake image marks", 3),
                     "timestamps ('Frame from mm:ss:', as text)", text)


def kimi(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
         config: dict[str, Any]) -> VideoTokens:
    """Kimi_K25VideoProcessor (Kimi-K2.5): fps (2) of the clip's rate (transformers' default sampler), cut into
    chunks of temporal_patch_size (4) frames, the last maybe shorter; every frame scaled down (never up) to at
    most max_patches patches and size's max_height patches a side (navit_resize), then padded to whole merged
    patches; the encoder takes a chunk's frames together and pools them over time, one token per merged
    patch a chunk. Per chunk the processor writes its start time and 'video' (text), the media begin, content
    and end marks, and the tokens."""
    kept, how = default_sampled(name, pre, video)
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    side, budget = int(dict(pre.get("size") or {})["max_height"]), int(pre["max_patches"])
    rows, cols = max(1.0, video.height // patch), max(1.0, video.width // patch)
    scale = min(1.0, math.sqrt(budget / (rows * cols)), side * patch / video.height, side * patch / video.width)
    h, w = (min(max(1, int(x * scale)), side * patch) for x in (video.height, video.width))
    factor = merge * patch
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    chunks, per = -(-kept // tps), (ph // patch) * (pw // patch) // (merge * merge)
    unit = ImageTokens(per, 1, f"one chunk of {tps} frames", grid=(ph // patch, pw // patch), frame=(ph, pw),
                       frames=tps)
    rule = (f"{how}: {kept} frames → {chunks} chunks of {tps}, each frame {w}×{h} padded to {pw}×{ph} → "
            f"{pw // patch}×{ph // patch} patches → {merge}×{merge} merge, pooled over the chunk = {per} tokens + "
            f"media begin, content and end; {chunks} × {per + 3} = {chunks * (per + 3)}, and {chunks} start times "
            "with 'video' (text)")
    text = stamps.kimi(default_indices(video.frames, kept), video.fps, tps) if chunks <= MAX_TEXT_PIECES else ()
    return VideoTokens(video, kept, chunks * (per + 3), rule, name, unit, chunks, timestamps=chunks, text=text)


def instructblip_video(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
                       config: dict[str, Any]) -> VideoTokens:
    """InstructBlipVideoVideoProcessor (InstructBLIP-Video): every frame unless do_sample_frames (then
    transformers' default sampler), each resized to ``size``; its model encodes each frame alone and reads the
    Q-Former's queries per frame, while its processor writes 4 × num_query_tokens placeholders whatever the clip:
    so only a clip of 4 frames runs, and any other is refused here as the model refuses it."""
    kept, how = default_sampled(name, pre, video)
    per, crop = per_crop(enc, config)
    if kept != 4:
        raise RequestError("video", str(video), f"4 frames, as its model reads 4 × {per} query tokens (its processor "
                                                f"keeps {kept}); give 4f:WxH, or --processor do_sample_frames=true "
                                                "--processor num_frames=4")
    size = dict(pre.get("size") or {})
    h, w = int(size["height"]), int(size["width"])
    rule = f"{how}: 4 frames, each resized to {w}×{h}, {crop} a frame; 4 × {per} = {4 * per}"
    return VideoTokens(video, 4, 4 * per, rule, name, ImageTokens(per, 1, "one frame", frame=(h, w)), 4)
