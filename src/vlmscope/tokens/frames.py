"""How the video processors with temporal patches (Qwen2-VL, Qwen3-VL, GLM-4.1V) turn a clip into frames and
tokens: their sampling (every frame, a frame count, or a rate of the clip's own), their resize over the pixel
budget, the temporal patches, and the placeholder tokens their processors write; and the sampling and shape
checks the per-frame processors (``framewise``) and the loaders (``loaders``) share. One function per
processor, each naming the code it follows; ``video`` dispatches, the tests compare each with the real processor
on synthetic frames."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vlmscope.data import ImageTokens
from vlmscope.data.video import VIDEO_RECIPES, VideoSpec, VideoTokens
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_TEXT_PIECES, MAX_VIDEO_FRAMES
from vlmscope.tokens import processors, stamps
from vlmscope.tokens.rules import Encoded
from vlmscope.tokens.stamps import ASSUMED_FPS

Text = Callable[[], tuple[str, ...]]  # the text pieces a processor writes for a clip (tokens/stamps.py)
TRANSFORMERS = VIDEO_RECIPES[0]


def sampling(pre: dict[str, Any]) -> tuple[int | None, float | None]:
    """(num_frames, fps) of a processor that samples; both set is transformers' own refusal."""
    num, fps = pre.get("num_frames"), pre.get("fps")
    if num is not None and fps is not None:
        raise RequestError("processor", f"num_frames={num}, fps={fps}", "one of them: they are exclusive (set the "
                                                                        "other to null)")
    return None if num is None else int(num), None if fps is None else float(fps)


def _pixel_budget(pre: dict[str, Any]) -> tuple[int, int]:
    """(min, max) pixels: the ``size`` edges, where min_pixels / max_pixels override them (Qwen2-VL's
    constructor)."""
    size = dict(pre.get("size") or {})
    low = pre.get("min_pixels") or size.get("shortest_edge")
    high = pre.get("max_pixels") or size.get("longest_edge")
    if not low or not high:
        raise RequestError("processor", size, "a video size with shortest_edge and longest_edge pixel counts")
    return int(low), int(high)


def needs_rate(video: VideoSpec, name: str) -> None:
    if video.fps is None:
        raise RequestError("video", str(video), f"DURATION@FPS:WxH: {name} samples by frame rate, so the video's "
                                                "own rate is needed")


def patched(name: str, video: VideoSpec, kept: int, how: str, size: tuple[int, int], pre: dict[str, Any],
             marks: str = "", stamp: str = "", text: Text | None = None) -> VideoTokens:
    """``kept`` frames of ``size`` (height, width) in temporal patches: one token per merged patch, and, where
    the processor writes them, two marks around each patch's tokens and a timestamp (text: ``text``) per patch."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    (h, w), groups, extra = size, -(-kept // tps), 2 if marks else 0
    per = (h // patch) * (w // patch) // (merge * merge)
    unit = ImageTokens(per, 1, f"one temporal patch of {tps} frames", grid=(h // patch, w // patch))
    rule = (f"{how}: {kept} frames → {groups} temporal patches of {tps}, each {w}×{h} → {w // patch}×{h // patch} "
            f"patches → {merge}×{merge} merge = {per} tokens" + (f" + {marks}" if marks else "")
            + f"; {groups} × {per + extra} = {groups * (per + extra)}"
            + (f", and {groups} timestamps ({stamp})" if stamp else ""))
    return VideoTokens(video, groups * tps, groups * (per + extra), rule, name, unit, groups,
                       timestamps=groups if stamp else 0, text=text() if text and groups <= MAX_TEXT_PIECES else ())


def qwen2(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
          config: dict[str, Any]) -> VideoTokens:
    """Qwen2VLVideoProcessor (Qwen2-VL, Qwen2.5-VL): every frame unless do_sample_frames (then num_frames, or
    fps between min_frames and max_frames, floored to whole temporal patches); the frames padded to whole
    temporal patches by repeating the last; each resized within the pixel budget (smart_resize), which
    cap_pixels_per_frame shrinks to a share of max_video_tokens' pixels; one token per merged patch."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    total, kept, how = video.frames, video.frames, "every frame (do_sample_frames off)"
    if pre.get("do_sample_frames"):
        kept = qwen2_wanted(name, pre, video)
        kept = math.ceil(total / (total / kept))  # torch.arange(0, total, total / kept): its length
        num, fps = sampling(pre)
        how = f"{kept} sampled" + (f" at {fps:g} fps" if num is None and fps is not None else "")
    low, high = _pixel_budget(pre)
    if pre.get("cap_pixels_per_frame"):
        share = int(int(pre["max_video_tokens"]) * (patch * merge) ** 2 * 0.9) * tps // kept
        high = max(min(high, share), int(low * 1.05))
    check_aspect(video)
    return patched(name, video, kept, how, processors.smart_resize(video.height, video.width, patch * merge, low,
                                                                    high), pre)


