"""Config → the real transformers model, built on PyTorch's meta device (no weight memory)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmscope.errors import ConfigError, UnsupportedArchitectureError
from vlmscope.quiet import quiet
from vlmscope.skeleton.rebuilt import REBUILT

if TYPE_CHECKING:
    from torch import nn
    from transformers import PretrainedConfig

    from vlmscope.sources import ModelSource


def make_config(source: ModelSource) -> PretrainedConfig:
    """The transformers config object for ``source``; unknown model types raise a clear error."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = source.config["model_type"]
    if model_type not in CONFIG_MAPPING:
        hint = (" The model ships its own code (auto_map); rerun with --trust-remote-code to run that code"
                if "auto_map" in source.config else "")
        raise UnsupportedArchitectureError(
            source.model_id, f"model_type {model_type!r} is unknown to transformers {transformers.__version__}.{hint}"
        )
    from huggingface_hub.errors import StrictDataclassError  # transformers' configs validate with these

    try:
        with quiet():
            return CONFIG_MAPPING[model_type].from_dict(source.config)
    except (TypeError, ValueError, KeyError, StrictDataclassError) as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(source.info.location, f"transformers rejects it: {problem[:200]}") from exc


def model_class(config: PretrainedConfig, source: ModelSource) -> type[nn.Module]:
    """The class named in ``architectures``, or the image-text-to-text class mapped to the config."""
    import transformers
    from transformers import AutoModelForImageTextToText

    names = source.config.get("architectures") or []
    if names:
        cls = getattr(transformers, names[0], None)
        if cls is None:
            raise UnsupportedArchitectureError(
                source.model_id,
                f"architecture {names[0]!r} is not in transformers {transformers.__version__};"
                " check the config's 'architectures' field or upgrade transformers",
            )
        return cls  # type: ignore[no-any-return]
    mapping = AutoModelForImageTextToText._model_mapping
    if type(config) not in mapping:
        raise UnsupportedArchitectureError(source.model_id,
                                           "config has no 'architectures' and no image-text-to-text class")
    found: Any = mapping[type(config)]
    if isinstance(found, tuple):  # some configs map to several classes: the first is the default
        found = next(cls for cls in found if cls is not None)
    return found  # type: ignore[no-any-return]


def build(source: ModelSource, *, trust_remote_code: bool = False) -> nn.Module:
    """Build the model skeleton on the meta device. Rebuilt skeletons take precedence over transformers,
    and transformers over remote code, which runs only when ``trust_remote_code`` is set."""
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = source.config["model_type"]
    rebuilt = REBUILT.get(model_type)
    with quiet(), torch.device("meta"):
        if rebuilt is not None:
            return rebuilt(source.config)
        if trust_remote_code and model_type not in CONFIG_MAPPING and "auto_map" in source.config:
            return _build_remote(source)
        config = make_config(source)
        cls = model_class(config, source)
        return _instantiate(cls, config, source)


_MODEL_KEYS = ("AutoModelForImageTextToText", "AutoModelForVision2Seq", "AutoModelForCausalLM", "AutoModel")


def _build_remote(source: ModelSource) -> nn.Module:
    """Build from the model's own code (auto_map), fetched by transformers' dynamic-module loader from the
    Hub repo or local folder the config came from. Only called for --trust-remote-code."""
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    auto_map = source.config["auto_map"]
    key = next((k for k in _MODEL_KEYS if k in auto_map), None)
    if source.code_location is None or "AutoConfig" not in auto_map or key is None:
        raise UnsupportedArchitectureError(source.model_id, "auto_map names no AutoConfig and model class to build")
    try:
        config_cls: Any = get_class_from_dynamic_module(auto_map["AutoConfig"], source.code_location,
                                                   revision=source.revision)
        model_cls = get_class_from_dynamic_module(auto_map[key], source.code_location, revision=source.revision)
        config = config_cls.from_dict(source.config)
    except (OSError, ImportError, ValueError, AttributeError) as exc:
        raise UnsupportedArchitectureError(source.model_id, f"its remote code could not be loaded: {exc}") from exc
    return _instantiate(model_cls, config, source)


def _instantiate(cls: Any, config: PretrainedConfig, source: ModelSource) -> nn.Module:
    try:
        return cls(config)  # type: ignore[no-any-return]
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        problem = f"{cls.__name__} cannot be built from this config: {exc}"
        raise UnsupportedArchitectureError(source.model_id, problem) from exc
