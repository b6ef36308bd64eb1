"""The bundled catalog: one folder per model under ``vlmscope/catalog/models`` with its Hugging Face config
files and a small card (the facts a config cannot tell, each with its source)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from vlmscope.data import Card, Cited
from vlmscope.errors import AmbiguousModelError

_CONFIG_NAMES = ("config.json", "config.reconstructed.json")


@dataclass(frozen=True)
class CatalogEntry:
    model_id: str
    folder: Path
    card: Card

    @property
    def short_name(self) -> str:
        return self.model_id.split("/", 1)[1]

    @property
    def config_path(self) -> Path:
        for name in _CONFIG_NAMES:
            if (self.folder / name).is_file():
                return self.folder / name
        raise FileNotFoundError(self.folder)

    @property
    def reconstructed(self) -> bool:
        return self.config_path.name == "config.reconstructed.json"


def _models_dir() -> Path:
    return Path(str(resources.files("vlmscope").joinpath("catalog", "models")))


def _load_card(path: Path) -> Card:
    raw = json.loads(path.read_text())
    return Card(
        display_name=Cited(**raw["display_name"]),
        training_method=Cited(**raw["training_method"]) if raw.get("training_method") else None,
        model_card_url=raw["model_card_url"],
        origin=Cited(**raw["origin"]) if raw.get("origin") else None,
        base_model=Cited(**raw["base_model"]) if raw.get("base_model") else None,
    )


@cache
def entries() -> tuple[CatalogEntry, ...]:
    """All catalog entries, sorted by model id (case-insensitive)."""
    found = []
    for folder in _models_dir().iterdir():
        card_path = folder / "card.json"
        if card_path.is_file():
            model_id = json.loads(card_path.read_text())["model_id"]
            found.append(CatalogEntry(model_id, folder, _load_card(card_path)))
    return tuple(sorted(found, key=lambda e: e.model_id.lower()))


@cache
def _index() -> dict[str, tuple[CatalogEntry, ...]]:
    index: dict[str, list[CatalogEntry]] = {}
    for entry in entries():
        for key in {entry.model_id.lower(), entry.short_name.lower()}:
            index.setdefault(key, []).append(entry)
    return {k: tuple(v) for k, v in index.items()}


def find(name: str) -> CatalogEntry | None:
    """Resolve a full id or a unique short name, case-insensitively; None when nothing matches."""
    hits = _index().get(name.strip().lower(), ())
    if len(hits) > 1:
        raise AmbiguousModelError(name, tuple(e.model_id for e in hits))
    return hits[0] if hits else None


def suggest(name: str, n: int = 3) -> tuple[str, ...]:
    """Closest catalog ids to a name that matched nothing."""
    keys = {k: hits[0].model_id for k, hits in _index().items()}
    close = difflib.get_close_matches(name.strip().lower(), list(keys), n=n * 2, cutoff=0.4)
    ordered = dict.fromkeys(keys[k] for k in close)
    return tuple(ordered)[:n]
