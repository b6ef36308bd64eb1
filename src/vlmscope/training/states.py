"""Model states of one training step: parameters, gradients and optimizer states, in bytes, on one GPU and
per GPU when sharded. Worked out from the shapes of the tensors trained; each rule names its source.

Dtypes (``--precision``):
- ``bf16``: weights, gradients and optimizer states in bf16 (a model loaded in bf16 and trained as it is).
- ``mixed``: fp32 weights, gradients and states (bf16 autocast for the compute).
- LoRA adapters are fp32 either way (peft's ``autocast_adapter_dtype`` casts them up from a bf16 base), and so
  are their gradients and states. QLoRA's base is nf4 as bitsandbytes stores it (``costing.quant``).

Optimizer states per trained tensor of n elements at b bytes each:
- ``adamw`` (torch.optim.AdamW, foreach): exp_avg and exp_avg_sq, ``zeros_like`` the parameter: 2·n·b. Its
  step counter is a CPU tensor.
- ``adamw-fused``: the same, plus the step counter on the GPU (fp32, 4 B per tensor).
- ``adamw-8bit`` (bitsandbytes AdamW8bit, block-wise): a tensor of 4,096 elements or more keeps two uint8
  states (2·n) and an fp32 absmax per block of 2,048 for each (2·4·⌈n/2048⌉); a smaller one two fp32 states
  (8·n); the two 256-entry fp32 quantization maps are kept once (2 KiB).
- ``sgd`` with momentum: one momentum buffer like the gradient: n·b.
- ``adafactor`` (transformers' Adafactor, no first moment): a tensor of two or more dimensions keeps the
  row and column second moments (all but the last dimension, and all but the second-to-last), a vector a full
  one; in fp32 (its step casts bf16 gradients to fp32 first); and its RMS, a one-element fp32 tensor.

Sharding over N GPUs:
- ZeRO-1/2 follow DeepSpeed's own estimator for both stages (``estimate_zero2_model_states_mem_needs``,
  deepspeed/runtime/zero/stage_1_and_2.py): 2 B per parameter (bf16) and 2 B per trained parameter
  (gradients) on every GPU, plus 16 B per trained parameter (fp32 master weights, Adam's two states, fp32
  gradients) split over N; with offload, only the 2 B per parameter stay on the GPU.
- ZeRO-3 follows ``estimate_zero3_model_states_mem_needs`` (deepspeed/runtime/zero/stage3.py): 4 B per
  parameter of the largest module (its own parameters, gathered with its gradients) plus 18 B per parameter
  split over N (2 B bf16 parameters and the 16 B above); with offload of the optimizer, 2 B per parameter
  split over N stay; with offload of the parameters too (``--offload``), only the largest module.
- DeepSpeed's figures assume every parameter is trained; with frozen parameters, the 16 B count only trained
  ones. They are Adam's: ZeRO takes ``adamw`` or ``adamw-fused``.
- FSDP full shard (torch.distributed.fsdp): parameters, gradients and states as on one GPU, split over N, plus
  the decoder layer being gathered and the next one prefetched (``BACKWARD_PRE``), at the compute dtype.
"""

from __future__ import annotations

import math

from vlmscope.data.training import Method, ModelStates, Optimizer, Precision, TrainRecipe

EIGHT_BIT_MIN = 4096  # bitsandbytes: smaller tensors keep 32-bit states
EIGHT_BIT_BLOCK = 2048
EIGHT_BIT_MAPS = 2 * 256 * 4


def trained_bytes(recipe: TrainRecipe) -> int:
    """Bytes per element of a trained tensor, its gradient and (Adam, SGD) its states."""
    return 4 if recipe.method != Method.full or recipe.precision == Precision.mixed else 2


