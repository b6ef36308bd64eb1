"""``benchmarks/gpu_check.py`` and ``gpu_check_train.py`` have never had a GPU: a dry run of each on the CPU over
a small LLaVA checks that the harness (the model from its config, its real image processor, the forward, or
vlmscope's recipes applied to the real model and two steps) runs for every case it measures, so that a scarce
GPU session is not lost to a bug in it. The first such run found two: the image processor was read from a
path the model source no longer has, and ``vlmscope.train`` was not exported."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from test_step import _config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("harness") / "tiny-llava"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(_config().to_dict()))
    (path / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 56},
        "crop_size": {"height": 56, "width": 56}, "do_center_crop": True}))
    return path


def _script(name: str) -> Any:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_gpu_check_runs_on_the_cpu(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The inference check: FLOPs of the real forward and the KV bytes of its cache, predicted and measured
    (on the CPU the memory and timing rows are left out); both agree exactly on this small LLaVA."""
    code = _script("gpu_check").main(["--device", "cpu", "--model", str(folder), "--image-size", "56x56",
                                      "--text-tokens", "8"])
    out = capsys.readouterr().out
    assert code == 0 and "failed" not in out, out
    ratios = [float(line.split()[-1]) for line in out.splitlines() if line.startswith(str(folder)[:28])]
    assert ratios == [1.0, 1.0], out  # FLOPs (vision + prefill), KV bytes at the prompt


def test_gpu_check_train_runs_every_case_on_the_cpu(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gpu_check_train = _script("gpu_check_train")
    cases = ["full", "frozen", "lora", "lora-gc", "qlora"]
    code = gpu_check_train.main(["--device", "cpu", "--model", str(folder), "--image-size", "56x56",
                                 "--text-tokens", "8", *[arg for c in cases for arg in ("--case", c)]])
    out = capsys.readouterr().out
    assert code == 0 and "failed" not in out, out
    rows = [line for line in out.splitlines() if line.startswith(str(folder)[:24])]
    assert [r.split()[1] for r in rows] == cases
    assert "skipped: not measured yet" in rows[-1]
