"""``compressed-tensors`` checkpoints (llm-compressor, Kimi-K2's native INT4, NVFP4 releases): which Linear
layers a config quantizes and the tensors each one stores, byte for byte, as the library writes them:

- ``pack-quantized``: ``weight_packed`` int32 (out, ⌈in × bits / 32⌉), ``weight_shape`` int64 [2], scales, and
  for asymmetric schemes ``weight_zero_point`` packed int32 along the output (⌈out × bits / 32⌉, groups);
- ``nvfp4-pack-quantized``: ``weight_packed`` uint8 (out, ⌈in / 2⌉), fp8 scales per 16, a float32 global scale;
- ``int-quantized`` / ``float-quantized`` / ``naive-quantized``: the weight at ``bits`` each, scales and zero
  points unpacked.

Scales are stored one per tensor, per output row, per group of the input, or per block, in ``scale_dtype``
(the checkpoint's dtype when the config names none). Names and patterns are matched against the skeleton's
module names; a pattern anchored to another naming of the checkpoint matches nothing, as it would not in
transformers either."""

from __future__ import annotations

import re
from typing import Any

from vlmscope.data import CompressedScheme, Quant, QuantMethod

FORMATS = ("pack-quantized", "int-quantized", "float-quantized", "naive-quantized", "nvfp4-pack-quantized")
STRATEGIES = ("tensor", "channel", "group", "block", "tensor_group")
MAX_PATTERNS = 64  # targets + ignore entries read from one config
MAX_PATTERN_CHARS = 256
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)[*+{]")  # (…x+…)+: exponential backtracking
_SCALE_DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e8m0fnu": 1, "uint8": 1}


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def scheme(q: dict[str, Any], checkpoint_bytes: int) -> CompressedScheme | None:
    """The one weight scheme of a ``compressed-tensors`` quantization_config, or None when it is none that
    vlmscope lays out (several groups with different weights, an unknown format or strategy, bad values)."""
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        return None
    weights = [g.get("weights") for g in groups.values() if isinstance(g, dict)]
    if len(weights) != len(groups) or any(w != weights[0] for w in weights) or not isinstance(weights[0], dict):
        return None
    w, fmt = weights[0], q.get("format")
    fmt = next((g.get("format") for g in groups.values() if g.get("format")), fmt)
    bits, strategy, group = w.get("num_bits"), w.get("strategy"), w.get("group_size")
    if fmt not in FORMATS or strategy not in STRATEGIES or type(bits) is not int or not 1 <= bits <= 16:
        return None
    if strategy == "block":
        block = w.get("block_structure")
        group = block[1] if isinstance(block, list) and len(block) == 2 and block[0] == block[1] else None
    elif strategy == "tensor_group" and group is None:
        group = 16
    if strategy in ("group", "block", "tensor_group") and (type(group) is not int or not 1 <= group <= 2**20):
        return None
    targets = _patterns([t for g in groups.values() for t in (g.get("targets") or ())])
    ignore = _patterns(q.get("ignore") or ())
    if targets is None or ignore is None:
        return None
    scale = _SCALE_DTYPES.get(str(w.get("scale_dtype") or "").removeprefix("torch."),
                              1 if strategy == "tensor_group" else checkpoint_bytes)
    return CompressedScheme(str(fmt), bits, "float" if w.get("type") == "float" else "int", str(strategy),
                            int(group or 0), w.get("symmetric", True) is not False, scale, targets, ignore,
                            _input_scales(groups, scale))


def _patterns(values: Any) -> tuple[str, ...] | None:
    """Names and ``re:`` patterns, bounded: a pattern that could backtrack exponentially is refused."""
    if not isinstance(values, (list, tuple)) or len(values) > MAX_PATTERNS:
        return None
    out = []
    for v in values:
        if not isinstance(v, str) or len(v) > MAX_PATTERN_CHARS:
            return None
        if v.startswith("re:"):
            if _NESTED.search(v[3:]):
                return None
            try:
                re.compile(v[3:])
            except re.error:
                return None
        out.append(v)
    return tuple(out)


def _input_scales(groups: dict[str, Any], scale_bytes: int) -> int:
    """Bytes of the input-activation scales a quantized Linear stores: one static ``input_scale`` at the scale
    dtype, or NVFP4's float32 ``input_global_scale``. Dynamic per-token scales are not stored."""
    inputs = next((g.get("input_activations") for g in groups.values() if isinstance(g, dict)), None)
    if not isinstance(inputs, dict):
        return 0
    dynamic = inputs.get("dynamic")
    return 4 if dynamic == "local" else scale_bytes if dynamic is False else 0


def matches(name: str, class_name: str, entries: tuple[str, ...]) -> bool:
    """Whether a module is named by an entry: its class name, its name or a trailing part of it, or a
    ``re:`` pattern matched from the start of the name (as compressed-tensors matches)."""
    for e in entries:
        if e.startswith("re:"):
            if re.match(e[3:], name):
                return True
        elif e in (class_name, name) or name.endswith("." + e):
            return True
    return False


def linear_bytes(out_features: int, in_features: int, s: CompressedScheme) -> int:
    """Bytes of every tensor one quantized Linear stores (its bias is counted apart)."""
    n, bits = out_features * in_features, s.bits
    per_row = _ceil(in_features, s.group_size) if s.strategy in ("group", "tensor_group") else int(
        s.strategy == "channel")
    scales = out_features * per_row if per_row else (
        _ceil(out_features, s.group_size) * _ceil(in_features, s.group_size) if s.strategy == "block" else 1)
    if s.format == "pack-quantized":
        weight = 4 * out_features * _ceil(in_features * bits, 32) + 8 * 2  # + weight_shape
        zeros = 0 if s.symmetric else 4 * _ceil(out_features * bits, 32) * max(per_row, 1)
    elif s.format == "nvfp4-pack-quantized":
        weight, zeros = out_features * _ceil(in_features, 2) + 4, 0  # + the float32 weight_global_scale
    else:
        weight, zeros = _ceil(n * bits, 8), 0 if s.symmetric else scales
    return weight + scales * s.scale_bytes + zeros + s.input_scales


def quantizes(name: str, class_name: str, s: CompressedScheme) -> bool:
    return matches(name, class_name, s.targets) and not matches(name, class_name, s.ignore)


def from_config(q: dict[str, Any], checkpoint_dtype: Any, scope: str | None) -> Quant | None:
    found = scheme(q, _SCALE_DTYPES.get(str(checkpoint_dtype).removeprefix("torch."), 2))
    if found is None:
        return None
    return Quant(QuantMethod.compressed_tensors, found.group_size, source="quantization_config", scheme=found,
                 scope=scope)


def describe(s: CompressedScheme) -> str:
    """The scheme in one phrase: "int4 pack-quantized, group 32, symmetric"."""
    side = f" {s.group_size}" if s.strategy in ("group", "block", "tensor_group") else ""
    return (f"{s.kind}{s.bits} {s.format}, {s.strategy.replace('_', ' ')}{side}, "
            f"{'symmetric' if s.symmetric else 'asymmetric'}")
