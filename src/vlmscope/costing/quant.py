"""Weights as quantized checkpoints store them: packed integers, per-group scales and zeros in their stored
dtypes, GPTQ's g_idx, bitsandbytes' absmax blocks and per-row scales, FP8 block scales; and the modules each
method leaves at the compute dtype. Counted tensor by tensor over the skeleton, from each Linear's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vlmscope.anatomy.index import ModuleIndex, parent_of, under
from vlmscope.anatomy.roles import Roles, role_of
from vlmscope.costing import compressed
from vlmscope.data import DTYPE_BYTES, Quant, QuantMethod

NF4_BLOCK = 64  # bitsandbytes 4-bit: one absmax per 64 weights
NESTED_BLOCK = 256  # double quantization: one fp32 scale per 256 absmax values
FP8_BLOCK = 128  # transformers' FineGrainedFP8: one fp32 scale per 128 × 128 block


SCOPES = {"text_config": "language", "vision_config": "vision"}  # a sub-config's quantization_config covers this role


def packed(quant: Quant) -> bool:
    """A quantization method with its own storage layout; ``--dtype int8`` / ``fp8`` / ``int4`` are plain
    dtypes applied to every weight."""
    method = QuantMethod.of(quant.method)
    return method is not None and method.packed and quant.source != "--dtype"


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def linear_bytes(out_features: int, in_features: int, quant: Quant) -> int:
    """Bytes one quantized Linear weight is stored in (its bias is counted apart, at the compute dtype)."""
    n, m = out_features * in_features, quant.method
    if quant.scheme is not None:
        return compressed.linear_bytes(out_features, in_features, quant.scheme)
    if not packed(quant):
        return int(n * DTYPE_BYTES[m])  # a plain dtype: every weight at that width
    groups = _ceil(in_features, quant.group_size) if quant.group_size > 0 else 1
    if m == QuantMethod.awq_int4:  # qweight int32 (in, out/8); qzeros int32 (groups, out/8); scales fp16 (groups, out)
        return n // 2 + groups * out_features // 2 + 2 * groups * out_features
    if m in (QuantMethod.gptq_int4, QuantMethod.gptq_int8):  # qweight int32 packed along in; qzeros along out;
        # g_idx int32
        bits = 4 if m == QuantMethod.gptq_int4 else 8
        return n * bits // 8 + groups * out_features * bits // 8 + 2 * groups * out_features + 4 * in_features
    if m == QuantMethod.int8:  # LLM.int8: int8 weight and one fp32 scale per output row (SCB)
        return n + 4 * out_features
    if m == QuantMethod.nf4:  # packed 4-bit, absmax per 64 (fp32; or uint8 + nested fp32 scales), and the code maps
        blocks = _ceil(n, NF4_BLOCK)
        if quant.double_quant:
            return _ceil(n, 2) + blocks + 4 * _ceil(blocks, NESTED_BLOCK) + 4 * 16 + 4 * 256
        return _ceil(n, 2) + 4 * blocks + 4 * 16
    return n + 4 * _ceil(out_features, FP8_BLOCK) * _ceil(in_features, FP8_BLOCK)  # fp8: fp32 per 128 × 128


def quantized_roles(quant: Quant) -> str:
    """Which Linear layers a method quantizes by default; all other weights stay at the compute dtype."""
    if quant.scheme is not None:
        scope = f" of the {quant.scope} model" if quant.scope else ""
        kept = (f"the Linear layers{scope} its config targets ({compressed.describe(quant.scheme)}); "
                f"ignored: {', '.join(quant.scheme.ignore)[:300] or 'none'}; every other weight at 16 bit")
        return kept
    if (method := QuantMethod.of(quant.method)) is not None and method.decoder_only:
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
    """Bytes of every parameter as the checkpoint of ``quant`` stores it, in total and per role. A fused
    experts tensor (experts × out × in) is stored as one Linear per expert, gate and up apart."""
    by_role: dict[str, int] = {}
    linears = 0
    skip = frozenset(quant.skip_modules)  # matched in one pass: a set lookup per run of a path's components
    for name, numel in index.params.items():
        path = parent_of(name)
        module = index.modules.get(path)
        role = str(role_of(name, roles))
        shapes = _linear_shapes(module, name)
        if shapes and _quantizes(path if isinstance(module, nn.Linear) else f"{path}.0.{name.rpartition('.')[2]}",
                                 role, roles, quant, skip):
            size = sum(count * linear_bytes(out, inp, quant) for count, out, inp in shapes)
            linears += sum(count for count, _, _ in shapes)
        elif not packed(quant):  # a plain dtype: every tensor at it
            size = int(numel * DTYPE_BYTES[quant.method])
        else:
            size = 2 * numel  # embeddings, norms, convolutions, biases and skipped modules: bf16 / fp16
        by_role[role] = by_role.get(role, 0) + size
    return Stored(sum(by_role.values()), by_role, linears)


def packed_linears(index: ModuleIndex, roles: Roles, quant: Quant) -> list[str]:
    """The names of the Linear modules ``quant`` packs, as ``stored_weights`` counts them."""
    skip = frozenset(quant.skip_modules)
    return [name for name, module in index.modules.items() if isinstance(module, nn.Linear)
            and _quantizes(name, str(role_of(f"{name}.weight", roles)), roles, quant, skip)]


def _linear_shapes(module: nn.Module | None, name: str) -> list[tuple[int, int, int]]:
    """(how many, out, in) of the Linear weights a parameter is: a Linear's weight, or a fused experts tensor
    (transformers' experts modules: (experts, out, in), or (experts, in, out) where ``is_transposed``)."""
    if isinstance(module, nn.Linear):
        return [(1, module.out_features, module.in_features)] if name.endswith("weight") else []
    attr = name.rpartition(".")[2]
    param = getattr(module, attr, None)
    if module is None or not hasattr(module, "is_transposed") or not isinstance(param, nn.Parameter) \
            or param.dim() != 3:
        return []
    experts, out, inp = param.shape if not module.is_transposed else (param.shape[0], param.shape[2], param.shape[1])
    if attr == "gate_up_proj" and getattr(module, "has_gate", False) and out % 2 == 0:
        return [(2 * experts, out // 2, inp)]  # stored as gate_proj and up_proj per expert
    return [(experts, out, inp)]


def _quantizes(path: str, role: str, roles: Roles, quant: Quant, skip: frozenset[str]) -> bool:
    m = quant.method
    if not packed(quant) or (roles.head is not None and under(path, roles.head)):
        return False
    if quant.scope is not None and role != quant.scope:
        return False
    if quant.scheme is not None:
        return compressed.quantizes(path, "Linear", quant.scheme)
    parts = path.split(".")  # a skipped name is the module, one above it, or a run of their names
    if skip and any(".".join(parts[i:j]) in skip for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)):
        return False
    if (method := QuantMethod.of(m)) is not None and method.decoder_only:
        return role == "language" and under(path, roles.language_stack)
    return role in ("vision", "connector", "language", "model")


def from_config(config: dict[str, Any]) -> Quant | None:
    """The quantization a config's ``quantization_config`` describes (a quantized Hub repo), or None. One in a
    sub-config (Kimi-K2.5's ``text_config``) covers that sub-model only."""
    found = _config_of(config)
    if found is None:
        return None
    q, scope, dtype = found
    kind = str(q.get("quant_method", "")).lower()
    if kind == "compressed-tensors":
        return compressed.from_config(q, dtype, scope)
    group = q.get("group_size", q.get("q_group_size", 128))
    group = int(group) if isinstance(group, int) and not isinstance(group, bool) else 128
    skip = tuple(str(s) for s in (q.get("modules_to_not_convert") or q.get("llm_int8_skip_modules") or ()))
    bits = q.get("bits", q.get("w_bit"))
    if kind == "awq" and bits == 4:
        return Quant(QuantMethod.awq_int4, group, skip_modules=skip, source="quantization_config", scope=scope)
    if kind == "gptq" and bits in (4, 8):
        return Quant(f"gptq-int{bits}", group if group > 0 else -1, skip_modules=skip, source="quantization_config",
                     scope=scope)
    if kind == "bitsandbytes" and q.get("load_in_4bit"):
        return Quant(QuantMethod.nf4, 64, double_quant=bool(q.get("bnb_4bit_use_double_quant")), skip_modules=skip,
                     source="quantization_config", scope=scope)
    if kind == "bitsandbytes" and q.get("load_in_8bit"):
        return Quant(QuantMethod.int8, 0, skip_modules=skip, source="quantization_config", scope=scope)
    if kind == "fp8":
        return Quant(QuantMethod.fp8, FP8_BLOCK, skip_modules=skip, source="quantization_config", scope=scope)
    return None  # a method vlmscope does not model: the sheet says so and counts the config's dtype


def config_of(config: dict[str, Any]) -> dict[str, Any] | None:
    """The ``quantization_config`` a model's config carries, at the top or in one sub-config."""
    found = _config_of(config)
    return None if found is None else found[0]


def _config_of(config: dict[str, Any]) -> tuple[dict[str, Any], str | None, Any] | None:
    q = config.get("quantization_config")
    if isinstance(q, dict):
        return q, None, config.get("dtype", config.get("torch_dtype"))
    for key, role in SCOPES.items():
        sub = config.get(key)
        if isinstance(sub, dict) and isinstance(sub.get("quantization_config"), dict):
            return sub["quantization_config"], role, sub.get("dtype", sub.get("torch_dtype", config.get("dtype")))
    return None
