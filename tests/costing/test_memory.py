"""Memory: weights by dtype, the KV cache (GQA-aware), scenarios; and the request's own validation."""

from __future__ import annotations

import pytest

import vlmscope
from vlmscope.data import CostRequest
from vlmscope.errors import RequestError


def test_memory_by_dtype_and_kv_cache(llava15) -> None:  # type: ignore[no-untyped-def]
    a, sheet = llava15
    n = a.params.total
    widths = {"fp32": 4 * n, "bf16": 2 * n, "fp16": 2 * n, "fp8": n, "int8": n, "int4": n // 2}
    assert sheet.memory.weights_by_dtype == widths
    assert sheet.kv.bytes_per_token == 32 * 2 * 32 * 128 * 2  # layers × (K, V) × heads × head_dim × bf16
    assert sum(v["bf16"] for v in sheet.memory.role_weights_by_dtype.values()) == 2 * n


def test_gqa_shrinks_the_kv_cache() -> None:
    _, sheet = vlmscope.cost("llava-v1.6-mistral-7b-hf")
    assert sheet.kv.bytes_per_token == 32 * 2 * 8 * 128 * 2


def test_show_gives_fits_verdict_from_the_same_function() -> None:
    """No second memory model: a sheet with a GPU carries the very Fit `vlmscope fit` reports, and a GPU just
    big enough for fit's peak plus the reserve is one byte from ✗ (the old scenario said ✓ below it)."""
    request = CostRequest(gpu_bytes=17_500_000_000)
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", request)
    (fitted,), _ = vlmscope.api.fit(["llava-1.5-7b-hf"], request)
    assert sheet.fit == fitted and sheet.fit is not None and sheet.fit.peak_bytes is not None
    edge = sheet.fit.peak_bytes + sheet.fit.reserve_bytes
    assert vlmscope.cost("llava-1.5-7b-hf", CostRequest(gpu_bytes=edge))[1].fit.fits is True  # type: ignore[union-attr]
    assert vlmscope.cost("llava-1.5-7b-hf", CostRequest(gpu_bytes=edge - 1))[1].fit.fits is False  # type: ignore[union-attr]
    assert vlmscope.cost("llava-1.5-7b-hf")[1].fit is None  # no GPU, no verdict


@pytest.mark.parametrize("fields, message", [
    ({"weights_dtype": "fp12"}, "bad dtype 'fp12': use one of fp32, bf16, fp16, fp8, int8, int4"),
    ({"vision_dtype": "int3"}, "bad dtype 'int3'"),
    ({"image_size": (0, -5)}, "bad image_size 0: use an integer ≥ 1"),
    ({"image_size": (1024,)}, "bad image_size (1024,): use a (width, height) pair"),
    ({"batch": 0}, "bad batch 0: use an integer ≥ 1"),
    ({"context": 2.5}, "bad context 2.5"),
    ({"images": -1}, "bad images -1: use an integer ≥ 0"),
    ({"gpu_gb": float("nan")}, "bad gpu_gb nan: use a positive number of GiB"),
    ({"gpu_gb": -8}, "bad gpu_gb -8"),
    ({"gpu_gb": 1, "gpu_bytes": 5}, "bad gpu_bytes 5: use the same memory as gpu_gb=1 GiB"),
])
def test_a_request_refuses_values_out_of_its_domain(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        CostRequest(**fields)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)  # RequestError is a ValueError and a VlmscopeError


def test_a_valid_request_is_normalised() -> None:
    request = CostRequest(image_size=[1024, 768], weights_dtype="int4")  # type: ignore[arg-type]
    assert request.image_size == (1024, 768) and request.weights_dtype == "int4"
    assert request.vision_dtype is None and request.gpu_gb is None


def test_a_text_only_request_has_a_prefill() -> None:
    """Zero images is a valid request for every model: its prefill and decode are counted, vision is 0.
    576 text tokens cost LLaVA-1.5 exactly what one 336² image (576 visual tokens) does in the LM."""
    _, text = vlmscope.cost("llava-1.5-7b-hf", CostRequest(images=0, text_tokens=576), use_cache=False)
    _, image = vlmscope.cost("llava-1.5-7b-hf", CostRequest(images=1, text_tokens=0), use_cache=False)
    assert text.tokens.prefill == image.tokens.prefill == 576
    assert text.flops.prefill == image.flops.prefill and text.flops.vision == 0
    _, qwen = vlmscope.cost("MonoQwen2-VL-v0.1", CostRequest(images=0, text_tokens=576), use_cache=False)
    assert qwen.tokens.prefill == 576 and qwen.flops.prefill and qwen.flops.vision == 0


def test_assumptions_and_warnings_are_said() -> None:
    _, base = vlmscope.cost("idefics2-8b-base", CostRequest(context=40_000))
    assert any("no preprocessor_config.json" in a for a in base.assumptions) and base.tokens.processor_defaults
    assert any("980×980 (no --image-size given)" in a for a in base.assumptions)
    assert any("beyond the language model's max_position_embeddings (32,768)" in w for w in base.warnings)
    assert any("sliding window 4,096" in w for w in base.warnings)
    _, tuned = vlmscope.cost("idefics2-8b", CostRequest(image_size=(1024, 768)))
    assert tuned.assumptions == () and tuned.warnings == () and not tuned.tokens.processor_defaults
    _, long = vlmscope.cost("llava-1.5-7b-hf", CostRequest(context=8192, text_tokens=9000))
    assert "context 8,192 is beyond the language model's max_position_embeddings (4,096)" in long.warnings
    assert "the prompt (9,576 tokens) is longer than the context (8,192)" in long.warnings


def test_native_resolution_peaks_are_traced() -> None:
    """Qwen2-VL's packed encoder is traced (nothing left untraced), as LLaVA's fixed-size one is."""
    request = CostRequest(gpu="h100-sxm", image_size=(1024, 768))
    _, sheet = vlmscope.cost("pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep", request)
    assert sheet.memory is not None and sheet.memory.untraced == ()
    assert "packed into one sequence" in sheet.memory.method
    _, traced = vlmscope.cost("llava-1.5-7b-hf", request)
    assert traced.memory is not None and traced.memory.untraced == ()
