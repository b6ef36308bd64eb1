"""Counting FLOPs of a forward on meta tensors, and the one place where a way of counting that cannot run
gives way to the next.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` while a module's own forward runs on meta
tensors (no data, no memory). They are FLOPs (a multiply-add counts 2), not MACs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from vlmscope import errors

T = TypeVar("T")


def count(fn: Callable[[], Any], on_meta: bool = True) -> int:
    """FLOPs of ``fn``; new tensors default to the meta device unless ``on_meta`` is False (for forwards
    that build index tensors from data, which must stay real)."""
    with torch.device("meta" if on_meta else "cpu"), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def grouped_mm_flops(mat_a: torch.Tensor, mat_b: torch.Tensor, *args: Any, out_val: Any = None,
                     **kwargs: Any) -> int:
    """FLOPs of torch's grouped matmul (mixture-of-experts layers), which torch's FLOP counter has no formula
    for: each output row multiplies its group's matrix (2 × rows × contraction × columns); where the contraction
    itself is split in groups (the experts' weight gradient, 2-D × 2-D), the whole contraction once."""
    if mat_a.dim() == 2 and mat_b.dim() == 2:
        return 2 * mat_a.shape[0] * mat_a.shape[1] * mat_b.shape[1]
    return 2 * int(out_val.numel()) * mat_a.shape[-1]


def flop_formula(func: Any) -> Callable[..., int] | None:
    """The FLOP formula of an aten operation: torch's own, or ours for the grouped matmul."""
    packet = func._overloadpacket
    found: Callable[..., int] | None = flop_registry.get(packet)
    return found if found is not None else (grouped_mm_flops if packet is torch.ops.aten._grouped_mm else None)


def first_that_runs(*ways: tuple[str, Callable[[], T]]) -> tuple[T | None, str]:
    """(value, method) of the first way that runs; (None, "not counted (reason)") when none does.

    A way fails when the forward it runs cannot run on meta tensors: data-dependent code (``.item()``, a
    mask built from values), a calling convention it does not take. Third-party forwards raise any kind
    of exception for that, so every exception is caught here, and only here; the reason of the last one
    is kept in the method, so a figure is never replaced by a guess silently."""
    reason = "no way to count it"
    for name, way in ways:
        try:
            return way(), name
        except Exception as exc:  # the one catch-all of the cost stage: see the docstring
            reason = errors.reason(exc, 120)
    return None, f"not counted ({reason})"


@contextmanager
def experts_batched(model: nn.Module) -> Iterator[None]:
    """Mixture-of-experts layers run as transformers' ``batched_mm`` experts while FLOPs are counted: each
    token multiplied by the weights of its top-k experts, which is what the model computes. Their default,
    ``grouped_mm``, takes bf16 only and has no formula in torch's FLOP counter (it would count 0)."""
    configs = {id(c): c for m in model.modules() if hasattr(m, "_is_expert_parallel")
               and (c := getattr(m, "config", None)) is not None and hasattr(c, "_experts_implementation_internal")}
    saved = {key: c._experts_implementation_internal for key, c in configs.items()}
    try:
        for c in configs.values():
            c._experts_implementation_internal = "batched_mm"
        yield
    finally:
        for key, c in configs.items():
            c._experts_implementation_internal = saved[key]
