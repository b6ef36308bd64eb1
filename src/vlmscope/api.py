"""The Python API: ``inspect`` one model, ``compare`` several, ``cost`` a request, ``survey`` the zoo.

Each call runs the pipeline: sources (reference → config files) → skeleton (config → meta-device model)
→ anatomy (module tree → facts) → tokens and cost (request → visual tokens, FLOPs, memory). Anatomies and
cost sheets are cached on disk (``vlmscope.cache``), so a repeated call imports neither torch nor
transformers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from vlmscope import cache
from vlmscope.data import Anatomy, Comparison, Costed, CostRequest, CostSheet, Fit, Fitted, Outcome, ZooEntry
from vlmscope.data.training import TrainRecipe, TrainShape, TrainSheet
from vlmscope.errors import RequestError, VlmscopeError, reason
from vlmscope.sources import ModelSource

if TYPE_CHECKING:
    from vlmscope.anatomy import Reading

SEED_MODELS: tuple[str, ...] = (
    "HuggingFaceM4/idefics2-8b-base",
    "HuggingFaceM4/idefics2-8b",
    "HuggingFaceM4/idefics2-8b-chatty",
    "llava-hf/llava-v1.6-mistral-7b-hf",
    "llava-hf/llava-v1.6-vicuna-7b-hf",
    "TIGER-Lab/Mantis-8B-clip-llama3",
    "TIGER-Lab/Mantis-8B-siglip-llama3",
    "microsoft/Phi-3-vision-128k-instruct",
    "llava-hf/llava-1.5-7b-hf",
)
# Official 2025–2026 checkpoints in the bundled catalog (sources: catalog/models/SOURCES.md). Kimi-K2.5 is in
# the catalog but not here: its 1T-parameter skeleton takes minutes to build.
TODAY_MODELS: tuple[str, ...] = (
    "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen3-VL-4B-Instruct",
    "Qwen/Qwen3.5-0.8B",
    "HuggingFaceTB/SmolVLM-256M-Instruct",
    "google/gemma-3-4b-it",
    "google/gemma-4-E2B-it",
    "google/paligemma2-3b-mix-448",
    "meta-llama/Llama-3.2-11B-Vision-Instruct",
    "zai-org/GLM-4.1V-9B-Thinking",
    "mistralai/Devstral-Small-2-24B-Instruct-2512",
    "LiquidAI/LFM2.5-VL-1.6B",
    "openbmb/MiniCPM-V-4.6-AWQ",
    "microsoft/Florence-2-base",
)
MODEL_SETS: dict[str, tuple[str, ...]] = {"seed": SEED_MODELS, "today": TODAY_MODELS}


def inspect(ref: str, *, use_cache: bool = True, trust_remote_code: bool = False) -> Anatomy:
    """Build ``ref`` on the meta device and return its anatomy.

    ``ref`` is a catalog name, a local folder, a path to a config.json, or a Hub repo id (``org/name``,
    optionally ``@revision``; only config files are downloaded). Results are cached on disk (see
    ``vlmscope.cache``); ``use_cache=False`` always rebuilds. Code shipped with a model runs only when
    the caller sets ``trust_remote_code``.
    """
    from vlmscope.sources import resolve

    return inspect_source(resolve(ref), use_cache=use_cache, trust_remote_code=trust_remote_code)


def inspect_source(source: ModelSource, *, use_cache: bool = True, trust_remote_code: bool = False) -> Anatomy:
    """The anatomy of already-resolved config files (cached like ``inspect``)."""
    cache_key = cache.key(_payload(source))
    if use_cache and (hit := cache.load(cache_key, Anatomy)) is not None:
        return hit
    return _analyze(_read(source, trust_remote_code), source, cache_key if use_cache else None)


def _read(source: ModelSource, trust_remote_code: bool) -> Reading:
    from vlmscope.anatomy import read
    from vlmscope.skeleton import build

    return read(build(source, trust_remote_code=trust_remote_code))


def _analyze(reading: Reading, source: ModelSource, cache_key: str | None) -> Anatomy:
    from vlmscope.anatomy import analyze

    anatomy = analyze(reading, source)
    if cache_key is not None:
        cache.store(cache_key, anatomy)
    return anatomy


def _payload(source: ModelSource) -> dict[str, object]:
    return {"config": source.config, "preprocessor": source.preprocessor, "processor": source.processor,
            "id": source.model_id, "info": dataclasses.asdict(source.info),
            "card": dataclasses.asdict(source.card) if source.card else None}


def compare(refs: Iterable[str] = SEED_MODELS, *, use_cache: bool = True, trust_remote_code: bool = False,
            on_done: Callable[[str], None] | None = None, request: CostRequest | None = None) -> Comparison:
    """Anatomies of several models, in the order given (default: the nine seed models), with the cost
    sheet of ``request`` for each when one is given (then ``to_pandas()`` has the cost columns and the
    renderers add the cost table). The first model that fails raises; ``compare_each`` collects failures."""
    found = []
    for ref in refs:
        found.append(outcome(ref, use_cache=use_cache, trust_remote_code=trust_remote_code, request=request))
        if on_done is not None:
            on_done(ref)
    return gather(found, costed=request is not None)


def gather(outcomes: Sequence[Outcome], *, costed: bool) -> Comparison:
    """The comparison of a batch's models that succeeded, carrying their cost sheets when they were costed."""
    models = tuple(o.anatomy for o in outcomes if o.anatomy is not None)
    return Comparison(models, tuple(o.sheet for o in outcomes if o.sheet is not None) if costed else None)


