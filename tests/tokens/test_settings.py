"""Processor settings a request gives (``--processor KEY=VALUE``): the visual tokens follow them as the model's
own image processor does, run on synthetic images; keys the processor does not take are refused."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import vlmscope
from vlmscope.data import CostRequest
from vlmscope.errors import LimitError, RequestError
from vlmscope.tokens.settings import parse_setting

QWEN2_VL = "pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep"  # ships no preprocessor_config.json


def _processor(name: str, **settings: object):  # type: ignore[no-untyped-def]
    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_image_processor_class_from_name(name)(**settings)


def _image(width: int, height: int) -> np.ndarray:
    return (np.random.default_rng(0).random((height, width, 3)) * 255).astype("uint8")


@pytest.mark.parametrize("max_pixels", [None, 1_003_520, 12_845_056])
@pytest.mark.parametrize("size", [(1920, 1080), (640, 480), (333, 1999)])
def test_qwen2_vl_pixel_budget_follows_its_processor(size: tuple[int, int], max_pixels: int | None) -> None:
    """Qwen2-VL's max_pixels: a 1920×1080 screenshot is 1,222 tokens under transformers' built-in budget and
    2,691 under the official 12,845,056, as its own image processor's patch grid says."""
    settings = {} if max_pixels is None else {"max_pixels": max_pixels}
    _, sheet = vlmscope.cost(QWEN2_VL, CostRequest(image_size=size, processor=settings), use_cache=False)
    out = _processor("Qwen2VLImageProcessor", **settings)(images=[_image(*size)], return_tensors="np")
    assert sheet.tokens.per_image == int(out["image_grid_thw"].prod()) // 4
    if size == (1920, 1080):  # 1,003,520 is transformers' own default budget
        assert sheet.tokens.per_image == (2691 if max_pixels == 12_845_056 else 1222)
    if settings:
        assert sheet.assumptions[-1].endswith(f"max_pixels={max_pixels}")


@pytest.mark.parametrize("split", [True, False])
def test_smolvlm_image_splitting_follows_its_processor(split: bool) -> None:
    """SmolVLM's do_image_splitting: the frames its own processor makes (tiles and the global view, or the
    one resized image) are the encoder passes, 64 tokens each."""
    size = (1920, 1080)
    request = CostRequest(image_size=size, processor={"do_image_splitting": split})
    _, sheet = vlmscope.cost("SmolVLM-256M-Instruct", request, use_cache=False)
    out = _processor("SmolVLMImageProcessor", do_image_splitting=split)(images=[[_image(*size)]], return_tensors="np")
    frames = out["pixel_values"].shape[1]
    assert sheet.tokens.crops == frames and sheet.tokens.per_image == 64 * frames
    assert (frames > 1) is split


def test_a_setting_the_processor_does_not_take_is_refused() -> None:
    with pytest.raises(RequestError, match=r"bad processor 'max_pixelz': use a setting Qwen2VLImageProcessor or "
                                           r"Qwen2VLVideoProcessor takes: .*max_pixels"):
        vlmscope.cost(QWEN2_VL, CostRequest(processor={"max_pixelz": 5}), use_cache=False)
    with pytest.raises(RequestError, match="processor setting's name"):
        CostRequest(processor={"max pixels": 5})
    with pytest.raises(LimitError, match="processor"):
        CostRequest(processor={f"k{i}": i for i in range(33)})


def test_a_setting_out_of_its_domain_is_the_config_checks_refusal() -> None:
    """Values are checked as the model's own files are: a negative pixel budget is one line naming it."""
    with pytest.raises(vlmscope.errors.ConfigError, match="max_pixels"):
        vlmscope.cost(QWEN2_VL, CostRequest(image_size=(640, 480), processor={"max_pixels": -1}), use_cache=False)


