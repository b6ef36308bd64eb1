"""The activation peak of a prefill, traced on meta tensors: the largest memory that tensors created during
the forward hold at once, above the weights (and above the KV cache, counted apart).

Every tensor an operation returns is followed until its last reference dies; views share their storage, so a
storage counts once. The weights and buffers are never counted. The trace runs in bf16.

One adjustment models the GPU kernel transformers uses by default: ``scaled_dot_product_attention`` runs as
the memory-efficient / flash kernel does, holding only its output (no seq × seq score matrix, which the
CPU math path of a meta trace would build). Eager attention (models without SDPA) is traced as it runs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from vlmscope.costing.counting import first_that_runs


class Live(TorchDispatchMode):
    """Bytes held by the storages that operations created, and their peak. An output that aliases an input
    (a view, an in-place result, ``_unsafe_view``) holds no new memory: it keeps its base's storage alive."""

    def __init__(self, known: set[int]) -> None:
        super().__init__()
        self.known = known  # storages of weights and buffers: never counted
        self.base: dict[int, int] = {}  # storage → the storage it aliases
        self.held: dict[int, list[int]] = {}  # storage → [bytes, live tensors on it]
        self.live = 0
        self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        source = next((t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)), None)
        aliasing = source is not None and (func is torch.ops.aten._unsafe_view.default or any(
            r.alias_info is not None for r in func._schema.returns))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._follow(t, self._key(source) if aliasing and source is not None else None)
        return out

    def _key(self, t: torch.Tensor) -> int:
        key = t.untyped_storage()._cdata
        return int(self.base.get(key, key))

    def _follow(self, t: torch.Tensor, alias_of: int | None) -> None:
        own = t.untyped_storage()._cdata
        key = alias_of if alias_of is not None else self.base.get(own, own)
        if key != own:
            self.base[own] = key
        if key in self.known or own in self.known:
            return
        entry = self.held.get(key)
        if entry is None:
            entry = self.held[key] = [t.untyped_storage().nbytes(), 0]
            self.live += entry[0]
            self.peak = max(self.peak, self.live)
        entry[1] += 1
        weakref.finalize(t, self._release, key)

    def _release(self, key: int) -> None:
        entry = self.held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            self.live -= entry[0]
            del self.held[key]


class _MemoryEfficientAttention(TorchFunctionMode):
    """``scaled_dot_product_attention`` as the GPU's memory-efficient kernel holds it: the output only."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention:
            q = args[0] if args else kwargs["query"]
            v = args[2] if len(args) > 2 else kwargs["value"]
            return q.new_empty((*q.shape[:-1], v.shape[-1]))
        return func(*args, **kwargs)


@contextmanager
def in_bf16(model: nn.Module, dtype: torch.dtype = torch.bfloat16) -> Iterator[None]:
    """The meta skeleton in bf16 (or ``dtype``) for the trace, back to its own dtype after (on meta this moves
    no data)."""
    own = next((p.dtype for p in model.parameters()), torch.float32)
    model.to(dtype)
    try:
        yield
    finally:
        model.to(own)


def traced_peak(fn: Callable[[], Any], model: nn.Module, on_meta: bool = True) -> int | None:
    """Peak bytes of the tensors ``fn`` creates and holds at once (its inputs included, weights excluded);
    None when the forward cannot run on meta tensors. ``on_meta=False``: new tensors the forward makes
    without a device stay on the CPU, for a forward that reads values it computes (a native-resolution
    encoder's window indices); the weights and the inputs are meta tensors all the same."""
    known = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}

    def run() -> int:
        live = Live(known)
        with torch.no_grad(), torch.device("meta") if on_meta else nullcontext(), _MemoryEfficientAttention(), live:
            result = fn()
        del result
        return live.peak

    peak, _ = first_that_runs(("trace", run))
    return peak
