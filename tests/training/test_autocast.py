"""The emulated bf16 autocast (``training.autocast``) against torch's own.

torch's autocast only acts on tensors of its device, so the emulation is held to the real one where both run:
with the CPU's operation lists, on real CPU tensors, the same step (and the same vision towers' forward and
backward) holds the same bytes at every phase, and each operation's result has the same dtype. The CUDA lists
the trace uses cannot run here; they are the installed torch's own, held equal to the operations it registers
an AutocastCUDA kernel for.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import torch
from test_step import _steps, folder  # noqa: F401  (folder: the fixture of the tiny LLaVA)
from torch.nn import functional as F

from vlmscope.data.training import TrainRecipe
from vlmscope.training import step
from vlmscope.training.autocast import Autocast, lists


def _real() -> AbstractContextManager[Any]:
    return torch.autocast("cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize(("device", "key"), [("cuda", "AutocastCUDA"), ("cpu", "AutocastCPU")])
def test_lists_are_the_operations_torch_registers(device: str, key: str) -> None:
    """Every operation on the cited lists has the device's autocast kernel in the installed torch, and every
    operation that has one is on a list (the rest fall through untouched)."""
    ops = [n.removeprefix("aten::") for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")]
    registered = {n for n in ops if torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{n}", key)}
    listed = [n for names in lists()[device].values() for n in names]
    assert len(listed) == len(set(listed)) and set(listed) == registered
    assert {"linear", "matmul", "scaled_dot_product_attention"} <= set(lists()[device]["lower_precision_fp"])


@pytest.mark.parametrize(("recipe", "checkpointing"), [
    (TrainRecipe(precision="mixed"), False), (TrainRecipe(precision="mixed"), True),
    (TrainRecipe(precision="mixed", method="lora", lora_rank=4), False),
    (TrainRecipe(precision="mixed", method="lora", lora_rank=4), True),
    (TrainRecipe(precision="mixed", freeze=("vision", "connector"), optimizer="sgd"), False),
])
def test_emulated_step_equals_torchs_autocast(folder: Path, recipe: TrainRecipe,  # noqa: F811
                                               checkpointing: bool) -> None:
    """fp32 weights, the forward under bf16 autocast: torch's own on real CPU tensors, the emulation with the
    CPU's lists on the same tensors, and on meta tensors. A checkpointed layer recomputes under autocast."""
    cpu: Callable[[], AbstractContextManager[Any]] = lambda: Autocast("cpu")  # noqa: E731
    runs = (("cpu", _real), ("cpu", cpu), ("meta", cpu), ("meta", lambda: Autocast("cuda")))
    real, emulated, on_meta, cuda = _steps(folder, recipe, checkpointing, runs)
    assert real == emulated == on_meta
    plain, _ = _steps(folder, recipe, checkpointing)  # bf16 weights, no autocast
    assert real.forward != plain.forward
    assert real.grads == (2 if recipe.method == "full" else 1) * plain.grads  # fp32 weights; adapters fp32 anyway
    assert cuda.flops == real.flops


def _towers() -> list[tuple[str, torch.nn.Module, Callable[[], dict[str, Any]]]]:
    from transformers import CLIPVisionConfig, CLIPVisionModel
    from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    torch.manual_seed(0)
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                            num_attention_heads=2, image_size=56, patch_size=14))
    qwen = Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig(
        depth=2, embed_dim=32, hidden_size=48, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
        temporal_patch_size=2))
    grid = torch.tensor([[1, 4, 4]])
    return [("clip", clip, lambda: {"pixel_values": torch.randn(2, 3, 56, 56)}),
            ("qwen2-vl", qwen, lambda: {"hidden_states": torch.randn(16, 3 * 2 * 14 * 14), "grid_thw": grid})]


@pytest.mark.parametrize("tower", [0, 1], ids=["clip", "qwen2-vl"])
def test_emulated_towers_equal_torchs_autocast(tower: int) -> None:
    """A vision tower's forward and backward (LayerNorm, convolutions, rotary embeddings, concatenations) under
    torch's CPU autocast and under the emulation with the same lists: the same bytes at both peaks, the same
    output dtype."""
    _, model, inputs = _towers()[tower]
    done = []
    for mixed in (_real, lambda: Autocast("cpu")):
        known = {p.untyped_storage()._cdata for p in (*model.parameters(), *model.buffers())}
        tracker = step.Storages(known)
        torch.manual_seed(1)
        kwargs = inputs()
        with tracker:
            with mixed():
                out = model(**kwargs)
                hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out
            forward = tracker.peak
            tracker.mark()
            hidden.float().sum().backward()
        done.append((forward, tracker.peak, tracker.flops, hidden.dtype))
        model.zero_grad(set_to_none=True)
    assert done[0] == done[1]


