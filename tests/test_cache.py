"""The anatomy cache: exact round trip, hit without rebuilding, corrupt files ignored."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

import vlmscope
from vlmscope import SEED_MODELS, cache
from vlmscope.data import Anatomy


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_round_trip_is_exact(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    a = anatomies[model_id]
    assert cache.from_dict(Anatomy, dataclasses.asdict(a)) == a


def test_hit_skips_the_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anatomies) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    first = vlmscope.inspect("llava-1.5-7b-hf")
    assert len(list(tmp_path.glob("*.json"))) == 1

    def fail(*args: object) -> None:
        raise AssertionError("rebuilt despite a cache hit")

    monkeypatch.setattr("vlmscope.skeleton.build", fail)
    assert vlmscope.inspect("llava-1.5-7b-hf") == first == anatomies["llava-hf/llava-1.5-7b-hf"]


def test_corrupt_entry_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    first = vlmscope.inspect("llava-1.5-7b-hf")
    (entry,) = tmp_path.glob("*.json")
    entry.write_text("{not json")
    assert vlmscope.inspect("llava-1.5-7b-hf") == first


def test_disabled_cache_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("VLMSCOPE_NO_CACHE", "1")
    vlmscope.inspect("llava-1.5-7b-hf")
    assert not os.listdir(tmp_path)


def test_key_changes_with_the_config() -> None:
    assert cache.key({"config": {"a": 1}}) != cache.key({"config": {"a": 2}})
    assert cache.key({"config": {"a": 1, "b": 2}}) == cache.key({"config": {"b": 2, "a": 1}})


def test_a_failed_cache_write_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                    anatomies) -> None:  # type: ignore[no-untyped-def]
    """The cache is written through the project's one atomic writer: a write that fails at the last step
    (here the rename) leaves neither the entry nor its temporary file, and the caller never sees the error."""
    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    cache.store("k" * 64, anatomies["llava-hf/llava-1.5-7b-hf"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path, value", [(("visual_tokens",), -576), (("memory", "weights_bytes"), -1),
                                         (("flops", "prefill"), 2**70), (("gpu_gb",), float("inf"))])
def test_a_tampered_value_of_the_right_type_is_not_trusted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           path: tuple[str, ...], value: object) -> None:
    """Cache entries are checked for their values, not only their types: a negative count or byte figure,
    or one past 2^63, makes the entry rebuilt, never rendered."""
    import json

    from vlmscope.data import CostRequest, CostSheet

    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    _, sheet = vlmscope.cost("llava-1.5-7b-hf", CostRequest(gpu_gb=80), use_cache=False)
    cache.store("entry", sheet)
    assert cache.load("entry", CostSheet) == sheet
    data = json.loads((tmp_path / "entry.json").read_text())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (tmp_path / "entry.json").write_text(json.dumps(data))
    assert cache.load("entry", CostSheet) is None