def cost(ref: str, request: CostRequest | None = None, *, use_cache: bool = True,
         trust_remote_code: bool = False) -> Costed:
    """The anatomy and cost sheet (visual tokens, FLOPs, memory, KV cache) of ``ref`` for ``request``
    (default: one image at the encoder's native size, a 4096-token context, bf16 weights)."""
    from vlmscope.sources import resolve

    return cost_source(resolve(ref), request or CostRequest(), use_cache=use_cache,
                       trust_remote_code=trust_remote_code)


def cost_source(source: ModelSource, request: CostRequest, *, use_cache: bool = True,
                trust_remote_code: bool = False) -> Costed:
    """Anatomy and cost sheet of resolved config files; the skeleton is built, walked and its roles found
    at most once for both."""
    anatomy, (sheet,) = cost_sheets(source, (request,), use_cache=use_cache, trust_remote_code=trust_remote_code)
    return Costed(anatomy, sheet)


def cost_many(ref: str, requests: Sequence[CostRequest], *, use_cache: bool = True,
              trust_remote_code: bool = False) -> tuple[Anatomy, tuple[CostSheet, ...]]:
    """The anatomy and one cost sheet per request (several image sizes, say) of one model: the config is
    resolved once and the skeleton built at most once for all of them (not at all when every sheet is
    cached)."""
    from vlmscope.sources import resolve

    return cost_sheets(resolve(ref), requests, use_cache=use_cache, trust_remote_code=trust_remote_code)


def cost_sheets(source: ModelSource, requests: Sequence[CostRequest], *, use_cache: bool = True,
                trust_remote_code: bool = False) -> tuple[Anatomy, tuple[CostSheet, ...]]:
    """``cost_many`` of resolved config files. A GPU the requests name, and its reserve, are checked before
    anything is built (one clear error, not a failure after minutes of work)."""
    from vlmscope.costing.fit import gpu_of

    for request in requests:
        gpu_of(request)
    anatomy_key = cache.key(_payload(source))
    keys = [cache.key({**_payload(source), "cost": dataclasses.asdict(r)}) for r in requests]
    anatomy = cache.load(anatomy_key, Anatomy) if use_cache else None
    sheets: list[CostSheet | None] = [cache.load(k, CostSheet) if use_cache else None for k in keys]
    if anatomy is not None and all(sheets):
        return anatomy, tuple(s for s in sheets if s is not None)
    from vlmscope.costing import cost_sheet

    reading = _read(source, trust_remote_code)  # one skeleton for every size still to cost
    if anatomy is None:
        anatomy = _analyze(reading, source, anatomy_key if use_cache else None)
    done = []
    for request, key, found in zip(requests, keys, sheets, strict=True):
        if found is None:
            found = cost_sheet(reading, source, anatomy, request)
            if use_cache:
                cache.store(key, found)
        done.append(found)
    return anatomy, tuple(done)


def outcome(ref: str, *, use_cache: bool = True, trust_remote_code: bool = False,
            request: CostRequest | None = None) -> Outcome:
    """One model's anatomy, with its cost sheet for ``request`` when given; errors propagate."""
    if request is None:
        return Outcome(ref, inspect(ref, use_cache=use_cache, trust_remote_code=trust_remote_code), None)
    anatomy, sheet = cost(ref, request, use_cache=use_cache, trust_remote_code=trust_remote_code)
    return Outcome(ref, anatomy, None, sheet)


def _collected(ref: str, use_cache: bool, trust_remote_code: bool, request: CostRequest | None = None) -> Outcome:
    """``outcome``, with any error turned into the one line that stopped this model."""
    try:
        return outcome(ref, use_cache=use_cache, trust_remote_code=trust_remote_code, request=request)
    except VlmscopeError as exc:
        return Outcome(ref, None, str(exc))
    except Exception as exc:  # one model's bug must not stop the others: reported, with how to see more
        return Outcome(ref, None, f"{ref}: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")


def compare_each(refs: Sequence[str], *, jobs: int = 1, use_cache: bool = True, trust_remote_code: bool = False,
                 on_done: Callable[[str], None] | None = None, cost_request: CostRequest | None = None,
                 fail_fast: bool = False) -> tuple[Outcome, ...]:
    """Inspect every model, in order; one that fails does not stop the others (``fail_fast``: its error
    propagates, for --debug). With ``cost_request`` each outcome also carries the cost sheet (from the same
    skeleton). ``jobs`` > 1 spreads the work over that many processes (each imports torch and transformers
    once)."""
    if fail_fast or jobs <= 1 or len(refs) <= 1:
        results = []
        for ref in refs:
            results.append(outcome(ref, use_cache=use_cache, trust_remote_code=trust_remote_code,
                                   request=cost_request) if fail_fast
                           else _collected(ref, use_cache, trust_remote_code, cost_request))
            if on_done is not None:
                on_done(ref)
        return tuple(results)
    return _in_processes(refs, jobs, use_cache, trust_remote_code, on_done, cost_request)


