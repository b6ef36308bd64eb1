"""The layers a training recipe puts into the model for the traced step: LoRA adapters as peft computes them,
and QLoRA's 4-bit base as bitsandbytes' matmul behaves at training shapes; and the recipe's trainable
parameters, set for the step and undone after (``adapted``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import torch
from torch import nn

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.quant import packed_linears
from vlmscope.data.training import QLORA_BASE, Method, TrainRecipe
from vlmscope.training.lora import full_parameters, targets


class _Wrapping(nn.Module):
    """A layer in place of a Linear (``base``) that shows the Linear's weight and bias, as peft's and
    bitsandbytes' layers do: some models read them (a dtype, a device, a fused projection)."""

    base: nn.Module

    @property
    def weight(self) -> torch.Tensor:
        return cast(torch.Tensor, self.base.weight)

    @property
    def bias(self) -> torch.Tensor | None:
        return cast("torch.Tensor | None", self.base.bias)


class _LoRA(_Wrapping):
    """A LoRA-adapted Linear, computed as peft computes it (dropout 0)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        device = base.weight.device
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, device=device, dtype=torch.float32)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, device=device, dtype=torch.float32)
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.base(x)
        dtype = result.dtype
        result = result + self.lora_B(self.lora_A(x.to(self.lora_A.weight.dtype))) * self.scaling
        return result.to(dtype)


class _NF4(torch.autograd.Function):
    """bitsandbytes' 4-bit matmul (MatMul4Bit) as memory sees it: the packed weight dequantized to the compute
    dtype for the matmul and dropped after it; nothing saved for backward, which dequantizes it again for the
    input's gradient (the base is frozen: no gradient of its own)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(weight)  # the resident parameter: no new storage
        return nn.functional.linear(x, torch.empty_like(weight, dtype=x.dtype), bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (weight,) = ctx.saved_tensors
        return grad @ torch.empty_like(weight, dtype=grad.dtype), None, None


class _NF4Linear(_Wrapping):
    """A Linear that QLoRA's base holds in nf4 (bitsandbytes' Linear4bit), computed through ``_NF4``."""

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = _NF4.apply(x, self.base.weight, self.base.bias)
        return out


def _dequantizing(index: ModuleIndex, roles: Roles, swapped: list[tuple[nn.Module, str, nn.Module]]) -> None:
    """QLoRA: every Linear bitsandbytes packs (all but the head, as ``costing.quant`` counts them) computed as
    its 4-bit matmul does; a LoRA-adapted one keeps its adapter over the dequantizing base."""
    for name in packed_linears(index, roles, QLORA_BASE):
        parent, _, attr = name.rpartition(".")
        owner = index.modules[parent]
        current, linear = getattr(owner, attr), index.modules[name]
        assert isinstance(linear, nn.Linear)  # packed_linears names Linear modules only
        if isinstance(current, _LoRA):
            current.base = _NF4Linear(linear)  # the adapter stays over the dequantizing base
        else:
            setattr(owner, attr, _NF4Linear(linear))
            swapped.append((owner, attr, current))


@contextmanager
def adapted(index: ModuleIndex, roles: Roles, recipe: TrainRecipe) -> Iterator[list[torch.Tensor]]:
    """The recipe's trainable parameters, the model prepared for it (LoRA adapters in place); undone after."""
    model = index.modules[""]
    flags = {id(p): p.requires_grad for p in model.parameters()}
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        if recipe.method == Method.full:
            trained: list[torch.Tensor] = list(full_parameters(model, roles, recipe))
        else:
            trained = []
            for name, module in list(targets(index, roles, recipe)):
                if not isinstance(module, nn.Linear):
                    continue
                parent, _, attr = name.rpartition(".")
                owner = index.modules[parent]
                lora = _LoRA(module, recipe.lora_rank, 2.0 * recipe.lora_rank)
                setattr(owner, attr, lora)
                swapped.append((owner, attr, module))
                trained += [lora.lora_A.weight, lora.lora_B.weight]
            if recipe.method == Method.qlora:
                _dequantizing(index, roles, swapped)
        for t in trained:
            t.requires_grad_(True)
        yield trained
    finally:
        for owner, attr, module in reversed(swapped):
            setattr(owner, attr, module)
        for p in model.parameters():
            p.requires_grad_(flags.get(id(p), p.requires_grad))
            p.grad = None
