"""The text a video processor writes into the prompt beside its placeholder tokens (timestamps, frame labels),
piece by piece as its tokenizer takes it: each piece stands between two special tokens, which the tokenizer
splits off first, so each is tokenized on its own. One function per format, each naming the processor it
follows (the tests compare them with the text the real processors write); ``count`` counts the pieces with
the model's tokenizer, where one is at hand (a folder's or Hub repo's tokenizer.json, or the catalog's cut of
the model's tokenizer: scripts/text_tokenizer.py). A piece is counted as text of its own: a tokenizer that
marks the start of a text (SentencePiece's dummy prefix) could count a piece otherwise than after a special
token, where it stands in the prompt; the byte-level BPEs of Qwen, SmolLM and InternVL mark nothing, Gemma 4's
was not at hand to check."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from vlmscope.data.video import VideoSpec
from vlmscope.errors import ConfigError
from vlmscope.files import UnsafeFileError, read_bounded
from vlmscope.limits import MAX_TEXT_PIECES, MAX_TOKENIZER_BYTES

ASSUMED_FPS = 24  # the frame rate transformers' processors assume for the timestamps of a clip without one


def frame_seconds(indices: Sequence[int], fps: float | None) -> list[float]:
    """VideoMetadata.timestamps: each kept frame's index over the clip's rate (24 where none is known)."""
    rate = fps or ASSUMED_FPS
    return [i / rate for i in indices]


def rounded(total: int, num: int) -> list[int]:
    """Qwen3-VL's sampler: ``num`` frames spread evenly from the first to the last, rounded (half to even)."""
    import numpy as np

    return [int(i) for i in np.linspace(0, total - 1, num).round().astype(int)]


def loader_indices(how: str, total: int, kept: int) -> list[int]:
    """The frames a loader takes of ``total`` (knowledge/processing.json's ``frame_indices``): qwen-vl-utils'
    torch.linspace over the clip, rounded (torch's own float32 arithmetic, as its readers call it), or SGLang's
    np.linspace, truncated; or a processor's own (MuseGlimmer's torch.linspace, truncated; VideoLLaMA3's and
    Molmo2's torch.arange(0, total, total / kept), truncated)."""
    if how == "torch.linspace, rounded":
        import torch

        return [int(i) for i in torch.linspace(0, total - 1, kept).round().long().tolist()]
    if how == "torch.linspace, truncated":  # MuseGlimmer's own sampler
        import torch

        return [int(i) for i in torch.linspace(0, total - 1, kept).long().tolist()]
    if how == "torch.arange, truncated":  # VideoLLaMA3's and Molmo2's samplers, in torch's own float arithmetic
        import torch

        return [int(i) for i in torch.arange(0, total, total / kept).int().tolist()]
    if how == "np.linspace, truncated":
        import numpy as np

        return [int(i) for i in np.linspace(0, total - 1, num=kept, dtype=np.int64)]
    raise ValueError(f"frame_indices {how!r}")


def qwen3(indices: Sequence[int], fps: float | None, tps: int) -> tuple[str, ...]:
    """Qwen3VLProcessor (Qwen3-VL, Qwen3.5, CohereCompass): per temporal patch, '<T seconds>' with T the mean of
    its first and last frame's time, one decimal; the indices padded to whole patches with the last."""
    found = list(indices)
    found += [found[-1]] * (-len(found) % tps)
    times = frame_seconds(found, fps)
    return tuple(f"<{(times[i] + times[i + tps - 1]) / 2:.1f} seconds>" for i in range(0, len(times), tps))


def patch_starts(indices: Sequence[int], fps: float | None, step: int, groups: int) -> list[float]:
    """The time of every ``step``-th kept frame (each temporal patch's first), ``groups`` of them: the last
    repeated (0 where there is none), as the GLM and MuseGlimmer processors pad them."""
    times = frame_seconds(indices, fps)[::step][:groups]
    return times + [times[-1] if times else 0.0] * (groups - len(times))


def glm(indices: Sequence[int], fps: float | None, groups: int, decimal: bool) -> tuple[str, ...]:
    """Glm4vProcessor: after each temporal patch's end of image, the whole second of every second kept frame;
    Glm46VProcessor (GLM-4.6V, Glmga, GLM-5 Next): the same time as 'T seconds', one decimal."""
    return tuple(f"{t:.1f} seconds" if decimal else str(int(t)) for t in patch_starts(indices, fps, 2, groups))


def gemma4(indices: Sequence[int], fps: float | None) -> tuple[str, ...]:
    """Gemma4Processor: per frame its 'mm:ss' and a space before begin-of-image, the frames joined by a space
    (so every piece after the first starts with the space after the last frame's end-of-image)."""
    stamps = [f"{int(t // 60):02d}:{int(t % 60):02d} " for t in frame_seconds(indices, fps)]
    return tuple(s if i == 0 else f" {s}" for i, s in enumerate(stamps))


