"""What a VLM costs for one request: visual tokens, FLOPs from real forwards on meta tensors, weight memory
and the KV cache. The orchestration; each figure is computed in its own module."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from vlmscope.anatomy import Reading, blocks
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing import fit as fitting
from vlmscope.costing import kvcache, latency, memory, notes, scans
from vlmscope.costing.flops import flops
from vlmscope.data import Anatomy, CostRequest, CostSheet, Tokens
from vlmscope.quiet import quiet
from vlmscope.sources import ModelSource
from vlmscope.tokens import cost_size, encoded, request_tokens
from vlmscope.tokens.settings import with_settings
from vlmscope.tokens.video import alternatives, video_tokens


def cost_sheet(reading: Reading, source: ModelSource, anatomy: Anatomy, request: CostRequest) -> CostSheet:
    """The cost sheet of one model for one request (``reading`` is the skeleton the anatomy was read from).
    transformers' advisory messages (slow fallback kernels, deprecated argument names) are kept quiet."""
    with quiet():
        sheet = _sheet(reading, source, anatomy, request)
    gpu = fitting.gpu_of(request)
    return sheet if gpu is None else replace(sheet, fit=fitting.fit(anatomy, sheet, *gpu))


def _sheet(reading: Reading, source: ModelSource, anatomy: Anatomy, request: CostRequest) -> CostSheet:
    index, roles = reading.index, reading.roles
    enc = encoded(anatomy.vision, anatomy.connector)
    processing = with_settings(source, request.processor)  # the model's files, with the request's settings over
    size, assumed = cost_size(enc, processing, request.image_size)
    (width, height), img = request_tokens(enc, processing, size)
    videos = tuple(video_tokens(enc, processing, clip, request.video_recipe, i)  # the i-th video of the prompt
                   for i, clip in enumerate(request.videos))
    visual = 0 if request.images == 0 else None if img.tokens is None else img.tokens * request.images
    # text-only requests count too; a video's timestamps where the model's tokenizer counted them
    clips = sum(c.tokens + (c.text_tokens or 0) for c in videos)
    prefill_tokens = None if visual is None else visual + clips + request.text_tokens
    prompt = prefill_tokens or 0 if anatomy.architecture == "encoder-decoder" else 0  # the decoder reads it all
    layout = replace(kvcache.kv_cache(index, roles, anatomy), cross_states=img.states * request.images + prompt)
    how = memory.storage(request, source.config)
    with scans.scans_scaled() as scanned:  # hybrid language models' chunk loops: a few chunks traced, scaled
        counted = flops(index, roles, anatomy, img, request, prefill_tokens, videos)
        held = memory.memory(index, roles, anatomy, request, img, prefill_tokens, layout, how,
                             _dtype(source.config), videos)
    if said := scanned.said():
        counted, held = replace(counted, method=f"{counted.method}; {said}"), replace(
            held, method=f"{held.method}; {said}")
    tokens = Tokens((width, height), img.tokens, img.crops, img.rule, prefill_tokens,
                    notes.processor_defaults(anatomy, source, request), videos)
    return CostSheet(
        request, tokens, counted, held, layout,
        latency=None if request.gpu is None else latency.bounds(
            request.gpu, None if counted.prefill is None else (counted.vision or 0) + counted.prefill,
            counted.decode_per_token, held, request.batch, held.quant,
            0 if anatomy.architecture == "encoder-decoder" else latency.causal_surplus(  # an encoder is not causal
                prefill_tokens or 0, _query_width(index, roles),
                tuple(cap for grows, cap in zip(layout.per_token, layout.caps, strict=True) if grows))),
        assumptions=notes.assumptions(anatomy, source, request, (width, height), img, assumed, videos)
        + notes.other_recipes(videos, tuple(alternatives(enc, processing, c, request.video_recipe, i)
                                            for i, c in enumerate(request.videos))),
        warnings=notes.warnings(anatomy, request, prefill_tokens, layout.window, source.config, how, counted),
    )


def _query_width(index: ModuleIndex, roles: Roles) -> int:
    """An upper bound on the language model's query width (heads × head dim): the widest Linear output of
    any of its attention modules (q_proj, MLA's q_b_proj / kv_b_proj, a fused qkv)."""
    stack = index.modules[roles.language_stack]
    found = (blocks.attention(block) for block in stack.children())
    return max((m.out_features for a in found if a is not None for m in a.modules() if isinstance(m, nn.Linear)),
               default=0)


def _dtype(config: dict[str, object]) -> str | None:
    """The checkpoint's own dtype, as its config states it (``dtype``, or the older ``torch_dtype``)."""
    text = config.get("text_config")
    for found in (config, text if isinstance(text, dict) else {}):
        value = found.get("dtype") or found.get("torch_dtype")
        if isinstance(value, str):
            return value
    return None
