"""Visual tokens per image: every processor rule against transformers' (or the published) processor code,
and per-crop counts confirmed by forwards on meta tensors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import transformers

import vlmscope
from forwards import forward_tokens_per_crop
from vlmscope.data import CostRequest
from vlmscope.sources import resolve
from vlmscope.tokens import Encoded, image_tokens


def _llava_next_processor_count(width: int, height: int) -> int:
    """transformers' own LlavaNextProcessor arithmetic (no tokenizer or image library needed)."""
    from transformers import LlavaNextProcessor

    config = resolve("llava-v1.6-mistral-7b-hf").config
    proc = object.__new__(LlavaNextProcessor)
    proc.image_processor = SimpleNamespace(image_grid_pinpoints=config["image_grid_pinpoints"])
    proc.patch_size = 14
    proc.num_additional_image_tokens = 1
    n = proc._get_number_of_features(height, width, 336, 336)
    return n - 1  # vision_feature_select_strategy "default" drops the class token


@pytest.mark.parametrize("size", [(336, 336), (1024, 768), (768, 1024), (672, 672), (1008, 336), (500, 1400),
                                  (3000, 200)])
def test_anyres_tokens_match_the_llava_next_processor(size: tuple[int, int]) -> None:
    source = resolve("llava-v1.6-mistral-7b-hf")
    found = image_tokens(Encoded(336, 14, True, None, 1), source, *size)
    assert found.tokens == _llava_next_processor_count(*size)


@pytest.mark.parametrize("ref, size, tokens, crops", [
    ("llava-1.5-7b-hf", (1024, 768), 576, 1),  # fixed resolution: any image becomes 24×24 patches
    ("mantis-8b-siglip-llama3", (384, 384), 728, 1),  # "default" drops the first token: 729 → 728
    ("llava-interleave-qwen-0.5b-hf", (384, 384), 729, 1),  # "full" keeps it
    ("idefics2-8b", (1024, 768), 320, 5),  # perceiver: 64 latents × (4 crops + global)
    ("idefics2-8b-base", (1024, 768), 64, 1),  # no image splitting in the default processor
    # Phi-3-vision HD transform, num_crops 16 (image_processing_phi3_v.py):
    # 1024×768 → scale 4 → 1344×1008 → 4×3 crops: (12 + 1)·144 + 1 + (3 + 1)·12 = 1921
    ("Phi-3-vision-128k-instruct", (1024, 768), 1921, 13),
    # 336×336 → upscaled to 1344×1344 → 16 crops: (16 + 1)·144 + 1 + 5·12 = 2509
    ("Phi-3-vision-128k-instruct", (336, 336), 2509, 17),
])
def test_visual_tokens(ref: str, size: tuple[int, int], tokens: int, crops: int) -> None:
    _, sheet = vlmscope.cost(ref, CostRequest(image_size=size))
    assert (sheet.tokens.per_image, sheet.tokens.crops) == (tokens, crops)


@pytest.mark.parametrize("ref, per_crop", [
    ("llava-1.5-7b-hf", 576), ("mantis-8b-clip-llama3", 576), ("mantis-8b-siglip-llama3", 728),
    ("llava-interleave-qwen-0.5b-hf", 729), ("llava-v1.6-mistral-7b-hf", 576), ("llava-v1.6-vicuna-7b-hf", 576),
])
def test_per_crop_counts_are_confirmed_by_meta_forwards(ref: str, per_crop: int) -> None:
    from vlmscope.anatomy import read
    from vlmscope.skeleton import build

    source = resolve(ref)
    anatomy = vlmscope.inspect(ref)
    assert forward_tokens_per_crop(read(build(source)), source, anatomy) == per_crop


