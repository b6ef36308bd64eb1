"""``train`` over the whole catalog: every model's step traces (LoRA on the language model, one image at the native
size, 1,024 tokens, or 4,096 where the image alone is longer), and the vision side runs in the step for all but the
towers named here. Every other model runs in mixed precision (fp32 weights, the forward under the emulated CUDA
autocast), so that each precision meets most families without tracing every model twice."""

from __future__ import annotations

import pytest

from vlmscope import api
from vlmscope.data.training import TrainRecipe, TrainShape
from vlmscope.errors import RequestError
from vlmscope.sources import catalog

# Kimi-K2.5's 1T-parameter skeleton takes minutes to build (as in the `today` set); Florence-2 is an
# encoder–decoder, refused below.
SKIPPED = {"moonshotai/Kimi-K2.5", "microsoft/Florence-2-base"}
# Vision sides that do not run in the step: Fuyu has no encoder (its patches go straight through a Linear);
# LFM2.5-VL's and Devstral's encoders do not run on meta tensors (nor in `cost`'s trace); MiniCPM-V 4.6 runs a
# view and its slices at different sizes, which the step does not trace yet.
NO_VISION_TRACE = {"adept/fuyu-8b", "LiquidAI/LFM2.5-VL-1.6B", "mistralai/Devstral-Small-2-24B-Instruct-2512",
                   "openbmb/MiniCPM-V-4.6-AWQ"}

# Models whose one image at its native size is more than 1,024 tokens (image splitting, any-resolution tiles,
# native-resolution patches): their sequence is 4,096 tokens.
LONG_IMAGES = {"HuggingFaceTB/SmolVLM-256M-Instruct", "google/paligemma2-3b-mix-448",
               "llava-hf/llava-v1.6-mistral-7b-hf", "llava-hf/llava-v1.6-vicuna-7b-hf",
               "llava-hf/llava-onevision-qwen2-7b-ov-hf", "mistralai/Devstral-Small-2-24B-Instruct-2512",
               "microsoft/Phi-3-vision-128k-instruct"}

MODELS = [e.model_id for e in catalog.entries() if e.model_id not in SKIPPED]


@pytest.mark.parametrize(("ref", "precision"), [(ref, ("bf16", "mixed")[i % 2]) for i, ref in enumerate(MODELS)])
def test_every_catalog_model_trains(ref: str, precision: str) -> None:
    shape = TrainShape(seq_len=4096 if ref in LONG_IMAGES else 1024)
    _, sheet = api.train(ref, TrainRecipe(method="lora", precision=precision), shape)
    assert ("autocast" in sheet.method) == (precision == "mixed")
    m, held = sheet.memory, sheet.states
    assert sheet.trainable.total == sheet.trainable.language > 0
    assert m.forward_bytes == held.per_gpu_params_bytes + held.per_gpu_optimizer_bytes + m.activation_forward_bytes
    assert m.peak_bytes >= m.forward_bytes > held.per_gpu_bytes and m.activation_forward_bytes > 0
    assert sheet.step_flops > 0 and m.peak_phase in ("forward", "backward", "optimizer")
    assert sheet.shape.seq_len > sheet.visual_tokens > 0
    traced = not any("vision side was not traced" in w for w in sheet.warnings)
    assert traced == (ref not in NO_VISION_TRACE), sheet.warnings


def test_encoder_decoder_is_refused_in_one_line() -> None:
    with pytest.raises(RequestError, match="decoder-only"):
        api.train("microsoft/Florence-2-base")
