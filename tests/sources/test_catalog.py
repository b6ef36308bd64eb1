"""The bundled catalog: every entry has its config files, a card with sources, and resolves by name."""

from __future__ import annotations

import json

import pytest

from vlmscope import SEED_MODELS
from vlmscope.errors import AmbiguousModelError, UnknownModelError
from vlmscope.sources import catalog, resolve

ENTRIES = catalog.entries()


def test_catalog_holds_the_nine_seed_models() -> None:
    assert {e.model_id for e in ENTRIES} >= set(SEED_MODELS)
    assert len(SEED_MODELS) == 9


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_id)
def test_entry_has_config_and_cited_card(entry: catalog.CatalogEntry) -> None:
    config = json.loads(entry.config_path.read_text())
    assert isinstance(config["model_type"], str)
    card = entry.card
    facts = [card.display_name] + ([card.training_method] if card.training_method else [])
    for fact in facts:
        assert fact.value and fact.source.startswith("https://huggingface.co/")
    assert card.model_card_url == f"https://huggingface.co/{entry.model_id}"
    if entry.model_id in SEED_MODELS:  # the seed table has a Fine-tuning Method column: each seed card cites one
        assert card.training_method is not None and card.training_method.evidence


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_id)
def test_entry_says_what_it_is(entry: catalog.CatalogEntry) -> None:
    """Every card states its origin, cited; a fine-tune or copy names its base and says so in its name; a base
    model taken from the config is the config's own _name_or_path."""
    from vlmscope.data.facts import CARD_ORIGINS

    card = entry.card
    assert card.origin is not None and card.origin.value in CARD_ORIGINS
    assert card.origin.source.startswith("https://huggingface.co/")
    if card.origin.value in ("fine-tune", "copy"):
        assert card.base_model is not None
        assert card.origin.value in card.display_name.value
    if card.base_model is not None:
        assert card.base_model.source.startswith("https://huggingface.co/") and "/" in card.base_model.value
        if "_name_or_path" in card.base_model.source:
            config = json.loads(entry.config_path.read_text())
            assert card.base_model.value in config["_name_or_path"]
    if card.origin.value == "official":
        assert card.origin.source == f"https://huggingface.co/{entry.model_id}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_id)
def test_every_bundled_file_has_its_source_recorded(entry: catalog.CatalogEntry) -> None:
    """SOURCES.md names each bundled config file of the entry: in the entry's own row, or under its heading."""
    text = (entry.folder.parent / "SOURCES.md").read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if f"`{entry.folder.name}/`" in line)
    for path in entry.folder.iterdir():
        if path.name == "card.json":
            continue
        name = f"`{path.name}`"
        if name in lines[at]:
            assert "https://huggingface.co/" in lines[at]
            continue
        assert lines[at].startswith("## "), f"{path.name} of {entry.model_id} has no source row"
        section = []
        for line in lines[at + 1:]:
            if line.startswith("## "):
                break
            section.append(line)
        assert any(line.startswith(f"| {name}") for line in section), f"{path.name} of {entry.model_id}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_id)
def test_reconstructed_configs_are_marked(entry: catalog.CatalogEntry) -> None:
    source = resolve(entry.model_id)
    assert source.info.reconstructed == (entry.config_path.name == "config.reconstructed.json")
    assert source.info.files[0] == entry.config_path.name


def test_three_seed_configs_are_reconstructed() -> None:
    marked = {e.model_id for e in ENTRIES if e.reconstructed and e.model_id in SEED_MODELS}
    assert marked == {"HuggingFaceM4/idefics2-8b", "HuggingFaceM4/idefics2-8b-chatty",
                      "microsoft/Phi-3-vision-128k-instruct"}


@pytest.mark.parametrize("name", ["llava-hf/llava-1.5-7b-hf", "llava-1.5-7b-hf", "LLAVA-1.5-7B-HF",
                                  "  Llava-Hf/Llava-1.5-7b-Hf "])
def test_names_resolve_case_insensitively(name: str) -> None:
    assert resolve(name).model_id == "llava-hf/llava-1.5-7b-hf"


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'llava-1.5'.*llava-hf/llava-1.5-7b-hf"):
        resolve("llava-1.5")


def test_preprocessor_files_travel_with_the_entry() -> None:
    source = resolve("idefics2-8b")
    assert source.preprocessor is not None and source.preprocessor["do_image_splitting"] is True
    assert resolve("llava-1.5-7b-hf").processor["vision_feature_select_strategy"] == "default"


def test_ambiguous_short_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = ENTRIES[0]
    twin = catalog.CatalogEntry("someone-else/" + first.short_name, first.folder, first.card)
    monkeypatch.setattr(catalog, "entries", lambda: (*ENTRIES, twin))
    catalog._index.cache_clear()
    try:
        with pytest.raises(AmbiguousModelError, match="ambiguous"):
            catalog.find(first.short_name)
    finally:
        catalog._index.cache_clear()