def optimizer_bytes(shapes: list[tuple[int, ...]], optimizer: str, b: int) -> int:
    """Bytes of the optimizer's states for tensors of ``shapes`` at ``b`` bytes per element."""
    total = 0
    for shape in shapes:
        n = math.prod(shape)
        if optimizer in (Optimizer.adamw, Optimizer.adamw_fused):
            total += 2 * n * b + (4 if optimizer == Optimizer.adamw_fused else 0)
        elif optimizer == Optimizer.adamw_8bit:
            total += 2 * n + 8 * -(-n // EIGHT_BIT_BLOCK) if n >= EIGHT_BIT_MIN else 8 * n
        elif optimizer == Optimizer.sgd:
            total += n * b
        else:  # adafactor: its moments, and state["RMS"]
            total += 4 * (math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]) if len(shape) >= 2 else 4 * n
            total += 4
    if optimizer == Optimizer.adamw_8bit and any(math.prod(s) >= EIGHT_BIT_MIN for s in shapes):
        total += EIGHT_BIT_MAPS
    return total


def model_states(recipe: TrainRecipe, shapes: list[tuple[int, ...]], base_params: int, base_bytes: int,
                 largest_module: int, largest_layer: int) -> ModelStates:
    """Model states of ``recipe``: ``shapes`` are the trained tensors', ``base_params`` / ``base_bytes`` the
    model's own parameters and their bytes as loaded (frozen ones included; for a full fine-tune the trained
    ones among them), ``largest_module`` the most parameters one module holds itself (ZeRO-3 gathers it),
    ``largest_layer`` the parameters of the largest decoder layer (FSDP's unit)."""
    b = trained_bytes(recipe)
    trained = sum(math.prod(s) for s in shapes)
    adapters = 0 if recipe.method == Method.full else trained * b
    params = base_bytes + adapters
    grads = trained * b
    states = optimizer_bytes(shapes, recipe.optimizer, b)
    n = recipe.gpus
    if recipe.zero is not None:
        return _zero(recipe, params, grads, states, base_params, trained, largest_module)
    if recipe.fsdp:
        unit = 2 * largest_layer * 2  # the running and the prefetched layer, gathered at the bf16 compute dtype
        shard = (-(-params // n), -(-grads // n), -(-states // n))
        how = f"FSDP full shard over {n} GPUs: 1/{n} of each state, plus two decoder layers gathered"
        if recipe.offload:  # parameters, gradients and states sharded on the CPU; the gathered units stay
            return ModelStates(params, grads, states, unit, 0, 0, sum(shard), f"{how}; the shards on the CPU")
        return ModelStates(params, grads, states, shard[0] + unit, shard[1], shard[2], 0, how)
    return ModelStates(params, grads, states, params, grads, states, 0,
                       f"{recipe.sharded}: every GPU holds all model states")


def _zero(recipe: TrainRecipe, params: int, grads: int, states: int, base_params: int, trained: int,
          largest_module: int) -> ModelStates:
    n, psi = recipe.gpus, base_params + (0 if recipe.method == Method.full else trained)
    if recipe.zero in (1, 2):
        if recipe.offload:
            return ModelStates(params, grads, states, 2 * psi, 0, 0, 16 * trained,
                               f"ZeRO-{recipe.zero}, optimizer offloaded: DeepSpeed's estimator")
        return ModelStates(params, grads, states, 2 * psi, 2 * trained, 16 * trained // n, 0,
                           f"ZeRO-{recipe.zero} over {n} GPUs: DeepSpeed's estimator (stages 1 and 2)")
    gathered = 4 * largest_module
    if recipe.offload:
        return ModelStates(params, grads, states, gathered, 0, 0, 18 * psi,
                           "ZeRO-3, parameters and optimizer offloaded: DeepSpeed's estimator")
    split = (2 * psi + 16 * trained) // n  # DeepSpeed: int(18 · params / GPUs) when every parameter trains
    return ModelStates(params, grads, states, gathered + split - 16 * trained // n, 0, 16 * trained // n, 0,
                       f"ZeRO-3 over {n} GPUs: DeepSpeed's estimator")
