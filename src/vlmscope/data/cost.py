"""What a request costs: the request itself (validated on construction), visual tokens per image, FLOPs,
memory; and one model's outcome in a batch."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from vlmscope.data.facts import Anatomy
from vlmscope.data.quant import QUANT_METHODS
from vlmscope.data.video import VIDEO_RECIPES, VideoSpec, VideoTokens, parse_video
from vlmscope.errors import LimitError, RequestError
from vlmscope.limits import MAX_IMAGE_SIDE, MAX_IMAGES, MAX_SETTINGS, MAX_TOKENS, MAX_VIDEOS


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


SETTING_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # a processor setting's name


def canonical(value: Any) -> str:
    """A processor setting's value as compact JSON (the form a request keeps: hashable, and the cache key's)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise RequestError("processor", value, "a JSON value (a number, true/false, a string, a list or an object)") \
            from exc


def _settings(value: object) -> tuple[tuple[str, str], ...]:
    """Processor settings as sorted (key, JSON) pairs: from a mapping of values, or from such pairs (the
    form a request keeps, its values JSON text)."""
    if isinstance(value, dict):
        pairs = [(k, canonical(v)) for k, v in value.items()]
    elif isinstance(value, (tuple, list)) and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in value):
        pairs = [(k, _json_text(v)) for k, v in value]
    else:
        raise RequestError("processor", value, "a mapping of settings, e.g. {'max_pixels': 1003520}")
    if len(pairs) > MAX_SETTINGS:
        raise LimitError("request", "processor", len(pairs), MAX_SETTINGS, "see vlmscope.limits")
    for key, _ in pairs:
        if not isinstance(key, str) or not SETTING_KEY.fullmatch(key):
            raise RequestError("processor", key, "a processor setting's name (letters, digits, _)")
    return tuple(sorted(dict(pairs).items()))


def _json_text(text: object) -> str:
    try:
        return canonical(json.loads(text)) if isinstance(text, str) else canonical(text)
    except (ValueError, RecursionError) as exc:
        raise RequestError("processor", text, "a value as JSON text, e.g. '1003520' or '\"bicubic\"'") from exc


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
    quant: str | None = None  # one of QUANT_METHODS; None: the config's quantization_config, else weights_dtype
    group_size: int = 128
    double_quant: bool = False
    gpu: str | None = None  # an accelerator of the table (latency bounds and its memory)
    reserve_bytes: int | None = None  # of the GPU's memory, what a process cannot use; None: fit's DEFAULT_RESERVE
    processor: tuple[tuple[str, str], ...] = ()  # settings over the model's image processor's: (name, JSON value)
    videos: tuple[VideoSpec, ...] = ()  # VideoSpecs, or their text forms ("60s@2:1280x720", "32f:1280x720")
    video_recipe: str = "transformers"  # who samples and resizes the frames: one of VIDEO_RECIPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "processor", _settings(self.processor))
        videos = (self.videos,) if isinstance(self.videos, (str, VideoSpec)) else self.videos
        if not isinstance(videos, (tuple, list)):
            raise RequestError("videos", videos, "a list of videos, e.g. ['60s@2:1280x720']")
        if len(videos) > MAX_VIDEOS:
            raise LimitError("request", "videos", len(videos), MAX_VIDEOS, "see vlmscope.limits")
        object.__setattr__(self, "videos", tuple(parse_video(v) for v in videos))
        if self.video_recipe not in VIDEO_RECIPES:
            raise RequestError("video_recipe", self.video_recipe, f"one of {', '.join(VIDEO_RECIPES)}")
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
                                or not 0 < gpu <= 2**30):
            raise RequestError("gpu_gb", gpu, "a positive number of GiB, at most 2^30 (1 EiB)")
        if self.gpu_bytes is not None:
            _positive("gpu_bytes", self.gpu_bytes, 1, 2**60)
        if self.reserve_bytes is not None:
            _positive("reserve_bytes", self.reserve_bytes, 0, 2**60)
        if self.quant is not None and self.quant not in QUANT_METHODS:
            raise RequestError("quant", self.quant, f"one of {', '.join(QUANT_METHODS)}")
        if self.group_size != -1:
            _positive("group_size", self.group_size, 1, 2**20)
        if gpu is not None:
            exact = int(gpu * 2**30)
            if self.gpu_bytes is not None and self.gpu_bytes != exact:
                raise RequestError("gpu_bytes", self.gpu_bytes, f"the same memory as gpu_gb={gpu:g} GiB, or no gpu_gb")
            object.__setattr__(self, "gpu_bytes", exact)