def qwen2_wanted(name: str, pre: dict[str, Any], video: VideoSpec) -> int:
    """The frames Qwen2-VL's sample_frames asks for (VideoLLaMA3's is a copy): num_frames rounded to whole
    temporal patches, else fps of the clip's rate between min_frames and max_frames (and the clip's), floored to
    temporal patches; every frame where neither is set; one line where that is none or more than the clip."""
    tps, total = int(pre["temporal_patch_size"]), video.frames
    num, fps = sampling(pre)
    wanted = total
    if num is not None:
        wanted = round(num / tps) * tps
    elif fps is not None:
        needs_rate(video, name)
        top = math.floor(min(int(pre["max_frames"]), total) / tps) * tps
        wanted = math.floor(min(max(total / (video.fps or 1) * fps, int(pre["min_frames"])), top, total) / tps) * tps
    if wanted <= 0 or wanted > total:
        raise RequestError("video", str(video), f"a longer clip: {name} would sample {wanted} of its {total} frames")
    return wanted


def qwen3(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
          config: dict[str, Any]) -> VideoTokens:
    """Qwen3VLVideoProcessor (Qwen3-VL, Qwen3.5; CohereCompass's is a copy, Cosmos3-Edge's one with temporal
    patches of a frame): num_frames, else fps (2) of the
    video's rate (24 assumed without one) between min_frames and max_frames; the pixel budget counts every
    frame (cap_pixels_per_frame bounds each frame's share); per temporal patch the processor writes a
    timestamp, vision start, the tokens and vision end."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    total, kept, how = video.frames, video.frames, "every frame (do_sample_frames off)"
    rate, sampled = video.fps or ASSUMED_FPS, bool(pre.get("do_sample_frames"))
    if sampled:
        num, fps = sampling(pre)
        if num is None and fps is not None:
            num = min(max(int(total / rate * fps), int(pre["min_frames"])), int(pre["max_frames"]), total)
            how = f"{num} sampled at {fps:g} fps of {rate:g}" + ("" if video.fps else " (no rate given: transformers "
                                                                                    "assumes 24)")
        elif num is None:
            num = min(max(total, int(pre["min_frames"])), int(pre["max_frames"]))
            how = f"{num} sampled"
        else:
            how = f"{num} sampled (num_frames)"
        kept = num
    if kept < tps:
        raise RequestError("video", str(video), f"a longer clip: {name} needs at least {tps} frames, it keeps {kept}")
    low, high = _pixel_budget(pre)
    factor = patch * merge
    if pre.get("cap_pixels_per_frame"):
        high = max(min(int(pre["max_video_tokens"]) * factor * factor, high // kept), int(low * 1.05)) * kept
    check_aspect(video)
    size = _qwen3_resize(kept, video.height, video.width, tps, factor, low, high)
    return patched(name, video, kept, how, size, pre, "vision start and end", "'<1.5 seconds>', as text",
                    lambda: stamps.qwen3(stamps.rounded(total, kept) if sampled else range(total), video.fps, tps))


def _qwen3_resize(frames: int, height: int, width: int, tps: int, factor: int, low: int,
                  high: int) -> tuple[int, int]:
    """Qwen3-VL's video smart_resize: the budget is over all frames (frames rounded to temporal patches)."""
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    h, w, t = round(height / factor) * factor, round(width / factor) * factor, round(frames / tps) * tps
    if t * h * w > high:
        beta = math.sqrt(frames * height * width / high)
        return max(factor, math.floor(height / beta / factor) * factor), max(factor, math.floor(
            width / beta / factor) * factor)
    if t * h * w < low:
        beta = math.sqrt(low / (frames * height * width))
        return math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def glm4v(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
          config: dict[str, Any]) -> VideoTokens:
    """Glm4vVideoProcessor (GLM-4.1V): fps (2) over the clip's duration, or max_duration seconds' worth spread
    over a longer one; repeated frame indices dropped, the count made even by repeating the last; the pixel
    budget over all frames (Qwen3-VL's resize); per temporal patch the processor writes begin-of-image, the
    tokens, end-of-image and the second it starts at."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    total, kept, how = video.frames, video.frames, "every frame (do_sample_frames off)"
    indices: list[int] | range = range(total)
    if pre.get("do_sample_frames"):
        needs_rate(video, name)
        if pre.get("fps") is None:
            raise RequestError("processor", "fps=null", f"a frame rate: {name} samples by fps alone")
        rate, fps, longest = video.fps or 1, float(pre["fps"]), float(pre["max_duration"])
        last, duration = total - 1, total / rate
        if not 0 < fps < math.inf:
            raise RequestError("processor", f"fps={fps:g}", "a positive frame rate")
        asked = math.floor(duration * fps) if duration <= longest else int(longest * fps)
        if asked > MAX_VIDEO_FRAMES:  # settings are untrusted: bound the frame indices the sampler lists
            raise LimitError("request", "video frames sampled", asked, MAX_VIDEO_FRAMES, f"{name} at fps={fps:g}")
        if duration <= longest:
            picked = [min(last, math.ceil(i * rate / fps)) for i in range(max(math.floor(duration * fps), 1))]
        elif int(longest * fps) >= total:
            picked = list(range(total))
        else:
            import numpy as np

            picked = [min(last, math.ceil(t * rate)) for t in np.linspace(0, duration, int(longest * fps))]
        indices = _evened(picked)
        kept = len(indices)
        how = f"{kept} sampled at {fps:g} fps of {rate:g}"
    low, high = _pixel_budget(pre)
    check_aspect(video)
    size = _qwen3_resize(kept, video.height, video.width, tps, patch * merge, low, high)
    return patched(name, video, kept, how, size, pre, "begin and end of image", "the second, as text",
                    lambda: stamps.glm(indices, video.fps, -(-kept // tps), decimal=False))


def glm46v(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
           config: dict[str, Any]) -> VideoTokens:
    """Glm46VVideoProcessor (GLM-4.6V): a rate by the clip's duration (3 fps up to 30 s, 1 up to 300 s, 0.5 above;
    at most 2,400 s counted), times the temporal patch, at most 640 frames; it takes the first frame at or after
    each step in time until the last whole second, and spreads that many evenly where it got fewer or more
    (np.linspace); repeats dropped, the count made even by repeating the last. Its fps and max_duration
    settings are not read. The pixel budget over all frames, and the text per temporal patch, as GLM-4.1V's."""
    return _glm(name, pre, video, lambda: _glm46v_sampled(name, video, int(pre["temporal_patch_size"])))


