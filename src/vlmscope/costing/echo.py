"""Stacks of N identical blocks, counted from one forward that runs only one block of each kind for real.

Every other block of the stack is echoed: its input hidden state is passed on unchanged, which has the
shape the real block would return. So everything around the stack (embeddings, norms, taps of intermediate
layers, heads) runs as in the real forward, and each block is counted with the FLOPs of the first block
called like it (the same input shapes and index values: Qwen2.5-VL's window-attention blocks are one kind,
its full-attention blocks another). A FLOP count depends only on shapes and those values, so this equals
the full forward; the test suite checks it over the catalog and the zoo. The cost of a request then grows
with the kinds of block, not with the depth.
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


class _Kind:
    """One kind of call of the stack's blocks, run for real once: its inputs' signature (meta tensors by
    shape and dtype, real ones by value), its FLOPs, and what a block of it returns besides the hidden
    state (a tuple's other items), so an echo can return the same."""

    def __init__(self, signature: Any, flops: int, out: Any, layer: int) -> None:
        if out is not None and not isinstance(out, (torch.Tensor, tuple)):
            raise TypeError(f"block output {type(out).__name__} cannot be echoed")
        self.signature, self.flops, self.layer = signature, flops, layer
        self.tail = out[1:] if isinstance(out, tuple) else None


def _run(block: nn.Module, args: Any, kwargs: Any) -> tuple[Any, int]:
    with FlopCounterMode(display=False) as counter:
        out = block(*args, **kwargs)
    return out, int(counter.get_total_flops())


class _Measured(nn.Module):
    """The stack's first block, with the FLOPs of each of its calls noted (a nested counter); it also keeps
    the kinds of call the stack's blocks are made with (window and full attention alternate in Qwen2.5-VL's
    encoder): the first block of each kind runs for real, every other one is echoed."""

    def __init__(self, block: nn.Module, flops: list[int], layer_kind: str | None) -> None:
        super().__init__()
        self.block = block
        self.flops = flops
        self.layer_kind = layer_kind
        self.kinds: list[_Kind] = []
        self.echoed = 0  # FLOPs of the echoed blocks: each its kind's
        self.stands_for: dict[int, int] = {}  # echoed block → the block whose real run stands for it

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out, used = _run(self.block, args, kwargs)
        self.flops.append(used)
        self.kinds.append(_Kind((self.layer_kind, _signature((args, kwargs))), used, out, 0))
        return out

    def real(self, block: nn.Module, signature: Any, args: Any, kwargs: Any, layer: int) -> Any:
        """A block called unlike any block before it: run for real, its call a new kind."""
        out, used = _run(block, args, kwargs)
        self.kinds.append(_Kind(signature, used, out, layer))
        return out

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.block, name)


class _Echo(nn.Module):
    """Stands in for a block identical to the first: called as a block of a kind already run, it passes the
    hidden state through unchanged (a new tensor of its shape, as a real block returns) and computes
    nothing; called unlike any before, it runs its block for real. Other attributes come from the block."""

    def __init__(self, block: nn.Module, first: _Measured, layer_kind: str | None, layer: int) -> None:
        super().__init__()
        object.__setattr__(self, "_original", block)
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "_layer_kind", layer_kind)
        object.__setattr__(self, "_layer", layer)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = self._first
        signature = (self._layer_kind, _signature((args, kwargs)))
        kind = next((k for k in first.kinds if _same(k.signature, signature)), None)
        if kind is None:  # e.g. full attention after window attention: this kind runs for real once
            return first.real(self._original, signature, args, kwargs, self._layer)
        first.echoed += kind.flops
        first.stands_for[self._layer] = kind.layer
        hidden = args[0] if args else kwargs["hidden_states"]
        if isinstance(hidden, torch.Tensor) and hidden.device.type == "meta":
            hidden = torch.empty_like(hidden)  # a new tensor, as a real block returns (what a caller keeps of
            # every layer, e.g. all hidden states, then holds one per layer)
        return (hidden, *kind.tail) if kind.tail is not None else hidden

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


def _signature(value: Any) -> Any:
    """What a block's cost depends on in its inputs: a meta tensor's shape, dtype and device (no data), a real
    tensor itself (its values: attention spans), containers element by element, anything else as it is."""
    if isinstance(value, torch.Tensor):
        return ("meta tensor", tuple(value.shape), value.dtype) if value.device.type == "meta" else value
    if isinstance(value, (tuple, list)):
        return type(value)(_signature(v) for v in value)
    if isinstance(value, dict):
        return {k: _signature(v) for k, v in value.items()}
    return value


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
    kinds = _layer_kinds(owner, len(blocks))
    first = _Measured(blocks[0], flops, kinds[0])
    echoes = (_Echo(b, first, k, i) for i, (b, k) in enumerate(zip(blocks, kinds, strict=True)) if i)
    setattr(owner, attr, nn.ModuleList([first, *echoes]))
    try:
        yield first
    finally:
        setattr(owner, attr, blocks)


