"""Does a request fit a GPU, and how far can it go: the largest context at the batch and the largest batch at
the context, from one cost sheet (weights as stored, the KV cache layer by layer, the traced activation peak)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vlmscope.data import Anatomy, CostRequest, CostSheet, Fit, KVCache, Memory
from vlmscope.errors import RequestError
from vlmscope.limits import MAX_TOKENS

# What a process cannot use of the memory its driver reports: the CUDA context (the driver's state and the
# loaded kernels), cuBLAS / cuBLASLt workspaces, and the caching allocator's rounding and fragmentation. None
# of it shows in torch.cuda.max_memory_allocated(), the peak vlmscope predicts. 1 GiB is an allowance chosen
# to cover a CUDA 12 context with lazy module loading plus workspaces, not a measurement of your card:
# benchmarks/gpu_check.py measures the context on the GPU it runs on; pass --reserve (reserve_bytes) to use it.
DEFAULT_RESERVE = 2**30


def phased_peak(m: Memory, layout: KVCache, prompt: int, context: int, batch: int, traced_batch: int) -> int | None:
    """The most memory a request holds at once, at ``context`` × ``batch``: the weights and the largest of
    its phases, as transformers runs them.

    - The vision side (encoder, then connector) runs before the language model, when no cache exists yet.
    - The language model's prefill holds the prompt's KV, layer after layer, and its own activations.
    - Generation grows the cache to the context; a decode step's own tensors are one token wide.

    The activations were traced at ``traced_batch`` and scale with the batch (every traced tensor carries
    it). The prompt's embeddings, which the model makes before the images' features, are left out: they are
    small beside the language phase whenever they are large. None where the activations were not traced."""
    if m.activation_peak_bytes is None:
        return None
    scale = batch / traced_batch
    vision = int((m.vision_peak_bytes or 0) * scale)
    language = layout.bytes(prompt, batch) + int((m.language_peak_bytes or 0) * scale)
    return m.weights_bytes + max(vision, language, layout.bytes(context, batch))


def gpu_of(request: CostRequest) -> tuple[int, int, str | None] | None:
    """(memory, reserve, name) of the GPU a request names: ``gpu_bytes``, else the total ``gpu``'s driver
    reports (the accelerator table's ``memory_mib``, with its source), and the reserve (``reserve_bytes``, else
    DEFAULT_RESERVE); None when it names none. A reserve that leaves nothing is refused."""
    from vlmscope.costing.latency import accelerator

    if request.gpu_bytes is not None:
        total, name = request.gpu_bytes, None
    elif request.gpu is not None:
        spec = accelerator(request.gpu)[1]
        total, name = int(spec["memory_mib"]) * 2**20, str(spec["name"])
    else:
        return None
    reserve = DEFAULT_RESERVE if request.reserve_bytes is None else request.reserve_bytes
    if reserve >= total:
        raise RequestError("reserve_bytes", reserve, f"less than the GPU's memory ({total:,} bytes)")
    return total, reserve, name


def fit(anatomy: Anatomy, sheet: CostSheet, gpu_bytes: int, reserve_bytes: int = 0, gpu: str | None = None) -> Fit:
    """The verdict for ``sheet``'s request on ``gpu_bytes`` of memory less ``reserve_bytes``, named for the
    GPU and the request it answers; at other contexts and batches, the peak is ``phased_peak``'s."""
    r = sheet.request
    return replace(_verdict(anatomy, sheet, gpu_bytes, gpu_bytes - reserve_bytes), gpu=gpu,
                   reserve_bytes=reserve_bytes, image_size=sheet.tokens.image_size, images=r.images,
                   text_tokens=r.text_tokens, context=r.context, batch=r.batch,
                   videos=tuple(str(v) for v in r.videos))


def _verdict(anatomy: Anatomy, sheet: CostSheet, gpu_bytes: int, usable: int) -> Fit:
    m, layout, r = sheet.memory, sheet.kv, sheet.request
    prompt = sheet.tokens.prefill or 0
    limit = anatomy.language.max_position_embeddings or MAX_TOKENS
    act = m.activation_peak_bytes
    if act is None or m.peak_bytes is None:
        return Fit(anatomy.model_id, anatomy.display_name, None, gpu_bytes, m.weights_bytes, m.kv_cache_bytes,
                   None, None, None, None, None, limit, m.quant, sheet.latency,
                   m.method + "; no verdict: the activation peak was not traced", _said(sheet))
    def peak(context: int, batch: int) -> int:
        return phased_peak(m, layout, prompt, context, batch, r.batch) or 0

    max_context = _largest(lambda c: peak(c, r.batch) <= usable, max(prompt, 1), max(limit, prompt))
    max_batch = _largest(lambda b: peak(r.context, b) <= usable, 1, MAX_TOKENS // max(r.context, 1))
    headroom = usable - m.peak_bytes
    method = (f"{m.method}; max_context: KV grown layer by layer up to {limit:,} positions; max_batch: KV and "
              "activations scaled by the batch")
    said = _said(sheet)
    beyond = r.context > limit  # the model cannot take that context: no ✓, whatever the memory says
    if beyond:
        at_limit = peak(limit, r.batch)
        said = (*said, f"no ✓ at context {r.context:,}: the model has {limit:,} positions; at its own maximum, "
                       f"{limit:,}, the peak is {at_limit:,} bytes, which "
                       f"{'fits' if at_limit <= usable else 'does not fit'}")
    return Fit(anatomy.model_id, anatomy.display_name, headroom >= 0 and not beyond, gpu_bytes, m.weights_bytes,
               m.kv_cache_bytes, act, m.peak_bytes, headroom, max_context, max_batch, limit, m.quant, sheet.latency,
               method, said)


def _said(sheet: CostSheet) -> tuple[str, ...]:
    """The sheet's assumptions (an assumed image size, processor defaults) and warnings, and each part of the
    activation peak that could not be traced."""
    return (*sheet.assumptions, *sheet.warnings, *sheet.memory.untraced)


def _largest(check: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in [low, high] with check(n), for a predicate that holds up to a point; None if none
    does."""
    if high < low or not check(low):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if check(mid):
            low = mid
        else:
            high = mid - 1
    return low
