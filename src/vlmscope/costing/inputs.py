"""The inputs a language model's forward is fed on meta tensors: the prompt's embeddings, as a VLM's prefill
feeds it (the image features merged in), or token ids for a forward that cannot start from embeddings alone
(Gemma 3n / Gemma 4 recover the ids from the embeddings, a data-dependent lookup); an encoder–decoder's
decoder gets its own start tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.roles import Roles


def dtype_of(module: nn.Module) -> torch.dtype:
    """The dtype a module computes in: that of its first floating-point parameter (a config's ``dtype`` can
    build a sub-model in bf16 while the rest stays fp32, and matmuls take one dtype)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def language_forward(lm: nn.Module, batch: int, tokens: int, width: int, dtype: torch.dtype | None = None,
                     encoder_tokens: int | None = None, **kwargs: Any) -> Any:
    """``lm``'s forward over ``batch`` × ``tokens`` positions: from embeddings (in ``dtype``, default the
    model's own), or from token ids where the forward needs data the embeddings cannot give on meta tensors.
    An encoder–decoder's encoder reads ``encoder_tokens`` (default ``tokens``) and its decoder one token (the
    start token, or the next one against a given cache, where the encoder's states come from that cache)."""
    dtype = dtype or dtype_of(lm)
    if takes(lm, "decoder_input_ids"):
        return _encoder_decoder(lm, batch, encoder_tokens or tokens, width, dtype, **kwargs)
    try:
        return lm(inputs_embeds=torch.randn(batch, tokens, width, dtype=dtype), **kwargs)
    except NotImplementedError:  # a data-dependent op (nonzero) that meta tensors do not implement
        return lm(input_ids=torch.zeros(batch, tokens, dtype=torch.long), **kwargs)


def _encoder_decoder(lm: nn.Module, batch: int, tokens: int, width: int, dtype: torch.dtype, **kwargs: Any) -> Any:
    """The decoder's one token with its attention mask as real numbers (the mask code reads it: ``.item()``)."""
    past = kwargs.get("cache", kwargs.get("past_key_values"))
    held = int(past.get_seq_length()) if past is not None else 0
    kwargs.setdefault("decoder_input_ids", torch.zeros(batch, 1, dtype=torch.long))
    kwargs.setdefault("decoder_attention_mask", torch.ones(batch, held + 1, dtype=torch.long, device="cpu"))
    cross = getattr(past, "cross_attention_cache", None)
    if cross is not None and int(cross.get_seq_length()):  # decoding: the encoder ran once, in the prefill
        states = torch.randn(batch, int(cross.get_seq_length()), width, dtype=dtype)
        with MetaPromotion():
            return lm(encoder_outputs=(states,), **kwargs)
    with MetaPromotion():
        return lm(inputs_embeds=torch.randn(batch, tokens, width, dtype=dtype), **kwargs)


class MetaPromotion(TorchFunctionMode):
    """Where one operation mixes meta tensors with real (CPU) tensors — values a forward computed from the
    patch grid, such as interpolation weights — the real ones join the meta device. Operations on real
    tensors alone (attention spans, split sizes) keep their values, and so does an integer or boolean tensor
    a forward moves to the model's device (a padding mask it then checks with ``.all()``): it stays real
    until an operation mixes it with meta tensors."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.to and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "cpu" \
                and not args[0].is_floating_point():
            moved = func(*args, **kwargs)
            return args[0].to(dtype=moved.dtype) if moved.device.type == "meta" else moved
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if any(t.device.type == "meta" for t in tensors) and any(
                t.device.type != "meta" and t.dim() > 0 for t in tensors):
            args, kwargs = tree_map(
                lambda t: t.to("meta") if isinstance(t, torch.Tensor) and t.device.type != "meta" else t,
                (args, kwargs))
        return func(*args, **kwargs)


def head_inside(roles: Roles) -> bool:
    """Whether the language model's root holds the head itself (BLIP-2's ``OPTForCausalLM``), so that its
    forward computes the logits."""
    return roles.head is not None and roles.head.startswith(f"{roles.language_root}.")


def last_logits(lm: nn.Module, roles: Roles) -> dict[str, Any]:
    """The keyword that makes a forward holding its head compute the last position's logits only, as a
    prefill does (``logits_to_keep=1``); none where the head is outside or the forward has no such keyword."""
    return {"logits_to_keep": 1} if head_inside(roles) and takes(lm, "logits_to_keep") else {}


def cache_keyword(lm: nn.Module) -> str:
    """The keyword ``lm``'s forward takes its cache by (``cache`` in transformers 5, else ``past_key_values``)."""
    return "cache" if takes(lm, "cache") else "past_key_values"


def cache_of(out: Any) -> Any:
    """The cache a forward returned (``past_key_values`` or ``cache`` of its output, or its second item)."""
    cache = getattr(out, "past_key_values", None) or getattr(out, "cache", None)
    if cache is None and isinstance(out, tuple) and len(out) > 1:
        cache = out[1]
    if cache is None:
        raise TypeError("the forward returned no cache")
    return cache
