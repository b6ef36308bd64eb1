"""Config → the real transformers model, built on PyTorch's meta device (no weight memory)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any

from vlmscope.errors import ConfigError, UnsupportedArchitectureError, VlmscopeWarning, from_library, reason, shown
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

    config_class = CONFIG_MAPPING[model_type]
    _check_sub_configs(config_class, source.config, source.info.location or source.model_id)
    raw = _lift_flat_text(config_class, source)
    try:
        with quiet():
            config = config_class.from_dict(raw)
    except Exception as exc:  # transformers' validation, or any library code refusing a value of the config
        if not isinstance(exc, StrictDataclassError) and not from_library(exc):
            raise
        problem = " ".join(str(exc).split())
        raise ConfigError(source.info.location, f"transformers rejects it: {problem[:200]}") from exc
    _check_heads(config, source.info.location or source.model_id)
    return config


def _check_heads(config: PretrainedConfig, where: str, depth: int = 0) -> None:
    """Key/value heads that divide the query heads, as the config object holds them (a head count the file
    leaves out takes the class's default, which the file checks cannot see)."""
    try:
        heads, kv = getattr(config, "num_attention_heads", None), getattr(config, "num_key_value_heads", None)
    except Exception:  # a per-layer attribute a config refuses to give globally (heads vary by layer)
        heads = kv = None
    if isinstance(heads, int) and isinstance(kv, int) and kv > 0 and heads % kv:
        raise ConfigError(where, f"num_attention_heads = {heads} (the class default where the file has none) is "
                                 f"not divisible by num_key_value_heads = {kv}")
    for name in getattr(config, "sub_configs", {}) if depth < 4 else ():
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "to_dict"):
            _check_heads(sub, where, depth + 1)


def _check_sub_configs(config_class: Any, raw: dict[str, Any], where: str, depth: int = 0) -> None:
    """The sub-configs a config class declares (``sub_configs``) are objects, or absent; the check follows
    each declared sub-config whose class declares its own. A key that merely ends in ``_config`` (SmolVLM's
    boolean ``is_llama_config``) is no sub-config."""
    for key, sub_class in (getattr(config_class, "sub_configs", None) or {}).items():
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(where, f"{key} = {shown(value)} is not an object (a sub-config)")
        if depth < 4:
            _check_sub_configs(sub_class, value, where, depth + 1)


_OUTER_KEYS = ("model_type", "architectures", "auto_map", "transformers_version", "torch_dtype", "dtype")


def _lift_flat_text(config_class: Any, source: ModelSource) -> dict[str, Any]:
    """A pre-v5 composite config that keeps its text model's keys at the top level, with no ``text_config``
    (GLM-4.1V's first release): transformers 5 ignores those keys and builds the text model from its
    defaults, losing e.g. the partial rotary factor and mrope sections its forward needs. They are read as
    the ``text_config``, and a warning says so. Any other config is returned as it is."""
    raw = source.config
    declared = getattr(config_class, "sub_configs", None) or {}
    if "text_config" not in declared or "text_config" in raw or "vision_config" not in raw \
            or not {"hidden_size", "num_hidden_layers"} <= raw.keys():
        return raw
    own = {f.name for f in dataclasses.fields(config_class)} if dataclasses.is_dataclass(config_class) else set()
    text = {k: v for k, v in raw.items() if k not in own and k not in declared and k not in _OUTER_KEYS}
    warnings.warn(f"{source.model_id}: a flat config (no text_config); its top-level keys "
                  f"({len(text)}, rope settings included) were read as the text model's", VlmscopeWarning,
                  stacklevel=3)
    return {**raw, "text_config": text}


def model_class(config: PretrainedConfig, source: ModelSource) -> type[nn.Module]:
    """The class named in ``architectures``; else, or when transformers spells that class otherwise, the
    image-text-to-text class mapped to the config (said in one warning line)."""
    import transformers

    names = source.config.get("architectures") or []
    if names:
        cls = getattr(transformers, names[0], None)
        if cls is not None:
            return cls  # type: ignore[no-any-return]
        fallback = _mapped_class(config)
        missing = _missing_sub_configs(config, source.config)
        if fallback is None or missing:
            why = (f"; its model_type {source.config['model_type']!r} would build a default "
                   f"{type(config).__name__} instead (no {' or '.join(missing)} in the config)") if missing else ""
            raise UnsupportedArchitectureError(
                source.model_id,
                f"architecture {names[0]!r} is not in transformers {transformers.__version__}{why};"
                " check the config's 'architectures' field or upgrade transformers",
            )
        warnings.warn(f"{source.model_id}: architecture {names[0]!r} is not in transformers "
                      f"{transformers.__version__}; built {fallback.__name__}, the class of its model_type "
                      f"{source.config['model_type']!r}", VlmscopeWarning, stacklevel=2)
        return fallback  # type: ignore[no-any-return]
    found = _mapped_class(config)
    if found is None:
        raise UnsupportedArchitectureError(source.model_id,
                                           "config has no 'architectures' and no image-text-to-text class")
    return found  # type: ignore[no-any-return]


def _mapped_class(config: PretrainedConfig) -> Any:
    """The image-text-to-text class transformers maps the config's class to (the first of several), or None."""
    from transformers import AutoModelForImageTextToText

    mapping = AutoModelForImageTextToText._model_mapping
    if type(config) not in mapping:
        return None
    found: Any = mapping[type(config)]
    if isinstance(found, tuple):  # some configs map to several classes: the first is the default
        found = next(cls for cls in found if cls is not None)
    return found


def _missing_sub_configs(config: PretrainedConfig, raw: dict[str, Any]) -> list[str]:
    """The text and vision sub-configs the config's class declares that the raw config lacks: building it
    anyway would silently fill them with the class's defaults (a flat, original-format config)."""
    declared = getattr(type(config), "sub_configs", None) or {}
    return [key for key in ("text_config", "vision_config") if key in declared and not isinstance(raw.get(key), dict)]


def build(source: ModelSource, *, trust_remote_code: bool = False) -> nn.Module:
    """Build the model skeleton on the meta device. Rebuilt skeletons take precedence over transformers,
    and transformers over remote code, which runs only when ``trust_remote_code`` is set."""
    import torch
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = source.config["model_type"]
    rebuilt = REBUILT.get(model_type)
    if rebuilt is None and not (trust_remote_code and model_type not in CONFIG_MAPPING and "auto_map" in source.config):
        config = make_config(source)
        cls = model_class(config, source)  # outside quiet(): a fallback class is said in a warning
        with quiet(), torch.device("meta"):
            return _instantiate(cls, config, source)
    with quiet(), torch.device("meta"):
        if rebuilt is not None:
            try:
                return rebuilt(source.config)
            except Exception as exc:
                # vlmscope's own rebuild reads the config's values directly: a bad one is the config's error,
                # as is any refusal from transformers or torch; anything else is a bug
                if not from_library(exc) and not isinstance(exc, (TypeError, ValueError, KeyError, AttributeError,
                                                                  ArithmeticError)):
                    raise
                raise ConfigError(source.info.location or source.model_id,
                                  f"its {model_type} skeleton cannot be built from it: {reason(exc, 200)}") from exc
        return _build_remote(source)


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
    except Exception as exc:  # a library refusing a value of the config while building (not a vlmscope bug)
        if not from_library(exc):
            raise
        problem = f"{cls.__name__} cannot be built from this config: {reason(exc, 200)}"
        raise UnsupportedArchitectureError(source.model_id, problem) from exc