def _qwen2_vl_tokens(width: int, height: int) -> int:
    """transformers' own smart_resize (image_processing_qwen2_vl.py), with its default pixel budget."""
    from tf_source import load

    ns = load("models.qwen2_vl.image_processing_qwen2_vl", ("smart_resize",))
    h, w = ns["smart_resize"](height, width, factor=28, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    return (h // 14) * (w // 14) // 4


SIZES = [(1024, 768), (768, 1024), (336, 336), (64, 64), (4000, 3000), (1920, 1080), (500, 7000), (28, 5000)]


@pytest.mark.parametrize("size", SIZES)
def test_dynamic_resolution_matches_qwen2_vl_smart_resize(size: tuple[int, int]) -> None:
    from vlmscope.data import Origin, SourceInfo
    from vlmscope.sources import ModelSource

    enc = Encoded(0, 14, False, None, 2, dynamic=True)
    source = ModelSource("qwen", {"model_type": "qwen2_vl"}, None, None, SourceInfo(Origin.zoo, "test", ()))
    assert image_tokens(enc, source, *size).tokens == _qwen2_vl_tokens(*size)


OWN_BUDGETS = {"minimax_m3_vl": "MiniMaxM3VLImageProcessor", "ernie4_5_vl_moe": "Ernie4_5_VLMoeImageProcessor"}


@pytest.mark.parametrize("model_type", list(OWN_BUDGETS))
@pytest.mark.parametrize("size", SIZES)
def test_a_native_resolution_class_budget_is_its_own(size: tuple[int, int], model_type: str) -> None:
    """Without a preprocessor config, MiniMax-M3-VL's and ERNIE-4.5-VL's images get their own image processor's
    budget (its class's size, read here from transformers' source), resized by its own smart_resize (run from the
    source: the module needs torchvision to import); other native-resolution models keep Qwen2-VL's."""
    import ast

    from tf_source import load
    from vlmscope.data import Origin, SourceInfo
    from vlmscope.sources import ModelSource
    from vlmscope.tokens import processors

    name, module = OWN_BUDGETS[model_type], f"models.{model_type}.image_processing_{model_type}"
    tree = ast.parse(Path(transformers.__file__).parent.joinpath(*module.split(".")).with_suffix(".py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    (value,) = [n.value for n in cls.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "size"]
    budget = {k: eval(compile(ast.Expression(v), "size", "eval"), {})  # the class literal: 4 * 28 * 28
              for k, v in zip([k.value for k in value.keys], value.values, strict=True)}  # type: ignore[union-attr]
    known = processors.defaults("dynamic_resolution")["classes"][name]
    assert (known["min_pixels"], known["max_pixels"]) == (budget["shortest_edge"], budget["longest_edge"])
    resize = load(module, ("smart_resize",))["smart_resize"]
    enc = Encoded(0, 14, False, None, 2, dynamic=True)
    source = ModelSource(model_type, {"model_type": model_type}, None, None, SourceInfo(Origin.zoo, "test", ()))
    width, height = size
    h, w = resize(height, width, 28, budget["shortest_edge"], budget["longest_edge"])
    found = image_tokens(enc, source, width, height)
    assert found.tokens == (h // 14) * (w // 14) // 4 and f"{name}'s class defaults" in found.rule


def _idefics3_tiles(width: int, height: int, tile: int) -> int:
    """transformers' own Idefics3ImageProcessor.get_number_of_image_patches, with its defaults."""
    from tf_source import load

    ns = load("models.idefics3.image_processing_idefics3",
              ("_resize_output_size_rescale_to_max_len", "_resize_output_size_scale_below_upper_bound",
               "MAX_IMAGE_SIZE"), {"Idefics3ImageProcessor": ("get_number_of_image_patches",)})
    processor = SimpleNamespace(do_image_splitting=True, max_image_size={"longest_edge": tile},
                                size={"longest_edge": 4 * tile})
    patches, _, _ = ns["get_number_of_image_patches"](processor, height, width)
    return max(patches, 1)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tile", [364, 512])
def test_pixel_shuffle_tiling_matches_idefics3_processor(size: tuple[int, int], tile: int) -> None:
    from vlmscope.data import Origin, SourceInfo
    from vlmscope.sources import ModelSource

    enc = Encoded(tile, 14 if tile == 364 else 16, False, None, 2 if tile == 364 else 4, tiled=True)
    source = ModelSource("idefics3", {"model_type": "idefics3"}, None, None, SourceInfo(Origin.zoo, "test", ()))
    found = image_tokens(enc, source, *size)
    base = (tile // enc.patch_size) ** 2 // enc.merge**2
    assert found.crops == _idefics3_tiles(*size, tile)
    assert found.tokens == base * found.crops


def test_zoo_families_get_counts_for_a_requested_size() -> None:
    from vlmscope import api

    qwen = api.inspect_type("qwen2_vl").anatomy
    assert qwen is not None and qwen.connector.merge_hint == "spatial_merge_size"
    assert qwen.connector.tokens_per_image is None  # no native size: dynamic resolution
    smol = api.inspect_type("smolvlm").anatomy
    assert smol is not None and smol.connector.merge_hint == "scale_factor"


def _fuyu_processor_tokens(width: int, height: int) -> int:
    """transformers' own FuyuProcessor._get_num_multimodal_tokens, run with FuyuImageProcessor's own
    preprocess_with_tokenizer_info / get_num_patches / patchify_image and its default sizes."""
    import torch
    from transformers.feature_extraction_utils import BatchFeature
    from transformers.image_processing_utils import SizeDict  # type: ignore[attr-defined]
    from transformers.processing_utils import MultiModalData

    from tf_source import load

    image = load("models.fuyu.image_processing_fuyu", (), {
        "FuyuImageProcessor": ("preprocess_with_tokenizer_info", "get_num_patches", "patchify_image")})
    proc = load("models.fuyu.processing_fuyu", (), {"FuyuProcessor": ("_get_num_multimodal_tokens",)})
    import logging

    image.update(torch=torch, SizeDict=SizeDict, BatchFeature=BatchFeature, logger=logging.getLogger("fuyu-test"))
    proc.update(torch=torch, MultiModalData=MultiModalData)
    image_processor = SimpleNamespace(size={"height": 1080, "width": 1920}, patch_size={"height": 30, "width": 30})
    for name in ("preprocess_with_tokenizer_info", "get_num_patches", "patchify_image"):
        setattr(image_processor, name, image[name].__get__(image_processor))
    data = proc["_get_num_multimodal_tokens"](SimpleNamespace(image_processor=image_processor),
                                              image_sizes=[(height, width)])
    return int(data.num_image_tokens[0])


@pytest.mark.parametrize("size", SIZES)
def test_flat_patches_match_the_fuyu_processor(size: tuple[int, int]) -> None:
    from vlmscope.tokens.processors import flat_patch_tokens

    assert flat_patch_tokens(30, {}, *size).tokens == _fuyu_processor_tokens(*size)


def test_native_resolution_tokens_are_confirmed_by_the_towers_forward() -> None:
    """Qwen2-VL at 1024×768: the tower's own forward over the 54×74 patch grid (meta patches) returns
    as many merged tokens as the smart_resize rule counts."""
    import torch
    from transformers.vision_utils import get_vision_position_ids

    from vlmscope.anatomy.index import ModuleIndex
    from vlmscope.anatomy.roles import find_roles
    from vlmscope.skeleton import build

    source = resolve("MonoQwen2-VL-v0.1")
    index = ModuleIndex(build(source))
    roles = find_roles(index)
    tower, embed = index.modules[roles.vision or ""], index.modules[roles.patch_embedding or ""]
    grid = torch.tensor([[1, 54, 74]])
    patches = torch.randn(54 * 74, embed.in_channels * 2 * 14 * 14, device="meta")
    out = tower(patches, grid_thw=grid, position_ids=get_vision_position_ids(grid, 2).to("meta"))
    merged = out.pooler_output if hasattr(out, "pooler_output") else out
    _, sheet = vlmscope.cost("MonoQwen2-VL-v0.1", CostRequest(image_size=(1024, 768)), use_cache=False)
    assert merged.shape[0] == sheet.tokens.per_image == 999


def _got_ocr2_patches(width: int, height: int, low: int, high: int) -> int:
    """transformers' own GotOcr2ImageProcessor.get_number_of_image_patches (InternVL's image processor)."""
    from tf_source import load

    ns = load("models.got_ocr2.image_processing_got_ocr2",
              ("get_all_supported_aspect_ratios", "get_optimal_tiled_canvas"),
              {"GotOcr2ImageProcessor": ("get_number_of_image_patches",)})
    processor = SimpleNamespace(min_patches=low, max_patches=high, size={"height": 448, "width": 448},
                                crop_to_patches=True)
    return int(ns["get_number_of_image_patches"](processor, height, width))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("low, high", [(1, 12), (1, 6), (2, 4), (1, 1)])
def test_crop_to_patches_matches_got_ocr2_processor(size: tuple[int, int], low: int, high: int) -> None:
    from vlmscope.data import Origin, SourceInfo
    from vlmscope.sources import ModelSource

    pre = {"crop_to_patches": True, "min_patches": low, "max_patches": high, "size": {"height": 448, "width": 448}}
    enc = Encoded(448, 14, False, None, 2)
    source = ModelSource("internvl", {"model_type": "internvl"}, pre, None, SourceInfo(Origin.zoo, "test", ()))
    found = image_tokens(enc, source, *size)
    assert found.crops == _got_ocr2_patches(*size, low, high)
    assert found.tokens == 256 * found.crops


@pytest.mark.parametrize("model_type, pooling", [("qwen3_vl", "2×2 patch merger"),
                                                 ("glm4v", "2×2 strided-conv merge"),
                                                 ("qwen2_vl", "2×2 patch merger")])
def test_towers_that_take_the_patch_grid_have_no_fixed_token_count(model_type: str, pooling: str) -> None:
    """An encoder whose forward takes ``grid_thw`` encodes any size (its config's image_size only sizes
    the position table): no native count, and a requested size is counted over the real grid."""
    from vlmscope import api
    from vlmscope.sources.zoo import default_source

    entry = api.inspect_type(model_type, use_cache=False)
    anatomy = entry.anatomy
    assert anatomy is not None and anatomy.vision is not None and anatomy.vision.native_resolution
    assert anatomy.connector.tokens_per_image is None and anatomy.connector.pooling == pooling
    source = default_source(model_type)
    _, sheet = api.cost_source(source, CostRequest(image_size=(1024, 768)), use_cache=False)
    patch = anatomy.vision.patch_size
    assert patch is not None and sheet.tokens.image_size == (1024, 768) and sheet.tokens.per_image is not None
    assert sheet.flops.vision and "patch grid" in sheet.flops.method
    from tf_source import load

    ns = load("models.qwen2_vl.image_processing_qwen2_vl", ("smart_resize",))
    h, w = ns["smart_resize"](768, 1024, factor=2 * patch, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert sheet.tokens.per_image == (h // patch) * (w // patch) // 4


def _idefics2_frames(width: int, height: int, splitting: bool) -> tuple[int, tuple[int, int]]:
    """(crops, padded frame) as transformers' Idefics2ImageProcessor makes them: split_images,
    get_resize_output_image_size per crop, get_max_height_width (its own functions, on meta tensors)."""
    import torch

    from tf_source import load

    ns = load("models.idefics2.image_processing_idefics2", ("get_resize_output_image_size", "get_max_height_width"),
              {"Idefics2ImageProcessor": ("split_images",)})
    image = torch.empty(1, 3, height, width, device="meta")
    crops = [c[0] for c in ns["split_images"](None, image)[0]] if splitting else [image[0]]
    size = SimpleNamespace(shortest_edge=378, longest_edge=980)
    resized = [torch.empty(3, *ns["get_resize_output_image_size"](c, size), device="meta") for c in crops]
    return len(resized), tuple(ns["get_max_height_width"]([resized]))  # type: ignore[return-value]


@pytest.mark.parametrize("size", [*SIZES, (336, 336), (980, 980), (1000, 2), (377, 379)])
@pytest.mark.parametrize("splitting", [True, False])
def test_idefics2_frames_match_its_image_processor(size: tuple[int, int], splitting: bool) -> None:
    from vlmscope.tokens.processors import variable_frames

    found = variable_frames(980, 64, "rule", {"do_image_splitting": splitting}, *size)
    crops, frame = _idefics2_frames(*size, splitting)
    assert (found.crops, found.frame) == (crops, frame) and found.tokens == 64 * crops


def test_idefics2_flops_follow_the_image_size() -> None:
    """The tower runs over the processor's padded frames: a 336² image becomes five 378² frames, and at
    1024×768 vision + connector + prefill (64 text tokens after a BOS) come within 1% of the 32,803,806,314,496
    FLOPs FlopCounterMode counted on the real model's forward on an H100 (the flat 980² count was +39%)."""
    _, small = vlmscope.cost("idefics2-8b", CostRequest(image_size=(336, 336)))
    _, native = vlmscope.cost("idefics2-8b", CostRequest())
    assert small.tokens.crops == native.tokens.crops == 5 and small.tokens.per_image == native.tokens.per_image == 320
    assert small.flops.vision is not None and native.flops.vision is not None
    assert small.flops.vision < native.flops.vision / 5
    _, sheet = vlmscope.cost("idefics2-8b", CostRequest(image_size=(1024, 768), text_tokens=65))
    assert sheet.flops.vision is not None and sheet.flops.prefill is not None
    measured = 32_803_806_314_496
    assert abs(sheet.flops.vision + sheet.flops.prefill - measured) / measured < 0.01
