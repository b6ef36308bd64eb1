"""Mixture-of-experts layers in the training step: transformers runs them through torch's grouped matmul, which
torch's FLOP counter has no formula for, and whose meta kernel takes bf16 only (CUDA runs fp32 through a
fallback of one matmul per expert)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlmscope.api import _analyze, _read
from vlmscope.costing.counting import experts_batched
from vlmscope.data.training import TrainRecipe, TrainShape
from vlmscope.sources import resolve
from vlmscope.training.sheet import train_sheet


def _config() -> dict[str, Any]:
    """Qwen3-VL-MoE, small: 4 experts of which each token takes 2, in both decoder layers."""
    return {"model_type": "qwen3_vl_moe", "architectures": ["Qwen3VLMoeForConditionalGeneration"],
            "text_config": {"model_type": "qwen3_vl_moe_text", "hidden_size": 64, "intermediate_size": 128,
                            "moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2,
                            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                            "head_dim": 16, "vocab_size": 1000,
                            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                "mrope_section": [2, 3, 3]}},
            "vision_config": {"model_type": "qwen3_vl_moe", "depth": 2, "hidden_size": 32, "intermediate_size": 64,
                              "num_heads": 2, "out_hidden_size": 64, "patch_size": 16, "spatial_merge_size": 2,
                              "temporal_patch_size": 2, "deepstack_visual_indexes": [0, 1],
                              "num_position_embeddings": 64}}


@pytest.mark.parametrize("precision", ["bf16", "mixed"])
def test_experts_grouped_matmul_counts_what_the_batched_experts_count(precision: str, tmp_path: Path) -> None:
    """Qwen3-VL-MoE (small), LoRA, text only: the step's FLOPs through transformers' default grouped-matmul
    experts equal those through its batched_mm experts (each token times its top-k experts' weights, a bmm
    torch has a formula for), forward and backward; in mixed precision too, where the experts run in fp32.
    Before, the grouped matmul counted 0, and mixed precision stopped at its meta kernel."""
    (tmp_path / "config.json").write_text(json.dumps(_config()))
    source = resolve(str(tmp_path))
    reading = _read(source, False)
    anatomy = _analyze(reading, source, None)
    recipe, shape = TrainRecipe(method="lora", precision=precision), TrainShape(seq_len=256, images=0)
    grouped = train_sheet(reading, source, anatomy, recipe, shape, None)
    with experts_batched(reading.index.model):
        batched = train_sheet(reading, source, anatomy, recipe, shape, None)
    assert grouped.step_flops == batched.step_flops > 0
    assert grouped.memory.activation_forward_bytes > 0