def test_settings_parse_as_json_where_they_are_json() -> None:
    assert parse_setting("max_pixels=1003520") == ("max_pixels", "1003520")
    assert parse_setting("do_image_splitting=false") == ("do_image_splitting", "false")
    assert parse_setting('size={"longest_edge": 1456}') == ("size", json.dumps({"longest_edge": 1456},
                                                                               separators=(",", ":")))
    assert parse_setting("resample=bicubic") == ("resample", '"bicubic"')
    with pytest.raises(RequestError, match="KEY=VALUE"):
        parse_setting("max_pixels")


def test_the_cli_takes_settings_and_refuses_unknown_keys() -> None:
    """Through the real command (in-process): --processor on show, and a key the processor does not take as
    one line and exit 2."""
    from typer.testing import CliRunner

    from vlmscope.cli.app import app

    shown = CliRunner().invoke(app, ["show", QWEN2_VL, "--image-size", "1920x1080", "--processor",
                                     "max_pixels=12845056", "-f", "json", "--no-cache"])
    assert shown.exit_code == 0, shown.output
    cost = json.loads(shown.stdout)["cost"]
    assert cost["visual_tokens"] == 2691 and "max_pixels=12845056" in cost["assumptions"][-1]
    refused = CliRunner().invoke(app, ["show", QWEN2_VL, "--processor", "max_pixelz=5", "--no-cache"])
    assert refused.exit_code == 2 and "bad processor 'max_pixelz'" in refused.output
    for fmt, out in (("table", ""), ("json", "[]\n")):  # fit, no model fitted: the error line, no empty table
        fitted = CliRunner().invoke(app, ["fit", QWEN2_VL, "--gpu", "rtx-4090", "--processor", "max_pixelz=5",
                                          "-f", fmt, "--no-cache"])
        assert fitted.exit_code == 2 and fitted.stdout == out and "bad processor 'max_pixelz'" in fitted.stderr


@pytest.mark.parametrize("max_patches", [1, 6, 12])
def test_internvl_tile_budget_follows_its_processor(max_patches: int) -> None:
    """InternVL's tiles (GOT-OCR2's crop_to_patches, at most max_patches tiles plus a thumbnail): the encoder
    passes equal the frames its own image processor makes."""
    from vlmscope import api
    from vlmscope.sources.zoo import default_source

    size = (1920, 1080)
    settings = {"crop_to_patches": True, "max_patches": max_patches}
    _, sheet = api.cost_source(default_source("internvl"), CostRequest(image_size=size, processor=settings),
                               use_cache=False)
    out = _processor("GotOcr2ImageProcessor", **settings)(images=[_image(*size)], return_tensors="np")
    assert sheet.tokens.crops == out["pixel_values"].shape[0]
    assert (sheet.tokens.crops > 1) is (max_patches > 1)


def test_settings_of_an_image_processor_with_only_a_torchvision_backend() -> None:
    """LFM2.5-VL's image processor has no class without torchvision (vlmscope's environment has none): its keys
    come from its source, so --processor works on it (a 1920×1080 image in 4 tiles at most, not 10) and a key it
    does not take is one line, exit 2, naming those it does (the line is bounded); no traceback."""
    from conftest import run_cli

    found = [run_cli("show", "LFM2.5-VL-1.6B", "--image-size", "1920x1080", "-f", "json", "--no-cache",
                     *extra) for extra in ((), ("--processor", "max_tiles=4"))]
    assert [f.returncode for f in found] == [0, 0], found[-1].stderr
    default, four = (json.loads(f.stdout)["cost"] for f in found)
    assert four["visual_tokens"] < default["visual_tokens"] and "max_tiles=4" in four["assumptions"][-1]
    refused = run_cli("show", "LFM2.5-VL-1.6B", "--processor", "max_tilez=4", "--no-cache")
    assert refused.returncode == 2 and "bad processor 'max_tilez'" in refused.stderr
    assert "Lfm2VlImageProcessor takes: crop_size" in refused.stderr and "Traceback" not in refused.stderr
