"""The training step traced on meta tensors against the same step run on real CPU tensors under the same
tracker: forward with the loss, backward, optimizer step. Byte for byte, phase by phase.

Both runs use the tracer's flash-kernel attention (the CPU's SDPA would keep seq × seq scores, as a meta
trace's math path would); everything else is the model's and torch's own code, on real data in one run and
on shapes alone in the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import torch

from vlmscope.anatomy import read
from vlmscope.api import _analyze, _read
from vlmscope.costing import activations
from vlmscope.data.training import TrainRecipe, TrainShape
from vlmscope.sources import resolve
from vlmscope.training import adapters, step
from vlmscope.training.sheet import _Trace
from vlmscope.training.states import optimizer_bytes


def _config() -> Any:
    from transformers import LlavaConfig

    return LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 56, "patch_size": 14},
        text_config={"model_type": "llama", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512},
        image_token_index=500)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llava")
    (path / "config.json").write_text(json.dumps(_config().to_dict()))
    return path


Mixed = Callable[[], AbstractContextManager[Any]] | None


def _steps(folder: Path, recipe: TrainRecipe, checkpointing: bool,
           runs: tuple[tuple[str, Mixed], ...] = (("meta", None), ("cpu", None))) -> list[step.StepPeaks]:
    """The step traced once per run: on meta tensors or real CPU ones, under that run's autocast (none: the
    weights in bf16; else in fp32)."""
    from transformers import LlavaForConditionalGeneration

    source = resolve(str(folder))
    meta = _read(source, False)
    anatomy = _analyze(meta, source, None)
    torch.manual_seed(0)
    real = read(LlavaForConditionalGeneration(_config()))
    shape = TrainShape(micro_batch=2, seq_len=48, images=0, checkpointing=checkpointing)
    done = []
    for device, mixed in runs:
        reading = meta if device == "meta" else real
        trace = _Trace(reading.index, reading.roles, anatomy, recipe, shape, None, 0)
        with activations.in_bf16(reading.index.model, torch.bfloat16 if mixed is None else torch.float32):
            done.append(step.traced_step(reading.index, reading.roles, recipe, checkpointing,
                                         lambda trace=trace: trace._loss(2, 48), device, mixed))
    return done


@pytest.mark.parametrize(("recipe", "checkpointing"), [
    (TrainRecipe(), False), (TrainRecipe(), True), (TrainRecipe(optimizer="sgd"), False),
    (TrainRecipe(optimizer="adamw-fused"), False), (TrainRecipe(optimizer="adafactor"), False),
    (TrainRecipe(freeze=("vision", "connector")), False),
    (TrainRecipe(method="lora", lora_rank=4), False), (TrainRecipe(method="lora", lora_rank=4), True),
    (TrainRecipe(method="qlora", lora_rank=4), False), (TrainRecipe(method="qlora", lora_rank=4), True),
])
def test_meta_step_equals_the_real_step(folder: Path, recipe: TrainRecipe, checkpointing: bool) -> None:
    on_meta, on_cpu = _steps(folder, recipe, checkpointing)
    assert on_meta == on_cpu
    assert on_meta.forward > 0 and on_meta.backward > 0 and on_meta.grads > 0 and on_meta.flops > 0


def test_traced_states_are_the_optimizers_own(folder: Path) -> None:
    """The AdamW states the trace makes are those ``optimizer_bytes`` works out, plus the step counters the
    trace's default device holds (torch keeps them on the CPU unless the optimizer is fused)."""
    source = resolve(str(folder))
    reading = _read(source, False)
    recipe = TrainRecipe(freeze=("vision", "connector"))
    shapes = [tuple(p.shape) for n, p in reading.index.model.named_parameters()
              if not n.startswith(("model.vision_tower", "model.multi_modal_projector"))]
    on_meta, _ = _steps(folder, recipe, False)
    assert on_meta.states == optimizer_bytes(shapes, "adamw", 2) + 4 * len(shapes)
    assert on_meta.grads == 2 * sum(torch.Size(s).numel() for s in shapes)


def test_adafactor_step_is_traced_with_its_own_states(folder: Path) -> None:
    """transformers' Adafactor, as its Trainer builds it, runs in the trace: the states it makes are those
    ``optimizer_bytes`` works out, and its step's temporaries (fp32 copies of a bf16 weight and its gradient,
    the update and its square) are above nothing: at least the largest weight's fp32 copy."""
    reading = _read(resolve(str(folder)), False)
    shapes = [tuple(p.shape) for n, p in reading.index.model.named_parameters()
              if not n.startswith(("model.vision_tower", "model.multi_modal_projector"))]  # no images: no grads
    on_meta, _ = _steps(folder, TrainRecipe(optimizer="adafactor", freeze=("vision", "connector")), False)
    assert on_meta.states == optimizer_bytes(shapes, "adafactor", 2)
    assert on_meta.step_temporaries >= 4 * max(torch.Size(s).numel() for s in shapes)


