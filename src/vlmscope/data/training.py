"""A fine-tuning recipe and what one training step of it keeps: the parameters it trains per role, and the
bytes of parameters, gradients and optimizer states, on one GPU and per GPU when sharded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vlmscope.data.quant import Quant
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_GPUS, MAX_IMAGES, MAX_LORA_RANK, MAX_TOKENS


class Method(StrEnum):
    full = "full"
    lora = "lora"
    qlora = "qlora"


QLORA_BASE = Quant("nf4", double_quant=True)  # QLoRA's base as bitsandbytes stores it (the usual recipe)


class Precision(StrEnum):
    """``bf16``: weights, gradients and optimizer states in bf16 (a model loaded in bf16 and trained);
    ``mixed``: fp32 weights, gradients and states, bf16 autocast for the compute."""

    bf16 = "bf16"
    mixed = "mixed"


class Optimizer(StrEnum):
    adamw = "adamw"
    adamw_fused = "adamw-fused"
    adamw_8bit = "adamw-8bit"
    sgd = "sgd"
    adafactor = "adafactor"


TRAINABLE_ROLES = ("vision", "connector", "language", "lm_head")


@dataclass(frozen=True)
class TrainRecipe:
    """How the model is fine-tuned. Validates itself on construction (one line naming the bad value)."""

    method: str = Method.full
    lora_rank: int = 16
    lora_targets: str = "all-linear"  # module names (comma-separated), a regex (as peft's fullmatch), or all-linear
    lora_roles: tuple[str, ...] = ("language",)  # roles whose modules LoRA may target
    freeze: tuple[str, ...] = ()  # roles a full fine-tune leaves frozen
    precision: str = Precision.bf16
    optimizer: str = Optimizer.adamw
    gpus: int = 1
    zero: int | None = None  # DeepSpeed ZeRO stage 1, 2 or 3
    fsdp: bool = False  # FSDP full shard
    offload: bool = False  # optimizer states (and with ZeRO-3 / FSDP, parameters) on the CPU

    def __post_init__(self) -> None:
        for key, value, kinds in (("method", self.method, Method), ("precision", self.precision, Precision),
                                  ("optimizer", self.optimizer, Optimizer)):
            if value not in {k.value for k in kinds}:
                raise RequestError(key, value, f"one of {', '.join(k.value for k in kinds)}")
            object.__setattr__(self, key, kinds(value))
        if isinstance(self.lora_rank, bool) or not isinstance(self.lora_rank, int) or \
                not 1 <= self.lora_rank <= MAX_LORA_RANK:
            raise RequestError("lora_rank", self.lora_rank, f"an integer from 1 to {MAX_LORA_RANK:,}")
        if not isinstance(self.lora_targets, str) or not self.lora_targets.strip():
            raise RequestError("lora_targets", self.lora_targets, "module names, a regex or all-linear")
        for key in ("lora_roles", "freeze"):
            roles = tuple(getattr(self, key))
            if any(r not in TRAINABLE_ROLES for r in roles):
                raise RequestError(key, ",".join(map(str, roles)), f"roles among {', '.join(TRAINABLE_ROLES)}")
            object.__setattr__(self, key, tuple(sorted(set(roles), key=TRAINABLE_ROLES.index)))
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or not 1 <= self.gpus <= MAX_GPUS:
            raise RequestError("gpus", self.gpus, f"an integer from 1 to {MAX_GPUS:,}")
        if self.zero not in (None, 1, 2, 3):
            raise RequestError("zero", self.zero, "1, 2 or 3")
        if self.zero is not None and self.fsdp:
            raise RequestError("zero", self.zero, "either --zero or --fsdp, not both")
        if self.zero is not None and self.optimizer not in (Optimizer.adamw, Optimizer.adamw_fused):
            raise RequestError("optimizer", str(self.optimizer), "adamw or adamw-fused with --zero (DeepSpeed's "
                               "estimators are Adam's; use --fsdp for the others)")
        if self.offload and self.zero is None and not self.fsdp:
            raise RequestError("offload", self.offload, "--zero N or --fsdp (offloading is theirs)")
        if self.method != Method.full and self.freeze:
            raise RequestError("freeze", ",".join(self.freeze), "--method full (LoRA freezes the base already)")

    @property
    def sharded(self) -> str:
        """How model states are spread over the GPUs, in words."""
        how = f"ZeRO-{self.zero}" if self.zero else "FSDP full shard" if self.fsdp else "replicated (DDP)"
        return f"{how} over {self.gpus} GPU{'s' if self.gpus > 1 else ''}{', offload to CPU' if self.offload else ''}"


@dataclass(frozen=True)
class Trainable:
    """Parameters a recipe trains, per role (LoRA: the adapters, counted under the role of the module they
    adapt), with the modules adapted and the model's parameters left frozen."""

    total: int
    vision: int
    connector: int
    language: int
    lm_head: int
    adapted_modules: int  # LoRA: modules given adapters; full: 0
    frozen: int  # base parameters not trained


