"""Packed attention spans run as one call per span length, not one call per span.

A native-resolution encoder (Qwen2-VL family, GLM-4.1V, MiniCPM-V 4.6) packs its images into one sequence and
attends within spans: one per image, or one per window in Qwen2.5-VL's window-attention blocks. With SDPA,
transformers' code calls attention once per span, in Python: a 16,000² image is 10,000 windows a block, and
the trace of the calls, not the arithmetic, takes the time. With a flash-attention implementation the same
code passes the spans' bounds (``cu_seq_lens_q``) in one call instead.

Here the encoder is given such an implementation for the length of a trace: it runs every run of
consecutive spans of one length as one batched SDPA call (a batch of ``n`` sequences of ``L``), then joins
the outputs along the sequence as the per-span code does (``torch.cat``). On meta tensors, which hold no
values, all the spans of one length are one call, wherever they lie. The arithmetic is the per-span
code's, call for call (attention within each span only), so FLOPs are equal; the tensors held are the
per-span outputs and their concatenation, as in the per-span code. The trace's work grows with the number
of distinct span lengths, not with the image's size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby, pairwise
from typing import Any

import torch
from torch import nn

# "flash" in the name is what transformers' encoders test (``is_flash_attention_requested``) to pass the
# spans' bounds in one call
NAME = "vlmscope_flash_spans"


def spans_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """SDPA over the spans ``cu_seq_lens_q`` bounds in a (1, heads, sequence, dim) query, runs of equal
    spans batched; without bounds, SDPA as transformers calls it. Returns (1, sequence, heads, dim)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds_q = kwargs.pop("cu_seq_lens_q", None)
    bounds_k = kwargs.pop("cu_seq_lens_k", None)
    for key_name in ("max_length_q", "max_length_k"):
        kwargs.pop(key_name, None)
    if bounds_q is None or (bounds_k is not None and not torch.equal(bounds_q.cpu(), bounds_k.cpu())):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    edges = [int(b) for b in bounds_q.tolist()]
    lengths = [b - a for a, b in pairwise(edges)]
    outputs = []
    for length, n, start in _runs(lengths, edges[0], meta=query.device.type == "meta"):
        part = [t[0, :, start:start + n * length].unflatten(1, (n, length)).transpose(0, 1)
                for t in (query, key, value)]
        q, k, v = part
        out, _ = sdpa_attention_forward(module, q, k, v, None, **kwargs)  # (n, length, heads, dim)
        outputs.append(out.reshape(1, n * length, *out.shape[2:]))
    return torch.cat(outputs, dim=1), None


def _runs(lengths: list[int], first: int, meta: bool) -> Iterator[tuple[int, int, int]]:
    """(length, count, start) of the runs of spans batched together: consecutive spans of one length; on
    meta tensors, which hold no values, all spans of one length, read from any slice of that many
    positions (the first), so the calls grow with the distinct lengths, not with the number of images."""
    if meta:
        for length, n in sorted(Counter(x for x in lengths if x).items()):
            yield length, n, 0
        return
    start = first
    for length, run in groupby(lengths):
        n = len(list(run))
        if length:
            yield length, n, start
        start += n * length


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, spans_attention)


@contextmanager
def spans_batched(tower: nn.Module) -> Iterator[None]:
    """Within the block: ``tower``'s modules that attend with SDPA (transformers' default) use
    ``spans_attention``. Eager attention and any other implementation stay as they are."""
    _register()
    with sdpa_replaced(tower, NAME):
        yield


@contextmanager
def sdpa_replaced(module: nn.Module, name: str) -> Iterator[None]:
    """Within the block: the configs of ``module``'s sub-modules that attend with SDPA name the attention
    implementation ``name`` (registered with transformers' ``AttentionInterface``); back to SDPA after."""
    from transformers import PretrainedConfig

    configs = {id(c): c for m in module.modules() if isinstance(c := getattr(m, "config", None), PretrainedConfig)}
    changed = [c for c in configs.values() if getattr(c, "_attn_implementation_internal", None) == "sdpa"]
    for config in changed:
        config._attn_implementation_internal = name
    try:
        yield
    finally:
        for config in changed:
            config._attn_implementation_internal = "sdpa"
