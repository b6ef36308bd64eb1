"""A small on-disk cache of computed anatomies, so repeated runs skip importing torch and transformers.

The key covers everything an anatomy is computed from: the config files and card, the installed
transformers and torch versions, and the source of vlmscope itself. Any change gives a new key.
Cache problems never fail a run: a broken or unwritable cache is simply not used.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
import types
import typing
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from vlmscope.data import Anatomy, CostSheet
from vlmscope.errors import VlmscopeError
from vlmscope.files import read_bounded, write_atomic

T = TypeVar("T")


def cache_dir() -> Path | None:
    """``$VLMSCOPE_CACHE``, else ``$XDG_CACHE_HOME/vlmscope``, else ``~/.cache/vlmscope``; None if disabled."""
    if os.environ.get("VLMSCOPE_NO_CACHE"):
        return None
    if os.environ.get("VLMSCOPE_CACHE"):
        return Path(os.environ["VLMSCOPE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vlmscope"


@cache
def _code_fingerprint() -> str:
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".json") and "catalog" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    for dist in ("transformers", "torch"):
        try:
            digest.update(f"{dist}=={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(dist.encode())
    return digest.hexdigest()


def key(payload: dict[str, Any]) -> str:
    """Cache key of one model's inputs (config files, card) under the current code and libraries."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(f"{_code_fingerprint()}\n{text}".encode()).hexdigest()[:32]


MAX_ENTRY_BYTES = 16 * 1024 * 1024


def load(cache_key: str, kind: type[T]) -> T | None:
    """The cached ``kind`` (Anatomy or CostSheet) under ``cache_key``; None when absent, unreadable, not a
    regular file (a FIFO, a symlink), too large, or not exactly of the shape ``kind`` has: such an entry is
    rebuilt, never trusted."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = read_bounded(folder / f"{cache_key}.json", MAX_ENTRY_BYTES, follow_symlinks=False)
        entry = json.loads(data.decode("utf-8"))
        _check_numbers(entry)
        return from_dict(kind, entry)
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None


SIGNED = ("headroom_bytes",)  # the one cached figure that may be negative (a request that does not fit)


def _check_numbers(data: Any, key: str = "") -> None:
    """Values, not only types: every number of an entry is finite, within 2^63, and not negative (counts,
    bytes, FLOPs, seconds) unless its key is one of ``SIGNED``; ValueError otherwise (a tampered entry)."""
    if isinstance(data, dict):
        for k, v in data.items():
            _check_numbers(v, str(k))
    elif isinstance(data, list):
        for v in data:
            _check_numbers(v, key)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        if not math.isfinite(data) or abs(data) >= 2**63 or (data < 0 and key not in SIGNED):
            raise ValueError(f"cache entry: {key} = {data!r} is out of its domain")


def store(cache_key: str, anatomy: Anatomy | CostSheet) -> None:
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{cache_key}.json", json.dumps(dataclasses.asdict(anatomy)).encode("utf-8"), own=True)
    except (OSError, TypeError, ValueError, VlmscopeError):  # a cache that cannot be written is no cache
        return


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a frozen dataclass (recursively) from ``dataclasses.asdict`` output; every value must have
    its field's type (TypeError otherwise), so a tampered entry cannot reach a renderer."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _coerce(hints[f.name], data[f.name]) for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.name in data}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return _tuple(get_args(tp), _typed(value, (list, tuple)))
    if origin is dict:
        _, item = get_args(tp)
        return {_typed(k, str): _coerce(item, v) for k, v in _typed(value, dict).items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is float:
        return float(_typed(value, (int, float)))
    if tp is Any:
        return value
    return _typed(value, tp)


def _tuple(args: tuple[Any, ...], value: list[Any] | tuple[Any, ...]) -> tuple[Any, ...]:
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(args[0], v) for v in value)
    return tuple(_coerce(a, v) for a, v in zip(args, value, strict=True))


def _typed(value: Any, kind: Any) -> Any:
    """``value`` when it is of ``kind`` (a bool is not an int here); TypeError otherwise."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"expected {kind}, found {type(value).__name__}")
    return value
