"""Local sources: a folder and a path to a config.json give the same anatomy as the catalog entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import vlmscope
from vlmscope.sources import catalog


def _copy_entry(name: str, tmp_path: Path) -> Path:
    entry = catalog.find(name)
    assert entry is not None
    folder = tmp_path / entry.short_name
    shutil.copytree(entry.folder, folder)
    (folder / "card.json").unlink()
    if entry.config_path.name != "config.json":
        (folder / entry.config_path.name).rename(folder / "config.json")
    return folder


def test_folder_and_config_path(tmp_path: Path, anatomies) -> None:  # type: ignore[no-untyped-def]
    folder = _copy_entry("llava-1.5-7b-hf", tmp_path)
    from_folder = vlmscope.inspect(str(folder), use_cache=False)
    from_file = vlmscope.inspect(str(folder / "config.json"), use_cache=False)
    expected = anatomies["llava-hf/llava-1.5-7b-hf"]
    for a in (from_folder, from_file):
        assert a.params == expected.params
        assert a.connector.tokens_per_image == 576
        assert a.card is None and a.model_id == "llava-1.5-7b-hf"
    assert from_folder.source.origin == "folder" and from_file.source.origin == "file"
    assert from_folder.source.files == ("config.json", "preprocessor_config.json", "processor_config.json")


def test_local_phi3v_uses_the_rebuilt_skeleton(tmp_path: Path) -> None:
    folder = _copy_entry("Phi-3-vision-128k-instruct", tmp_path)
    a = vlmscope.inspect(str(folder), use_cache=False)
    assert a.params.total == 4_146_621_440
