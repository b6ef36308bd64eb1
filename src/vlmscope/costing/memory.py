"""Memory: weights per dtype and role, the weights as stored, and the prefill's activation peak. The KV cache
layer by layer is measured in ``kvcache``; whether it all fits a GPU, in ``fit``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing import activations, quant
from vlmscope.costing.echo import run_echoed
from vlmscope.costing.fit import phased_peak
from vlmscope.costing.inputs import head_inside, language_forward, last_logits
from vlmscope.costing.vision_peak import clips_peak
from vlmscope.data import DTYPE_BYTES, Anatomy, CostRequest, ImageTokens, KVCache, Memory, Quant, VideoTokens


def weights(anatomy: Anatomy) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Bytes of all weights per dtype, and per role per dtype."""
    p = anatomy.params
    roles = {"vision": p.vision, "connector": p.connector, "language": p.language, "lm_head": p.lm_head,
             "other": p.other}
    by_role = {role: {d: int(n * b) for d, b in DTYPE_BYTES.items()} for role, n in roles.items()}
    return {d: int(p.total * b) for d, b in DTYPE_BYTES.items()}, by_role


def storage(request: CostRequest, config: dict[str, Any]) -> Quant:
    """How the weights are stored: --quant, else the config's quantization_config, else --dtype."""
    if request.quant is not None:
        return Quant(request.quant, request.group_size, request.double_quant)
    return quant.from_config(config) or Quant(str(request.weights_dtype), source="--dtype")


def memory(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, img: ImageTokens,
           prefill_tokens: int | None, layout: KVCache, how: Quant, checkpoint_dtype: str | None,
           videos: tuple[VideoTokens, ...] = ()) -> Memory:
    """Weights as stored (and every weight at each dtype), the KV cache at context × batch, the prefill's
    traced activation peaks, and the peak of the largest phase."""
    stored = quant.stored_weights(index, roles, how)
    by_role = dict(stored.by_role)
    if how.source == "--dtype" and request.vision_dtype and "vision" in by_role:
        by_role["vision"] = int(anatomy.params.vision * DTYPE_BYTES[request.vision_dtype])
    weights_bytes = sum(by_role.values())
    kv = layout.bytes(request.context, request.batch)
    (peak, vision, language), traced, untraced = activation_peak(index, roles, anatomy, request, img,
                                                                 prefill_tokens, videos)
    method = (f"weights: {how.method} as stored ({how.source}), {stored.quantized_linears} linears packed; "
              f"KV: per layer ({layout.full} full, {layout.sliding} sliding{_apart(layout)}), {layout.method}; "
              f"activations: {traced}; peak: the largest phase (vision before the cache exists; the language "
              "model's prefill over the prompt's KV; generation to the context)")
    by_dtype, role_by_dtype = weights(anatomy)
    held = Memory(weights_bytes, kv, peak, None, method, how.method, by_role, quant.quantized_roles(how),
                  checkpoint_dtype, untraced, vision, language, by_dtype, role_by_dtype)
    return replace(held, peak_bytes=phased_peak(held, layout, prefill_tokens or 0, request.context,
                                                request.batch, request.batch))


Peaks = tuple[int | None, int | None, int | None]  # (the activation peak, the vision side's, the language model's)


def activation_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, img: ImageTokens,
                    prefill_tokens: int | None,
                    videos: tuple[VideoTokens, ...] = ()) -> tuple[Peaks, str, tuple[str, ...]]:
    """((bytes, vision's, language's), method, the parts not traced): the larger of the vision side's peak
    over every frame of the request and the language model's over the prompt (with the head for the last
    position), traced in bf16."""
    if not prefill_tokens:
        return (0, 0, 0), "none (an empty prompt)", ()
    with activations.in_bf16(index.model):
        lm = _lm_peak(index, roles, anatomy, request, prefill_tokens)
        vision_part = clips_peak(index, roles, anatomy, request, img, videos)
    vision, said, traced = vision_part
    if lm is None:
        said = "not traced: the language model's forward does not run on meta tensors"
        return (None, vision, None), said, (said,)
    parts = ["language model: traced (first block, identical blocks echoed; SDPA as the memory-efficient "
             "kernel)", said]
    return (max(lm, vision or 0), vision, lm), "; ".join(parts), () if traced else (said,)


def _lm_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, tokens: int) -> int | None:
    lm = index.modules[roles.language_root]
    width = anatomy.language.hidden_size
    extra = last_logits(lm, roles)

    def prefill() -> Any:
        return run_echoed(lambda: language_forward(lm, request.batch, tokens, width, torch.bfloat16, use_cache=True,
                                                   **extra), index, roles.language_stack)

    body = activations.traced_peak(prefill, index.model)
    if body is None:
        return None
    head = None if head_inside(roles) else index.modules.get(roles.head or "")  # inside: traced with the body
    final = request.batch * tokens * width * 2  # the last hidden state, which the head reads one position of
    logits = activations.traced_peak(
        lambda: head(torch.randn(request.batch, 1, width, dtype=torch.bfloat16)).float(), index.model) \
        if head is not None else 0
    return max(body, final + (logits or 0))


def _apart(layout: KVCache) -> str:
    """The parts of the cache that do not grow with the context, when there are any."""
    said = [f"{layout.state_bytes:,} B of fixed state" if layout.state_bytes else "",
            f"{layout.cross_bytes_per_state:,} B per cross-attention state" if layout.cross_bytes_per_state else ""]
    return "".join(f"; {part}" for part in said if part)
