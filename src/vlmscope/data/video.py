"""What a request's images and videos become: one image's tokens and encoder passes (ImageTokens); a video
as it reaches the processor (``--video 60s@2:1280x720``, ``--video 32f:1280x720``) and what the model's video
processor makes of it: the frames it keeps, their size as the encoder sees them, the prompt's tokens."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_FPS, MAX_IMAGE_SIDE, MAX_VIDEO_FRAMES

# who samples and resizes a clip's frames for the processor: the processor itself, or a loader before it
VIDEO_RECIPES = ("transformers", "qwen-vl-utils", "sglang", "vllm")
VIDEO_FORMS = "DURATION@FPS:WxH (e.g. 60s@2:1280x720, 1.5m@30:640x480) or FRAMESf:WxH (e.g. 32f:1280x720)"
_TIMED = re.compile(r"(?P<length>\d{1,9}(?:\.\d{1,6})?)(?P<unit>s|m|h)@(?P<fps>\d{1,6}(?:\.\d{1,6})?)"
                    r":(?P<w>\d{1,9})x(?P<h>\d{1,9})")
_COUNTED = re.compile(r"(?P<frames>\d{1,12})f:(?P<w>\d{1,9})x(?P<h>\d{1,9})")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class VideoSpec:
    """One video as it reaches the processor: ``frames`` decoded frames of ``width`` × ``height``, played at
    ``fps`` (None: a bare frame count, no frame rate known, as a list of frames gives)."""

    frames: int
    width: int
    height: int
    fps: float | None = None

    def __post_init__(self) -> None:
        for name, value, top in (("video frames", self.frames, MAX_VIDEO_FRAMES),
                                 ("video width", self.width, MAX_IMAGE_SIDE),
                                 ("video height", self.height, MAX_IMAGE_SIDE)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RequestError(name, value, f"a positive integer; a video is {VIDEO_FORMS}")
            if value > top:
                raise LimitError("request", name, value, top, "see vlmscope.limits")
        fps = self.fps
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps)
                                or fps <= 0):
            raise RequestError("video fps", fps, "a positive frame rate")
        if fps is not None and fps > MAX_FPS:
            raise LimitError("request", "video fps", fps, MAX_FPS, "see vlmscope.limits")

    @property
    def seconds(self) -> float | None:
        return None if self.fps is None else self.frames / self.fps

    def __str__(self) -> str:
        size = f"{self.width}x{self.height}"
        return f"{self.frames}f:{size}" if self.fps is None else f"{self.seconds:g}s@{self.fps:g}:{size}"


def parse_video(text: object) -> VideoSpec:
    """A video from its text form (``VIDEO_FORMS``); a VideoSpec is returned as it is. A timed clip holds
    round(duration × fps) frames."""
    if isinstance(text, VideoSpec):
        return text
    if not isinstance(text, str):
        raise RequestError("video", text, VIDEO_FORMS)
    spoken = text.strip().lower()
    if (counted := _COUNTED.fullmatch(spoken)) is not None:
        return VideoSpec(int(counted["frames"]), int(counted["w"]), int(counted["h"]))
    timed = _TIMED.fullmatch(spoken)
    if timed is None:
        raise RequestError("video", text, VIDEO_FORMS)
    fps = float(timed["fps"])  # VideoSpec refuses a rate of 0
    frames = round(float(timed["length"]) * _SECONDS[timed["unit"]] * fps)
    return VideoSpec(max(frames, 1), int(timed["w"]), int(timed["h"]), fps)


@dataclass(frozen=True)
class ImageTokens:
    """Visual tokens one image of ``width`` × ``height`` becomes, and how many encoder passes it takes."""

    tokens: int | None
    crops: int  # vision-encoder passes at the native resolution (tiles, crops, global view)
    rule: str
    grid: tuple[int, int] | None = None  # patch rows × columns of a native-resolution encoder's one pass
    frame: tuple[int, int] | None = None  # (height, width) of the padded frames the encoder runs on, if not square
    states: int = 0  # image states a cross-attention language model reads (Mllama), apart from the tokens
    views: tuple[tuple[int, int, int], ...] = ()  # (count, height, width) of frames of different sizes, where
    # the encoder runs over each at its own size (MiniCPM-V's view + slices); () = ``crops`` × ``frame``
    padded: int = 0  # patches the processor pads each pass to, which the encoder runs over (Gemma 4); 0 = none
    frames: int = 1  # frames one pass of a native-resolution encoder takes together (Kimi-K2.5's video chunks)
    temporal: int = 1  # frames a step of the pass's grid holds in time, where its grid counts temporal patches
    # (MiniMax-M3-VL's segments); 1 = its grid counts frames

    @property
    def steps(self) -> int:
        """The pass's grid in time: its frames, or its temporal patches."""
        return self.frames // self.temporal


@dataclass(frozen=True)
class VideoTokens:
    """What one video becomes under the model's video processor (JSON ``cost.videos``)."""

    video: VideoSpec
    frames: int  # frames the processor keeps (sampled, then padded to whole temporal patches)
    tokens: int  # placeholder tokens the processor puts in the prompt for it (visual tokens and separators)
    rule: str  # how ``frames`` and ``tokens`` were obtained
    processor: str  # the video processor class whose arithmetic (and settings) were followed
    unit: ImageTokens  # one encoder pass as an image: a temporal patch of frames, or one frame
    units: int  # encoder passes the video takes (temporal patches, or frames)
    timestamps: int = 0  # timestamp strings (or frame labels) the processor writes into the prompt, as text
    text: tuple[str, ...] = ()  # that text, piece by piece between special tokens; () where none, or not modelled
    text_tokens: int | None = None  # its tokens by the model's tokenizer; None where not counted (no tokenizer)
    assumed: tuple[str, ...] = ()  # settings the rule took from the processor class's defaults ("fps=2")
    recipe: str = "transformers"  # who sampled and resized the frames: the processor itself, or a named loader
    fewest: int | None = None  # where the processor drops tokens by the frames' content (VideoLLaMA3's
    # compression): the fewest the clip can become, ``tokens`` the most; None where the count is the count
    parts: tuple[tuple[int, ImageTokens], ...] = ()  # encoder passes of other shapes than ``unit``, with their
    # counts (MiniCPM-V's canvases of stacked sub-frames); ``units`` counts them too
    pooling: tuple[int, int] | None = None  # the window a frame's patches are pooled in by the model's own video
    # path, given with them (Molmo2's video_token_pooling); None where the model pools by itself
