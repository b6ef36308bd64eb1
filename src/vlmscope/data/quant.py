"""How a checkpoint stores its weights: the quantization methods vlmscope models, and one method's
parameters as a request or a config gives them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class QuantMethod(StrEnum):
    """How a checkpoint stores its weights: the one list of quantization methods vlmscope models (``--quant``,
    ``CostRequest.quant``, ``Quant.method`` and JSON ``cost.memory.quant`` use these names)."""

    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"  # transformers' FineGrainedFP8: 128 × 128 block scales
    int8 = "int8"  # bitsandbytes LLM.int8
    nf4 = "nf4"  # bitsandbytes 4-bit
    awq_int4 = "awq-int4"
    gptq_int4 = "gptq-int4"
    gptq_int8 = "gptq-int8"
    compressed_tensors = "compressed-tensors"  # read from a config only: its scheme says the rest

    @property
    def packed(self) -> bool:
        """A storage layout of its own (packed integers, scales), not a plain 16-bit dtype."""
        return self not in (QuantMethod.bf16, QuantMethod.fp16)

    @property
    def decoder_only(self) -> bool:
        """AutoAWQ / GPTQ: the language model's decoder-block linears only, with per-group scales."""
        return self in (QuantMethod.awq_int4, QuantMethod.gptq_int4, QuantMethod.gptq_int8)

    @classmethod
    def of(cls, name: str) -> QuantMethod | None:
        """The method named ``name``; None for a plain dtype (``--dtype int4``: every weight at that width)."""
        return cls._value2member_map_.get(name)  # type: ignore[return-value]


QUANT_METHODS = tuple(m.value for m in QuantMethod if m is not QuantMethod.compressed_tensors)  # what --quant takes


@dataclass(frozen=True)
class Quant:
    """How the weights are stored: a plain dtype or a quantization method with its parameters."""

    method: str  # one of QUANT_METHODS, or a plain DType (fp32, int4: every weight at that width)
    group_size: int = 128  # AWQ / GPTQ groups along the input; -1: one group per column
    double_quant: bool = False  # nf4: absmax quantized again (bnb_4bit_use_double_quant)
    skip_modules: tuple[str, ...] = ()  # module names left at the compute dtype (modules_to_not_convert)
    source: str = "--quant"  # "--quant", "quantization_config" or "--dtype"
    scheme: CompressedScheme | None = None  # method "compressed-tensors": the weights' scheme as the config gives it
    scope: str | None = None  # the one role a sub-config's quantization_config covers (text_config: "language")


@dataclass(frozen=True)
class CompressedScheme:
    """One ``compressed-tensors`` weight scheme (``config_groups.*.weights`` and the group's ``format``)."""

    format: str  # "pack-quantized", "int-quantized", "float-quantized", "naive-quantized", "nvfp4-pack-quantized"
    bits: int  # num_bits of the weights
    kind: str  # "int" or "float"
    strategy: str  # "tensor", "channel", "group", "block" or "tensor_group"
    group_size: int  # group / block side along the input; 0 where the strategy has none
    symmetric: bool
    scale_bytes: int  # width of one stored scale (the config's scale_dtype, else the checkpoint's dtype)
    targets: tuple[str, ...]  # class names ("Linear"), module names or "re:" patterns the group quantizes
    ignore: tuple[str, ...]  # module names or "re:" patterns left at the compute dtype
    input_scales: int  # bytes of static input-activation scales each quantized Linear stores
