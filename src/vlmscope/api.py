"""The Python API: ``inspect`` one model, ``compare`` several."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from vlmscope import cache
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


def inspect(ref: str, *, use_cache: bool = True) -> Anatomy:
    """Build ``ref`` (catalog name, folder or config.json) on the meta device and return its anatomy.

    Results are cached on disk (see ``vlmscope.cache``); ``use_cache=False`` always rebuilds.
    """
    from vlmscope.sources import resolve

    return inspect_source(resolve(ref), use_cache=use_cache)


def inspect_source(source: ModelSource, *, use_cache: bool = True) -> Anatomy:
    """The anatomy of already-resolved config files (cached like ``inspect``)."""
    payload = {"config": source.config, "preprocessor": source.preprocessor, "processor": source.processor,
               "id": source.model_id, "info": dataclasses.asdict(source.info),
               "card": dataclasses.asdict(source.card) if source.card else None}
    cache_key = cache.key(payload)
    if use_cache and (hit := cache.load(cache_key)) is not None:
        return hit
    from vlmscope.anatomy import analyze
    from vlmscope.skeleton import build

    anatomy = analyze(build(source), source)
    if use_cache:
        cache.store(cache_key, anatomy)
    return anatomy


def compare(refs: Iterable[str] = SEED_MODELS, *, use_cache: bool = True,
            on_done: Callable[[str], None] | None = None) -> Comparison:
    """Anatomies of several models, in the order given (default: the nine seed models)."""
    found = []
    for ref in refs:
        found.append(inspect(ref, use_cache=use_cache))
        if on_done is not None:
            on_done(ref)
    return Comparison(tuple(found))