def _probes() -> list[tuple[str, Callable[[torch.Tensor, torch.nn.Linear], torch.Tensor]]]:
    return [("linear", lambda x, lin: lin(x)), ("layer_norm", lambda x, lin: F.layer_norm(x, (8,))),
            ("softmax", lambda x, lin: x.softmax(-1)), ("sum", lambda x, lin: x.sum()),
            ("exp", lambda x, lin: torch.exp(x)), ("pow", lambda x, lin: x ** 2),
            ("cat", lambda x, lin: torch.cat([x, x.float()])), ("matmul", lambda x, lin: x.float() @ x.float().T),
            ("cross_entropy", lambda x, lin: F.cross_entropy(x, torch.zeros(4, dtype=torch.long)))]


@pytest.mark.parametrize(("name", "probe"), _probes(), ids=[n for n, _ in _probes()])
def test_each_operation_gets_the_dtype_of_its_list(name: str, probe: Any) -> None:
    """One operation at a time on a bf16 input: with the CPU's lists, the dtype torch's CPU autocast gives; with
    CUDA's, fp32 for norms, softmax, sums, exponentials and losses, bf16 for matmuls."""
    x = torch.randn(4, 8).to(torch.bfloat16)
    lin = torch.nn.Linear(8, 8)
    with _real():
        real = probe(x, lin).dtype
    with Autocast("cpu"):
        assert probe(x, lin).dtype == real
    with Autocast("cuda"):
        cuda = probe(x, lin).dtype
    assert cuda == (torch.bfloat16 if name in {"linear", "matmul"} else torch.float32)


def test_a_trained_weight_is_cast_once_and_held_until_autocast_ends() -> None:
    """autocast's cache: the bf16 cast of a trained fp32 weight is made once however often the weight is used,
    and dropped on leaving (autograd still holds what the backward needs); a frozen weight is cast on each
    use and not cached."""
    trained = torch.nn.Linear(16, 16, bias=False)
    frozen = torch.nn.Linear(16, 16, bias=False).requires_grad_(False)
    x = torch.randn(2, 16)
    known = {trained.weight.untyped_storage()._cdata, frozen.weight.untyped_storage()._cdata}
    emulated = Autocast("cuda")
    with emulated:
        first, second = trained(x), trained(x)
        assert len(emulated.cache) == 1 and next(iter(emulated.cache.values()))[1].dtype == torch.bfloat16
        frozen(x), frozen(x)
        assert len(emulated.cache) == 1
    assert not emulated.cache and first.dtype == second.dtype == torch.bfloat16
    tracker = step.Storages(known)
    with tracker, Autocast("cuda"):
        outs = [trained(x) for _ in range(3)]
    weight = 16 * 16 * 2  # one bf16 copy, however many uses
    assert tracker.peak == weight + 3 * (2 * 16 * 2 + 2 * 16 * 2)  # and per use: x cast to bf16, the output
    assert len(outs) == 3


def test_a_region_the_model_runs_with_autocast_off_stays_fp32() -> None:
    """A model that asks for autocast off (transformers' ``maybe_autocast(enabled=False)``: a router or a rotary
    table kept in fp32) gets it from the emulation too, where on meta tensors the real one is no context at all;
    on CPU tensors, as torch's own CPU autocast gives it. Leaving the emulation puts transformers' function back."""
    from transformers.utils import generic

    original = generic.maybe_autocast
    lin = torch.nn.Linear(8, 8)

    def run(x: torch.Tensor) -> tuple[torch.dtype, torch.dtype]:
        with generic.maybe_autocast(device_type=x.device.type, enabled=False):
            inside = lin(x).dtype
        return inside, lin(x).dtype

    x = torch.randn(2, 8)
    with _real():
        real = run(x)
    with Autocast("cpu"):
        assert run(x) == real == (torch.float32, torch.bfloat16)
    lin.to("meta")
    with Autocast("cuda"):
        assert run(x.to("meta")) == (torch.float32, torch.bfloat16)
    assert generic.maybe_autocast is original
