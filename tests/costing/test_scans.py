"""Chunked linear-attention scans, traced over a few chunks and scaled: equal to the call run in full.

Each case runs transformers' own chunk-loop function on meta tensors twice, under one FLOP counter and one
activation trace: in full, and with ``scans_scaled`` active. FLOPs per operation, the peak bytes and the
shapes returned must be equal, over prompt lengths whose last chunk is short, full or one position long,
and past the length where the operation holding the peak moves (7 chunks for the shapes below).
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import nullcontext
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vlmscope.api import cost
from vlmscope.costing import scans
from vlmscope.costing.activations import Live
from vlmscope.data import CostRequest


def _inputs(length: int, k_heads: int, v_heads: int, per_key_decay: bool) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return {
            "query": torch.empty(1, length, k_heads, 32, dtype=torch.bfloat16),
            "key": torch.empty(1, length, k_heads, 32, dtype=torch.bfloat16),
            "value": torch.empty(1, length, v_heads, 48, dtype=torch.bfloat16),
            "g": torch.empty(1, length, v_heads, *((32,) if per_key_decay else ())),
            "beta": torch.empty(1, length, v_heads, dtype=torch.bfloat16),
        }


def _traced(module: Any, name: str, inputs: dict[str, torch.Tensor], scaled: bool,
            final_state: bool) -> tuple[dict[Any, int], int, list[Any], scans.Scaled | None]:
    live = Live(set())
    with scans.scans_scaled() if scaled else nullcontext() as record, torch.no_grad(), \
            FlopCounterMode(display=False) as counter, live:
        out = getattr(module, name)(**inputs, initial_state=None, output_final_state=final_state,
                                    use_qk_l2norm_in_kernel=True)
        shapes = [None if t is None else (tuple(t.shape), t.dtype) for t in out]
        del out
    return dict(counter.flop_counts["Global"]), live.peak, shapes, record


CASES = [
    ("transformers.models.qwen3_5.modeling_qwen3_5", "torch_chunk_gated_delta_rule", 2, 4, False),
    ("transformers.models.qwen3_next.modeling_qwen3_next", "torch_chunk_gated_delta_rule", 2, 2, False),
    ("transformers.models.kimi_linear.modeling_kimi_linear", "chunk_kimi_delta_attention", 2, 2, True),
]


@pytest.mark.parametrize(("module", "name", "k_heads", "v_heads", "per_key"), CASES)
@pytest.mark.parametrize("length", [64 * 7 + 1, 64 * 8, 64 * 11 + 40, 64 * 39 + 7])
def test_scaled_scan_equals_the_full_call(module: str, name: str, k_heads: int, v_heads: int, per_key: bool,
                                          length: int) -> None:
    loaded = importlib.import_module(module)
    inputs = _inputs(length, k_heads, v_heads, per_key)
    final_state = length % 2 == 0
    full = _traced(loaded, name, inputs, False, final_state)
    scaled = _traced(loaded, name, inputs, True, final_state)
    assert scaled[3] is not None and scaled[3].names == {name}  # it was scaled, not run in full
    assert scaled[3].chunks == -(-length // 64)
    assert scaled[:3] == full[:3]
    assert sum(full[0].values()) > 0 and full[1] > 0


def test_a_short_prompt_runs_in_full() -> None:
    loaded = importlib.import_module(CASES[0][0])
    inputs = _inputs(64 * (scans.MIN_CHUNKS - 1), 2, 2, False)
    _, _, _, record = _traced(loaded, CASES[0][1], inputs, True, True)
    assert record is not None and not record.names


def test_growth_that_is_not_affine_runs_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan whose work grows with the square of the chunks (each chunk reads all before it) is not scaled:
    the call runs in full, and the figures are the full call's."""
    def quadratic(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, g: torch.Tensor,
                  beta: torch.Tensor, chunk_size: int = 64, initial_state: Any = None,
                  output_final_state: bool = False, **kwargs: Any) -> tuple[torch.Tensor, None]:
        n = -(-query.shape[1] // chunk_size)
        held = [query.float() @ key.float().transpose(-1, -2) for _ in range(n)]  # grows as n²
        return held[-1].sum(-1), None

    fake = types.ModuleType("transformers.models.vlmscope_fake.modeling_vlmscope_fake")
    fake.torch_chunk_gated_delta_rule = quadratic  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    inputs = _inputs(64 * 9, 2, 2, False)
    full = _traced(fake, "torch_chunk_gated_delta_rule", inputs, False, False)
    scaled = _traced(fake, "torch_chunk_gated_delta_rule", inputs, True, False)
    assert scaled[3] is not None and not scaled[3].names
    assert scaled[:3] == full[:3]


def test_hybrid_model_costs_equal_with_and_without_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Qwen3.5-0.8B (Gated DeltaNet and full-attention layers) over a 1,000-token prompt: prefill FLOPs and
    the activation peak equal the trace that runs every chunk; the methods say the scans were scaled."""
    request = CostRequest(images=0, text_tokens=1000)
    _, scaled = cost("Qwen/Qwen3.5-0.8B", request, use_cache=False)
    monkeypatch.setattr(scans, "SCANS", ())
    _, full = cost("Qwen/Qwen3.5-0.8B", request, use_cache=False)
    assert scaled.flops.prefill == full.flops.prefill
    assert scaled.memory.activation_peak_bytes == full.memory.activation_peak_bytes
    assert scaled.memory.peak_bytes == full.memory.peak_bytes
    for method in (scaled.flops.method, scaled.memory.method):
        assert "chunked scans (torch_chunk_gated_delta_rule)" in method and "up to 16)" in method
    assert "chunked scans" not in full.flops.method
