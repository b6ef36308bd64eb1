"""The vision side's activation peak against the model's own image-feature path.

Each test builds one small model twice from the same config: as vlmscope does (a meta skeleton, the encoder
and connector traced as ``vision_peak`` runs them), and for real on the CPU with random weights, whose
``get_image_features`` runs under the same storage tracer with real data (padding checks, ``.tolist()``,
window indices and all). The two peaks must agree: the trace follows the mechanism the real forward runs,
not a model of it. The inputs are made before either trace, as a GPU measurement counts them with the
weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from vlmscope.api import _analyze, _read
from vlmscope.costing import activations, vision_peak
from vlmscope.data import CostRequest, ImageTokens
from vlmscope.sources import resolve


def _meta_peak(folder: Path, img: ImageTokens, images: int = 1) -> tuple[int | None, str, bool]:
    source = resolve(str(folder))
    reading = _read(source, False)
    anatomy = _analyze(reading, source, None)
    with activations.in_bf16(reading.index.model):
        return vision_peak.vision_peak(reading.index, reading.roles, anatomy, CostRequest(images=images), img)


def _real_peak(model: torch.nn.Module, **inputs: Any) -> int:
    known = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}
    live = activations.Live(known)
    with torch.no_grad(), activations._MemoryEfficientAttention(), live:
        model.model.get_image_features(**inputs)
    return live.peak


def _folder(tmp_path: Path, config: Any) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    return tmp_path


def test_idefics2_connector_widens_every_patch_before_pooling(tmp_path: Path) -> None:
    """Idefics2: the SwiGLU projection runs over every patch of every frame (1152 → 14,336 → 4,096 in the
    8B) before the resampler pools the frame to 64 latents; its intermediates, not the encoder, hold the
    peak. Traced as the connector runs over the encoder's output: equal to the real path within 2%, and
    at least the three intermediates one SwiGLU step holds at once."""
    from transformers import Idefics2Config, Idefics2ForConditionalGeneration

    config = Idefics2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 112, "patch_size": 14},
        perceiver_config={"resampler_n_latents": 4, "resampler_depth": 1, "resampler_n_heads": 2,
                          "resampler_head_dim": 16, "num_key_value_heads": 1, "hidden_size": 64},
        text_config={"model_type": "mistral", "hidden_size": 64, "intermediate_size": 2048, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 128})
    frames, (h, w) = 3, (56, 84)
    peak, said, traced = _meta_peak(_folder(tmp_path, config), ImageTokens(4, frames, "test", frame=(h, w)))
    assert traced and peak is not None and ("then the connector" in said or "encoder and connector" in said)

    model = Idefics2ForConditionalGeneration(config).to(torch.bfloat16)
    real = _real_peak(model, pixel_values=torch.randn(1, frames, 3, h, w, dtype=torch.bfloat16),
                      pixel_attention_mask=torch.ones(1, frames, h, w, dtype=torch.bool))
    patches = frames * (h // 14) * (w // 14)
    assert peak >= 3 * patches * 2048 * 2  # gate, up and their product, bf16
    # Not traced: the real path copies the pixels when it drops all-padding frames (``pixel_values[real]``),
    # 1.3% of the 8B's peak at 1024×768; here, with a tiny connector, 9%.
    copy = frames * 3 * h * w * 2
    assert abs(peak + copy - real) / real < 0.02, (peak, copy, real)


def test_qwen2_vl_packed_encoder_is_traced_from_the_grid(tmp_path: Path) -> None:
    """Qwen2-VL: the encoder runs over every image packed into one sequence, its attention spans and rotary
    positions read from the patch grid (cu_seqlens), its merger inside. Built from the grid the request
    knows: equal to the real path within 2% for two images."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    config = Qwen2VLConfig(
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 4,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        text_config={"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "vocab_size": 128,
                     "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]}})
    grid = (8, 12)
    peak, said, traced = _meta_peak(_folder(tmp_path, config), ImageTokens(24, 1, "test", grid=grid), images=2)
    assert traced and peak is not None and "packed into one sequence" in said

    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    n = 2 * grid[0] * grid[1]
    real = _real_peak(model, pixel_values=torch.randn(n, 3 * 2 * 14 * 14, dtype=torch.bfloat16),
                      image_grid_thw=torch.tensor([[1, *grid]] * 2))
    assert abs(peak - real) / real < 0.02, (peak, real)


def test_an_untraceable_encoder_is_said_and_carried_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """An encoder whose forward runs in no patch layout on meta tensors: the peak says so, and the sheet
    carries that part as data (cost.memory.untraced), as fit's footnote."""
    import vlmscope

    monkeypatch.setattr(vision_peak, "packed_tower_calls", lambda *args, **kwargs: [])
    request = CostRequest(gpu="h100-sxm", image_size=(1024, 768))
    _, sheet = vlmscope.cost("pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep", request, use_cache=False)
    assert sheet.memory is not None and sheet.fit is not None
    assert sheet.memory.untraced == ("vision: not traced (its forward does not run on meta tensors)",)
    assert sheet.fit.warnings[-1:] == sheet.memory.untraced


def test_the_sheet_carries_both_peaks() -> None:
    """The activation peak is the larger of the vision side's and the language model's, both carried (JSON
    cost.memory.vision_peak_bytes / language_peak_bytes) so a GPU run can check each apart: Idefics2's is its
    connector's, LLaVA-1.5's its language model's."""
    import vlmscope
    from vlmscope.records import cost_record

    for ref, larger in (("idefics2-8b", "vision"), ("llava-1.5-7b-hf", "language")):
        _, sheet = vlmscope.cost(ref, CostRequest(image_size=(1024, 768), text_tokens=65))
        m = sheet.memory
        assert m is not None and m.vision_peak_bytes and m.language_peak_bytes
        assert m.activation_peak_bytes == max(m.vision_peak_bytes, m.language_peak_bytes)
        assert (m.vision_peak_bytes > m.language_peak_bytes) == (larger == "vision"), ref
        record = cost_record(sheet)["memory"]
        assert (record["vision_peak_bytes"], record["language_peak_bytes"]) == (m.vision_peak_bytes,
                                                                                m.language_peak_bytes)


@pytest.mark.parametrize("ref", ["Qwen2.5-VL-7B-Instruct", "GLM-4.1V-9B-Thinking", "idefics2-8b",
                                 "llava-v1.6-mistral-7b-hf", "MiniCPM-V-4.6-AWQ"])
def test_many_images_scale_from_two(ref: str) -> None:
    """Beyond two images, the vision side's peak is scaled from its traces over one and two: equal, to the
    byte, to a trace over all of them, packed (window attention and its index tensors included) or
    batched (crops, frames of two sizes)."""
    import vlmscope
    from vlmscope.tokens import cost_size, encoded, request_tokens

    n = 5
    anatomy, sheet = vlmscope.cost(ref, CostRequest(image_size=(448, 336), images=n), use_cache=False)
    scaled = sheet.memory.vision_peak_bytes
    assert scaled is not None and f"scaled to {n} images" in sheet.memory.method
    source = resolve(ref)
    reading = _read(source, False)
    enc = encoded(anatomy.vision, anatomy.connector)
    _, img = request_tokens(enc, source, cost_size(enc, source, (448, 336))[0])
    with activations.in_bf16(reading.index.model):
        if img.grid is not None and not img.views:
            whole = vision_peak._packed(reading.index, reading.roles, anatomy, [img.grid] * n)[0]
        else:
            patch = anatomy.vision.patch_size or 1
            views = img.views or ((img.crops, *(img.frame or (anatomy.vision.image_size,) * 2)),)
            whole = max(vision_peak._fixed(reading.index, reading.roles, anatomy, count * n, (h, w), patch)[0] or 0
                        for count, h, w in views)
    assert whole == scaled
