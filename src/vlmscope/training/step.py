"""One training step of the language model, traced on meta tensors: forward with the loss, backward, optimizer
step. What each phase holds above the weights is followed storage by storage.

The step runs the model's own modules and torch's own optimizer on meta tensors (no data, no memory):
- the forward over ``micro batch × sequence`` positions from embeddings (the visual tokens are positions of the
  sequence), the head over every position and transformers' own causal-LM loss (logits upcast to fp32);
- ``backward()`` from that loss; gradients land in ``.grad`` as autograd makes them;
- ``optimizer.step()`` of torch's AdamW (foreach or fused) or SGD with momentum (bitsandbytes' 8-bit AdamW
  and transformers' Adafactor do not run on meta tensors: their states are worked out, their temporaries not).

A storage counts from the operation that makes it until the storage itself dies: a tensor autograd saves for
the backward (an operation's result, kept as a new tensor on the same storage) holds its storage after the
Python tensor is gone, so storages are followed, not tensors. FLOPs are counted in the same pass by torch's
own formulas (``FlopCounterMode``'s, whose module tracking would keep the backward's tensors alive; ours for
the experts' grouped matmul). LoRA adapters are added as peft computes them (``adapters``): the input cast to
the adapter's dtype (fp32), A, B, scaled, added to the base output, cast back.

Attention runs as the GPU's flash kernel does, forward and backward: the forward keeps q, k, v, the output and
the fp32 log-sum-exp per query (no seq × seq scores); the backward makes dq, dk, dv. The CPU math path of a
meta trace would keep the scores instead. Gradient checkpointing is transformers' own
(``activation_checkpointing_enable``, formerly ``gradient_checkpointing_enable``; non-reentrant).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.counting import flop_formula
from vlmscope.costing.spans import sdpa_replaced
from vlmscope.data.training import Optimizer, TrainRecipe
from vlmscope.training import adapters, autocast


class Storages(TorchDispatchMode):
    """Bytes of the storages operations make, held until each storage dies, and the peak since ``mark``; of
    them, the gradients already in ``.grad`` (``grads``), and how many of those were held at the peak."""

    def __init__(self, known: set[int]) -> None:
        super().__init__()
        self.known = known
        self.held: dict[int, int] = {}
        self.live = 0
        self.peak = 0
        self.grads = 0
        self.peak_grads = 0
        self.flops = 0  # of the operations seen, by torch's FLOP formulas (FlopCounterMode's own)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_formula(func)
        if formula is not None:
            self.flops += int(formula(*args, **kwargs, out_val=out))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._follow(t.untyped_storage())
        return out

    def _follow(self, storage: torch.UntypedStorage) -> None:
        key = storage._cdata
        if key in self.known or key in self.held:
            return
        size = storage.nbytes()
        self.held[key] = size
        self.live += size
        if self.live > self.peak:
            self.peak, self.peak_grads = self.live, self.grads
        weakref.finalize(storage, self._release, key)

    def _release(self, key: int) -> None:
        self.live -= self.held.pop(key, 0)

    def mark(self) -> None:
        """Start a new phase: its peak counts from what is held now."""
        self.peak, self.peak_grads = self.live, self.grads

    def landed(self, param: torch.Tensor) -> None:
        """A parameter's gradient is complete (``register_post_accumulate_grad_hook``)."""
        if param.grad is not None:
            self.grads += self.held.get(param.grad.untyped_storage()._cdata, 0)


class _Flash(torch.autograd.Function):
    """Attention as the flash kernel keeps it: forward saves q, k, v (key and value heads not repeated), the
    output and an fp32 log-sum-exp per query and head; backward returns dq, dk, dv."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        batch, heads, length, _ = q.shape
        out = q.new_empty((batch, length, heads, v.shape[-1]))
        lse = q.new_empty((batch, heads, length), dtype=torch.float32)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v, _, _ = ctx.saved_tensors
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


FLASH = "vlmscope_flash_train"  # "flash" in the name: transformers then builds no 4D mask, as for flash kernels


def flash_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: (batch, heads, seq, dim) in, (batch, seq, heads, dim) out. Under
    autocast, q, k and v are cast to its dtype first, as for ``scaled_dot_product_attention``."""
    dtype = autocast.dtype_now()
    if dtype is not None:
        query, key, value = (t.to(dtype) if t.is_floating_point() else t for t in (query, key, value))
    return _Flash.apply(query, key, value), None


def _no_mask(*args: Any, **kwargs: Any) -> None:
    """The mask a flash kernel is given for unpadded sequences: none (it masks causally itself). transformers'
    own flash mask function checks the padding mask's values, which meta tensors do not hold."""
    return None