@dataclass(frozen=True)
class Memory:
    """Memory of one request (JSON ``cost.memory``; all values are bytes)."""

    weights_bytes: int  # as the checkpoint stores them (quantized layers packed, the rest at 16 bit)
    kv_cache_bytes: int  # context × batch, layer by layer (sliding layers hold window − 1 tokens)
    activation_peak_bytes: int | None  # the prefill's largest transient (vision side or language model)
    peak_bytes: int | None  # weights + the largest phase (vision; prompt KV + LM prefill; KV at the context)
    method: str  # how each figure was obtained
    quant: str  # the storage method of the weights
    weights_by_role: dict[str, int]
    quantized_roles: str  # which modules the method quantizes; the others stay at the compute dtype
    checkpoint_dtype: str | None = None  # the config's own torch_dtype / dtype
    untraced: tuple[str, ...] = ()  # each part of the activation peak that could not be traced, and why
    vision_peak_bytes: int | None = None  # the vision side's own peak (encoder, then connector), if traced
    language_peak_bytes: int | None = None  # the language model's own peak over the prompt, if traced
    weights_by_dtype: dict[str, int] = field(default_factory=dict)  # every weight at each DType (what-if sizes)
    role_weights_by_dtype: dict[str, dict[str, int]] = field(default_factory=dict)  # role → DType → bytes


@dataclass(frozen=True)
class Fit:
    """Whether one model's request fits a GPU (JSON ``fit``: one object per model)."""

    model_id: str
    display_name: str
    fits: bool | None  # None: the activation peak could not be traced, so no verdict
    gpu_bytes: int  # the GPU's memory: the total its driver reports (the accelerator table), or as given
    weights_bytes: int
    kv_cache_bytes: int
    activation_peak_bytes: int | None
    peak_bytes: int | None
    headroom_bytes: int | None  # gpu − reserve − peak (negative: short by that much)
    max_context: int | None  # the largest context that fits at the batch; None where none does
    max_batch: int | None  # the largest batch that fits at the context; None where none does
    context_limit: int  # where the max_context search stopped (the model's positions, or vlmscope's limit)
    quant: str
    latency: Latency | None
    method: str
    warnings: tuple[str, ...] = ()  # the cost sheet's, and any part of the peak that was not traced
    gpu: str | None = None  # the accelerator's name (None: memory given as --gpu-mem / gpu_bytes)
    reserve_bytes: int = 0  # of gpu_bytes, what the process cannot use: the verdict is against the rest
    image_size: tuple[int, int] = (0, 0)  # the request answered for: each image's size, ...
    images: int = 1
    text_tokens: int = 0
    context: int = 0
    batch: int = 1
    videos: tuple[str, ...] = ()  # the request's videos, in their text form


@dataclass(frozen=True)
class Flops:
    vision: int | None  # vision encoder (all crops of all images) + connector
    prefill: int | None  # LM over visual + text tokens, plus the head for one position
    decode_per_token: int | None  # one new token against a cache of `context` tokens
    method: str


