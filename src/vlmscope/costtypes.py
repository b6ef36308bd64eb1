"""The cost data model (kept free of torch, so cached cost sheets load without importing it)."""

from __future__ import annotations

from dataclasses import dataclass

DTYPE_BYTES: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


@dataclass(frozen=True)
class CostRequest:
    image_size: tuple[int, int] | None = None  # (width, height); None: the encoder's native size
    images: int = 1
    text_tokens: int = 0
    context: int = 4096
    batch: int = 1
    weights_dtype: str = "bf16"
    vision_dtype: str | None = None  # None: same as weights_dtype
    gpu_gb: float | None = None


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
