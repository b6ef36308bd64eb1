"""Will it fit, and how fast: quantized weights as stored, the KV cache layer by layer, the traced activation
peak, roofline lower bounds, and `vlmscope fit`. Hand-computed byte counts and figures measured on a GPU."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import vlmscope
from conftest import ROOT, run_cli
from vlmscope.costing.quant import from_config, linear_bytes
from vlmscope.data import CostRequest, Quant

# One Linear of 256 outputs × 512 inputs, groups of 128 (4 groups along the input), counted by hand.
HAND = {
    Quant("awq-int4"): 65_536 + 4 * 256 // 2 + 2 * 4 * 256,  # qweight int32 (512, 32); qzeros (4, 32); fp16 scales
    Quant("gptq-int4"): 65_536 + 4 * 256 // 2 + 2 * 4 * 256 + 4 * 512,  # ... and g_idx int32 (512)
    Quant("gptq-int8"): 131_072 + 4 * 256 + 2 * 4 * 256 + 4 * 512,
    Quant("int8"): 131_072 + 4 * 256,  # int8 weight, fp32 SCB per row
    Quant("nf4"): 65_536 + 4 * 2048 + 64,  # packed nibbles, fp32 absmax per 64, 16-entry fp32 code map
    Quant("nf4", double_quant=True): 65_536 + 2048 + 4 * 8 + 64 + 1024,  # uint8 absmax, fp32 per 256, maps
    Quant("fp8"): 131_072 + 4 * 2 * 4,  # float8 weight, fp32 scale per 128 × 128 block
    Quant("bf16"): 2 * 131_072,
}


@pytest.mark.parametrize("quant", list(HAND), ids=lambda q: f"{q.method}{'-dq' if q.double_quant else ''}")
def test_one_linear_is_stored_as_counted_by_hand(quant: Quant) -> None:
    assert linear_bytes(256, 512, quant) == HAND[quant]


def test_awq_packs_only_the_decoder_linears_of_llava() -> None:
    """LLaVA-1.5 in AWQ int4: per decoder layer q/k/v/o (4096²) pack to 8,716,288 B each, gate/up and down
    (11008 × 4096) to 23,425,024 B each (86 groups along 11008 for down); embeddings and norms stay fp16, the
    vision tower, projector and LM head stay whole."""
    _, bf16 = vlmscope.cost("llava-1.5-7b-hf", CostRequest(quant="bf16"))
    _, awq = vlmscope.cost("llava-1.5-7b-hf", CostRequest(quant="awq-int4"))
    assert bf16.memory is not None and awq.memory is not None
    per_layer = 4 * 8_716_288 + 3 * 23_425_024
    assert awq.memory.weights_by_role["language"] == 32 * per_layer + 2 * (32_064 * 4096 + 65 * 4096)
    for role in ("vision", "connector", "lm_head"):
        assert awq.memory.weights_by_role[role] == bf16.memory.weights_by_role[role]
    assert bf16.memory.weights_bytes == 2 * 7_063_427_072


def test_bitsandbytes_keeps_the_lm_head_and_skipped_modules() -> None:
    _, nf4 = vlmscope.cost("llava-1.5-7b-hf", CostRequest(quant="nf4"))
    _, bf16 = vlmscope.cost("llava-1.5-7b-hf", CostRequest(quant="bf16"))
    assert nf4.memory is not None and bf16.memory is not None
    assert nf4.memory.weights_by_role["lm_head"] == bf16.memory.weights_by_role["lm_head"]
    assert nf4.memory.weights_by_role["vision"] < bf16.memory.weights_by_role["vision"] / 3
    assert "LM head" in nf4.memory.quantized_roles


def test_a_quantization_config_is_read(tmp_path: Path) -> None:
    config = json.loads((ROOT / "src/vlmscope/catalog/models/llava-hf__llava-1.5-7b-hf/config.json").read_text())
    config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _, sheet = vlmscope.cost(str(tmp_path), use_cache=False)
    _, awq = vlmscope.cost("llava-1.5-7b-hf", CostRequest(quant="awq-int4"))
    assert sheet.memory is not None and awq.memory is not None
    assert sheet.memory.quant == "awq-int4" and "quantization_config" in sheet.memory.method
    assert sheet.memory.weights_bytes == awq.memory.weights_bytes
    assert sheet.memory.checkpoint_dtype == "float16"
    assert from_config({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True,
                                                "bnb_4bit_use_double_quant": True}}) == Quant(
        "nf4", 64, double_quant=True, source="quantization_config")
    assert from_config({"quantization_config": {"quant_method": "hqq"}}) is None


def test_an_unknown_quantization_is_said_not_guessed(tmp_path: Path) -> None:
    config = json.loads((ROOT / "src/vlmscope/catalog/models/llava-hf__llava-1.5-7b-hf/config.json").read_text())
    config["quantization_config"] = {"quant_method": "hqq", "nbits": 4}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _, sheet = vlmscope.cost(str(tmp_path), use_cache=False)
    assert any("not a method vlmscope models" in w for w in sheet.warnings)


def test_gemma3_caps_only_its_sliding_layers() -> None:
    """Gemma 3 4B: 5 of 34 layers are full attention; the 29 sliding ones keep window − 1 = 1,023 tokens. At
    4,257 tokens and batch 2 the cache transformers filled on an H100 held 417,398,784 bytes."""
    _, sheet = vlmscope.cost("gemma-3-4b-it-bf16", CostRequest(context=4257, batch=2))
    assert sheet.memory is not None and sheet.kv.sliding == 29 and sheet.kv.layers == 34
    assert sheet.memory.kv_cache_bytes == 417_398_784


def test_llava_peak_above_weights_is_close_to_the_measured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLaVA-1.5, one 336² image and 65 text tokens (641 in all), bf16: on an H100 (SDPA) the prefill peaked
    414,138,880 bytes above the weights, 336,068,608 of them the KV cache. The trace (KV at 641 tokens plus the
    activation peak) comes within 3%, and never counts the seq² scores SDPA does not hold."""
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", CostRequest(text_tokens=65, context=641))
    m = sheet.memory
    assert m is not None and m.activation_peak_bytes is not None
    assert m.kv_cache_bytes == 336_068_608
    above = m.kv_cache_bytes + m.activation_peak_bytes
    assert abs(above - 414_138_880) / 414_138_880 < 0.03
    # the language model's prefill is the largest phase: the prompt's KV and its activations
    assert m.language_peak_bytes == m.activation_peak_bytes
    assert m.peak_bytes == m.weights_bytes + m.kv_cache_bytes + m.activation_peak_bytes


    # Without the memory-efficient kernel the CPU math path holds one layer's 32 × 641² bf16 scores (and more)
    from torch.overrides import TorchFunctionMode

    from vlmscope.costing import activations

    class Math(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            return func(*args, **(kwargs or {}))

    monkeypatch.setattr(activations, "_MemoryEfficientAttention", Math)
    _, math = vlmscope.cost("llava-1.5-7b-hf", CostRequest(text_tokens=65, context=641), use_cache=False)
    assert math.memory is not None and math.memory.activation_peak_bytes is not None
    assert math.memory.activation_peak_bytes - m.activation_peak_bytes >= 641 * 641 * 32 * 2


@pytest.mark.parametrize(("ref", "size", "measured"), [
    ("idefics2-8b", (1024, 768), 1_663_151_104),  # H200, transformers 5.24, SDPA (issue 17)
    ("idefics2-8b", (980, 980), 2_235_168_768),
    ("gemma-3-4b-it", (896, 896), 105 * 2**20),  # "105 MiB measured" (issue 17)
])
def test_the_vision_phase_holds_no_cache(ref: str, size: tuple[int, int], measured: int) -> None:
    """The vision side runs before the language model has a cache: where its peak is the largest, the peak
    above the weights is that peak alone, not the peak plus the prompt's KV. Against the GPU figures an issue
    disclosed (one image, 64 text tokens, the context the prompt): −3.3%, −3.2% and −10.2%, where vision +
    KV was −0.3%, −0.9% and +34%. What is left grows with the pixels (about 5 bytes per pixel value in all
    three: the processor's fp32 pixels and their copies, not modelled)."""
    _, sheet = vlmscope.cost(ref, CostRequest(image_size=size, text_tokens=64, context=1))
    m, prompt = sheet.memory, sheet.tokens.prefill or 0
    assert m.vision_peak_bytes is not None and m.language_peak_bytes is not None and m.peak_bytes is not None
    assert m.vision_peak_bytes > sheet.kv.bytes(prompt, 1) + m.language_peak_bytes
    above = m.peak_bytes - m.weights_bytes
    assert above == m.vision_peak_bytes
    assert -0.12 < (above - measured) / measured < 0


def test_latency_bounds_never_exceed_the_measured_times() -> None:
    """Measured on an H100 with eager transformers bf16, LLaVA-1.5 at 641 prompt tokens: 32–61 ms to prefill,
    23–45 ms per decoded token. The roofline bounds stay under the fastest of them."""
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", CostRequest(text_tokens=65, context=641, gpu="h100-sxm"))
    lat = sheet.latency
    assert lat is not None and lat.gpu == "h100-sxm"
    assert lat.prefill_s_lower_bound is not None and 0 < lat.prefill_s_lower_bound < 0.032
    assert 0 < lat.decode_s_per_token_lower_bound < 0.023
    assert lat.tokens_per_s_upper_bound == pytest.approx(1 / lat.decode_s_per_token_lower_bound)


def test_every_accelerator_has_its_specs_and_a_source() -> None:
    from vlmscope.costing.latency import accelerator, accelerators

    table = accelerators()
    assert {"h100-sxm", "h200", "a100-80gb", "l40s", "l4", "rtx-4090", "rtx-3090", "a10g"} <= set(table)
    for key, spec in table.items():
        assert spec["memory_gb"] > 0 and spec["bandwidth_gb_s"] > 0 and spec["bf16_tflops"] > 0
        assert spec["source"].startswith("https://")
        assert accelerator(key)[0] == key
    assert accelerator("RTX 4090")[0] == "rtx-4090" and accelerator("H100")[0] == "h100-sxm"


def test_fit_json_has_the_documented_keys_per_model() -> None:
    result = run_cli("fit", "llava-1.5-7b-hf", "Phi-3-vision-128k-instruct", "--gpu", "rtx-4090",
                     "--context", "8192", "-f", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["model_id"] for r in rows] == sorted((r["model_id"] for r in rows),
                                                    key=lambda m: next(x["peak_bytes"] for x in rows
                                                                       if x["model_id"] == m))
    for row in rows:
        assert {"model_id", "fits", "peak_bytes", "headroom_bytes", "max_context", "max_batch", "latency", "gpu",
                "reserve_bytes", "request", "quant"} <= set(row)
        assert isinstance(row["fits"], bool)
        assert row["headroom_bytes"] == row["gpu_bytes"] - row["reserve_bytes"] - row["peak_bytes"]
        assert row["latency"]["gpu"] == "rtx-4090" and row["gpu"] == "NVIDIA GeForce RTX 4090"
        assert row["gpu_bytes"] == 24_564 * 2**20  # nvidia-smi's memory.total, not the box's "24 GB"
        assert row["reserve_bytes"] == 2**30
        assert row["request"] == {"image_size": row["request"]["image_size"], "images": 1, "videos": [],
                                  "text_tokens": 0,
                                  "context": 8192, "batch": 1}


def test_each_card_is_taken_at_the_memory_its_driver_reports() -> None:
    """The accelerator table: every card's total as nvidia-smi / NVML reports it (MiB), with its source, and
    never below the datasheet's "GB" rounded down to GiB (the driver keeps none of the box's figure back)."""
    from vlmscope.costing.latency import accelerator, accelerators

    for key, spec in accelerators().items():
        assert spec["memory_source"] and isinstance(spec["memory_mib"], int)
        request = CostRequest(gpu=key)
        assert vlmscope.api.gpu_memory(request) == spec["memory_mib"] * 2**20 == accelerator(key)[1]["memory_mib"] << 20
        assert spec["memory_mib"] * 2**20 > 0.93 * spec["memory_gb"] * 10**9


def test_the_reserve_comes_off_the_gpu_and_is_refused_when_it_leaves_nothing() -> None:
    """--reserve / reserve_bytes: the verdict, headroom and maxima are against the GPU's memory less the
    reserve; the default is 1 GiB; a reserve of the whole card is one clear error."""
    from vlmscope.errors import RequestError

    base = CostRequest(gpu="rtx-4090", context=8192)
    (default,), _ = vlmscope.api.fit(["Phi-3-vision-128k-instruct"], base)
    (none,), _ = vlmscope.api.fit(["Phi-3-vision-128k-instruct"], replace(base, reserve_bytes=0))
    (more,), _ = vlmscope.api.fit(["Phi-3-vision-128k-instruct"], replace(base, reserve_bytes=4 * 2**30))
    assert default.reserve_bytes == 2**30 and none.headroom_bytes == default.headroom_bytes + 2**30
    assert more.headroom_bytes == none.headroom_bytes - 4 * 2**30
    assert none.max_context > default.max_context > more.max_context
    with pytest.raises(RequestError, match="reserve_bytes"):
        vlmscope.api.gpu_memory(replace(base, reserve_bytes=24_564 * 2**20))
    result = run_cli("fit", "Phi-3-vision-128k-instruct", "--gpu", "rtx-4090", "--reserve", "0GiB", "-f", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["reserve_bytes"] == 0 and row["gpu"] == "NVIDIA GeForce RTX 4090"
    shown = run_cli("fit", "Phi-3-vision-128k-instruct", "--gpu", "rtx-4090", "--reserve", "0GiB", "-f", "markdown")
    assert shown.stdout.startswith("### Fit on NVIDIA GeForce RTX 4090") and "less a reserve of 0 B" in shown.stdout


def test_fit_finds_the_largest_context_and_batch() -> None:
    """The largest context fits and one more token does not (unless it is the model's limit); likewise the
    batch."""
    fits, _ = vlmscope.api.fit(["Phi-3-vision-128k-instruct"], CostRequest(gpu_bytes=24 * 10**9, context=8192))
    (f,) = fits
    _, sheet = vlmscope.cost("Phi-3-vision-128k-instruct", CostRequest(gpu_bytes=24 * 10**9, context=8192))
    assert sheet.memory is not None and f.max_context is not None and f.max_batch is not None
    m, layout, prompt = sheet.memory, sheet.kv, sheet.tokens.prefill or 0
    usable = f.gpu_bytes - f.reserve_bytes

    def peak(context: int, batch: int) -> int:  # the largest phase: vision, the LM's prefill, generation
        vision, lm = (m.vision_peak_bytes or 0) * batch, (m.language_peak_bytes or 0) * batch
        return m.weights_bytes + max(vision, layout.bytes(prompt, batch) + lm, layout.bytes(context, batch))

    assert peak(f.max_context, 1) <= usable < peak(f.max_context + 1, 1)
    assert peak(8192, f.max_batch) <= usable < peak(8192, f.max_batch + 1)
    assert peak(8192, 1) == m.peak_bytes == f.peak_bytes


def test_fit_markdown_matches_golden(golden) -> None:  # type: ignore[no-untyped-def]
    for name, args in (("fit_24gib.md", ["--gpu-mem", "24GiB"]), ("fit_h100_awq.md", ["--gpu", "h100-sxm",
                                                                                      "--quant", "awq-int4"])):
        result = run_cli("fit", *args, "--image-size", "1024x768", "--context", "8192", "-f", "markdown")
        assert result.returncode == 0, result.stderr
        golden(name, result.stdout)


@pytest.mark.parametrize("args, message", [
    ([], "fit needs a GPU"),
    (["--gpu", "tpu-v9"], "bad gpu 'tpu-v9'"),
    (["--gpu", "h100", "--quant", "int3"], "bad quant 'int3'"),
])
def test_fit_refuses_bad_input_in_one_line(args: list[str], message: str) -> None:
    result = run_cli("fit", "llava-1.5-7b-hf", *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_memory_latency_and_fit_keys_are_documented() -> None:
    from vlmscope.records import cost_record, fit_record

    doc = (ROOT / "docs" / "json.md").read_text()
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", CostRequest(gpu="l4"))
    record = cost_record(sheet)
    for section in ("memory", "latency"):
        for key in record[section]:
            assert f"`cost.{section}.{key}`" in doc, (section, key)
    fits, _ = vlmscope.api.fit(["llava-1.5-7b-hf"], CostRequest(gpu="l4"))
    for key in fit_record(fits[0]):
        assert f"`{key}`" in doc, key
    assert {"weights_bytes", "kv_cache_bytes", "activation_peak_bytes", "peak_bytes", "method"} <= set(record["memory"])


def test_report_has_a_fit_section_with_a_gpu(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = run_cli("report", "llava-1.5-7b-hf", "--gpu", "l4", "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<h2>Fit</h2>" in page and "First token" in page and "Max context" in page
    plain = tmp_path / "p.html"
    assert run_cli("report", "llava-1.5-7b-hf", "-o", str(plain)).returncode == 0
    assert "<h2>Fit</h2>" not in plain.read_text()


def test_gpu_check_says_it_skipped_without_cuda() -> None:
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():  # on a GPU machine the script is the check itself, not this test's subject
        return
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "skipped, no CUDA device" in result.stdout


@pytest.mark.parametrize("args", [["--gpu", "rtx-4090", "--image-size", "1024x768", "--context", "8192"],
                                  ["--gpu", "h100-sxm", "--image-size", "1024x768", "--context", "32768",
                                   "--batch", "8"],
                                  ["Qwen2.5-VL-7B-Instruct", "llava-onevision-qwen2-7b-ov-hf", "--gpu", "rtx-4090",
                                   "--images", "0", "--video", "60s@2:1280x720", "--text-tokens", "64", "--context",
                                   "80000"]])
def test_readme_fit_examples_are_the_real_output(args: list[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"$ vlmscope fit {' '.join(args)} -f markdown" in readme
    result = run_cli("fit", *args, "-f", "markdown")
    assert result.returncode == 0, result.stderr
    title, table = result.stdout.split("\n\n")[:2]
    assert title.startswith("### Fit on NVIDIA") and table in readme


# Published quantized checkpoints of Qwen2-VL-7B-Instruct: the sum of their safetensors files as the Hub's file
# lists show them (3 significant digits each; sources in vlmscope/catalog/models/SOURCES.md). The catalog's
# pbarker/Qwen2-VL-7B-... is a full fine-tune of the same model, so it has the same tensors.
PUBLISHED = [("awq-int4", 3.98e9 + 2.94e9),  # Qwen/Qwen2-VL-7B-Instruct-AWQ @4dc23f6
             ("gptq-int4", 3.98e9 + 2.94e9),  # Qwen/Qwen2-VL-7B-Instruct-GPTQ-Int4 @5ab8971
             ("gptq-int8", 3.97e9 + 3.99e9 + 2.25e9)]  # Qwen/Qwen2-VL-7B-Instruct-GPTQ-Int8 @3d152a7


@pytest.mark.parametrize("method, published", PUBLISHED)
def test_published_quantized_checkpoints_within_one_percent(method: str, published: float) -> None:
    _, sheet = vlmscope.cost("pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep", CostRequest(quant=method))
    assert sheet.memory is not None
    assert abs(sheet.memory.weights_bytes - published) / published < 0.01


@pytest.mark.parametrize("dtype", ["fp32", "fp8", "int8", "int4"])
def test_a_plain_dtype_is_every_weight_at_that_width(dtype: str) -> None:
    """``--dtype int8`` is a plain width for every weight, not LLM.int8's layout (that is ``--quant int8``)."""
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", CostRequest(weights_dtype=dtype))
    assert sheet.memory is not None
    assert sheet.memory.weights_bytes == sheet.memory.weights_by_dtype[dtype]
    assert sheet.memory.quantized_roles.startswith("none") and "0 linears packed" in sheet.memory.method


def test_a_context_beyond_the_models_positions_gets_no_tick() -> None:
    """LLaVA-1.5 has 4,096 positions: at 8,192 an H100 holds the memory, but the model cannot take the
    context; the fit says so and what fits instead (its own maximum)."""
    (beyond,), _ = vlmscope.api.fit(["llava-1.5-7b-hf"], CostRequest(gpu="h100-sxm", context=8192))
    (within,), _ = vlmscope.api.fit(["llava-1.5-7b-hf"], CostRequest(gpu="h100-sxm", context=4096))
    assert beyond.headroom_bytes is not None and beyond.headroom_bytes > 0 and beyond.fits is False
    assert within.fits is True and beyond.max_context == within.max_context == 4096
    assert any(w.startswith("no ✓ at context 8,192: the model has 4,096 positions") and w.endswith("which fits")
               for w in beyond.warnings)


def test_a_native_resolution_model_is_fitted_with_one_image_at_a_stated_size() -> None:
    """Qwen2-VL has no size of its own: without --image-size it is costed at ASSUMED_SIZE, not at no image
    (activations 0, max batch 166 before), and the fit says the size was assumed."""
    from vlmscope.tokens import ASSUMED_SIZE

    (f,), _ = vlmscope.api.fit(["pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep"], CostRequest(gpu="rtx-4090"))
    (sized,), _ = vlmscope.api.fit(["pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep"],
                                   CostRequest(gpu="rtx-4090", image_size=ASSUMED_SIZE))
    assert f.image_size == ASSUMED_SIZE and f.activation_peak_bytes and f.activation_peak_bytes > 0
    assert (f.peak_bytes, f.max_batch) == (sized.peak_bytes, sized.max_batch)
    assert any("1024×768, assumed" in w for w in f.warnings)
    assert not any("assumed" in w and "1024×768" in w for w in sized.warnings)


def test_vlmscope_fit_is_public_with_a_table_and_a_frame() -> None:
    """vlmscope.fit, like vlmscope.compare: unpacks as (fits, outcomes), shows fit's table in a notebook
    (captioned with the GPU) and gives one DataFrame row per model with fit's JSON keys."""
    result = vlmscope.fit(["llava-1.5-7b-hf", "no/such-model-here"], CostRequest(gpu="l4"))
    fits, outcomes = result
    assert [f.model_id for f in fits] == ["llava-hf/llava-1.5-7b-hf"] and len(outcomes) == 2
    assert outcomes[1].error and "Fit on NVIDIA L4" in result._repr_html_()
    frame = result.to_pandas()
    assert list(frame["model_id"]) == ["llava-hf/llava-1.5-7b-hf"]
    assert {"gpu", "gpu_bytes", "reserve_bytes", "request.context", "peak_bytes"} <= set(frame.columns)
    assert frame["gpu_bytes"][0] == 23_034 * 2**20


def test_causal_surplus_counts_the_pairs_a_causal_kernel_skips() -> None:
    """4 queries: a FLOP counter counts 16 query-key pairs a layer; causal attention needs 10, a window of 2
    needs 1 + 2 + 2 + 2 = 7. Each pair is 4 × width FLOPs (QKᵀ and PV)."""
    from vlmscope.costing.latency import causal_surplus

    assert causal_surplus(4, 8, (None,)) == 4 * 8 * (16 - 10)
    assert causal_surplus(4, 8, (1,)) == 4 * 8 * (16 - 7)  # a cap of window − 1 = 1: a window of 2
    assert causal_surplus(4, 8, (None, 1)) == 4 * 8 * (6 + 9) and causal_surplus(0, 8, (None,)) == 0


def test_latency_bounds_read_what_each_phase_reads() -> None:
    """A decode step reads the language model's weights and the KV cache, not the vision tower's or the
    connector's; the prefill bound grows with the batch (every sequence's FLOPs, less the causal surplus)."""
    one = vlmscope.cost("llava-1.5-7b-hf", CostRequest(text_tokens=64, gpu="h100-sxm"))[1]
    four = vlmscope.cost("llava-1.5-7b-hf", CostRequest(text_tokens=64, gpu="h100-sxm", batch=4))[1]
    assert one.memory is not None and one.latency is not None and four.latency is not None
    by_role = one.memory.weights_by_role
    stepped = one.memory.weights_bytes - by_role["vision"] - by_role["connector"]
    assert one.latency.decode_s_per_token_lower_bound == pytest.approx((stepped + one.memory.kv_cache_bytes) / 3.35e12)
    assert one.latency.prefill_s_lower_bound and four.latency.prefill_s_lower_bound
    assert four.latency.prefill_s_lower_bound == pytest.approx(4 * one.latency.prefill_s_lower_bound)
    counted = (one.flops.vision or 0) + (one.flops.prefill or 0)
    assert one.latency.prefill_s_lower_bound < counted / 989.4e12  # the causal surplus is off
