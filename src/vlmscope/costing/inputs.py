"""The inputs a language model's forward is fed on meta tensors: the prompt's embeddings, as a VLM's prefill
feeds it (the image features merged in), or token ids for a forward that cannot start from embeddings alone
(Gemma 3n / Gemma 4 recover the ids from the embeddings, a data-dependent lookup); an encoder–decoder's
decoder gets its own start tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vlmscope.anatomy.blocks import takes


def dtype_of(module: nn.Module) -> torch.dtype:
    """The dtype a module computes in: that of its first floating-point parameter (a config's ``dtype`` can
    build a sub-model in bf16 while the rest stays fp32, and matmuls take one dtype)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def language_forward(lm: nn.Module, batch: int, tokens: int, width: int, dtype: torch.dtype | None = None,
                     **kwargs: Any) -> Any:
    """``lm``'s forward over ``batch`` × ``tokens`` positions: from embeddings (in ``dtype``, default the
    model's own), or from token ids where the forward needs data the embeddings cannot give on meta tensors."""
    dtype = dtype or dtype_of(lm)
    if takes(lm, "decoder_input_ids") and "decoder_input_ids" not in kwargs:
        kwargs["decoder_input_ids"] = torch.zeros(batch, 1, dtype=torch.long)  # the decoder's start token
    try:
        return lm(inputs_embeds=torch.randn(batch, tokens, width, dtype=dtype), **kwargs)
    except NotImplementedError:  # a data-dependent op (nonzero) that meta tensors do not implement
        return lm(input_ids=torch.zeros(batch, tokens, dtype=torch.long), **kwargs)


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
