"""Chunked linear-attention scans traced over a few chunks and scaled to the prompt.

A hybrid language model's linear-attention layers (Qwen3.5's and Qwen3-Next's Gated DeltaNet, Kimi's delta
attention) have no fused kernel on the CPU: transformers' reference code cuts the sequence into 64-token chunks
and loops over them in Python, carrying a recurrent state from chunk to chunk. On meta tensors the loop does
nothing useful, yet a trace of a 262,144-token prompt runs it 4,096 times per layer kind, twice.

While ``scans_scaled`` is active, a call of such a function on meta tensors longer than ``MIN_CHUNKS`` chunks
runs the function itself three times, over the first 2, 3 and 4 chunks' worth of positions (the same
remainder of the last chunk, so the same padding), with every outer counter paused. Everything the function
does is a fixed amount of work per chunk plus a fixed amount per call: each operation's FLOPs, the bytes it
holds at its peak and the shapes it returns are affine in the number of chunks. The three probes check that
(any other shape of growth runs the call in full), and the figures at the prompt's number of chunks are
extrapolated from them and handed to the outer FLOP counters and activation trace as if the call had run.
The call returns new tensors of the shapes the full call returns.
"""

from __future__ import annotations

import inspect
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.flop_counter import FlopCounterMode, _FlopCounterMode

from vlmscope.costing.activations import Live

SCANS = ("torch_chunk_gated_delta_rule", "chunk_kimi_delta_attention")  # transformers' names, module-level
SEQUENCE = ("query", "key", "value", "g", "beta")  # arguments laid out (batch, sequence, ...)
PROBES = (2, 3, 4)  # chunks per probe
MIN_CHUNKS = 8  # shorter calls run in full


class Scaled:
    """What was scaled within ``scans_scaled``: the function names and the largest number of chunks."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.chunks = 0

    def said(self) -> str:
        """The method's words for it; empty when nothing was scaled."""
        if not self.names:
            return ""
        return (f"chunked scans ({', '.join(sorted(self.names))}) traced over {', '.join(map(str, PROBES))} "
                f"chunks and scaled to the prompt's (up to {self.chunks:,})")