def _in_processes(refs: Sequence[str], jobs: int, use_cache: bool, trust_remote_code: bool,
                  on_done: Callable[[str], None] | None, request: CostRequest | None) -> tuple[Outcome, ...]:
    """The batch over ``jobs`` processes (``pool.run``): a model whose process dies, alone too, gets that as its
    error; the others are unaffected."""
    import functools

    from vlmscope import pool

    work = functools.partial(_collected, use_cache=use_cache, trust_remote_code=trust_remote_code, request=request)
    return tuple(pool.run(work, refs, jobs, on_done, _died))


def _died(ref: str) -> Outcome:
    return Outcome(ref, None, f"{ref}: the process building it died (killed by a signal, or out of memory); the "
                              "other models are unaffected")


def inspect_type(model_type: str, *, use_cache: bool = True) -> ZooEntry:
    """Build one model_type of the zoo from its default config and read its anatomy; a failure becomes
    the reason (the survey goes on)."""
    from vlmscope.sources.zoo import default_source

    try:
        return ZooEntry(model_type, None, inspect_source(default_source(model_type), use_cache=use_cache))
    except Exception as exc:  # the zoo's own default configs: any failure is a finding, not a crash
        return ZooEntry(model_type, reason(exc), None)


def survey(types: tuple[str, ...] | None = None, *, use_cache: bool = True,
           on_done: Callable[[str], None] | None = None) -> tuple[ZooEntry, ...]:
    """Every model_type of the transformers VLM zoo (or the ones given), in order."""
    from vlmscope.sources.zoo import model_types

    entries = []
    for model_type in types or model_types():
        entries.append(inspect_type(model_type, use_cache=use_cache))
        if on_done is not None:
            on_done(model_type)
    return tuple(entries)


def fit(refs: Sequence[str] = SEED_MODELS, request: CostRequest | None = None, *, jobs: int = 1,
        use_cache: bool = True, trust_remote_code: bool = False,
        on_done: Callable[[str], None] | None = None) -> Fitted:
    """Whether each model's request fits the GPU the request names (``gpu`` from the accelerator table, at
    the memory its driver reports, or ``gpu_bytes``) less the reserve (``reserve_bytes``, default 1 GiB),
    sorted by peak memory; with the outcomes, so a caller can report the models that failed. The result shows
    as a table in a notebook and has ``to_pandas()``."""
    request = request or CostRequest()
    gpu_memory(request)  # a request without a GPU is refused before any model is built
    outcomes = compare_each(refs, jobs=jobs, use_cache=use_cache, trust_remote_code=trust_remote_code,
                            on_done=on_done, cost_request=request)
    return Fitted(fits_of(outcomes, request), tuple(outcomes))


def gpu_memory(request: CostRequest) -> int:
    """The GPU memory a request is fitted against: ``gpu_bytes``, else the total ``gpu``'s driver reports
    (the accelerator table's ``memory_mib``, with its source); refused where the reserve leaves nothing."""
    from vlmscope.costing.fit import gpu_of

    found = gpu_of(request)
    if found is None:
        raise RequestError("gpu", None, "a GPU name (gpu=...) or its memory (gpu_bytes=...)")
    return found[0]


def fits_of(outcomes: Sequence[Outcome], request: CostRequest) -> tuple[Fit, ...]:
    """The fit of every costed outcome against the request's GPU less its reserve, sorted by peak memory."""
    gpu_memory(request)  # a request without a GPU is one clear error
    found = [o.sheet.fit for o in outcomes if o.anatomy is not None and o.sheet is not None and o.sheet.fit]
    return tuple(sorted(found, key=lambda f: (f.peak_bytes is None, f.peak_bytes or 0)))


def train(ref: str, recipe: TrainRecipe | None = None, shape: TrainShape | None = None, *,
          gpu: CostRequest | None = None, trust_remote_code: bool = False) -> tuple[Anatomy, TrainSheet]:
    """The anatomy and training sheet of ``ref``: one step of ``recipe`` (default: a full fine-tune in bf16 with
    AdamW) at ``shape`` (default: one sample of 2,048 tokens with one image at the encoder's native size),
    traced on meta tensors; against the GPU ``gpu`` names (``gpu``, ``gpu_bytes``, ``reserve_bytes``) when
    given: whether it fits, the largest micro-batch and sequence. Not cached: every call traces."""
    from vlmscope.costing.fit import gpu_of
    from vlmscope.sources import resolve
    from vlmscope.training.sheet import train_sheet

    found = gpu_of(gpu) if gpu is not None else None  # a bad GPU is refused before anything is built
    source = resolve(ref)
    reading = _read(source, trust_remote_code)
    anatomy = _analyze(reading, source, None)
    return anatomy, train_sheet(reading, source, anatomy, recipe or TrainRecipe(), shape or TrainShape(), found)
