"""Memory: weights per dtype and role, the weights as stored, and the prefill's activation peak. The KV cache
layer by layer is measured in ``kvcache``; whether it all fits a GPU, in ``fit``."""

from __future__ import annotations

from typing import Any

import torch

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing import activations, quant
from vlmscope.costing.echo import run_echoed
from vlmscope.costing.inputs import language_forward
from vlmscope.costing.vision import tower_inputs, vision_module
from vlmscope.data import DTYPE_BYTES, Anatomy, CostRequest, ImageTokens, KVCache, Memory, Quant


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
           prefill_tokens: int | None, layout: KVCache, how: Quant, checkpoint_dtype: str | None) -> Memory:
    """Weights as stored, the KV cache at context × batch, and the prefill's traced activation peak."""
    stored = quant.stored_weights(index, roles, how)
    by_role = dict(stored.by_role)
    if how.source == "--dtype" and request.vision_dtype and "vision" in by_role:
        by_role["vision"] = int(anatomy.params.vision * DTYPE_BYTES[request.vision_dtype])
    weights_bytes = sum(by_role.values())
    kv = layout.bytes(request.context, request.batch)
    peak, traced, untraced = activation_peak(index, roles, anatomy, request, img, prefill_tokens)
    method = (f"weights: {how.method} as stored ({how.source}), {stored.quantized_linears} linears packed; "
              f"KV: per layer ({layout.full} full, {layout.sliding} sliding{_apart(layout)}), {layout.method}; "
              f"activations: {traced}")
    return Memory(weights_bytes, kv, peak, None if peak is None else weights_bytes + kv + peak, method,
                  how.method, by_role, quant.quantized_roles(how), checkpoint_dtype, untraced)


def activation_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, img: ImageTokens,
                    prefill_tokens: int | None) -> tuple[int | None, str, tuple[str, ...]]:
    """(bytes, method, the parts not traced): the larger of the vision encoder's peak over every frame of the
    request and the language model's over the prompt (with the head for the last position), traced in bf16."""
    if not prefill_tokens:
        return 0, "none (an empty prompt)", ()
    with activations.in_bf16(index.model):
        lm, vision_part = _lm_peak(index, roles, anatomy, request, prefill_tokens), _vision_peak(
            index, roles, anatomy, request, img)
    if lm is None:
        said = "not traced: the language model's forward does not run on meta tensors"
        return None, said, (said,)
    vision, said, traced = vision_part
    parts = ["language model: traced (first block, identical blocks echoed; SDPA as the memory-efficient "
             "kernel)", said]
    return max(lm, vision or 0), "; ".join(parts), () if traced else (said,)


def _lm_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest, tokens: int) -> int | None:
    lm = index.modules[roles.language_root]
    width = anatomy.language.hidden_size

    def prefill() -> Any:
        return run_echoed(lambda: language_forward(lm, request.batch, tokens, width, torch.bfloat16, use_cache=True),
                          index, roles.language_stack)

    body = activations.traced_peak(prefill, index.model)
    if body is None:
        return None
    head = index.modules.get(roles.head or "")
    final = request.batch * tokens * width * 2  # the last hidden state, which the head reads one position of
    logits = activations.traced_peak(
        lambda: head(torch.randn(request.batch, 1, width, dtype=torch.bfloat16)).float(), index.model) \
        if head is not None else 0
    return max(body, final + (logits or 0))


def _vision_peak(index: ModuleIndex, roles: Roles, anatomy: Anatomy, request: CostRequest,
                 img: ImageTokens) -> tuple[int | None, str, bool]:
    """(bytes, method, whether the tower was traced) of the vision encoder over every frame."""
    v = anatomy.vision
    if request.images == 0:
        return 0, "vision: no images", True
    if v is None or not v.image_size or v.native_resolution or roles.vision is None:
        return None, "vision: not traced (no fixed-size tower); the language model's peak stands", False
    frames = img.crops * request.images * request.batch
    h, w = img.frame or (v.image_size, v.image_size)
    tower = vision_module(index.modules[roles.vision])

    def run() -> Any:
        kwargs = tower_inputs(tower, frames, (h, w), v.patch_size or 1, torch.bfloat16)
        return run_echoed(lambda: tower(**kwargs), index, roles.vision_stack)

    peak = activations.traced_peak(run, index.model)
    if peak is not None:
        return peak, f"vision: traced over {frames} frame(s) of {h}×{w} at once", True
    peak = _vision_per_block(index, roles, frames, (h, w), v.patch_size or 1)
    if peak is None:
        return None, "vision: not traced (its forward does not run on meta tensors)", False
    return peak, f"vision: traced block by block over {frames} frame(s) of {h}×{w} at once", True


def _vision_per_block(index: ModuleIndex, roles: Roles, frames: int, frame: tuple[int, int],
                      patch: int) -> int | None:
    """A tower whose whole forward needs data: the patch embedding over every frame, then one block over
    the patch tokens of every frame (each block of the stack holds the same)."""
    if roles.patch_embedding is None or roles.vision_stack is None:
        return None
    embed = index.modules[roles.patch_embedding]
    block = next(iter(index.modules[roles.vision_stack].children()))
    tokens = (frame[0] // patch) * (frame[1] // patch)
    width = int(getattr(embed, "out_channels", 0) or getattr(embed, "out_features", 0))
    embedded = activations.traced_peak(lambda: embed(torch.randn(frames, 3, *frame, dtype=torch.bfloat16)),
                                       index.model)
    blocked = activations.traced_peak(
        lambda: block(torch.randn(frames, tokens, width, dtype=torch.bfloat16), None), index.model)
    return None if embedded is None or blocked is None else max(embedded, blocked)


def _apart(layout: KVCache) -> str:
    """The parts of the cache that do not grow with the context, when there are any."""
    said = [f"{layout.state_bytes:,} B of fixed state" if layout.state_bytes else "",
            f"{layout.cross_bytes_per_state:,} B per cross-attention state" if layout.cross_bytes_per_state else ""]
    return "".join(f"; {part}" for part in said if part)