@contextmanager
def _flash(model: nn.Module) -> Iterator[None]:
    """Within: the model's modules that attend with SDPA (transformers' default) use ``flash_attention``."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(FLASH, flash_attention)
    AttentionMaskInterface.register(FLASH, _no_mask)
    with sdpa_replaced(model, FLASH):
        yield


def _optimizer(recipe: TrainRecipe, params: list[torch.Tensor]) -> torch.optim.Optimizer | None:
    if not params:
        return None
    if recipe.optimizer == Optimizer.adamw:
        return torch.optim.AdamW(params, foreach=True)
    if recipe.optimizer == Optimizer.adamw_fused:  # the fused kernel does not run on meta tensors: the one-tensor
        return torch.optim.AdamW(params, foreach=False)  # path makes the same states (its temporaries not counted)
    if recipe.optimizer == Optimizer.sgd:
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=True)
    if recipe.optimizer == Optimizer.adafactor:
        from transformers.optimization import Adafactor

        # as transformers' Trainer builds it (optim="adafactor": trainer_optimizer._get_adafactor); so built, its
        # step reads no tensor's value and runs on meta tensors
        return Adafactor(params, lr=1e-5, scale_parameter=False, relative_step=False)
    # bitsandbytes' AdamW8bit: not run (its kernels are CUDA's, not torch's). Its step makes nothing: each tensor is
    # updated in place by one fused kernel (Optimizer2State.update_step calls optimizer_update_8bit_blockwise, or
    # optimizer_update_32bit under 4,096 elements), and its states are counted apart (``states.optimizer_bytes``)
    return None


IN_PLACE_STEPS = (Optimizer.adamw_8bit,)  # not traced: their fused kernels update in place, no temporaries


@dataclass(frozen=True)
class StepPeaks:
    """What one traced step held above the weights, in bytes: the forward's peak (activations), the
    backward's (activations and transients, ``backward_grads`` of it gradients already complete), the
    gradients once complete, the optimizer states it made and the temporaries of its step; and the FLOPs of
    the forward and backward (a checkpointed layer's recomputation included)."""

    forward: int
    backward: int
    backward_grads: int
    grads: int
    states: int
    step_temporaries: int
    flops: int


def traced_step(index: ModuleIndex, roles: Roles, recipe: TrainRecipe, checkpointing: bool,
                loss_of: Callable[[], torch.Tensor], device: str = "meta",
                mixed: Callable[[], AbstractContextManager[Any]] | None = None) -> StepPeaks:
    """The phases of one step of ``recipe``; ``loss_of()`` runs the forward and returns the loss. New tensors
    default to ``device`` (the tests run the same step on real CPU tensors). ``mixed``: the autocast the
    forward runs under (``autocast.Autocast``, or the real ``torch.autocast`` in the tests), left when the
    forward ends, as transformers' Trainer leaves it before the backward."""
    model = index.modules[""]
    known = {t.untyped_storage()._cdata for t in (*model.parameters(), *model.buffers())}
    forward = mixed or nullcontext
    with adapters.adapted(index, roles, recipe) as trained, _training(model, checkpointing, mixed), _flash(model):
        optimizer = _optimizer(recipe, trained)
        known |= {p.untyped_storage()._cdata for p in trained}
        tracker = Storages(known)
        hooks = [p.register_post_accumulate_grad_hook(tracker.landed) for p in trained]
        try:
            with torch.device(device), tracker:
                with forward():
                    loss = loss_of()
                forward_peak = tracker.peak
                tracker.mark()
                loss.backward()
                del loss
                flops = tracker.flops
                backward, backward_grads, grads = tracker.peak, tracker.peak_grads, tracker.grads
                tracker.mark()
                if optimizer is not None:
                    optimizer.step()
                step = tracker.peak
                for p in trained:
                    p.grad = None
                states = tracker.live
        finally:
            for hook in hooks:
                hook.remove()
    fused = recipe.optimizer == Optimizer.adamw_fused  # its kernel updates in place: no temporaries
    temporaries = 0 if fused else max(0, step - grads - states)
    return StepPeaks(forward_peak, backward, backward_grads, grads, states, temporaries, flops)


@contextmanager
def _training(model: nn.Module, checkpointing: bool,
              mixed: Callable[[], AbstractContextManager[Any]] | None = None) -> Iterator[None]:
    """The model in training mode (dropout as configured), with transformers' gradient checkpointing if asked.
    A checkpointed layer recomputes under the forward's autocast: torch's own it restores itself, an emulated
    one is entered again for the recomputation (``context_fn``), with a cache of its own."""
    was = model.training
    model.train()
    from transformers import PreTrainedModel

    pretrained = model if checkpointing and isinstance(model, PreTrainedModel) else None
    if checkpointing and pretrained is None:
        raise TypeError("gradient checkpointing needs a transformers model")
    off: Callable[[], None] | None = None
    if pretrained is not None:
        kwargs: dict[str, Any] = {"use_reentrant": False}
        if mixed is not None and isinstance(mixed(), autocast.Autocast):
            kwargs["context_fn"] = lambda: (nullcontext(), mixed())
        if hasattr(pretrained, "activation_checkpointing_enable"):  # transformers ≥ 5.24's name
            pretrained.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            off = pretrained.activation_checkpointing_disable
        else:
            pretrained.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            off = pretrained.gradient_checkpointing_disable
    try:
        yield
    finally:
        if off is not None:
            off()
        model.train(was)
