"""Roofline lower bounds on a named accelerator: no real run can be faster, because each bound is the larger
of the time the FLOPs need at the chip's dense peak and the time the bytes that must be read need at its
memory bandwidth."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from vlmscope.data import Latency, Memory, QuantMethod
from vlmscope.errors import RequestError

PACKED_8BIT = (QuantMethod.fp8,)  # methods whose matmuls may run at the chip's 8-bit peak (others dequantize to 16 bit)


@cache
def accelerators() -> dict[str, dict[str, Any]]:
    """The accelerator table (knowledge/accelerators.json): name → specs, each with its source."""
    data = json.loads(resources.files("vlmscope.knowledge").joinpath("accelerators.json").read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def accelerator(name: str) -> tuple[str, dict[str, Any]]:
    """(key, specs) of an accelerator by key or name, case- and punctuation-insensitive (``H100``,
    ``rtx4090``); a bad name gets the list of known ones."""
    table = accelerators()
    want = "".join(ch for ch in name.lower() if ch.isalnum())
    for key, spec in table.items():
        if want in ("".join(ch for ch in key if ch.isalnum()), "".join(ch for ch in spec["name"].lower()
                                                                        if ch.isalnum())):
            return key, spec
    matches = [k for k in table if want and want in "".join(ch for ch in k if ch.isalnum())]
    if len(matches) == 1:
        return matches[0], table[matches[0]]
    raise RequestError("gpu", name, f"one of {', '.join(table)}")


def causal_surplus(tokens: int, width: int, caps: tuple[int | None, ...]) -> int:
    """FLOPs a FLOP counter gives the prefill's attention beyond what a causal kernel needs at least: it
    counts every query against every key (QKᵀ and PV, 4 × width per pair, N² pairs a layer), where a causal
    kernel needs the pairs up to the diagonal (N(N+1)/2), and a sliding-window one only those in its window.
    ``width`` is an upper bound on the query width (heads × head dim) and ``caps`` the layers' windows (None:
    full): a surplus too large only lowers the bound, which stays a bound."""
    surplus = 0
    for cap in caps:
        window = tokens if cap is None else min(tokens, cap + 1)
        pairs = window * (window + 1) // 2 + (tokens - window) * window
        surplus += 4 * width * (tokens * tokens - pairs)
    return surplus


def bounds(gpu: str, prefill_flops: int | None, decode_flops: int | None, memory: Memory, batch: int,
           quant: str, surplus: int = 0) -> Latency:
    """Time to first token (vision + connector + prefill of every sequence of the batch, less the causal
    ``surplus`` of each), time per output token (a step reads the language model's weights, not the vision
    tower's or the connector's, and the whole KV cache) and tokens per second."""
    key, spec = accelerator(gpu)
    peak = spec["bf16_tflops"] * 1e12
    if quant in PACKED_8BIT and spec.get("fp8_tflops"):
        peak = spec["fp8_tflops"] * 1e12
    bandwidth = spec["bandwidth_gb_s"] * 1e9
    weights = memory.weights_bytes
    prefill = None
    said = []
    if prefill_flops is not None:
        compute, reads = max(prefill_flops - surplus, 0) * batch / peak, weights / bandwidth
        prefill = max(compute, reads)
        said.append(f"prefill: {'compute' if compute >= reads else 'memory bandwidth'} (the batch's sequences, "
                    "causal attention at what a causal kernel needs)")
    stepped = weights - memory.weights_by_role.get("vision", 0) - memory.weights_by_role.get("connector", 0)
    step_flops = (decode_flops or 0) * batch
    compute, reads = step_flops / peak, (stepped + memory.kv_cache_bytes) / bandwidth
    decode = max(compute, reads)
    said.append(f"decode: {'compute' if compute > reads else 'memory bandwidth'} (the language model's weights "
                f"and the full KV cache read once per step)")
    return Latency(key, prefill, decode, batch / decode if decode else float("inf"), "; ".join(said))
