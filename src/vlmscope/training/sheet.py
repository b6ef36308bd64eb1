"""What one training step of a recipe costs a model: the orchestration. Parameters trained (``lora``), model
states (``states``), the step traced on meta tensors (``step``), and the search for the largest micro-batch
and sequence on a GPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from vlmscope.anatomy import Reading
from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing import activations, quant
from vlmscope.costing.counting import first_that_runs
from vlmscope.costing.inputs import MetaPromotion, head_inside
from vlmscope.costing.vision import hidden_of, packed_tower_calls, unpadded
from vlmscope.costing.vision_peak import connected, fixed_tower_call
from vlmscope.data import Anatomy, ImageTokens
from vlmscope.data.training import (
    QLORA_BASE,
    Method,
    ModelStates,
    Optimizer,
    Precision,
    StepMemory,
    TrainRecipe,
    TrainShape,
    TrainSheet,
)
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TOKENS
from vlmscope.quiet import quiet
from vlmscope.sources import ModelSource
from vlmscope.tokens import cost_size, encoded, request_tokens
from vlmscope.training import autocast, lora, states, step
from vlmscope.training.search import largest
from vlmscope.training.step import StepPeaks


def train_sheet(reading: Reading, source: ModelSource, anatomy: Anatomy, recipe: TrainRecipe, shape: TrainShape,
                gpu: tuple[int, int, str | None] | None) -> TrainSheet:
    """One step of ``recipe`` at ``shape``; against ``gpu`` (memory, reserve, name) when given. transformers'
    advisory messages (deprecated names, slow fallback kernels) are kept quiet."""
    with quiet():
        return _train_sheet(reading, source, anatomy, recipe, shape, gpu)


def _train_sheet(reading: Reading, source: ModelSource, anatomy: Anatomy, recipe: TrainRecipe, shape: TrainShape,
                 gpu: tuple[int, int, str | None] | None) -> TrainSheet:
    if anatomy.architecture == "encoder-decoder":
        raise RequestError("model", anatomy.architecture, "a decoder-only language model (train does not trace "
                           "encoder–decoder models yet)")
    held, trace = _measured(reading, source, anatomy, recipe, shape)
    peaks = trace.at(shape.micro_batch, shape.seq_len)
    memory = _memory(held, peaks, recipe)
    usable = None if gpu is None else gpu[0] - gpu[1]
    fits = None if usable is None else memory.peak_bytes <= usable
    most_batch = most_seq = None
    change = None
    if usable is not None:
        most_batch = largest(lambda b: _memory(held, trace.at(b, shape.seq_len), recipe).phases, usable,
                             1, shape.micro_batch, MAX_TOKENS // shape.seq_len)
        most_seq = largest(lambda s: _memory(held, trace.at(shape.micro_batch, s), recipe).phases, usable,
                           trace.per_sample + 2, shape.seq_len, MAX_TOKENS // shape.micro_batch)
        change = None if fits else _one_change(reading, source, anatomy, recipe, shape, usable)
    method = (f"model states: {held.method}; activations: one step traced on meta tensors (forward with the "
              f"causal-LM loss over {shape.micro_batch} × {shape.seq_len} positions, backward, "
              f"{recipe.optimizer} step), attention as the flash kernel keeps it; "
              f"{_autocast_said(recipe)}"
              f"{_IN_PLACE if recipe.optimizer in step.IN_PLACE_STEPS else ''}"
              f"{'vision: ' + trace.vision_said}")
    warned = (trace.vision_warning,) if trace.vision_warning else ()
    trainable = lora.trainable(reading.index, reading.roles, recipe)
    return TrainSheet(recipe, shape, trace.per_sample, trainable, held, memory, usable, fits, most_batch, most_seq,
                      peaks.flops * recipe.gpus, method, warned, change)


_IN_PLACE = ("the adamw-8bit step not run (bitsandbytes' CUDA kernels): its states counted, and no temporaries, as "
             "its fused kernels update each weight and its states in place; ")
_AUTOCAST = ("the forward under bf16 autocast, its casts, weight cache and fp32 operations as CUDA's autocast "
             "lists make them (emulated at torch's Python API); ")


def _autocast(recipe: TrainRecipe) -> torch.dtype | None:
    """The weights' dtype in the traced step when its forward runs under autocast, as accelerate (transformers'
    Trainer) runs --precision mixed: fp32 weights; bf16 where FSDP gathers them so (its mixed-precision policy);
    None: no autocast (bf16, and DeepSpeed, which runs its bf16 engine instead)."""
    if recipe.precision != Precision.mixed or recipe.zero is not None:
        return None
    return torch.bfloat16 if recipe.fsdp else torch.float32


def _autocast_said(recipe: TrainRecipe) -> str:
    weights = _autocast(recipe)
    if weights is None:
        return ""
    return ("bf16 weights as FSDP gathers them, " if weights == torch.bfloat16 else "fp32 weights, ") + _AUTOCAST


def _measured(reading: Reading, source: ModelSource, anatomy: Anatomy, recipe: TrainRecipe,
              shape: TrainShape) -> tuple[ModelStates, _Trace]:
    """The model states of ``recipe`` and the traces of its step."""
    index, roles = reading.index, reading.roles
    shapes = lora.trained_shapes(index, roles, recipe)
    held = states.model_states(recipe, shapes, index.total, _base_bytes(index, roles, recipe),
                               _largest_module(index.modules[""]), _largest_layer(index, roles))
    img, visual = _visual(anatomy, source, shape)
    return held, _Trace(index, roles, anatomy, recipe, shape, img, visual)


def _one_change(reading: Reading, source: ModelSource, anatomy: Anatomy, recipe: TrainRecipe, shape: TrainShape,
                usable: int) -> str | None:
    """The first single change, in the order people reach for them, whose step fits ``usable``: gradient
    checkpointing, pure bf16 instead of mixed precision, the vision side frozen, 8-bit AdamW, LoRA, ZeRO-3 with
    offload. Each is traced."""
    changes: list[tuple[str, TrainRecipe, TrainShape]] = []
    if not shape.checkpointing:
        changes.append(("--gc", recipe, replace(shape, checkpointing=True)))
    if recipe.precision == Precision.mixed and recipe.zero is None:  # DeepSpeed's states are its bf16 either way
        changes.append(("--precision bf16", replace(recipe, precision=Precision.bf16), shape))
    if recipe.method == Method.full and not {"vision", "connector"} <= set(recipe.freeze):
        changes.append(("--freeze vision,connector", replace(recipe, freeze=(*recipe.freeze, "vision", "connector")),
                        shape))
    if recipe.optimizer in (Optimizer.adamw, Optimizer.adamw_fused) and recipe.zero is None:
        changes.append(("--optimizer adamw-8bit", replace(recipe, optimizer=Optimizer.adamw_8bit), shape))
    if recipe.method == Method.full:
        changes.append(("--method lora", replace(recipe, method=Method.lora, freeze=()), shape))
    if recipe.zero != 3 and not recipe.fsdp and recipe.optimizer in (Optimizer.adamw, Optimizer.adamw_fused):
        changes.append(("--zero 3 --offload", replace(recipe, zero=3, offload=True), shape))
    for flag, changed, reshaped in changes:
        held, trace = _measured(reading, source, anatomy, changed, reshaped)
        peak = _memory(held, trace.at(reshaped.micro_batch, reshaped.seq_len), changed).peak_bytes
        if peak <= usable:
            return f"{flag} (peak {peak:,} bytes)"
    return None


def _base_bytes(index: ModuleIndex, roles: Roles, recipe: TrainRecipe) -> int:
    """The model's own parameters as loaded: nf4 for QLoRA (bitsandbytes, Linear layers but the head), fp32
    under mixed precision, else bf16."""
    if recipe.method == Method.qlora:
        return quant.stored_weights(index, roles, QLORA_BASE).bytes
    return index.total * (4 if recipe.precision == Precision.mixed else 2)


def _largest_module(model: nn.Module) -> int:
    """The most parameters one module holds itself (DeepSpeed's ``model_to_params``: ``recurse=False``)."""
    return max((sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()), default=0)


def _largest_layer(index: ModuleIndex, roles: Roles) -> int:
    """Parameters of the largest block of the language model's stack (FSDP wraps each decoder layer)."""
    return max((index.count(path) for path in index.children(roles.language_stack)), default=0)


def _visual(anatomy: Anatomy, source: ModelSource, shape: TrainShape) -> tuple[ImageTokens | None, int]:
    """(the tokens of one image, visual tokens of the whole micro-batch)."""
    if shape.images == 0:
        return None, 0
    enc = encoded(anatomy.vision, anatomy.connector)
    size, _ = cost_size(enc, source, shape.image_size)
    _, img = request_tokens(enc, source, size)
    if img.tokens is None:
        raise RequestError("image_size", shape.image_size, "a size the model's image rules can count (pass "
                           "--image-size WxH)")
    per_sample = img.tokens * shape.images
    if per_sample >= shape.seq_len:
        raise RequestError("seq_len", shape.seq_len, f"more than the images' {per_sample:,} visual tokens per "
                           "sample (they are part of the sequence)")
    return img, per_sample * shape.micro_batch


class _Trace:
    """Traced steps of one recipe at any micro-batch and sequence, each traced once."""

    def __init__(self, index: ModuleIndex, roles: Roles, anatomy: Anatomy, recipe: TrainRecipe, shape: TrainShape,
                 img: ImageTokens | None, visual: int) -> None:
        self.index, self.roles, self.anatomy, self.recipe, self.shape = index, roles, anatomy, recipe, shape
        self.img, self.per_sample = img, visual // shape.micro_batch
        self.done: dict[tuple[int, int], StepPeaks] = {}
        self.vision_said = "no images" if img is None else "encoder and connector traced in the step"
        self.vision_warning = ""

    def at(self, batch: int, seq: int) -> StepPeaks:
        if (batch, seq) not in self.done:
            weights = _autocast(self.recipe)
            with activations.in_bf16(self.index.model, weights or torch.bfloat16):
                self.done[(batch, seq)] = step.traced_step(
                    self.index, self.roles, self.recipe, self.shape.checkpointing, lambda: self._loss(batch, seq),
                    mixed=(lambda: autocast.Autocast("cuda")) if weights else None)
        return self.done[(batch, seq)]

    def _loss(self, batch: int, seq: int) -> torch.Tensor:
        from transformers.loss.loss_utils import ForCausalLMLoss

        index, roles, img = self.index, self.roles, self.img
        lm, embed = index.modules[roles.language_root], index.modules[roles.embeddings]
        ids = torch.zeros(batch, seq, dtype=torch.long)
        features = self._features(batch) if img is not None else None
        extra: dict[str, Any] = {}
        if features is not None and img is not None and img.states and takes(lm, "cross_attention_states"):
            # a cross-attention language model (Mllama) reads the image states apart from the tokens
            extra["cross_attention_states"] = features.reshape(batch, -1, features.shape[-1])
            features = None
        mask = torch.ones(batch, seq, dtype=torch.long, device="cpu")
        per_layer = getattr(lm, "get_per_layer_inputs", None)
        if takes(lm, "per_layer_inputs") and callable(per_layer):
            # Gemma 3n / 4: per-layer embeddings of the token ids, as the model computes them from its input ids
            # (from embeddings alone, it would compare them with the whole vocabulary's)
            extra["per_layer_inputs"] = per_layer(ids)
        with MetaPromotion():
            try:
                embeds = embed(ids)
                if features is not None:
                    spots = torch.zeros(batch, seq, embeds.shape[-1], dtype=torch.bool)
                    embeds = embeds.masked_scatter(spots, features.to(embeds.dtype))
                out = lm(inputs_embeds=embeds, attention_mask=mask, use_cache=False, **extra)
            except NotImplementedError:  # a forward that reads the token ids as data (Gemma 4's per-layer inputs)
                out = lm(input_ids=ids, attention_mask=mask, use_cache=False, **extra)
        logits = out.logits if head_inside(roles) else index.modules[roles.head or ""](hidden_of(out))
        return ForCausalLMLoss(logits, torch.zeros(batch, seq, dtype=torch.long), vocab_size=logits.shape[-1])

    def _features(self, batch: int) -> torch.Tensor | None:
        """The images' features through the encoder and connector (with the autograd graph where they train);
        None, and said so, where the vision side does not run so (the language model is traced alone)."""
        features, how = first_that_runs(("vision", lambda: self._run_vision(batch)))
        if features is None:
            self.vision_said = "not traced in the step"
            reason = how.removeprefix("not counted ")  # "(the error that stopped it)"
            self.vision_warning = f"the vision side was not traced in the training step {reason}: its activations " \
                                  "are not counted"
        return features

    def _run_vision(self, batch: int) -> torch.Tensor:
        """The encoder and connector over the micro-batch's images, run as the inference trace runs them."""
        img, anatomy, index, roles = self.img, self.anatomy, self.index, self.roles
        assert img is not None and anatomy.vision is not None
        width = anatomy.language.hidden_size
        frames = batch * self.shape.images
        if img.grid is not None and anatomy.vision.native_resolution:
            def packed(call: Callable[[], Any]) -> torch.Tensor:
                with torch.device("cpu"):  # the grid is read as numbers: new tensors stay real until meta
                    return _tokens(connected(index, roles, anatomy, _widest(call(), width)),
                                   batch * self.per_sample, width)

            calls = packed_tower_calls(index, roles, [img.grid] * frames, anatomy.connector.merge, torch.bfloat16)
            features, how = first_that_runs(*((layout, lambda call=call: packed(call)) for layout, call in calls))
            if features is None:  # no patch layout the embedding takes
                raise TypeError(how.removeprefix("not counted "))
            return features
        side = anatomy.vision.image_size or 0
        tower, kwargs, on_meta = fixed_tower_call(index, roles, frames * img.crops, img.frame or (side, side),
                                                  anatomy.vision.patch_size or 1, img.padded)
        with torch.device("meta" if on_meta else "cpu"), MetaPromotion(), unpadded():
            hidden = connected(index, roles, anatomy, _widest(tower(**kwargs), width), kwargs)
        needed = batch * (img.states * self.shape.images if img.states else self.per_sample)
        return _tokens(hidden, needed, width)


def _widest(out: Any, width: int) -> torch.Tensor | None:
    """The encoder's output the connector reads: its hidden state, or where the encoder merged inside (Qwen2.5-VL
    returns the merged states as ``pooler_output``), the output already of the language model's width."""
    merged = getattr(out, "pooler_output", None)
    if isinstance(merged, torch.Tensor) and merged.shape[-1] == width:
        return merged
    return hidden_of(out)


def _tokens(hidden: Any, needed: int, width: int) -> torch.Tensor:
    """The connector's output as ``needed`` tokens of the language model's width (more: the first; fewer: the
    rest zero, as the model's own merge leaves text embeddings there)."""
    if not isinstance(hidden, torch.Tensor) or hidden.shape[-1] != width:
        raise TypeError("the connector's output is not of the language model's width")
    flat = hidden.reshape(-1, width)
    if flat.shape[0] >= needed:
        return flat[:needed]
    return torch.cat([flat, flat.new_zeros(needed - flat.shape[0], width)])


def _memory(held: ModelStates, peaks: StepPeaks, recipe: TrainRecipe) -> StepMemory:
    """Bytes on each GPU at each phase. Forward: parameters, optimizer states and the forward's activations.
    Backward: the same, the backward's activations and transients, and the gradients complete at its peak (as
    each GPU keeps them). Optimizer step: parameters, gradients, states and the step's temporaries. The
    traced gradients and states are in the trace's dtypes; they are rescaled to the recipe's per-GPU bytes."""
    base = held.per_gpu_params_bytes + held.per_gpu_optimizer_bytes
    grads = peaks.backward_grads * held.per_gpu_grads_bytes // peaks.grads if peaks.grads else 0
    temps = peaks.step_temporaries * held.per_gpu_optimizer_bytes // peaks.states if peaks.states else 0
    if recipe.zero is not None:  # DeepSpeed's fused Adam updates its partitions in place
        temps = 0
    activation_backward = peaks.backward - peaks.backward_grads
    return StepMemory(base + peaks.forward, base + activation_backward + grads,
                      held.per_gpu_bytes + temps, peaks.forward, activation_backward, temps)