def _glm(name: str, pre: dict[str, Any], video: VideoSpec, sampled: Callable[[], tuple[list[int], str]],
         expand: int = 1) -> VideoTokens:
    """GLM-4.6V's and Glmga's frames (``sampled``: their samplers), resized within the pixel budget over all
    frames in multiples of patch × merge × ``expand``."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])

    def size_of(kept: int) -> tuple[int, int]:
        low, high = _pixel_budget(pre)
        check_aspect(video)
        return _qwen3_resize(kept, video.height, video.width, tps, patch * merge * expand, low, high)

    return glm_patched(name, pre, video, sampled, size_of)


def glm_patched(name: str, pre: dict[str, Any], video: VideoSpec, sampled: Callable[[], tuple[list[int], str]],
                size_of: Callable[[int], tuple[int, int]]) -> VideoTokens:
    """GLM-4.6V's, Glmga's and GLM-5 Next's frames (``sampled``: their samplers; every frame without sampling) at
    the size ``size_of`` gives for their number, with the begin and end of image and the seconds (text) per
    temporal patch."""
    indices, how = (sampled() if pre.get("do_sample_frames")
                    else (range(video.frames), "every frame (do_sample_frames off)"))
    kept, tps = len(indices), int(pre["temporal_patch_size"])
    return patched(name, video, kept, how, size_of(kept), pre, "begin and end of image", "the seconds, as text",
                    lambda: stamps.glm(indices, video.fps, -(-kept // tps), decimal=True))


def _glm46v_sampled(name: str, video: VideoSpec, tps: int) -> tuple[list[int], str]:
    import numpy as np

    needs_rate(video, name)
    total, rate = video.frames, video.fps or 1
    duration = total / rate
    effective = min(duration, 2400)
    target = 3 if effective <= 30 else 1 if effective <= 300 else 0.5
    wanted = min(int(effective * target * tps), 640)
    if wanted < 1:
        raise RequestError("video", str(video), f"a longer clip: {name} samples no frame of one under "
                                                f"{1 / (3 * tps):.2f} s")
    if total < wanted:
        picked = np.linspace(0, total - 1, wanted, dtype=int).tolist()
    else:
        picked = stepped(total, rate, 1 / (tps * target), int(duration), wanted)
    kept = spread(picked, wanted, total)
    return kept, f"{len(kept)} sampled ({target * tps:g} a second, at most 640) of {rate:g} fps"


def glmga(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
          config: dict[str, Any]) -> VideoTokens:
    """GlmgaVideoProcessor: fps (2) over the clip's duration, at most max_frames; the first frame at or after
    each step in time until a step before the end, spread evenly (np.linspace) where that gives fewer or more;
    a clip with fewer frames than that repeats them (the i-th at ⌊i · frames / count⌋); repeats dropped, the
    count made even. The pixel budget over all frames (GLM-4.6V's resize) in multiples of patch × merge ×
    patch_expand_factor; the text per temporal patch as GLM-4.6V's."""
    return _glm(name, pre, video, lambda: _glmga_sampled(name, pre, video), int(pre["patch_expand_factor"]))


def _glmga_sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[list[int], str]:
    needs_rate(video, name)
    total, rate, fps = video.frames, video.fps or 1, float(pre["fps"])
    if not 0 < fps < math.inf:
        raise RequestError("processor", f"fps={fps:g}", "a positive frame rate")
    duration = total / rate
    wanted = min(int(duration * fps), int(pre["max_frames"]))
    if wanted < 1:
        raise RequestError("video", str(video), f"a longer clip: {name} samples no frame of one under {1 / fps:g} s")
    if wanted > MAX_VIDEO_FRAMES:  # settings are untrusted: bound the frame indices the sampler lists
        raise LimitError("request", "video frames sampled", wanted, MAX_VIDEO_FRAMES, f"{name} at fps={fps:g}")
    if total < wanted:
        picked = [math.floor(i * total / wanted) for i in range(wanted)]
    else:
        picked = stepped(total, rate, 1 / fps, duration - 1 / fps, wanted)
    kept = spread(picked, wanted, total)
    return kept, f"{len(kept)} sampled at {fps:g} fps of {rate:g}, at most {int(pre['max_frames'])}"


def stepped(total: int, rate: float, step: float, stop: float, wanted: int) -> list[int]:
    """The walk of GLM's samplers: the first frame at or after each ``step`` seconds (the processors' own float
    steps, kept as they take them) until the time reaches ``stop``. It ends early past ``wanted`` frames, which
    changes nothing: ``spread`` then spreads anew over the whole clip, whatever the walk found."""
    picked: list[int] = []
    second = 0.0
    for i in range(total):
        if i * (1 / rate) >= second:
            second += step
            picked.append(i)
            if second >= stop or len(picked) > wanted:
                break
    return picked


def spread(picked: list[int], wanted: int, total: int) -> list[int]:
    """The frames GLM's samplers keep of ``picked``: ``wanted`` spread evenly (np.linspace) between the picked
    ends where there are fewer, over the whole clip where there are more; repeats dropped, made even."""
    import numpy as np

    if len(picked) != wanted:
        start, end = (picked[0], picked[-1]) if len(picked) < wanted and picked else (0, total - 1)
        picked = np.linspace(start, end, wanted, dtype=int).tolist()
    return _evened(picked)


def _evened(picked: list[int]) -> list[int]:
    """GLM's samplers: the frame indices with repeats dropped, the last repeated to an even count."""
    kept = list(dict.fromkeys(picked))
    return kept + kept[-1:] * (len(kept) & 1)


def check_aspect(video: VideoSpec) -> None:
    if max(video.width, video.height) / min(video.width, video.height) > 200:
        raise RequestError("video", str(video), "frames with an aspect ratio of at most 200 (the processor's limit)")
