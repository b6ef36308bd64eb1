"""The Python API: ``inspect`` one model, ``compare`` several."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vlmscope import cache
from vlmscope.costtypes import CostRequest, CostSheet
from vlmscope.schema import Anatomy, Comparison
from vlmscope.sources import ModelSource

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
    from vlmscope.skeleton import build

    return _analyze(build(source, trust_remote_code=trust_remote_code), source, cache_key if use_cache else None)


def _analyze(model: Any, source: ModelSource, cache_key: str | None) -> Anatomy:
    from vlmscope.anatomy import analyze

    anatomy = analyze(model, source)
    if cache_key is not None:
        cache.store(cache_key, anatomy)
    return anatomy


def _payload(source: ModelSource) -> dict[str, object]:
    return {"config": source.config, "preprocessor": source.preprocessor, "processor": source.processor,
            "id": source.model_id, "info": dataclasses.asdict(source.info),
            "card": dataclasses.asdict(source.card) if source.card else None}


def compare(refs: Iterable[str] = SEED_MODELS, *, use_cache: bool = True, trust_remote_code: bool = False,
            on_done: Callable[[str], None] | None = None) -> Comparison:
    """Anatomies of several models, in the order given (default: the nine seed models).
    The first model that fails raises; ``compare_each`` collects failures instead."""
    found = []
    for ref in refs:
        found.append(inspect(ref, use_cache=use_cache, trust_remote_code=trust_remote_code))
        if on_done is not None:
            on_done(ref)
    return Comparison(tuple(found))


def cost(ref: str, request: CostRequest | None = None, *, use_cache: bool = True,
         trust_remote_code: bool = False) -> tuple[Anatomy, CostSheet]:
    """The anatomy and cost sheet (visual tokens, FLOPs, memory, KV cache) of ``ref`` for ``request``
    (default: one image at the encoder's native size, a 4096-token context, bf16 weights)."""
    from vlmscope.sources import resolve

    return cost_source(resolve(ref), request or CostRequest(), use_cache=use_cache,
                       trust_remote_code=trust_remote_code)


def cost_source(source: ModelSource, request: CostRequest, *, use_cache: bool = True,
                trust_remote_code: bool = False) -> tuple[Anatomy, CostSheet]:
    """Anatomy and cost sheet of resolved config files; the skeleton is built at most once for both."""
    anatomy_key = cache.key(_payload(source))
    cost_key = cache.key({**_payload(source), "cost": dataclasses.asdict(request)})
    anatomy = cache.load(anatomy_key, Anatomy) if use_cache else None
    sheet = cache.load(cost_key, CostSheet) if use_cache else None
    if anatomy is not None and sheet is not None:
        return anatomy, sheet
    from vlmscope.costsheet import cost_sheet
    from vlmscope.skeleton import build

    model = build(source, trust_remote_code=trust_remote_code)
    if anatomy is None:
        anatomy = _analyze(model, source, anatomy_key if use_cache else None)
    sheet = cost_sheet(model, source, anatomy, request)
    if use_cache:
        cache.store(cost_key, sheet)
    return anatomy, sheet


@dataclass(frozen=True)
class Outcome:
    """One model of a batch: its anatomy (and cost sheet, when asked for), or the one-line error that
    stopped it."""

    ref: str
    anatomy: Anatomy | None
    error: str | None
    sheet: CostSheet | None = None


def outcome(ref: str, *, use_cache: bool = True, trust_remote_code: bool = False,
            request: CostRequest | None = None) -> Outcome:
    """One model's anatomy, with its cost sheet for ``request`` when given; errors propagate."""
    if request is None:
        return Outcome(ref, inspect(ref, use_cache=use_cache, trust_remote_code=trust_remote_code), None)
    anatomy, sheet = cost(ref, request, use_cache=use_cache, trust_remote_code=trust_remote_code)
    return Outcome(ref, anatomy, None, sheet)


def _outcome(ref: str, use_cache: bool, trust_remote_code: bool, request: CostRequest | None = None) -> Outcome:
    from vlmscope.errors import VlmscopeError

    try:
        return outcome(ref, use_cache=use_cache, trust_remote_code=trust_remote_code, request=request)
    except VlmscopeError as exc:
        return Outcome(ref, None, str(exc))
    except Exception as exc:
        return Outcome(ref, None, f"{ref}: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")


def compare_each(refs: Sequence[str], *, jobs: int = 1, use_cache: bool = True, trust_remote_code: bool = False,
                 on_done: Callable[[str], None] | None = None,
                 cost_request: CostRequest | None = None) -> tuple[Outcome, ...]:
    """Inspect every model, in order; one that fails does not stop the others. With ``cost_request`` each
    outcome also carries the cost sheet (from the same skeleton). ``jobs`` > 1 spreads the work over that
    many processes (each imports torch and transformers once)."""
    if jobs <= 1 or len(refs) <= 1:
        results = []
        for ref in refs:
            results.append(_outcome(ref, use_cache, trust_remote_code, cost_request))
            if on_done is not None:
                on_done(ref)
        return tuple(results)
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(refs))) as pool:
        futures = {pool.submit(_outcome, ref, use_cache, trust_remote_code, cost_request): i
                   for i, ref in enumerate(refs)}
        done: dict[int, Outcome] = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            if on_done is not None:
                on_done(done[futures[future]].ref)
    return tuple(done[i] for i in range(len(refs)))
