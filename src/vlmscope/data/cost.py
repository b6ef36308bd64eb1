"""What a request costs: the request itself (validated on construction), visual tokens per image, FLOPs,
memory; and one model's outcome in a batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from vlmscope.data.facts import Anatomy
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_IMAGE_SIDE, MAX_IMAGES, MAX_TOKENS


class DType(StrEnum):
    """Weight dtypes of the memory figures."""

    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"
    int8 = "int8"
    int4 = "int4"


DTYPE_BYTES: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
assert set(DTYPE_BYTES) == set(DType)


def _positive(name: str, value: object, minimum: int = 1, maximum: int = MAX_TOKENS) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise RequestError(name, value, f"an integer ≥ {minimum}")
    if value > maximum:
        raise LimitError("request", name, value, maximum, "see vlmscope.limits")


@dataclass(frozen=True)
class CostRequest:
    """One request to cost: images, prompt, context, batch and dtypes. Validates itself on construction."""

    image_size: tuple[int, int] | None = None  # (width, height); None: the encoder's native size
    images: int = 1
    text_tokens: int = 0
    context: int = 4096
    batch: int = 1
    weights_dtype: str = DType.bf16
    vision_dtype: str | None = None  # None: same as weights_dtype
    gpu_gb: float | None = None  # GiB (2^30 bytes), as --gpu-gb always meant; gpu_bytes is exact
    gpu_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.image_size is not None:
            size = self.image_size
            if not isinstance(size, (tuple, list)) or len(size) != 2:
                raise RequestError("image_size", size, "a (width, height) pair of positive integers")
            for side in size:
                _positive("image_size", side, 1, MAX_IMAGE_SIDE)
            object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        _positive("images", self.images, 0, MAX_IMAGES)
        _positive("text_tokens", self.text_tokens, 0)
        _positive("context", self.context)
        _positive("batch", self.batch)
        _positive("batch × context", self.batch * self.context)
        for key in ("weights_dtype", "vision_dtype"):
            value = getattr(self, key)
            if key == "vision_dtype" and value is None:
                continue
            if value not in DTYPE_BYTES:
                raise RequestError("dtype", value, f"one of {', '.join(DTYPE_BYTES)}")
            object.__setattr__(self, key, DType(value))
        gpu = self.gpu_gb
        if gpu is not None and (isinstance(gpu, bool) or not isinstance(gpu, (int, float)) or not math.isfinite(gpu)
                                or gpu <= 0):
            raise RequestError("gpu_gb", gpu, "a positive number of GiB")
        if self.gpu_bytes is not None:
            _positive("gpu_bytes", self.gpu_bytes, 1, 2**60)
        if gpu is not None:
            exact = int(gpu * 2**30)
            if self.gpu_bytes is not None and self.gpu_bytes != exact:
                raise RequestError("gpu_bytes", self.gpu_bytes, f"the same memory as gpu_gb={gpu:g} GiB, or no gpu_gb")
            object.__setattr__(self, "gpu_bytes", exact)


@dataclass(frozen=True)
class Flops:
    vision: int | None  # vision encoder (all crops of all images) + connector
    prefill: int | None  # LM over visual + text tokens, plus the head for one position
    decode_per_token: int | None  # one new token against a cache of `context` tokens
    method: str


@dataclass(frozen=True)
class CostSheet:
    image_size: tuple[int, int]
    images: int
    visual_tokens: int | None  # per image
    crops: int  # vision-encoder passes per image
    tokens_rule: str
    text_tokens: int
    prefill_tokens: int | None
    context: int
    batch: int
    flops: Flops
    weights_bytes: dict[str, int]  # dtype → bytes of all weights
    role_weights_bytes: dict[str, dict[str, int]]  # role → dtype → bytes
    kv_cache_bytes_per_token: int  # bf16 cache, all self-attention layers
    kv_layers: int
    sliding_window: int | None
    scenario_bytes: int  # weights (as requested) + KV cache for batch × context (incl. visual tokens)
    weights_dtype: str
    vision_dtype: str
    gpu_gb: float | None
    fits: bool | None
    assumptions: tuple[str, ...] = ()  # what the sheet assumed where the request or the files said nothing
    warnings: tuple[str, ...] = ()  # what makes the request questionable (context beyond the model's, ...)
    processor_defaults: bool = False  # no preprocessor config: the family's processor defaults were assumed
    gpu_bytes: int | None = None  # the GPU memory the scenario was checked against


@dataclass(frozen=True)
class ImageTokens:
    """Visual tokens one image of ``width`` × ``height`` becomes, and how many encoder passes it takes."""

    tokens: int | None
    crops: int  # vision-encoder passes at the native resolution (tiles, crops, global view)
    rule: str
    grid: tuple[int, int] | None = None  # patch rows × columns of a native-resolution encoder's one pass
    frame: tuple[int, int] | None = None  # (height, width) of the padded frames the encoder runs on, if not square


class Costed(NamedTuple):
    """What ``vlmscope.cost`` returns: the model's anatomy and the cost sheet of the request (a named tuple,
    so ``anatomy, sheet = vlmscope.cost(...)`` works too)."""

    anatomy: Anatomy
    sheet: CostSheet


@dataclass(frozen=True)
class Outcome:
    """One model of a batch: its anatomy (and cost sheet, when asked for), or the one-line error that
    stopped it."""

    ref: str
    anatomy: Anatomy | None
    error: str | None
    sheet: CostSheet | None = None