@dataclass(frozen=True)
class KVCache:
    """What the language model's cache holds, layer by layer, as transformers' own cache holds it (measured
    from a cache the model filled on meta tensors; bf16 keys and values).

    A layer's K/V grow by ``per_token[i]`` bytes a token, up to ``caps[i]`` tokens (a sliding window keeps
    window − 1; None: the whole context). Linear-attention and convolution layers keep a state of fixed size
    per sequence (``state_bytes``), whatever the context. Cross-attention layers hold the K/V of the states
    they read (``cross_bytes_per_state`` for one state, all such layers together): a request's images put
    ``cross_states`` of them in every sequence's cache (Mllama: the images' tile states; an encoder–decoder:
    its whole encoded prompt)."""

    per_token: tuple[int, ...]
    caps: tuple[int | None, ...]
    state_bytes: int = 0
    cross_bytes_per_state: int = 0
    method: str = ""
    cross_states: int = 0

    @property
    def bytes_per_token(self) -> int:
        """Bytes one more token adds to every layer whose K/V grow (a sliding window's below its cap)."""
        return sum(self.per_token)

    @property
    def layers(self) -> int:
        """Layers whose K/V grow with the context (full and sliding-window attention)."""
        return self.full + self.sliding

    @property
    def full(self) -> int:
        return sum(1 for n, cap in zip(self.per_token, self.caps, strict=True) if n and cap is None)

    @property
    def sliding(self) -> int:
        return sum(1 for n, cap in zip(self.per_token, self.caps, strict=True) if n and cap is not None)

    @property
    def window(self) -> int | None:
        """The smallest sliding window (cap + 1), if any layer has one."""
        caps = [cap for n, cap in zip(self.per_token, self.caps, strict=True) if n and cap is not None]
        return min(caps) + 1 if caps else None

    def bytes(self, context: int, batch: int) -> int:
        """The cache of ``batch`` sequences after ``context`` tokens, with their fixed states and the K/V of
        the image states their cross-attention layers read."""
        grown = sum(n * (context if cap is None else min(context, cap))
                    for n, cap in zip(self.per_token, self.caps, strict=True))
        return batch * (grown + self.state_bytes + self.cross_states * self.cross_bytes_per_state)


@dataclass(frozen=True)
class Tokens:
    """What a request's images and text become (JSON ``cost.visual_tokens``, ``cost.prefill_tokens``, ...)."""

    image_size: tuple[int, int]  # (width, height) costed: the request's, else the size assumed for it
    per_image: int | None  # visual tokens of one image; None where the model's rule is unknown
    crops: int  # vision-encoder passes per image
    rule: str  # how per_image was obtained
    prefill: int | None  # visual tokens of every image and video plus the text tokens: the prompt the prefill reads
    processor_defaults: bool = False  # no preprocessor config: the family's processor defaults were assumed
    videos: tuple[VideoTokens, ...] = ()  # what each video of the request becomes


@dataclass(frozen=True)
class CostSheet:
    """What one request costs one model, in parts: the request answered, the tokens it becomes, FLOPs, memory
    (with the KV cache layer by layer), latency bounds on a named GPU and the verdict on a GPU's memory. The
    notes say what was assumed where the request or the files said nothing, and what makes the request
    questionable."""

    request: CostRequest
    tokens: Tokens
    flops: Flops
    memory: Memory
    kv: KVCache
    latency: Latency | None = None  # with an accelerator in the request
    fit: Fit | None = None  # with a GPU in the request: the verdict `vlmscope fit` gives, from the same function
    assumptions: tuple[str, ...] = ()  # what the sheet assumed where the request or the files said nothing
    warnings: tuple[str, ...] = ()  # what makes the request questionable (context beyond the model's, ...)


@dataclass(frozen=True)
class Latency:
    """Roofline lower bounds on a named accelerator (JSON ``cost.latency``); a real run is never faster."""

    gpu: str
    prefill_s_lower_bound: float | None
    decode_s_per_token_lower_bound: float
    tokens_per_s_upper_bound: float
    bound_by: str  # which limit set each bound: compute or memory bandwidth


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


class Fitted(NamedTuple):
    """What ``vlmscope.fit`` returns: one Fit per costed model, sorted by peak memory, and every model's
    outcome (a failed one carries its error line); a named tuple, so ``fits, outcomes = vlmscope.fit(...)``
    works too. In a notebook it shows as fit's table; ``to_pandas()`` gives one row per model."""

    fits: tuple[Fit, ...]
    outcomes: tuple[Outcome, ...]

    def _repr_html_(self) -> str:
        from vlmscope.render.html import table_html  # notebook hook, like Comparison's
        from vlmscope.render.rows import fit_rows

        return table_html(fit_rows(self.fits))

    def to_pandas(self) -> Any:
        """One row per model, the keys of ``fit -f json`` flattened (needs the optional ``pandas`` extra)."""
        from vlmscope.render.data import fit_frame

        return fit_frame(self.fits)