@dataclass(frozen=True)
class ModelStates:
    """Bytes of the training step's model states: the whole (one copy) and on each GPU (sharded or
    replicated), with what sits on the CPU when offloaded. Each says how it was counted."""

    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    per_gpu_params_bytes: int
    per_gpu_grads_bytes: int
    per_gpu_optimizer_bytes: int
    cpu_bytes: int
    method: str

    @property
    def per_gpu_bytes(self) -> int:
        return self.per_gpu_params_bytes + self.per_gpu_grads_bytes + self.per_gpu_optimizer_bytes


@dataclass(frozen=True)
class TrainShape:
    """What one training step sees: samples per GPU, tokens per sample (the images' visual tokens included,
    as trainers' cut-off lengths count them), images per sample and their size, gradient checkpointing."""

    micro_batch: int = 1
    seq_len: int = 2048
    images: int = 1
    image_size: tuple[int, int] | None = None  # (width, height); None: the encoder's native size
    checkpointing: bool = False

    def __post_init__(self) -> None:
        for key, low, high in (("micro_batch", 1, MAX_TOKENS), ("seq_len", 2, MAX_TOKENS), ("images", 0, MAX_IMAGES)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise RequestError(key, value, f"an integer from {low} to {high:,}")
        if self.micro_batch * self.seq_len > MAX_TOKENS:
            raise RequestError("micro_batch × seq_len", self.micro_batch * self.seq_len, f"at most {MAX_TOKENS:,}")


@dataclass(frozen=True)
class StepMemory:
    """Bytes on each GPU at each phase of a training step (the largest is the peak), with the activations
    traced: the forward's peak, the backward's (gradients complete by then excluded) and the optimizer
    step's temporaries."""

    forward_bytes: int
    backward_bytes: int
    optimizer_bytes: int
    activation_forward_bytes: int
    activation_backward_bytes: int
    step_temporaries_bytes: int

    @property
    def phases(self) -> dict[str, int]:
        return {"forward": self.forward_bytes, "backward": self.backward_bytes, "optimizer": self.optimizer_bytes}

    @property
    def peak_bytes(self) -> int:
        return max(self.phases.values())

    @property
    def peak_phase(self) -> str:
        return max(self.phases.items(), key=lambda kv: kv[1])[0]


@dataclass(frozen=True)
class TrainSheet:
    """What one training step of a recipe costs a model: parameters trained, model states, memory by phase,
    and against a GPU whether it fits and how far the micro-batch and sequence can go."""

    recipe: TrainRecipe
    shape: TrainShape
    visual_tokens: int  # per sample
    trainable: Trainable
    states: ModelStates
    memory: StepMemory
    gpu_bytes: int | None  # usable: the GPU's memory less the reserve
    fits: bool | None
    max_micro_batch: int | None
    max_seq_len: int | None
    step_flops: int | None  # forward + backward of one step, all GPUs together
    method: str
    warnings: tuple[str, ...] = ()
    one_change: str | None = None  # where it does not fit: the first single change whose step does