@contextmanager
def scans_scaled() -> Iterator[Scaled]:
    """Within: transformers' chunked-scan functions (``SCANS``, in every modeling module loaded) scale."""
    record = Scaled()
    patched: list[tuple[Any, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("transformers.models.") or module is None:
            continue
        for scan in SCANS:
            original = module.__dict__.get(scan)
            if callable(original):
                patched.append((module, scan, original))
                setattr(module, scan, _scaling(original, scan, record))
    try:
        yield record
    finally:
        for module, scan, original in patched:
            setattr(module, scan, original)


def _scaling(fn: Callable[..., Any], name: str, record: Scaled) -> Callable[..., Any]:
    signature = inspect.signature(fn)

    def scan(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        query = bound.arguments["query"]
        chunk = int(bound.arguments.get("chunk_size") or 64)
        length = query.shape[1]
        chunks = -(-length // chunk)
        if query.device.type != "meta" or chunks < MIN_CHUNKS:
            return fn(*args, **kwargs)
        last = length - chunk * (chunks - 1)  # positions in the last chunk: the probes pad as the call does
        probes = [_probe(fn, bound, chunk * (n - 1) + last) for n in PROBES]
        scaled = _extrapolate(probes, chunks)
        if scaled is None:  # not affine in the chunks: this call runs in full
            return fn(*args, **kwargs)
        flops, peak, shapes = scaled
        _hand_over(flops, peak)
        record.names.add(name)
        record.chunks = max(record.chunks, chunks)
        return shapes()

    return scan


class _Recording(Live):
    """An activation trace that also notes, after each operation, the operation and the bytes then held."""

    def __init__(self) -> None:
        super().__init__(set())
        self.events: list[tuple[Any, int]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = super().__torch_dispatch__(func, types, args, kwargs)
        self.events.append((func, self.live))
        return out


Probe = tuple[dict[Any, int], list[tuple[Any, int]], list[Any], Any]  # FLOPs per op, events, outputs, structure


def _probe(fn: Callable[..., Any], bound: inspect.BoundArguments, positions: int) -> Probe:
    """The call over the first ``positions`` positions, with the outer counters paused."""
    with _disable_current_modes():
        cut = inspect.BoundArguments(bound.signature, OrderedDict(
            (k, v[:, :positions] if k in SEQUENCE and isinstance(v, torch.Tensor) else v)
            for k, v in bound.arguments.items()))
        live = _Recording()
        with FlopCounterMode(display=False) as counter, live:
            out = fn(*cut.args, **cut.kwargs)
        leaves, spec = tree_flatten(out)
        shapes = [(tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else t for t in leaves]
        del out, leaves
        return dict(counter.flop_counts["Global"]), live.events, shapes, spec


def _affine(values: list[int], chunks: int) -> int | None:
    """The value at ``chunks`` of a sequence measured at ``PROBES``; None when its steps differ."""
    step = values[1] - values[0]
    if values[2] - values[1] != step:
        return None
    return values[0] + (chunks - PROBES[0]) * step


def _peak(traces: list[list[tuple[Any, int]]], chunks: int) -> int | None:
    """The peak bytes at ``chunks`` chunks, operation by operation: the bytes held after each are affine in the
    chunks (so the peak is the largest of affine functions, and the operation where it falls can move as the
    prompt grows). An operation before the loop, or in its first two rounds, is at the same place counted
    from the start in every probe; one after it, or in its last two rounds (all rounds after the first hold
    alike), from the end. Places where the probes ran different operations, or held bytes that do not grow
    affinely, are not the same operation. None when the operations kept do not give each probe its own peak."""
    shortest = min(len(t) for t in traces)
    lines: list[list[int]] = []
    for place in (*range(shortest), *range(-shortest, 0)):
        seen = [t[place] for t in traces]
        values = [v for _, v in seen]
        if len({op for op, _ in seen}) == 1 and _affine(values, chunks) is not None:
            lines.append(values)
    if not lines:
        return None
    for i, trace in enumerate(traces):
        if max(line[i] for line in lines) != max(v for _, v in trace):
            return None
    return max(_affine(line, chunks) or 0 for line in lines)


def _extrapolate(probes: list[Probe], chunks: int) -> tuple[dict[Any, int], int, Callable[[], Any]] | None:
    ops = set().union(*(p[0] for p in probes))
    flops = {op: _affine([p[0].get(op, 0) for p in probes], chunks) for op in ops}
    peak = _peak([p[1] for p in probes], chunks)
    if peak is None or any(v is None for v in flops.values()):
        return None
    leaves = [_leaf([p[2][i] for p in probes], chunks) for i in range(len(probes[0][2]))]
    if any(leaf is _NOT_AFFINE for leaf in leaves):
        return None
    spec = probes[0][3]

    def shapes() -> Any:
        return tree_unflatten([torch.empty(leaf[0], dtype=leaf[1], device="meta")
                               if isinstance(leaf, tuple) else leaf for leaf in leaves], spec)

    return {op: int(v or 0) for op, v in flops.items()}, peak, shapes


_NOT_AFFINE = object()


def _leaf(seen: list[Any], chunks: int) -> Any:
    """An output's (shape, dtype) at ``chunks``, each side affine in the chunks; anything else as returned."""
    if not all(isinstance(s, tuple) for s in seen):
        return seen[0] if all(s == seen[0] for s in seen) else _NOT_AFFINE
    if len({len(s[0]) for s in seen}) != 1 or len({s[1] for s in seen}) != 1:
        return _NOT_AFFINE
    sides = [_affine([s[0][d] for s in seen], chunks) for d in range(len(seen[0][0]))]
    return _NOT_AFFINE if any(side is None for side in sides) else (tuple(sides), seen[0][1])


def _hand_over(flops: dict[Any, int], peak: int) -> None:
    """Count the scaled call in every FLOP counter and activation trace active around it."""
    for mode in _get_current_dispatch_mode_stack():
        if isinstance(mode, _FlopCounterMode):
            counter = mode.counter
            for parent in set(counter.mod_tracker.parents):
                for op, n in flops.items():
                    counter.flop_counts[parent][op] += n
        elif isinstance(mode, Live):
            mode.peak = max(mode.peak, mode.live + peak)
