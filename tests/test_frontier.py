"""The 2025–2026 reference set (tests/data/frontier, copied from ../shared/reference/frontier with each
folder's SOURCE.txt): every folder builds with its figures, or is refused with one line that says why.
Parameters against the safetensors index totals, tokens against transformers' processor arithmetic, the KV
cache against the cache transformers fills, FLOPs present or said to be missing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import vlmscope
from vlmscope.anatomy.blocks import takes
from vlmscope.costing.inputs import cache_of, language_forward
from vlmscope.costing.kvcache import _held, cache_layers
from vlmscope.data import CostRequest
from vlmscope.errors import UnsupportedArchitectureError
from vlmscope.sources import resolve

FRONTIER = Path(__file__).parent / "data" / "frontier"
FOLDERS = sorted(p.name for p in FRONTIER.iterdir() if p.is_dir())
# Remote-code formats (no code ships here) and the flat original-format LLaVA-OneVision config: refused.
REFUSED = {
    "OpenGVLab__InternVL3_5-8B": "trust-remote-code",
    "moonshotai__Kimi-VL-A3B-Instruct": "trust-remote-code",
    "openbmb__MiniCPM-V-2_6": "trust-remote-code",
    "lmms-lab__llava-onevision-qwen2-7b-ov": "would build a default",
}
BUILT = [f for f in FOLDERS if f not in REFUSED]
# 1T parameters: built once for its own test, not in every parametrized one
HEAVY = {"moonshotai__Kimi-K2.5"}


def _index_total(folder: str) -> int | None:
    index = FRONTIER / folder / ".model.safetensors.index.json"
    if not index.exists():
        return None
    return int(json.loads(index.read_text())["metadata"]["total_size"]) // 2


def test_the_reference_set_is_all_here() -> None:
    assert len(FOLDERS) == 18
    assert all((FRONTIER / f / "SOURCE.txt").exists() and (FRONTIER / f / "config.json").exists() for f in FOLDERS)


@pytest.mark.parametrize("folder", sorted(REFUSED))
def test_refused_with_one_line_saying_why(folder: str) -> None:
    with pytest.raises(UnsupportedArchitectureError, match=REFUSED[folder]) as info:
        vlmscope.inspect(str(FRONTIER / folder), use_cache=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("folder", [f for f in BUILT if _index_total(f) is not None])
def test_parameters_equal_the_index_total(folder: str) -> None:
    anatomy = vlmscope.inspect(str(FRONTIER / folder), use_cache=False)
    assert anatomy.params.total == _index_total(folder)
    p = anatomy.params
    assert p.vision + p.connector + p.language + p.lm_head + p.other == p.total


@pytest.mark.parametrize("folder", [f for f in BUILT if f not in HEAVY])
def test_every_figure_or_a_word_why(folder: str) -> None:
    """Tokens at 1024×768, KV per token, memory; each FLOP figure present or named in the warnings."""
    anatomy, sheet = vlmscope.cost(str(FRONTIER / folder), CostRequest(image_size=(1024, 768)), use_cache=False)
    assert anatomy.language.heads, "a language model with attention layers shows its heads"
    assert sheet.kv.bytes_per_token > 0
    assert sheet.memory is not None and sheet.memory.weights_bytes > 0
    assert sheet.tokens.per_image, sheet.tokens.rule
    for figure, value in (("vision", sheet.flops.vision), ("prefill", sheet.flops.prefill),
                          ("decode", sheet.flops.decode_per_token)):
        assert value is not None or any(w.startswith(f"{figure} FLOPs not counted: ") for w in sheet.warnings)


def test_kimi_k25_builds_under_its_model_types_class() -> None:
    with pytest.warns(UserWarning, match="built Kimi_K25ForConditionalGeneration"):
        anatomy = vlmscope.inspect(str(FRONTIER / "moonshotai__Kimi-K2.5"), use_cache=False)
    assert anatomy.model_class == "Kimi_K25ForConditionalGeneration"
    assert anatomy.params.total > 10**12  # about 1T parameters, as the card says


def test_smolvlm_boolean_ending_in_config_is_no_sub_config() -> None:
    anatomy = vlmscope.inspect(str(FRONTIER / "HuggingFaceTB__SmolVLM-256M-Instruct"), use_cache=False)
    assert 256_000_000 < anatomy.params.total < 257_000_000  # the card: about 256.5M


# --- the KV cache against the cache transformers fills -------------------------------------------------------

KV_CASES = [("Qwen__Qwen3.5-0.8B", 9), ("LiquidAI__LFM2.5-VL-1.6B", 9), ("google__gemma-3-4b-it", 1030),
            ("google__gemma-4-E2B-it", 600), ("zai-org__GLM-4.1V-9B-Thinking", 9),
            ("meta-llama__Llama-3.2-11B-Vision-Instruct", 9)]


@pytest.mark.parametrize("folder, tokens", KV_CASES)
def test_kv_cache_equals_what_transformers_holds(folder: str, tokens: int) -> None:
    """A prefill of ``tokens`` (past the sliding window where the model has one) through the real language
    model on meta tensors; the cache transformers fills holds exactly what the layout predicts (the layout a
    cost sheet carries: kvcache.kv_cache, on the same skeleton)."""
    from vlmscope.anatomy import analyze, read
    from vlmscope.costing.activations import in_bf16
    from vlmscope.costing.kvcache import kv_cache
    from vlmscope.skeleton import build

    source = resolve(str(FRONTIER / folder))
    reading = read(build(source))
    anatomy = analyze(reading, source)
    layout = kv_cache(reading.index, reading.roles, anatomy)
    lm = reading.index.modules[reading.roles.language_root]
    with in_bf16(reading.model), torch.no_grad(), torch.device("meta"):
        cache = cache_of(language_forward(lm, 1, tokens, anatomy.language.hidden_size, torch.bfloat16,
                                          use_cache=True))
    held = sum(_held(layer) for layer in cache_layers(cache))
    assert layout.method.startswith("measured")
    # the prefill here reads no image states: the request's cross-attention states (Mllama) aside
    assert replace(layout, cross_states=0).bytes(tokens, 1) == held


def test_hybrid_models_keep_their_fixed_state_apart() -> None:
    _, sheet = vlmscope.cost(str(FRONTIER / "Qwen__Qwen3.5-0.8B"), CostRequest(context=4096), use_cache=False)
    assert sheet.kv is not None
    assert sheet.kv.full == 6 and sheet.kv.state_bytes > 0  # 6 of 24 layers attend; 18 keep a fixed state
    assert sheet.kv.bytes(8192, 1) - sheet.kv.bytes(4096, 1) == 4096 * sheet.kv.bytes_per_token


def test_mllama_cross_attention_states_in_the_cache() -> None:
    from vlmscope.anatomy import read
    from vlmscope.skeleton import build

    folder = str(FRONTIER / "meta-llama__Llama-3.2-11B-Vision-Instruct")
    _, sheet = vlmscope.cost(folder, CostRequest(image_size=(1024, 768)), use_cache=False)
    assert sheet.kv is not None
    lm = read(build(resolve(folder))).index.modules["model.language_model"]
    assert takes(lm, "cross_attention_states")
    cross_layers = len(lm.cross_attention_layers)
    config = lm.config
    head_dim = config.hidden_size // config.num_attention_heads
    assert sheet.kv.cross_bytes_per_state == cross_layers * 2 * config.num_key_value_heads * head_dim * 2


# --- tokens against transformers' processor arithmetic -----------------------------------------------------

SIZES = [(1024, 768), (768, 1024), (1540, 1540), (3000, 200), (200, 3000), (640, 480), (2000, 1500)]


def _per_image(folder: str, size: tuple[int, int]) -> int | None:
    """Tokens of one image of ``size`` as the cost sheet counts them: the token rules over the model's anatomy
    (cached) and its files, without tracing a forward."""
    from vlmscope.tokens import encoded, rules

    anatomy = vlmscope.inspect(folder)
    return rules.request_tokens(encoded(anatomy.vision, anatomy.connector), resolve(folder), size)[1].tokens


@pytest.mark.parametrize("size", SIZES)
def test_pixtral_tokens_match_the_processor(size: tuple[int, int]) -> None:
    """PixtralProcessor._get_num_multimodal_tokens: (columns + 1) × rows of merged patches."""
    from transformers.models.pixtral.image_processing_pil_pixtral import get_resize_output_image_size

    folder = str(FRONTIER / "mistralai__Devstral-Small-2-24B-Instruct-2512")
    config = json.loads((FRONTIER / "mistralai__Devstral-Small-2-24B-Instruct-2512" / "config.json").read_text())
    step = config["vision_config"]["patch_size"] * config["spatial_merge_size"]
    longest = config["vision_config"]["image_size"]
    width, height = size
    h, w = get_resize_output_image_size(np.zeros((height, width, 3)), size=(longest, longest),
                                        patch_size=(step, step))
    assert _per_image(folder, size) == (w // step + 1) * (h // step)


@pytest.mark.parametrize("size", SIZES)
def test_gemma4_tokens_match_the_processor(size: tuple[int, int]) -> None:
    """Gemma4Processor._get_num_multimodal_tokens, with the settings nested in processor_config.json."""
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size

    folder = FRONTIER / "google__gemma-4-E2B-it"
    pre = json.loads((folder / "processor_config.json").read_text())["image_processor"]
    k, patch = pre["pooling_kernel_size"], pre["patch_size"]
    width, height = size
    h, w = get_aspect_ratio_preserving_size(height=height, width=width, patch_size=patch,
                                            max_patches=pre["max_soft_tokens"] * k * k, pooling_kernel_size=k)
    assert _per_image(str(folder), size) == (h // patch) * (w // patch) // (k * k)


def test_gemma4_tower_runs_over_the_processors_padding() -> None:
    """Gemma 4's processor pads every image's patches to max_soft_tokens × k² (2,520 here) at position (-1, -1),
    and its tower runs over all of them, stripping the padding after the pool: the vision FLOPs are its own
    forward over the processor's own padded output, plus the connector over the valid soft tokens alone."""
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode
    from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

    from vlmscope.anatomy import read
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded
    from vlmscope.skeleton import build

    folder, sizes = FRONTIER / "google__gemma-4-E2B-it", [(1024, 768), (3000, 200)]
    pre = json.loads((folder / "processor_config.json").read_text())["image_processor"]
    model = read(build(resolve(str(folder)))).model.model
    _, sheets = vlmscope.cost_many(str(folder), [CostRequest(image_size=size) for size in sizes])
    for size, sheet in zip(sizes, sheets, strict=True):
        real = Gemma4ImageProcessorPil(**{k: v for k, v in pre.items() if k != "image_processor_type"})(
            Image.new("RGB", size), return_tensors="pt")
        positions = real["image_position_ids"]
        valid = int((positions[0, :, 0] >= 0).sum())
        assert positions.shape[1] == pre["max_soft_tokens"] * pre["pooling_kernel_size"] ** 2 > valid
        with torch.device("meta"):
            pixels = torch.randn(*real["pixel_values"].shape, dtype=torch.bfloat16)
            tokens = torch.randn(1, valid // pre["pooling_kernel_size"] ** 2, model.config.vision_config.hidden_size)
        with MetaPromotion(), unpadded(), FlopCounterMode(display=False) as tower:
            model.vision_tower(pixel_values=pixels, pixel_position_ids=positions)
        with FlopCounterMode(display=False) as connector:
            model.embed_vision(inputs_embeds=tokens)
        assert sheet.flops.vision == tower.get_total_flops() + connector.get_total_flops(), size


@pytest.mark.parametrize("size", SIZES)
def test_mllama_tiles_match_the_processor(size: tuple[int, int]) -> None:
    """MllamaImageProcessor: the canvas get_optimal_tiled_canvas picks; the tower runs over max_image_tiles
    tiles, each (560/14)² patches + a class token, all read by the cross-attention layers; one text position."""
    from transformers.models.mllama.image_processing_pil_mllama import get_optimal_tiled_canvas

    from vlmscope.tokens import processors

    folder = FRONTIER / "meta-llama__Llama-3.2-11B-Vision-Instruct"
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    width, height = size
    tile, most = pre["size"]["height"], pre["max_image_tiles"]
    canvas = get_optimal_tiled_canvas(height, width, most, tile)
    assert processors._canvas(height, width, most, tile) == tuple(int(x) for x in canvas)
    found = processors.aspect_ratio_tiles(tile, 14, True, pre, config, width, height)
    assert (found.tokens, found.states) == (1, most * ((tile // 14) ** 2 + 1))
    assert f"{canvas[1] // tile}×{canvas[0] // tile} tiles" in found.rule


def test_mllama_cost_counts_every_tile_and_every_state() -> None:
    folder = str(FRONTIER / "meta-llama__Llama-3.2-11B-Vision-Instruct")
    small = CostRequest(image_size=(560, 560), context=4096)
    pair, large = replace(small, images=2), CostRequest(image_size=(1120, 1120))
    _, (one, two, large) = vlmscope.cost_many(folder, [small, pair, large])  # one skeleton for the three
    assert one.tokens.per_image == 1 and one.kv is not None and one.kv.cross_states == 4 * 1601
    assert one.memory is not None and two.memory is not None
    # the K/V of the image states: 6,404 of them per image, in every sequence's cache
    assert two.memory.kv_cache_bytes - one.memory.kv_cache_bytes == 4 * 1601 * one.kv.cross_bytes_per_state
    # the tower runs over all four tiles even when the image fills one: the same vision FLOPs at any size
    assert one.flops.vision == large.flops.vision and one.flops.vision
    assert two.flops.prefill is not None and one.flops.prefill is not None
    assert two.flops.prefill > one.flops.prefill  # the cross-attention layers read twice the states


LFM2_SIZES = [*SIZES, (256, 256), (100, 100), (512, 512), (1000, 400), (4000, 3000)]


@pytest.mark.parametrize("size", LFM2_SIZES)
def test_lfm2_tiles_match_the_processor(size: tuple[int, int]) -> None:
    """Lfm2VlImageProcessor (resize_and_split: too large → grid + thumbnail, else one smart-resized view) and
    Lfm2VlProcessor's token counts, loaded from the installed transformers source (the module needs
    torchvision to import)."""
    from tf_source import load
    from vlmscope.tokens import processors

    names = ("round_by_factor", "find_closest_aspect_ratio")
    image = load("models.lfm2_vl.image_processing_lfm2_vl", names,
                 {"Lfm2VlImageProcessor": ("smart_resize", "_is_image_too_large", "_get_grid_layout",
                                           "_target_ratios")})
    counts = load("models.lfm2_vl.processing_lfm2_vl", (),
                  {"Lfm2VlProcessor": ("_compute_tokens_per_tile", "_compute_tokens_for_image")})

    class Processor:  # the methods' self: what they call on it
        def _target_ratios(self, low: int, high: int) -> list[tuple[int, int]]:
            return image["_target_ratios"](self, low, high)

    me = Processor()
    config = json.loads((FRONTIER / "LiquidAI__LFM2.5-VL-1.6B" / "config.json").read_text())
    s = {**processors.defaults("smart_tiles"), **{k: v for k, v in config.items()
                                                  if k in processors.defaults("smart_tiles")}}
    width, height = size
    p, f, tile = s["encoder_patch_size"], s["downsample_factor"], s["tile_size"]
    new_w, new_h = image["smart_resize"](me, height, width, f, s["min_image_tokens"], s["max_image_tokens"], p)
    view = counts["_compute_tokens_for_image"](None, [new_h, new_w], p, f)
    if image["_is_image_too_large"](me, height, width, s["max_image_tokens"], p, f, s["max_pixels_tolerance"]):
        cols, rows, *_ = image["_get_grid_layout"](me, height, width, s["min_tiles"], s["max_tiles"], tile)
        per_tile = counts["_compute_tokens_per_tile"](None, tile, p, f)
        expected = cols * rows * per_tile + (view if cols * rows != 1 else 0)
    else:
        expected = view
    assert processors.smart_tiles(16, {}, config, width, height).tokens == expected


def test_lfm2_cost_at_1024x768() -> None:
    """3×2 tiles of 512² + a 576×416 thumbnail; the tower runs over 7 views of 1,024 patches each (padded)."""
    _, sheet = vlmscope.cost(str(FRONTIER / "LiquidAI__LFM2.5-VL-1.6B"), CostRequest(image_size=(1024, 768)),
                             use_cache=True)
    assert (sheet.tokens.per_image, sheet.tokens.crops) == (6 * 256 + 13 * 18, 7)
    assert sheet.flops.vision


PATCH_GRID_TOWERS = ["LiquidAI__LFM2.5-VL-1.6B", "google__gemma-4-E2B-it", "openbmb__MiniCPM-V-4.6-AWQ"]


@pytest.mark.parametrize("folder", PATCH_GRID_TOWERS)
def test_towers_fed_patch_sequences_are_counted(folder: str) -> None:
    """SigLIP2's spatial shapes, Gemma 4's patch positions, MiniCPM-V's target sizes: built from the request's
    grid, so the tower's own forward runs; its FLOPs grow with the image where the processor's frame does."""
    _, sheet = vlmscope.cost(str(FRONTIER / folder), CostRequest(image_size=(1024, 768)), use_cache=True)
    assert sheet.flops.vision and not any(w.startswith("vision FLOPs not counted") for w in sheet.warnings)


MINICPM = FRONTIER / "openbmb__MiniCPM-V-4.6-AWQ"
MINICPM_SIZES = [*SIZES, (448, 448), (100, 50), (4000, 3000)]


@pytest.mark.parametrize("size", MINICPM_SIZES)
def test_minicpm_v_slices_match_the_image_processor(size: tuple[int, int]) -> None:
    """transformers' MiniCPMV4_6ImageProcessorPil cuts a blank image of the size; MiniCPMV4_6Processor inserts
    (rows × cols) / 16 image tokens for every view it returns."""
    from PIL import Image
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

    pre = json.loads((MINICPM / "processor_config.json").read_text())["image_processor"]
    processor = MiniCPMV4_6ImageProcessorPil(**{k: v for k, v in pre.items() if k != "image_processor_type"})
    views = np.asarray(processor(Image.new("RGB", size), return_tensors="np")["target_sizes"])
    source = resolve(str(MINICPM))
    anatomy = vlmscope.inspect(str(MINICPM), use_cache=True)
    from vlmscope.tokens.rules import encoded, image_tokens

    enc = encoded(anatomy.vision, anatomy.connector)
    assert enc is not None
    found = image_tokens(enc, source, *size)
    assert found.tokens == int((views.prod(-1) // 16).sum())
    assert found.crops == len(views)


def _image_features(model: torch.nn.Module, views: list[tuple[int, int]], patch: int,
                    dtype: torch.dtype) -> tuple[int, int]:
    """(FLOPs, tokens) of MiniCPM-V's own get_image_features over views packed as its processor packs them."""
    from torch.utils.flop_counter import FlopCounterMode

    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded

    sizes = torch.tensor([[h // patch, w // patch] for h, w in views], dtype=torch.int32)
    with torch.device("meta"):
        pixels = torch.randn(1, 3, patch, sum(h * w // patch for h, w in views), dtype=dtype)
    with MetaPromotion(), unpadded(), FlopCounterMode(display=False) as counter:
        out = model.model.get_image_features(pixel_values=pixels, target_sizes=sizes)  # type: ignore[operator]
    return counter.get_total_flops(), sum(t.shape[0] for t in out.pooler_output)


@pytest.mark.parametrize("model, size, views", [
    ("openbmb__MiniCPM-V-4.6-AWQ", (640, 480), [(392, 504), (560, 392), (560, 392)]),  # a view and 1×2 slices
    ("minicpm_ocr", (1024, 768), [(384, 512)] * 5),  # the zoo's default: patch 16, "4x" (no inner merger)
])
def test_minicpm_vision_flops_equal_its_image_features_forward(model: str, size: tuple[int, int],
                                                               views: list[tuple[int, int]]) -> None:
    """The tower runs over each view at its own size, the connector over what the tower's inner merger leaves
    (none in "4x" mode): the same FLOPs and tokens as the model's own get_image_features."""
    from vlmscope.anatomy import read
    from vlmscope.skeleton import build
    from vlmscope.sources.zoo import default_source

    source = resolve(str(FRONTIER / model)) if "__" in model else default_source(model)
    _, sheet = vlmscope.api.cost_source(source, CostRequest(image_size=size), use_cache=False)
    built = read(build(source)).model
    patch = built.config.vision_config.patch_size
    dtype = next(built.model.vision_tower.parameters()).dtype  # type: ignore[union-attr]
    assert _image_features(built, views, patch, dtype) == (sheet.flops.vision, sheet.tokens.per_image)


FLORENCE = FRONTIER / "microsoft__Florence-2-base"


def test_florence2_tokens_and_vision_flops_are_its_image_features() -> None:
    """Florence-2 resizes every image to 768² and inserts image_seq_length (577) tokens; its DaViT returns a
    24×24 map that the projector turns into 576 + 1 pooled states. Both the count and the vision FLOPs
    (tower and projector over the map) equal the model's own get_image_features on meta tensors."""
    from torch.utils.flop_counter import FlopCounterMode

    from vlmscope.anatomy import read
    from vlmscope.skeleton import build

    anatomy, sheet = vlmscope.cost(str(FLORENCE), CostRequest(image_size=(1024, 768)), use_cache=False)
    assert anatomy.vision is not None and anatomy.vision.family == "hierarchical ViT (4 stages, d=128→1024, L=12)"
    model = read(build(resolve(str(FLORENCE)))).model
    with torch.device("meta"):
        pixels = torch.randn(1, 3, 768, 768, dtype=next(model.parameters()).dtype)
    with FlopCounterMode(display=False) as counter:
        features = model.model.get_image_features(pixel_values=pixels)  # type: ignore[operator]
    pre = json.loads((FLORENCE / "preprocessor_config.json").read_text())
    assert sheet.tokens.per_image == features.pooler_output.shape[1] == pre["image_seq_length"]
    assert sheet.flops.vision == counter.get_total_flops()
    assert sheet.flops.prefill and sheet.flops.decode_per_token


def test_florence2_cross_attention_cache_holds_the_encoded_prompt() -> None:
    """The decoder's cross-attention cache after a prefill holds the K/V of every encoded token: what transformers'
    EncoderDecoderCache holds after encoding the prompt, per token, times the prompt."""
    from vlmscope.anatomy import read
    from vlmscope.costing.activations import in_bf16
    from vlmscope.skeleton import build

    request = CostRequest(image_size=(1024, 768), text_tokens=20, context=512)
    _, sheet = vlmscope.cost(str(FLORENCE), request, use_cache=False)
    reading = read(build(resolve(str(FLORENCE))))
    lm = reading.index.modules[reading.roles.language_root]
    assert sheet.kv is not None and sheet.tokens.prefill == 597
    with in_bf16(reading.model), torch.no_grad(), torch.device("meta"):
        cache = cache_of(language_forward(lm, 1, sheet.tokens.prefill, 768, torch.bfloat16, use_cache=True))
    held = sum(_held(layer) for layer in cache.cross_attention_cache.layers)
    assert held == sheet.kv.cross_states * sheet.kv.cross_bytes_per_state
    assert sheet.memory is not None
    assert sheet.memory.kv_cache_bytes == 512 * sheet.kv.bytes_per_token + held


def test_moe_experts_are_counted_as_the_tokens_they_route() -> None:
    """grouped_mm (transformers' default experts) has no FLOP formula in torch; counted as batched_mm, every
    token costs its top-k experts' three projections."""
    from torch.utils.flop_counter import FlopCounterMode

    from vlmscope.anatomy import read
    from vlmscope.costing.counting import experts_batched
    from vlmscope.skeleton import build
    from vlmscope.sources.zoo import default_source

    model = read(build(default_source("qwen3_vl_moe"))).model
    experts = next(m for m in model.modules() if hasattr(m, "_is_expert_parallel"))
    text = model.config.text_config
    tokens, k = 10, text.num_experts_per_tok
    hidden = torch.randn(tokens, text.hidden_size, device="meta")
    index = torch.zeros(tokens, k, dtype=torch.long, device="meta")
    with experts_batched(model), FlopCounterMode(display=False) as counter:
        experts(hidden, index, torch.ones(tokens, k, device="meta"))
    assert counter.get_total_flops() == 2 * tokens * k * 3 * text.hidden_size * text.moe_intermediate_size
    assert text._experts_implementation != "batched_mm"  # put back afterwards


def test_today_set_is_the_catalogs_official_checkpoints() -> None:
    from vlmscope.sources import catalog

    assert len(vlmscope.api.TODAY_MODELS) == 13
    from vlmscope.cli.common import ModelSet

    assert {s.value for s in ModelSet} == set(vlmscope.api.MODEL_SETS)  # --set offers every named set
    for model_id in vlmscope.api.TODAY_MODELS:
        entry = catalog.find(model_id)
        assert entry is not None and entry.card.origin is not None and entry.card.origin.value == "official"
        folder = FRONTIER / entry.folder.name
        assert (entry.folder / "config.json").read_bytes() == (folder / "config.json").read_bytes()


def test_the_converted_onevision_has_the_original_weights_and_two_token_rows_padded() -> None:
    """The catalog's llava-onevision-qwen2-7b-ov-hf (reconstructed: the original lmms-lab config as transformers'
    conversion script turns it into LlavaOnevisionConfig) holds the original checkpoint's parameters, by its
    safetensors index, plus the embedding and head rows the script adds: <image> and <video>, the vocabulary
    padded to a multiple of 64 (152,064 → 152,128)."""
    anatomy = vlmscope.inspect("llava-onevision-qwen2-7b-ov-hf", use_cache=False)
    added = 2 * (152_128 - 152_064) * anatomy.language.hidden_size
    assert anatomy.params.total == _index_total("lmms-lab__llava-onevision-qwen2-7b-ov") + added
    assert resolve("llava-onevision-qwen2-7b-ov-hf").info.reconstructed
