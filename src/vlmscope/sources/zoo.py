"""The transformers VLM zoo as a source: every model_type the installed transformers maps to
image-text-to-text, each with its default config."""

from __future__ import annotations

from vlmscope.data import Origin, SourceInfo
from vlmscope.sources.resolve import ModelSource


def model_types() -> tuple[str, ...]:
    """model_types mapped to image-text-to-text by the installed transformers, sorted."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return tuple(sorted(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES))


def default_source(model_type: str) -> ModelSource:
    """The default config of ``model_type``, with its image-text-to-text class as the architecture."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    from vlmscope.quiet import quiet

    with quiet():
        config = CONFIG_MAPPING[model_type]().to_dict()
    config["architectures"] = [MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES[model_type]]
    return ModelSource(model_type, config, None, None, SourceInfo(Origin.zoo, f"default {model_type} config", ()))
