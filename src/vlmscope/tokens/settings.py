"""Processor settings a request gives (``--processor KEY=VALUE``): checked against the keyword list of the
model's own image processor, then laid over the model's preprocessor config, which the token rules read."""

from __future__ import annotations

import json
from dataclasses import replace

from vlmscope.data.cost import SETTING_KEY, canonical
from vlmscope.errors import RequestError
from vlmscope.sources import ModelSource
from vlmscope.tokens import video


def parse_setting(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as (key, canonical JSON of the value): the value read as JSON where it is JSON
    (``1003520``, ``false``, ``{"longest_edge": 1456}``), else as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not SETTING_KEY.fullmatch(key.strip()):
        raise RequestError("processor", text, "KEY=VALUE with a processor setting's name as KEY, e.g. "
                                              "max_pixels=1003520")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = raw
    return key.strip(), canonical(value)


def processor_class(source: ModelSource) -> str | None:
    """The name of the model's image processor: its preprocessor config's ``image_processor_type``, else
    transformers' default for its model_type."""
    named = (source.preprocessor or {}).get("image_processor_type")
    if isinstance(named, str) and named:
        return named.removesuffix("Fast")
    from transformers.models.auto import image_processing_auto

    names = getattr(image_processing_auto, "IMAGE_PROCESSOR_MAPPING_NAMES", {})
    found: object = names.get(str(source.config.get("model_type")))
    if isinstance(found, dict):  # one class per backend: the torchvision one is the default
        found = found.get("torchvision") or next(iter(found.values()), None)
    found = found[0] if isinstance(found, tuple) else found
    return found if isinstance(found, str) else None


def accepted(name: str) -> frozenset[str]:
    """The settings an image processor class takes: its kwargs' declared keys (``valid_kwargs``) and its
    constructor's own parameters. A class with only a torchvision backend cannot be imported without
    torchvision (transformers hands a placeholder; LFM2-VL's, Kimi-K2.5's): its source declares them."""
    import inspect

    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    from vlmscope.quiet import quiet

    with quiet():
        cls = get_image_processor_class_from_name(name)
    if cls is None:
        return frozenset()
    try:
        keys = set(getattr(getattr(cls, "valid_kwargs", None), "__annotations__", {}))
    except ImportError:
        return _declared(name)
    keys |= {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")}
    return frozenset(keys)


def _declared(name: str) -> frozenset[str]:
    """The settings image processor ``name`` declares in its module's source (read, never run): the keys of its
    ``valid_kwargs`` class and of that class's bases in the module, over transformers' ImagesKwargs, and its
    constructor's parameters; none where no module of transformers' table defines it."""
    import ast
    from pathlib import Path

    import transformers
    from transformers.models.auto import image_processing_auto
    from transformers.models.auto.configuration_auto import model_type_to_module_name
    from transformers.processing_utils import ImagesKwargs

    for model_type, named in getattr(image_processing_auto, "IMAGE_PROCESSOR_MAPPING_NAMES", {}).items():
        folder = model_type_to_module_name(model_type)
        path = Path(transformers.__file__).parent / "models" / folder / f"image_processing_{folder}.py"
        if not (isinstance(named, dict) and name in named.values() and path.is_file()):
            continue
        classes = {c.name: c for c in ast.parse(path.read_text()).body if isinstance(c, ast.ClassDef)}
        if name not in classes:
            continue
        keys = set(ImagesKwargs.__annotations__)
        found = [classes[name]]
        for node in found:  # the class, its valid_kwargs class, and their bases in this module
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and node is not found[0]:
                    keys.add(item.target.id)
                elif isinstance(item, ast.Assign) and isinstance(item.value, ast.Name) and any(
                        isinstance(t, ast.Name) and t.id == "valid_kwargs" for t in item.targets):
                    found += [classes[item.value.id]] if item.value.id in classes else []
                elif isinstance(item, ast.FunctionDef) and item.name == "__init__" and node is found[0]:
                    keys |= {a.arg for a in [*item.args.args[1:], *item.args.kwonlyargs]}
            found += [classes[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in classes]
        return frozenset(keys)
    return frozenset()


def with_settings(source: ModelSource, settings: tuple[tuple[str, str], ...]) -> ModelSource:
    """``source`` with the request's processor settings laid over its preprocessor config and, for the keys
    its video processor takes, over its video settings (as a processor call passes a flat keyword to every
    modality that takes it), which hold the settings its processor class passes over the model's files
    (``video.passed``); each key must be one of the model's processors takes (one line naming those it does),
    and the result is checked as any config file is."""
    given = video.passed(source)  # its processor class's, over the model's files (and under the request's)
    if given:
        files = video.settings(source)
        if "size" in given:  # the size a call passes replaces the one Qwen2-VL's constructor built of them
            files = {k: v for k, v in files.items() if k not in ("min_pixels", "max_pixels")}
        source = replace(source, video={**files, **given})
    if not settings:
        return source
    name = processor_class(source)
    image_keys = accepted(name) if name is not None else frozenset()
    video_name = video.processor_of(source)
    video_keys = video.modelled_settings(video_name)
    known = image_keys | video_keys
    if not known:
        raise RequestError("processor", settings[0][0], f"no setting: transformers has no image processor for "
                                                        f"{source.model_id} ({name or 'none named'})")
    for key, _ in settings:
        if key not in known:
            said = f"{name}" + (f" or {video_name}" if video_keys else "")
            raise RequestError("processor", key, f"a setting {said} takes: {', '.join(sorted(known))}")
    values = {key: json.loads(value) for key, value in settings}
    image = {k: v for k, v in values.items() if k in image_keys}
    clips = {k: v for k, v in values.items() if k in video_keys}
    merged = {**(source.preprocessor or {}), **image} if image else source.preprocessor
    own = {**video.settings(source), **clips} if clips else source.video
    return replace(source, preprocessor=merged, video=own)
