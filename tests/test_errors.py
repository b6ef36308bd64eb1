"""Bad input: one clear error naming the bad value (API level)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vlmscope
from vlmscope.errors import ConfigError, UnknownModelError, UnsupportedArchitectureError


def _folder(tmp_path: Path, config: dict | str) -> str:  # type: ignore[type-arg]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return str(folder)


def test_unknown_name() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'no-such-vlm'"):
        vlmscope.inspect("no-such-vlm")


def test_malformed_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.json: not valid JSON \(Expecting .* line 1"):
        vlmscope.inspect(_folder(tmp_path, '{"model_type": "llava",'), use_cache=False)


def test_config_without_model_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no 'model_type' field"):
        vlmscope.inspect(_folder(tmp_path, {"architectures": ["LlavaForConditionalGeneration"]}), use_cache=False)


def test_json_that_is_not_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"expected a JSON object, found list"):
        vlmscope.inspect(_folder(tmp_path, "[1, 2]"), use_cache=False)


def test_unknown_model_type(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedArchitectureError, match=r"model_type 'made_up_vlm' is unknown to transformers"):
        vlmscope.inspect(_folder(tmp_path, {"model_type": "made_up_vlm"}), use_cache=False)


def test_remote_code_model_type_names_the_flag(tmp_path: Path) -> None:
    config = {"model_type": "made_up_vlm", "auto_map": {"AutoConfig": "configuration_x.XConfig"}}
    with pytest.raises(UnsupportedArchitectureError, match=r"--trust-remote-code"):
        vlmscope.inspect(_folder(tmp_path, config), use_cache=False)


def test_unknown_architecture_class(tmp_path: Path) -> None:
    config = {"model_type": "llava", "architectures": ["LlavaForTimeTravel"]}
    with pytest.raises(UnsupportedArchitectureError, match=r"architecture 'LlavaForTimeTravel' is not in transformers"):
        vlmscope.inspect(_folder(tmp_path, config), use_cache=False)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"folder has no config\.json"):
        vlmscope.inspect(str(tmp_path), use_cache=False)