def _layer_kinds(owner: nn.Module, n: int) -> list[str | None]:
    """Each block's layer kind from the config's ``layer_types`` (sliding-window or full attention: caches
    of different lengths, so each kind is measured apart even where the inputs look alike)."""
    kinds = getattr(getattr(owner, "config", None), "layer_types", None)
    return [str(k) for k in kinds] if isinstance(kinds, (list, tuple)) and len(kinds) == n else [None] * n


def _alike(index: ModuleIndex, stack: str | None) -> int:
    """Number of blocks in ``stack`` when all have one class and the blocks of each layer kind one parameter
    count (echoable by kind: a hybrid stack's linear-attention and full-attention layers each have theirs),
    else 0."""
    if stack is None or not isinstance(index.modules.get(stack), nn.ModuleList):
        return 0
    kids = index.children(stack)
    kinds = _layer_kinds(index.modules[stack.rpartition(".")[0]], len(kids))
    counts = {(kind, index.count(k)) for k, kind in zip(kids, kinds, strict=True)}
    alike = len({type(index.modules[k]) for k in kids}) == 1 and len(counts) == len({kind for kind, _ in counts})
    return len(kids) if alike and len(kids) > 1 else 0


def uniform(index: ModuleIndex, stack: str | None) -> int:
    """Number of blocks in ``stack`` when all are alike (one class, one parameter count, one layer kind),
    else 0."""
    n = _alike(index, stack)
    if not n:
        return 0
    assert stack is not None
    # layers of several kinds (sliding-window / full / linear attention) keep caches of different shapes
    return n if len(set(_layer_kinds(index.modules[stack.rpartition(".")[0]], n))) == 1 else 0


def count_stacked(fn: Any, index: ModuleIndex, stack: str | None, on_meta: bool = True) -> int:
    """FLOPs of ``fn`` (a forward through a stack of N identical blocks) from one forward that runs only the
    first block of each kind for real.

    Every other block of the stack is echoed (its input hidden state passed on unchanged, which has the
    shape the real block would return), so everything around the stack — embeddings, norms, taps of
    intermediate layers, heads — runs as in the real forward; each echoed block counts its kind's FLOPs.
    A FLOP count depends only on shapes, so this equals the full forward (the test suite checks it against
    full forwards over the catalog and the zoo). Layers of several kinds (``layer_types``: sliding-window
    and full attention keep caches of different lengths) are measured once per kind; stacks of unlike blocks
    run in full, as does any forward the echo cannot stand in for."""
    if _alike(index, stack):
        assert stack is not None
        echoed, _ = first_that_runs(("echo", lambda: _echoed_count(fn, index, stack, on_meta)))
        if echoed is not None:
            return echoed
    return count(fn, on_meta)  # unlike blocks, or a forward the echo cannot stand in for: run it in full


def _echoed_count(fn: Any, index: ModuleIndex, stack: str, on_meta: bool) -> int | None:
    """FLOPs of ``fn`` with the first block of each kind of call run for real (the outer count holds them)
    and the others echoed, each counted as its kind; None when the stack ran more than once."""
    flops: list[int] = []
    with _echoed(index, stack, flops) as first:
        outer = count(fn, on_meta)
    if len(flops) != 1:
        return None
    return outer + first.echoed


@contextmanager
def layers_echoed(index: ModuleIndex, stack: str | None) -> Iterator[dict[int, int]]:
    """Within: one forward through the stack, its blocks echoed by kind; yields {echoed block: the block whose
    real run stands for it}, filled as the forward runs (a cache then holds only the real blocks' layers,
    each standing for its kind). Empty, and every block real, where the stack cannot be echoed."""
    if not _alike(index, stack):
        yield {}
        return
    assert stack is not None
    with _echoed(index, stack, []) as first:
        yield first.stands_for


def run_echoed(fn: Any, index: ModuleIndex, stack: str | None) -> Any:
    """Run ``fn`` with the stack's first block for real and the others echoed (a stack of identical blocks:
    what one block holds is what each holds); the whole forward where the echo cannot stand in."""
    if _alike(index, stack):
        assert stack is not None
        flops: list[int] = []
        with _echoed(index, stack, flops):
            result = fn()
        if len(flops) == 1:
            return result
        del result  # what the echoed run returned is not held during the full one
    return fn()
