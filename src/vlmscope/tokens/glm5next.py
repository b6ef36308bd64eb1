"""GLM-5 Next's video processor (Glm5NextVideoProcessor): GLM-4.6V's frames and prompt, with a sampler of its own
(a plain rate, at most max_frames, the clip's whole seconds) and a resize of its own (the largest canvas in whole
merged patches within min_image_tokens to max_image_tokens tokens' pixels over all frames, found by bisection;
the frame padded to it). Its own small module: the arithmetic is GLM-5 Next's alone. Tested against the
processor on synthetic frames (tests/tokens/test_video.py)."""

from __future__ import annotations

import math
from typing import Any

from vlmscope.data.video import VideoSpec, VideoTokens
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_VIDEO_FRAMES
from vlmscope.tokens import frames
from vlmscope.tokens.rules import Encoded


def glm5next(name: str, pre: dict[str, Any], enc: Encoded, video: VideoSpec,
             config: dict[str, Any]) -> VideoTokens:
    """Glm5NextVideoProcessor: frames by ``_sampled``, or every frame; one canvas for all of them (``_canvas``);
    per temporal patch one token per merged patch, the begin and end of image and its seconds (text)."""
    tps, patch, merge = int(pre["temporal_patch_size"]), int(pre["patch_size"]), int(pre["merge_size"])
    factor = patch * merge * int(pre["patch_expand_factor"])
    return frames.glm_patched(name, pre, video, lambda: _sampled(name, pre, video), lambda kept: _canvas(
        kept, video.height, video.width, tps, factor, int(pre["min_image_tokens"]), int(pre["max_image_tokens"])))


def _sampled(name: str, pre: dict[str, Any], video: VideoSpec) -> tuple[list[int], str]:
    """Glm5NextVideoProcessor.sample_frames: int(duration × fps) frames, at most max_frames (the duration capped
    at max_duration where that is set); the first frame at or after each step in time until the clip's last
    whole second, spread evenly where that gives fewer or more (np.linspace); repeats dropped, made even."""
    frames.needs_rate(video, name)
    total, rate, fps = video.frames, video.fps or 1, float(pre["fps"])
    if not 0 < fps < math.inf:
        raise RequestError("processor", f"fps={fps:g}", "a positive frame rate")
    duration = total / rate
    longest = float(pre.get("max_duration") or 0)
    wanted = min(int((duration if longest <= 0 else min(duration, longest)) * fps), int(pre["max_frames"]))
    if wanted < 1:
        raise RequestError("video", str(video), f"a longer clip: {name} samples no frame of one under {1 / fps:g} s")
    if wanted > MAX_VIDEO_FRAMES:  # settings are untrusted: bound the frame indices the sampler lists
        raise LimitError("request", "video frames sampled", wanted, MAX_VIDEO_FRAMES, f"{name} at fps={fps:g}")
    picked = frames.stepped(total, rate, 1 / fps, int(duration), wanted) if total >= wanted else []
    kept = frames.spread(picked, wanted, total)
    return kept, f"{len(kept)} sampled at {fps:g} fps of {rate:g}, at most {int(pre['max_frames'])}"


def _canvas(kept: int, height: int, width: int, tps: int, factor: int, least: int, most: int) -> tuple[int, int]:
    """(height, width) of the canvas (smart_resize): the frame in whole factors; grown to ``least`` tokens'
    pixels over the frames (tps × factor² each) where smaller; where larger than ``most``'s, the tallest frame
    at the clip's aspect (floored widths) whose factor-aligned canvas fits, by bisection over its height."""
    per_token = tps * factor * factor
    low, high = least * per_token, most * per_token
    t = max(tps, round(kept / tps) * tps)
    h, w = -(-height // factor) * factor, -(-width // factor) * factor
    if t * h * w < low:
        scale = math.sqrt(low / (kept * height * width))
        h, w = (-(-max(1, math.ceil(x * scale)) // factor) * factor for x in (height, width))
    if t * h * w <= high:
        return h, w
    if high < t * factor * factor:  # the processor's own refusal
        raise RequestError("processor", f"max_image_tokens={most}", f"at least {-(-t * factor * factor // per_token)}"
                                                                    f": one merged patch a frame over {t} frames")
    best, a, b = (factor, factor), 1, height
    while a <= b:
        mid = (a + b) // 2
        ch, cw = -(-mid // factor) * factor, -(-max(1, math.floor(width * mid / height)) // factor) * factor
        if t * ch * cw <= high:
            best, a = (ch, cw), mid + 1
        else:
            b = mid - 1
    return best
