"""Mixture-of-experts layers in the training step: transformers runs them through torch's grouped matmul, which
torch's FLOP counter has no formula for, and whose meta kernel takes bf16 only (CUDA runs fp32 through a
fallback of one matmul per expert)."""

from __future__ import annotations

import pytest

from vlmscope.api import _analyze, _read
from vlmscope.costing.counting import experts_batched
from vlmscope.data.training import TrainRecipe, TrainShape
from vlmscope.sources.zoo import default_source
from vlmscope.training.sheet import train_sheet


@pytest.mark.parametrize("precision", ["bf16", "mixed"])
def test_experts_grouped_matmul_counts_what_the_batched_experts_count(precision: str) -> None:
    """Qwen3-VL-MoE (the zoo's default config), LoRA, text only: the step's FLOPs through transformers' default
    grouped-matmul experts equal those through its batched_mm experts (each token times its top-k experts'
    weights, a bmm torch has a formula for), forward and backward; in mixed precision too, where the experts run
    in fp32. Before, the grouped matmul counted 0, and mixed precision stopped at its meta kernel."""
    source = default_source("qwen3_vl_moe")
    reading = _read(source, False)
    anatomy = _analyze(reading, source, None)
    recipe, shape = TrainRecipe(method="lora", precision=precision), TrainShape(seq_len=256, images=0)
    grouped = train_sheet(reading, source, anatomy, recipe, shape, None)
    with experts_batched(reading.index.model):
        batched = train_sheet(reading, source, anatomy, recipe, shape, None)
    assert grouped.step_flops == batched.step_flops > 0
    assert grouped.memory.activation_forward_bytes > 0