def kimi(indices: Sequence[int], fps: float | None, tps: int) -> tuple[str, ...]:
    """Kimi_K25Processor: per chunk of ``tps`` frames, its first frame's time as HH:MM:SS.mmm before the media
    begin mark, and the word 'video' between it and the media content mark."""
    found: list[str] = []
    for t in frame_seconds(indices, fps)[::tps]:
        found += [time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}", "video"]
    return tuple(found)


def retimed(name: str, indices: Sequence[int], fps: float | None) -> tuple[str, ...]:
    """The text of video processor ``name`` for frames a loader picked (``indices`` of the clip), where its text
    depends only on their times: Gemma 4's; () for the others (none of vLLM's default loader's other models
    writes any)."""
    return gemma4(indices, fps) if name == "Gemma4VideoProcessor" else ()


def videollama3(indices: Sequence[int], fps: float | None) -> tuple[str, ...]:
    """VideoLlama3Processor: 'Time 1.5s:' before each frame's tokens (its index over the clip's rate, 1 where
    none is known, as the processor sets), frames joined by a comma."""
    return tuple(("," if n else "") + f"Time {i / (fps or 1):.1f}s:" for n, i in enumerate(indices))


def internvl(frames: int) -> tuple[str, ...]:
    """InternVLProcessor: 'FrameN: ' before each frame's start of image, the frames joined by a newline."""
    return tuple(("" if i == 1 else "\n") + f"Frame{i}: " for i in range(1, frames + 1))


def smolvlm(indices: Sequence[int], video: VideoSpec) -> tuple[str, ...]:
    """SmolVLMProcessor: an intro line (the frame count in words, as num2words writes it, and the clip's whole
    seconds as H:MM:SS), then per frame '\nFrame from mm:ss:' before its fake-image mark, and a blank line after
    the last; the intro goes with the first frame's line, both before the first mark."""
    times = frame_seconds(indices, video.fps)
    lines = [f"\nFrame from {int(t // 60):02d}:{int(t % 60):02d}:" for t in times]
    duration = int(video.seconds) if video.seconds is not None else int(times[-1])
    intro = (f"You are provided the following series of {words(len(lines))} frames from a "
             f"{timedelta(seconds=duration)} [H:MM:SS] video.\n")
    return (intro + lines[0], *lines[1:], "\n\n") if lines else ()


_LOW = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """``n`` (under 10⁹) in English words as num2words 0.5 writes it: 'twenty-one', 'one hundred and five',
    'one thousand, two hundred and thirty-four'."""
    if n < 20:
        return _LOW[n]
    if n < 100:
        return _TENS[n // 10] + (f"-{_LOW[n % 10]}" if n % 10 else "")
    if n < 1000:
        return f"{_LOW[n // 100]} hundred" + (f" and {words(n % 100)}" if n % 100 else "")
    big, name = (10**6, "million") if n >= 10**6 else (1000, "thousand")
    head, rest = f"{words(n // big)} {name}", n % big
    return head if not rest else f"{head} and {words(rest)}" if rest < 100 else f"{head}, {words(rest)}"


def count(path: Path | None, pieces: tuple[str, ...]) -> int | None:
    """Tokens of ``pieces`` by the tokenizer at ``path`` (tokenizer.json, or the catalog's cut of one, which
    counts only text of its alphabet); None where there is no tokenizer, no piece, or a piece it cannot count."""
    if path is None or not pieces or len(pieces) > MAX_TEXT_PIECES:
        return None
    tokenizer, alphabet = _loaded(path)
    if alphabet is not None and any(not set(p) <= alphabet for p in pieces):
        return None
    distinct = sorted(set(pieces))
    sizes = dict(zip(distinct, (len(e.ids) for e in tokenizer.encode_batch(distinct, add_special_tokens=False)),
                     strict=True))
    return sum(sizes[p] for p in pieces)


@functools.lru_cache(maxsize=8)
def _loaded(path: Path) -> tuple[Any, frozenset[str] | None]:
    """The tokenizer at ``path``, and the alphabet it is limited to (the catalog's cut; None: a whole one)."""
    from tokenizers import Tokenizer

    try:
        text = read_bounded(path, MAX_TOKENIZER_BYTES).decode("utf-8")
    except UnsafeFileError as exc:
        raise ConfigError(str(path), f"refused to read it: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), f"cannot read it ({exc})") from exc
    try:
        data = json.loads(text)
        cut = isinstance(data, dict) and isinstance(data.get("alphabet"), str) and "tokenizer" in data
        tokenizer = Tokenizer.from_str(json.dumps(data["tokenizer"]) if cut else text)
    except Exception as exc:  # untrusted: JSON's errors, and the tokenizers library's own (plain Exception)
        raise ConfigError(str(path), f"not a tokenizer vlmscope can read ({type(exc).__name__}: {str(exc)[:80]}); "
                                     "remove it, or replace it with the model's own") from exc
    return tokenizer, frozenset(data["alphabet"]) if cut else None
