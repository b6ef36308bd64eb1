"""Model states of a training step, worked out by hand, and ZeRO's per-GPU figures against DeepSpeed's own
estimators (``estimate_zero2_model_states_mem_needs``, ``estimate_zero3_model_states_mem_needs``)."""

from __future__ import annotations

import pytest

from vlmscope.data.training import TrainRecipe
from vlmscope.errors import RequestError
from vlmscope.training.states import model_states, optimizer_bytes

SHAPES = [(4096, 4096), (4096,), (10, 300)]  # 16,777,216 + 4,096 + 3,000 elements


@pytest.mark.parametrize(("optimizer", "b", "expected"), [
    ("adamw", 2, 2 * 2 * (16_777_216 + 4_096 + 3_000)),  # exp_avg and exp_avg_sq like the parameter
    ("adamw", 4, 2 * 4 * (16_777_216 + 4_096 + 3_000)),
    ("adamw-fused", 2, 2 * 2 * (16_777_216 + 4_096 + 3_000) + 3 * 4),  # + an fp32 step counter per tensor
    # bitsandbytes: two uint8 states and an fp32 absmax per 2,048 for tensors of ≥ 4,096 elements, two fp32
    # states below that, and the two 256-entry quantization maps once
    ("adamw-8bit", 2, (2 * 16_777_216 + 2 * 4 * 8_192) + (2 * 4_096 + 2 * 4 * 2) + 2 * 4 * 3_000 + 2 * 256 * 4),
    ("sgd", 2, 2 * (16_777_216 + 4_096 + 3_000)),  # one momentum buffer
    ("adafactor", 2, 4 * (4_096 + 4_096) + 4 * 4_096 + 4 * (10 + 300) + 3 * 4),  # fp32 row and column moments,
    # and an fp32 RMS per tensor
])
def test_optimizer_states_by_hand(optimizer: str, b: int, expected: int) -> None:
    assert optimizer_bytes(SHAPES, optimizer, b) == expected


PSI = 7_000_000_000
LARGEST = 131_072_000  # an embedding of 32,000 × 4,096


def _full(**recipe: object) -> int:
    return model_states(TrainRecipe(**recipe), [(PSI,)], PSI, 2 * PSI, LARGEST, 200_000_000).per_gpu_bytes  # type: ignore[arg-type]


@pytest.mark.parametrize("gpus", [1, 8, 64])
def test_zero_equals_deepspeeds_estimators(gpus: int) -> None:
    """Every parameter trained, as DeepSpeed's estimators assume (their buffer factor applies to CPU memory)."""
    assert _full(zero=2, gpus=gpus) == 4 * PSI + int(16 * PSI / gpus)
    assert _full(zero=1, gpus=gpus) == 4 * PSI + int(16 * PSI / gpus)  # one estimator for stages 1 and 2
    assert _full(zero=2, gpus=gpus, offload=True) == 2 * PSI
    assert _full(zero=3, gpus=gpus) == 4 * LARGEST + int(18 * PSI / gpus)
    assert _full(zero=3, gpus=gpus, offload=True) == 4 * LARGEST


def test_one_gpu_and_fsdp() -> None:
    shapes = [(1000, 1000)]
    one = model_states(TrainRecipe(), shapes, 10**6, 2 * 10**6, 10**6, 10**6)
    assert (one.per_gpu_params_bytes, one.per_gpu_grads_bytes, one.per_gpu_optimizer_bytes) == (2e6, 2e6, 4e6)
    mixed = model_states(TrainRecipe(precision="mixed"), shapes, 10**6, 4 * 10**6, 10**6, 10**6)
    assert (mixed.params_bytes, mixed.grads_bytes, mixed.optimizer_bytes) == (4e6, 4e6, 8e6)
    sharded = model_states(TrainRecipe(fsdp=True, gpus=4), shapes, 10**6, 2 * 10**6, 10**6, 10**6)
    # a quarter of each, plus two gathered decoder layers of 10^6 parameters in bf16
    assert sharded.per_gpu_params_bytes == 2 * 10**6 // 4 + 2 * 2 * 10**6
    assert (sharded.per_gpu_grads_bytes, sharded.per_gpu_optimizer_bytes) == (2 * 10**6 // 4, 4 * 10**6 // 4)


def test_lora_adapters_are_fp32() -> None:
    """peft casts adapters to fp32 over a bf16 base: their gradients and Adam states are fp32 too."""
    shapes = [(8, 4096), (4096, 8)]
    held = model_states(TrainRecipe(method="lora", lora_rank=8), shapes, PSI, 2 * PSI, LARGEST, 1)
    assert held.params_bytes == 2 * PSI + 4 * 65_536
    assert (held.grads_bytes, held.optimizer_bytes) == (4 * 65_536, 8 * 65_536)


def test_zero_takes_adam_only() -> None:
    with pytest.raises(RequestError, match="bad optimizer 'sgd': use adamw or adamw-fused with --zero"):
        TrainRecipe(zero=2, optimizer="sgd")


@pytest.mark.parametrize(("recipe", "key"), [
    ({"method": "dora"}, "method"), ({"lora_rank": 0}, "lora_rank"), ({"zero": 4}, "zero"),
    ({"zero": 2, "fsdp": True}, "zero"), ({"offload": True}, "offload"), ({"gpus": 0}, "gpus"),
    ({"freeze": ("audio",)}, "freeze"), ({"method": "lora", "freeze": ("vision",)}, "freeze"),
    ({"precision": "fp8"}, "precision"), ({"optimizer": "lion"}, "optimizer"),
    ({"zero": 3, "optimizer": "adamw-8bit"}, "optimizer"),
])
def test_bad_recipes_name_the_key(recipe: dict[str, object], key: str) -> None:
    with pytest.raises(RequestError, match=key):
        TrainRecipe(**recipe)  # type: ignore[arg-type]
