"""Reference → config files. A reference is a catalog name, a local folder or a path to a config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmscope import catalog
from vlmscope.errors import ConfigError, UnknownModelError
from vlmscope.schema import Card, SourceInfo

_EXTRA_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class ModelSource:
    """The config files of one model, parsed, plus what the catalog knows about it."""

    model_id: str
    config: dict[str, Any]
    preprocessor: dict[str, Any] | None
    processor: dict[str, Any] | None
    info: SourceInfo
    card: Card | None = None


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object from ``path``; a bad file becomes one clear ConfigError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"expected a JSON object, found {type(data).__name__}")
    return data


def _from_folder(folder: Path, config_path: Path, origin: str, model_id: str, card: Card | None,
                 location: str | None = None) -> ModelSource:
    config = read_json(config_path)
    if not isinstance(config.get("model_type"), str) or not config["model_type"]:
        raise ConfigError(str(config_path), "no 'model_type' field; add the model_type transformers uses for it")
    extras = {name: read_json(folder / name) for name in _EXTRA_FILES if (folder / name).is_file()}
    files = (config_path.name, *extras)
    location = location or str(folder if origin != "file" else config_path)
    info = SourceInfo(origin, location, tuple(files),
                      reconstructed=config_path.name == "config.reconstructed.json")
    return ModelSource(model_id, config, extras.get(_EXTRA_FILES[0]), extras.get(_EXTRA_FILES[1]), info, card)


def resolve(ref: str) -> ModelSource:
    """Turn a user reference into parsed config files; raise UnknownModelError with suggestions."""
    entry = catalog.find(ref)
    if entry is not None:
        return _from_folder(entry.folder, entry.config_path, "catalog", entry.model_id, entry.card,
                            location=f"vlmscope/catalog/models/{entry.folder.name}")
    path = Path(ref).expanduser()
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ConfigError(str(path), "folder has no config.json")
        return _from_folder(path, config_path, "folder", _local_id(path), None)
    if path.is_file():
        return _from_folder(path.parent, path, "file", _local_id(path.parent), None)
    raise UnknownModelError(ref, catalog.suggest(ref))


def _local_id(folder: Path) -> str:
    return folder.resolve().name or str(folder)
