"""Reference → config files. A reference is a catalog name, a local folder, a path to a config.json, or a
Hub repo id (``org/name`` or ``org/name@revision``; config files only)."""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmscope.data import Card, Origin, SourceInfo
from vlmscope.errors import ConfigError, UnknownModelError
from vlmscope.files import UnsafeFileError, read_bounded
from vlmscope.limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH
from vlmscope.sources import catalog, checks, hub

_EXTRA_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")
# the tokenizer that counts the text a video processor writes: a folder's own, or the catalog's cut of the model's
# (its tokens of the characters of timestamps and labels only: scripts/text_tokenizer.py)
_TOKENIZERS = {Origin.catalog: "text_tokenizer.json", Origin.folder: "tokenizer.json", Origin.file: "tokenizer.json"}


@dataclass(frozen=True)
class ModelSource:
    """The config files of one model, parsed, plus what the catalog knows about it."""

    model_id: str
    config: dict[str, Any]
    preprocessor: dict[str, Any] | None
    processor: dict[str, Any] | None
    info: SourceInfo
    card: Card | None = None
    code_location: str | None = None  # Hub repo id or local folder that may hold remote code
    revision: str | None = None
    video: dict[str, Any] | None = None  # the video processor's settings, where the model has its own
    tokenizer: Path | None = None  # the model's tokenizer.json (read only to count a video's timestamps), if at hand

    def __post_init__(self) -> None:
        """Config files are untrusted: check them before anything is built or looped over."""
        where = self.info.location or self.model_id
        if not isinstance(self.config.get("model_type"), str) or not self.config["model_type"]:
            raise ConfigError(where, "no 'model_type' field; add the model_type transformers uses for it")
        checks.check_config(self.config, where)
        for extra in (self.preprocessor, self.processor, self.video):
            if extra is not None:
                checks.check_preprocessor(extra, where)


def read_json(path: Path) -> dict[str, Any]:
    """Parse a JSON object from ``path`` (a regular file of bounded size); a bad file becomes one clear
    ConfigError."""
    try:
        data = json.loads(read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except UnsafeFileError as exc:
        raise ConfigError(str(path), f"refused to read it: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read it ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise ConfigError(str(path), f"nested deeper than JSON can be read (limit {MAX_CONFIG_DEPTH})") from exc
    except ValueError as exc:  # not UTF-8, or an integer of thousands of digits
        raise ConfigError(str(path), f"not readable JSON ({str(exc)[:100]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"expected a JSON object, found {type(data).__name__}")
    return data


def _from_folder(folder: Path, config_path: Path, origin: Origin, model_id: str, card: Card | None,
                 location: str | None = None) -> ModelSource:
    config = read_json(config_path)
    extras = {name: read_json(folder / name) for name in _EXTRA_FILES if (folder / name).is_file()}
    files = (config_path.name, *extras)
    location = location or str(folder if origin is not Origin.file else config_path)
    info = SourceInfo(origin, location, tuple(files),
                      reconstructed=config_path.name == "config.reconstructed.json")
    tokenizer = folder / _TOKENIZERS[origin] if origin in _TOKENIZERS else None
    return ModelSource(model_id, config, _image_settings(extras), extras.get(_EXTRA_FILES[1]), info, card,
                       code_location=str(folder), video=_video_settings(extras),
                       tokenizer=tokenizer if tokenizer is not None and tokenizer.is_file() else None)


def _image_settings(extras: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The image processor's settings: preprocessor_config.json, or where a model keeps them nested in its
    processor_config.json (``image_processor``, as Gemma 4 does)."""
    pre = extras.get(_EXTRA_FILES[0])
    nested = (extras.get(_EXTRA_FILES[1]) or {}).get("image_processor")
    return pre if pre is not None else nested if isinstance(nested, dict) else None


def _video_settings(extras: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The video processor's own settings: video_preprocessor_config.json, or nested in processor_config.json
    (``video_processor``); None where the model has none (transformers then reads preprocessor_config.json)."""
    own = extras.get(_EXTRA_FILES[2])
    nested = (extras.get(_EXTRA_FILES[1]) or {}).get("video_processor")
    return own if own is not None else nested if isinstance(nested, dict) else None


def resolve(ref: str) -> ModelSource:
    """Turn a user reference into parsed config files; raise UnknownModelError with suggestions."""
    entry = catalog.find(ref)
    if entry is not None:
        return _from_folder(entry.folder, entry.config_path, Origin.catalog, entry.model_id, entry.card,
                            location=f"vlmscope/catalog/models/{entry.folder.name}")
    path = _local_path(ref)
    if path is not None and path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ConfigError(str(path), "folder has no config.json")
        return _from_folder(path, config_path, Origin.folder, _local_id(path), None)
    if path is not None and path.is_file():
        return _from_folder(path.parent, path, Origin.file, _local_id(path.parent), None)
    if hub.looks_like_repo_id(ref):
        hub.validate(ref)
        return _from_hub(ref)
    raise UnknownModelError(ref, catalog.suggest(ref))


def _local_path(ref: str) -> Path | None:
    """``ref`` as an existing local path, or None; a path that cannot even be looked at (``~nouser``, a name
    too long for the file system, a folder without permission) is a clear error."""
    try:
        path = Path(ref).expanduser()
        return path if path.exists() else None
    except RuntimeError as exc:  # "~nouser": no such user's home
        raise ConfigError(ref[:100], f"cannot expand the path ({exc})") from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # not a path; maybe a Hub id or a catalog name
            return None
        raise ConfigError(ref[:100], f"cannot look at it ({exc.strerror or exc})") from exc


def _from_hub(ref: str) -> ModelSource:
    files = hub.fetch(ref)
    config_path = files[hub.CONFIG]
    config = read_json(config_path)
    extras = {name: read_json(path) for name, path in files.items() if name != hub.CONFIG}
    repo_id, revision = hub.split(ref)
    info = SourceInfo(Origin.hub, f"{hub.endpoint()}/{repo_id}" + (f"@{revision}" if revision else ""), tuple(files))
    return ModelSource(ref, config, _image_settings(extras), extras.get(_EXTRA_FILES[1]), info, None,
                       code_location=repo_id, revision=revision, video=_video_settings(extras))


def _local_id(folder: Path) -> str:
    return folder.resolve().name or str(folder)