def _forward_backward(reading: Any, anatomy: Any) -> tuple[int, int]:
    """(forward peak, backward peak) of one step's forward and backward on the CPU, weights and adapters
    excluded, as ``traced_step`` counts them."""
    model = reading.index.model
    known = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}
    trace = _Trace(reading.index, reading.roles, anatomy, TrainRecipe(), TrainShape(images=0), None, 0)
    tracker = step.Storages(known)
    with step._flash(model), torch.device("cpu"), tracker:
        loss = trace._loss(2, 48)
        forward = tracker.peak
        tracker.mark()
        loss.backward()
        del loss
    return forward, tracker.peak


def test_lora_adapters_hold_what_peft_holds(folder: Path) -> None:
    """Our LoRA layers against peft's own (``get_peft_model`` over the same model in bf16, adapters cast to
    fp32 by peft): the same bytes at the forward's and the backward's peaks."""
    import re

    from peft import LoraConfig, get_peft_model
    from transformers import LlavaForConditionalGeneration

    anatomy = _analyze(_read(resolve(str(folder)), False), resolve(str(folder)), None)
    torch.manual_seed(0)
    ours = read(LlavaForConditionalGeneration(_config()).to(torch.bfloat16))
    recipe = TrainRecipe(method="lora", lora_rank=4, lora_targets="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj")
    with adapters.adapted(ours.index, ours.roles, recipe):
        mine = _forward_backward(ours, anatomy)
    model = LlavaForConditionalGeneration(_config()).to(torch.bfloat16)
    tower = [p for p in (ours.roles.vision, *ours.roles.connector) if p]
    get_peft_model(model, LoraConfig(r=4, target_modules=recipe.lora_targets.split(","),
                                     exclude_modules=rf"({'|'.join(map(re.escape, tower))})(\..*)?"))
    theirs = _forward_backward(read(model), anatomy)
    assert mine == theirs
    plain = read(LlavaForConditionalGeneration(_config()).to(torch.bfloat16))  # every weight trained, no adapters
    assert _forward_backward(plain, anatomy) != mine


def test_qlora_dequantizes_each_packed_weight_for_its_matmul_and_again_in_backward() -> None:
    """QLoRA's base: bitsandbytes' 4-bit matmul dequantizes the weight (out × in, the compute dtype) for the
    matmul and drops it, keeps nothing for backward, and dequantizes it again there for the input's
    gradient: one weight's bytes above the output in the forward, above the input's gradient in backward."""
    linear = torch.nn.Linear(96, 40, bias=False, dtype=torch.bfloat16, device="meta").requires_grad_(False)
    x = torch.empty(3, 96, dtype=torch.bfloat16, device="meta", requires_grad=True)
    tracker = step.Storages({linear.weight.untyped_storage()._cdata, x.untyped_storage()._cdata})
    with tracker:
        out = adapters._NF4Linear(linear)(x)
        forward = tracker.peak
        tracker.mark()
        out.sum().backward()
    weight, output = 40 * 96 * 2, 3 * 40 * 2
    assert forward == weight + output
    assert tracker.peak >= weight + 3 * 96 * 2  # the dequantized copy beside the input's gradient
    assert x.grad is not None and x.grad.shape == x.shape


def test_qlora_step_dequantizes_every_packed_linear(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same adapters over an nf4 base: every Linear bitsandbytes packs (all but the head) goes through the
    4-bit matmul once in the forward (the tower's too, where images run); the step holds at least what the
    LoRA step holds, with the same FLOPs."""
    from vlmscope.costing.quant import packed_linears
    from vlmscope.data import Quant

    calls: list[int] = []
    forward = adapters._NF4Linear.forward
    monkeypatch.setattr(adapters._NF4Linear, "forward", lambda self, x: calls.append(1) or forward(self, x))
    lora, _ = _steps(folder, TrainRecipe(method="lora", lora_rank=4), False)
    assert not calls
    qlora, _ = _steps(folder, TrainRecipe(method="qlora", lora_rank=4), False)
    reading = _read(resolve(str(folder)), False)
    packed = packed_linears(reading.index, reading.roles, Quant("nf4"))
    language = [n for n in packed if not n.startswith(("model.vision_tower", "model.multi_modal_projector"))]
    assert len(calls) == 2 * len(language) > 0 and len(language) < len(packed)  # meta, real; no images here
    assert not any(name.endswith("lm_head") for name in packed)
    assert qlora.forward >= lora.forward and qlora.backward >= lora.backward and qlora.flops == lora.flops


def test_adapted_layers_show_their_bases_weight_and_bias() -> None:
    """A LoRA layer and QLoRA's 4-bit base stand where a Linear stood; as peft's and bitsandbytes' layers do, they
    show its weight and bias, which some models read (HunYuan-V4-VL's attention reads its projection's weight:
    its step stopped at "'_LoRA' object has no attribute 'weight'")."""
    linear = torch.nn.Linear(8, 4, device="meta")
    for layer in (adapters._LoRA(linear, 2, 4.0), adapters._NF4Linear(linear)):
        assert layer.weight is linear.weight and layer.bias is linear.bias
        assert [n for n, _ in layer.named_parameters()][:2] == ["base.weight", "base.bias"]  # not registered twice
