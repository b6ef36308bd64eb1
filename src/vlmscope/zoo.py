"""The transformers VLM zoo: every model_type the installed transformers maps to image-text-to-text,
each built from its default config and read with the same structural role finder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vlmscope.schema import Anatomy, SourceInfo


@dataclass(frozen=True)
class ZooEntry:
    model_type: str
    status: str  # "ok" or "error"
    reason: str | None
    anatomy: Anatomy | None


def model_types() -> tuple[str, ...]:
    """model_types mapped to image-text-to-text by the installed transformers, sorted."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return tuple(sorted(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


def inspect_type(model_type: str, *, use_cache: bool = True) -> ZooEntry:
    """Build one model_type from its default config and read its anatomy; failures become a reason."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    from vlmscope.api import inspect_source
    from vlmscope.skeleton import quiet
    from vlmscope.sources import ModelSource

    try:
        with quiet():
            config = CONFIG_MAPPING[model_type]().to_dict()
        config["architectures"] = [MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES[model_type]]
        source = ModelSource(model_type, config, None, None, SourceInfo("zoo", f"default {model_type} config", ()))
        return ZooEntry(model_type, "ok", None, inspect_source(source, use_cache=use_cache))
    except Exception as exc:
        return ZooEntry(model_type, "error", _reason(exc), None)


def survey(types: tuple[str, ...] | None = None, *, use_cache: bool = True,
           on_done: Callable[[str], None] | None = None) -> tuple[ZooEntry, ...]:
    """Every model_type of the zoo (or the ones given), in order."""
    entries = []
    for model_type in types or model_types():
        entries.append(inspect_type(model_type, use_cache=use_cache))
        if on_done is not None:
            on_done(model_type)
    return tuple(entries)
