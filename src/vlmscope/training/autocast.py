"""``torch.autocast`` in bf16, emulated where the real one does not run: on meta tensors, and for CUDA's operation
lists on a machine without CUDA.

The real autocast sits in torch's dispatcher above autograd: an operation on its lists casts its inputs (to bf16
for matmuls and convolutions, to fp32 for norms, losses and exponentials), then runs, so autograd saves the cast
inputs. It only acts on tensors of its own device, so a meta trace never sees it. ``Autocast`` does the same casts
at torch's Python API (a ``TorchFunctionMode``, also above autograd), from the policy lists the installed torch
registers (``knowledge/autocast.json``, held equal to them by a test), with autocast's cache: the bf16 cast of a
weight that trains (an fp32 leaf) is made once and held until the forward ends, as autograd keeps it for the
backward anyway. A checkpointed layer's recomputation runs under it again, with a cache of its own.

Exactness: the emulation with the CPU's lists equals the real ``torch.autocast("cpu")`` on real tensors, byte for
byte, on the tests' models. Where it cannot see: an operation that a Python or C++ function reaches inside itself
(this mode sees the outermost call only). The Python functions whose inner operations autocast changes are
named in ``_INSIDE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, reduce
from importlib import resources
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

LOWER, FP32, OPT_DTYPE, APPEND_DTYPE, PROMOTE, BANNED = (
    "lower_precision_fp", "fp32", "fp32_set_opt_dtype", "fp32_append_dtype", "promote", "banned")

# Python functions that autocast changes only inside (their own name is on no list): on CUDA, cross_entropy's
# log_softmax and nll_loss run in fp32, and interpolate's upsample kernels do (its "area" mode pools instead)
_INSIDE: dict[str, dict[Callable[..., Any], str]] = {
    "cuda": {torch.nn.functional.cross_entropy: FP32, torch.nn.functional.interpolate: FP32},
    "cpu": {},
}


@cache
def lists() -> dict[str, Any]:
    """The cited policy lists (knowledge/autocast.json), read once."""
    return json.loads(resources.files("vlmscope.knowledge").joinpath("autocast.json").read_text())  # type: ignore[no-any-return]


# operators and Python names of operations that are not the operation's own name
_ALIASES: dict[str, list[tuple[Any, str]]] = {
    "matmul": [(torch.Tensor, "__matmul__"), (torch.Tensor, "__rmatmul__")],
    "pow": [(torch.Tensor, "__pow__"), (torch.Tensor, "__rpow__")],
    "cross_entropy_loss": [(torch.nn.functional, "cross_entropy")],
}


def _entries(name: str) -> list[Callable[..., Any]]:
    """The Python callables through which a model reaches the aten operation ``name`` (its overload dropped)."""
    base = name.split(".")[0]
    homes: list[tuple[Any, str]] = [(torch, base), (torch.Tensor, base), (torch.nn.functional, base),
                                    (torch._C._nn, base)]
    for prefix, module in (("linalg_", torch.linalg), ("fft_", torch.fft)):
        if base.startswith(prefix):
            homes.append((module, base.removeprefix(prefix)))
    homes += _ALIASES.get(base, [])
    found = [getattr(home, attr) for home, attr in homes if callable(getattr(home, attr, None))]
    return list({id(f): f for f in found}.values())


@cache
def policies(device: str) -> dict[Callable[..., Any], str]:
    """Each Python entry point of an operation on ``device``'s lists → its policy."""
    table: dict[Callable[..., Any], str] = {}
    for policy, names in lists()[device].items():
        for name in names:
            for entry in _entries(name):
                table.setdefault(entry, policy)
    table.update(_INSIDE[device])
    return table


_ACTIVE: list[Autocast] = []


