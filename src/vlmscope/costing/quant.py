"""Weights as quantized checkpoints store them: packed integers, per-group scales and zeros in their stored
dtypes, GPTQ's g_idx, bitsandbytes' absmax blocks and per-row scales, FP8 block scales; and the modules each
method leaves at the compute dtype. Counted tensor by tensor over the skeleton, from each Linear's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vlmscope.anatomy.index import ModuleIndex, parent_of, under
from vlmscope.anatomy.roles import Roles, role_of
from vlmscope.data import DTYPE_BYTES, Quant

NF4_BLOCK = 64  # bitsandbytes 4-bit: one absmax per 64 weights
NESTED_BLOCK = 256  # double quantization: one fp32 scale per 256 absmax values
FP8_BLOCK = 128  # transformers' FineGrainedFP8: one fp32 scale per 128 × 128 block


PACKED = ("fp8", "int8", "nf4", "awq-int4", "gptq-int4", "gptq-int8")  # methods with a storage layout of their own


def packed(quant: Quant) -> bool:
    """A quantization method with its own storage layout; ``--dtype int8`` / ``fp8`` / ``int4`` are plain
    dtypes applied to every weight."""
    return quant.method in PACKED and quant.source != "--dtype"


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def linear_bytes(out_features: int, in_features: int, quant: Quant) -> int:
    """Bytes one quantized Linear weight is stored in (its bias is counted apart, at the compute dtype)."""
    n, m = out_features * in_features, quant.method
    if not packed(quant):
        return int(n * DTYPE_BYTES[m])  # a plain dtype: every weight at that width
    groups = _ceil(in_features, quant.group_size) if quant.group_size > 0 else 1
    if m == "awq-int4":  # qweight int32 (in, out/8); qzeros int32 (groups, out/8); scales fp16 (groups, out)
        return n // 2 + groups * out_features // 2 + 2 * groups * out_features
    if m in ("gptq-int4", "gptq-int8"):  # qweight int32 packed along in; qzeros packed along out; g_idx int32
        bits = 4 if m == "gptq-int4" else 8
        return n * bits // 8 + groups * out_features * bits // 8 + 2 * groups * out_features + 4 * in_features
    if m == "int8":  # LLM.int8: int8 weight and one fp32 scale per output row (SCB)
        return n + 4 * out_features
    if m == "nf4":  # packed 4-bit, absmax per 64 (fp32; or uint8 + nested fp32 scales), and the code maps
        blocks = _ceil(n, NF4_BLOCK)
        if quant.double_quant:
            return _ceil(n, 2) + blocks + 4 * _ceil(blocks, NESTED_BLOCK) + 4 * 16 + 4 * 256
        return _ceil(n, 2) + 4 * blocks + 4 * 16
    return n + 4 * _ceil(out_features, FP8_BLOCK) * _ceil(in_features, FP8_BLOCK)  # fp8: fp32 per 128 × 128


def quantized_roles(quant: Quant) -> str:
    """Which Linear layers a method quantizes by default; all other weights stay at the compute dtype."""
    if quant.method in ("awq-int4", "gptq-int4", "gptq-int8"):
        kept = "the language model's decoder-block linears (AutoAWQ / GPTQ); vision, connector, embeddings and "\
               "LM head at 16 bit"
    elif packed(quant):
        kept = "every Linear of vision, connector and language model; the LM head, embeddings, norms and " \
               "convolutions at 16 bit"
    else:
        return f"none: every weight at {quant.method}"
    skipped = f"; also kept: {', '.join(quant.skip_modules)}" if quant.skip_modules else ""
    return kept + skipped


@dataclass(frozen=True)
class Stored:
    bytes: int
    by_role: dict[str, int]
    quantized_linears: int


def stored_weights(index: ModuleIndex, roles: Roles, quant: Quant) -> Stored:
    """Bytes of every parameter as the checkpoint of ``quant`` stores it, in total and per role."""
    by_role: dict[str, int] = {}
    linears = 0
    for name, numel in index.params.items():
        path = parent_of(name)
        module = index.modules.get(path)
        role = str(role_of(name, roles))
        if isinstance(module, nn.Linear) and name.endswith("weight") and _quantizes(path, role, roles, quant):
            size = linear_bytes(module.out_features, module.in_features, quant)
            linears += 1
        elif not packed(quant):  # a plain dtype: every tensor at it
            size = int(numel * DTYPE_BYTES[quant.method])
        else:
            size = 2 * numel  # embeddings, norms, convolutions, biases and skipped modules: bf16 / fp16
        by_role[role] = by_role.get(role, 0) + size
    return Stored(sum(by_role.values()), by_role, linears)


def _quantizes(path: str, role: str, roles: Roles, quant: Quant) -> bool:
    m = quant.method
    if not packed(quant) or (roles.head is not None and under(path, roles.head)):
        return False
    if any(part and f".{part}." in f".{path}." for part in quant.skip_modules):  # the module or one above it
        return False
    if m in ("awq-int4", "gptq-int4", "gptq-int8"):
        return role == "language" and under(path, roles.language_stack)
    return role in ("vision", "connector", "language", "model")


def from_config(config: dict[str, Any]) -> Quant | None:
    """The quantization a config's ``quantization_config`` describes (a quantized Hub repo), or None."""
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        return None
    kind = str(q.get("quant_method", "")).lower()
    group = q.get("group_size", q.get("q_group_size", 128))
    group = int(group) if isinstance(group, int) and not isinstance(group, bool) else 128
    skip = tuple(str(s) for s in (q.get("modules_to_not_convert") or q.get("llm_int8_skip_modules") or ()))
    bits = q.get("bits", q.get("w_bit"))
    if kind == "awq" and bits == 4:
        return Quant("awq-int4", group, skip_modules=skip, source="quantization_config")
    if kind == "gptq" and bits in (4, 8):
        return Quant(f"gptq-int{bits}", group if group > 0 else -1, skip_modules=skip, source="quantization_config")
    if kind == "bitsandbytes" and q.get("load_in_4bit"):
        return Quant("nf4", 64, double_quant=bool(q.get("bnb_4bit_use_double_quant")), skip_modules=skip,
                     source="quantization_config")
    if kind == "bitsandbytes" and q.get("load_in_8bit"):
        return Quant("int8", 0, skip_modules=skip, source="quantization_config")
    if kind == "fp8":
        return Quant("fp8", FP8_BLOCK, skip_modules=skip, source="quantization_config")
    return None  # a method vlmscope does not model: the sheet says so and counts the config's dtype
