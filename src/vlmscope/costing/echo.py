"""Stacks of N identical blocks, counted from one forward that runs only the first block for real.

Every other block of the stack is echoed: its input hidden state is passed on unchanged, which has the
shape the real block would return. So everything around the stack (embeddings, norms, taps of intermediate
layers, heads) runs as in the real forward, and the first block's FLOPs are counted N times. A FLOP count
depends only on shapes, so this equals the full forward; the test suite checks it over the catalog and the
zoo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.costing.counting import count, first_that_runs


class _Measured(nn.Module):
    """The stack's first block, with the FLOPs of each of its calls noted (a nested counter)."""

    def __init__(self, block: nn.Module, flops: list[int]) -> None:
        super().__init__()
        self.block = block
        self.flops = flops
        self.last: Any = None
        self.inputs: Any = None
        self.alike = True  # every echoed block was called with inputs like the first block's

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.inputs = (args, kwargs)
        with FlopCounterMode(display=False) as counter:
            out = self.block(*args, **kwargs)
        self.flops.append(int(counter.get_total_flops()))
        self.last = out
        return out

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.block, name)


class _Echo(nn.Module):
    """Stands in for a block identical to the first: passes the hidden state through unchanged (same shape),
    shaped like the first block's output, and computes nothing. Other attributes come from the block."""

    def __init__(self, block: nn.Module, first: _Measured) -> None:
        super().__init__()
        object.__setattr__(self, "_original", block)
        object.__setattr__(self, "_first", first)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = self._first
        if not _same(first.inputs, (args, kwargs)):  # e.g. window vs full attention spans per block
            first.alike = False
        hidden = args[0] if args else kwargs["hidden_states"]
        if isinstance(hidden, torch.Tensor) and hidden.device.type == "meta":
            hidden = torch.empty_like(hidden)  # a new tensor, as a real block returns (what a caller keeps of
            # every layer, e.g. all hidden states, then holds one per layer)
        last = first.last
        if isinstance(last, tuple):
            return (hidden, *last[1:])
        if last is not None and not isinstance(last, torch.Tensor):
            raise TypeError(f"block output {type(last).__name__} cannot be echoed")
        return hidden

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


def _same(a: Any, b: Any) -> bool:
    """Whether two block inputs cost the same: meta tensors by shape and dtype, real tensors (data such as
    attention spans) by value, containers element-wise, anything else by identity or equality."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        return a.device.type == "meta" or bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if a is b:
        return True
    equal, _ = first_that_runs(("==", lambda: bool(a == b)))
    return bool(equal)


@contextmanager
def _echoed(index: ModuleIndex, stack: str, flops: list[int]) -> Iterator[_Measured]:
    """Temporarily run the stack's first block for real (noting its FLOPs and inputs) and echo the others."""
    parent, _, attr = stack.rpartition(".")
    owner = index.modules[parent]
    blocks = getattr(owner, attr)
    first = _Measured(blocks[0], flops)
    setattr(owner, attr, nn.ModuleList([first, *(_Echo(b, first) for b in list(blocks)[1:])]))
    try:
        yield first
    finally:
        setattr(owner, attr, blocks)


def uniform(index: ModuleIndex, stack: str | None) -> int:
    """Number of blocks in ``stack`` when all are alike (one class, one parameter count, one layer kind),
    else 0."""
    if stack is None or not isinstance(index.modules.get(stack), nn.ModuleList):
        return 0
    kids = index.children(stack)
    alike = len({type(index.modules[k]) for k in kids}) == 1 and len({index.count(k) for k in kids}) == 1
    config = getattr(index.modules[stack.rpartition(".")[0]], "config", None)
    kinds = getattr(config, "layer_types", None) or ()
    # layers of several kinds (sliding-window / full / linear attention) keep caches of different shapes
    return len(kids) if alike and len(kids) > 1 and len(set(kinds)) <= 1 else 0


def count_stacked(fn: Any, index: ModuleIndex, stack: str | None, on_meta: bool = True) -> int:
    """FLOPs of ``fn`` (a forward through a stack of N identical blocks) from one forward that runs only the
    first block for real.

    Every other block of the stack is echoed (its input hidden state passed on unchanged, which has the
    shape the real block would return), so everything around the stack — embeddings, norms, taps of
    intermediate layers, heads — runs as in the real forward; the first block's FLOPs are counted N times.
    A FLOP count depends only on shapes, so this equals the full forward (the test suite checks it against
    full forwards over the catalog and the zoo). Stacks of unlike blocks, or of layers of several kinds
    (``layer_types``: sliding-window and full attention keep caches of different shapes), run in full, as
    does any forward the echo cannot stand in for."""
    n = uniform(index, stack)
    if n:
        assert stack is not None
        echoed, _ = first_that_runs(("echo", lambda: _echoed_count(fn, index, stack, n, on_meta)))
        if echoed is not None:
            return echoed
    return count(fn, on_meta)  # unlike blocks, or a forward the echo cannot stand in for: run it in full


def _echoed_count(fn: Any, index: ModuleIndex, stack: str, n: int, on_meta: bool) -> int | None:
    """FLOPs of ``fn`` with the stack's first block run for real and the others echoed; None when the
    blocks ran more than once or were called with other inputs than the first's."""
    flops: list[int] = []
    with _echoed(index, stack, flops) as first:
        outer = count(fn, on_meta)
    if len(flops) != 1 or not first.alike:
        return None
    return outer + (n - 1) * flops[0]


def run_echoed(fn: Any, index: ModuleIndex, stack: str | None) -> Any:
    """Run ``fn`` with the stack's first block for real and the others echoed (a stack of identical blocks:
    what one block holds is what each holds); the whole forward where the echo cannot stand in."""
    n = uniform(index, stack)
    if n:
        assert stack is not None
        flops: list[int] = []
        with _echoed(index, stack, flops) as first:
            result = fn()
        if len(flops) == 1 and first.alike:
            return result
        del result  # what the echoed run returned is not held during the full one
    return fn()