def _eligible(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64


class Autocast(TorchFunctionMode):
    """bf16 autocast with ``device``'s operation lists, for what runs within; its cache of weight casts is
    dropped on leaving, as the real one drops it when its outermost context exits."""

    def __init__(self, device: str, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.table, self.dtype = policies(device), dtype
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.off = 0  # depth of the regions a model runs with autocast off
        self.patched: list[tuple[Any, Any]] = []

    def __enter__(self) -> Autocast:
        _ACTIVE.append(self)
        self.patched = _off_regions_seen()
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        _ACTIVE.remove(self)
        for module, original in self.patched:
            setattr(module, "maybe_autocast", original)  # noqa: B010
        self.cache.clear()
        super().__exit__(*exc)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if self.off:
            return func(*args, **kwargs)
        if func in _GROUPED and _fp32_experts(args, kwargs):
            return _GroupedFallback.apply(args[0], args[1])
        policy = self.table.get(func)
        if policy is None or (func is torch.nn.functional.interpolate and kwargs.get("mode") == "area"):
            return func(*args, **kwargs)
        if policy == BANNED:
            raise RuntimeError(f"{getattr(func, '__name__', func)} is unsafe to autocast (torch refuses it)")
        if policy == LOWER:
            args, kwargs = tree_map(lambda t: self._cast(t, self.dtype), (args, kwargs))
        elif policy == FP32:
            args, kwargs = tree_map(lambda t: self._cast(t, torch.float32), (args, kwargs))
        elif policy == PROMOTE:
            found = [t.dtype for t in _tensors(args, kwargs) if _eligible(t)]
            if found:
                widest = reduce(torch.promote_types, found)
                args, kwargs = tree_map(lambda t: self._cast(t, widest), (args, kwargs))
        elif "dtype" not in kwargs and _eligible(next(iter(_tensors(args, kwargs)), None)):
            kwargs["dtype"] = torch.float32  # OPT_DTYPE and APPEND_DTYPE: computed in fp32 where no dtype is asked
        return func(*args, **kwargs)

    def _cast(self, t: Any, dtype: torch.dtype) -> Any:
        if not _eligible(t) or t.dtype == dtype:
            return t
        if dtype == self.dtype and t.dtype == torch.float32 and t.requires_grad and t.is_leaf and not t._is_view():
            held = self.cache.get(id(t))
            if held is None or held[0] is not t:
                held = (t, t.to(dtype))
                self.cache[id(t)] = held
            return held[1]
        return t.to(dtype)


def _off_regions_seen() -> list[tuple[Any, Any]]:
    """transformers' loaded modules whose ``maybe_autocast`` now also turns the emulation off where a model asks for
    autocast off (a router or rotary table kept in fp32): on meta tensors it is no context at all, so the real
    one would never say. (module, the function it held) for each, to put back."""
    import sys

    from transformers.utils import generic

    found: Callable[..., Any] | None = getattr(generic, "maybe_autocast", None)  # transformers 5's; none before
    patched: list[tuple[Any, Any]] = []
    if found is None:
        return patched
    wrapped = _maybe_autocast(found)
    for name, module in list(sys.modules.items()):
        if name.startswith("transformers") and getattr(module, "maybe_autocast", None) is found:
            setattr(module, "maybe_autocast", wrapped)  # noqa: B010
            patched.append((module, found))
    return patched


def _maybe_autocast(original: Callable[..., Any]) -> Callable[..., Any]:
    @contextmanager
    def maybe_autocast(device_type: str, dtype: torch.dtype | None = None, enabled: bool = True,
                       cache_enabled: bool | None = None) -> Iterator[None]:
        emulated = _ACTIVE[-1] if _ACTIVE and not enabled else None
        with original(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled):
            if emulated is not None:
                emulated.off += 1
            try:
                yield
            finally:
                if emulated is not None:
                    emulated.off -= 1

    return maybe_autocast


# torch's grouped matmul (transformers' default for mixture-of-experts layers), which autocast leaves alone
_GROUPED = tuple(f for f in (getattr(torch.nn.functional, "grouped_mm", None), getattr(torch, "_grouped_mm", None))
                 if f is not None)


def _fp32_experts(args: Any, kwargs: Any) -> bool:
    """An (S, K) input times (E, K, N) experts in fp32 on meta tensors, whose meta kernel takes bf16 only."""
    a, b = (*args, None, None)[:2]
    return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.device.type == "meta"
            and a.dim() == 2 and b.dim() == 3 and torch.bfloat16 not in (a.dtype, b.dtype)
            and kwargs.get("bias") is None and kwargs.get("out_dtype") is None)


class _GroupedFallback(torch.autograd.Function):
    """The grouped matmul of fp32 experts as CUDA runs it (its fallback: one matmul per expert into one output):
    an (S, N) output and 2·S·K·N FLOPs, made by one matmul against the first expert's (K, N), a view; backward,
    the input's gradient so, and the experts' gradient written in place by one matmul of the same FLOPs."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return torch.mm(a, b[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        a, b = ctx.saved_tensors
        grad_a = torch.mm(grad, b[0].t()) if ctx.needs_input_grad[0] else None
        grad_b = None
        if ctx.needs_input_grad[1]:
            grad_b = torch.empty_like(b)
            torch.mm(a.t(), grad, out=grad_b[0])
        return grad_a, grad_b


def _tensors(args: Any, kwargs: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]


def dtype_now() -> torch.dtype | None:
    """The dtype autocast, emulated or real, casts the lower-precision list to here; None outside it. For an
    operation on that list the trace runs itself (its flash kernel's q, k, v: ``scaled_dot_product_attention``
    is on every list)."""
    if _ACTIVE:
        return _ACTIVE[-1].dtype
    on = [d for d in ("cpu", "cuda") if torch.is_autocast_enabled(d)]
    return torch.get_autocast_dtype(on[0]) if on else None
