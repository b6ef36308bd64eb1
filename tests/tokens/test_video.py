"""Videos (``--video``): the frames a model's video processor keeps, their size and the prompt's placeholder
tokens equal what transformers' own video processor and processor make of synthetic frames (no decoding,
no weights); the vision cost of a video equals that of the same encoder passes given as images.

The reference runs in a process of its own (video_reference.py: transformers' video processors need
torchvision, which .ci/run installs into a folder apart from vlmscope's environment)."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import vlmscope
from vlmscope.cli.common import MAX_LINE
from vlmscope.costing.notes import other_recipes
from vlmscope.data import CostRequest, VideoSpec, VideoTokens, parse_video
from vlmscope.errors import ConfigError, LimitError, RequestError
from vlmscope.limits import MAX_TEXT_PIECES
from vlmscope.sources.resolve import resolve
from vlmscope.tokens import encoded, stamps
from vlmscope.tokens import video as rules
from vlmscope.tokens.settings import with_settings

QWEN25 = "Qwen2.5-VL-7B-Instruct"  # no video config: the video processor reads preprocessor_config.json
QWEN3 = "Qwen3-VL-4B-Instruct"  # video_preprocessor_config.json: a pixel budget over all frames
QWEN35 = "Qwen3.5-0.8B"
GLM = "GLM-4.1V-9B-Thinking"  # samples by the clip's rate, max_duration seconds at most; a second per patch
GEMMA4 = "gemma-4-E2B-it"  # 32 frames at 70 soft tokens each, an mm:ss per frame; its settings in processor_config
MINICPM = "MiniCPM-V-4.6-AWQ"  # a frame a second, each a view and slices as its images are
MODELS = {QWEN25: ("Qwen__Qwen2.5-VL-7B-Instruct", "Qwen2_5_VLProcessor"),
          QWEN3: ("Qwen__Qwen3-VL-4B-Instruct", "Qwen3VLProcessor"),
          QWEN35: ("Qwen__Qwen3.5-0.8B", "Qwen3VLProcessor"),
          GLM: ("zai-org__GLM-4.1V-9B-Thinking", "Glm4vProcessor"),
          GEMMA4: ("google__gemma-4-E2B-it", "Gemma4Processor"),
          MINICPM: ("openbmb__MiniCPM-V-4.6-AWQ", "MiniCPMV4_6Processor")}
# what the processor needs besides its video processor: MiniCPM-V's marks (start and end of image and of slice)
# and its token divisor (the processor's, from downsample_mode "16x")
PROCESSOR_PARTS = {MINICPM: {"attrs": {"image_start_token": "<S>", "image_end_token": "<E>", "slice_start_token": "<S>",
                                       "slice_end_token": "<E>", "video_slice_mode": True},
                             "replace": {"video_token_divisor": 16}, "local_ids": True}}
CATALOG = Path(vlmscope.__file__).parent / "catalog" / "models"
TORCHVISION = Path(os.environ.get("VLMSCOPE_TORCHVISION", Path(sys.prefix) / "torchvision"))

# (frames, width, height, fps or None): short, long, sampled down, odd frame counts, portrait, tiny frames, and
# longer than GLM-4.1V's max_duration (300 s)
GRID = [VideoSpec(f, w, h, fps) for f, w, h, fps in
        [(9, 640, 360, None), (12, 320, 240, 2.0), (31, 480, 270, 30.0), (7, 200, 600, 5.0), (48, 64, 40, 24.0),
         (700, 64, 40, 2.0), (40, 640, 360, 10.0)]]
SETTINGS = [{"do_sample_frames": True, "fps": 2}, {"do_sample_frames": True, "num_frames": 8, "fps": None},
            {"cap_pixels_per_frame": True, "max_video_tokens": 2000}, {"max_pixels": 50_176},
            {"do_sample_frames": False}]
SETTINGS_CLIP = VideoSpec(40, 640, 360, 10.0)
ONEVISION = [VideoSpec(8, 640, 360), VideoSpec(30, 1280, 720, 15.0)]
LOADERS = ["qwen-vl-utils", "sglang"]
# frame counts SmolVLM's processor spells with num2words: every one to 1,200, and each way a larger one is joined
WORDS = [*range(1, 1201), 2000, 2005, 2100, 12_345, 100_000, 100_001, 101_010, 999_999, 1_000_000, 1_000_099,
         1_002_003, 7_654_321, 100_000_000, 999_999_999]
# vLLM 0.33.0's Qwen loaders (vllm/multimodal/video.py: Qwen2VLVideoBackend ports transformers' Qwen2-VL
# sample_frames at fps 2, min_frames 4, max_frames 768; Qwen3VLVideoBackend the same bounds): the count
# transformers' own processors sample under these settings, which the processor then keeps as they are
VLLM_UNIFORM = [VideoSpec(1800, 1280, 720, 30.0), VideoSpec(20, 640, 360, 10.0)]  # vLLM's default loader: 32 at most
VLLM = {"do_sample_frames": True, "fps": 2, "num_frames": None, "min_frames": 4, "max_frames": 768}
# its GLM loaders: GLM-4.1V's sampler at fps 2 and max_duration 300 (DynamicVideoBackend), GLM-4.6V's own
VLLM_SAMPLED = {QWEN25: VLLM, QWEN3: VLLM, GLM: {"do_sample_frames": True, "fps": 2, "max_duration": 300},
                "glm46v": {"do_sample_frames": True},
                "glmga": {"do_sample_frames": True, "fps": 2, "max_frames": 640}}  # at most the clip's frames
# SGLang 0.5.23 beyond Qwen: GLM-4.1V / 4.6V (their processor's own sampler), Gemma 4 (its num_frames by torch.arange;
# every frame of a shorter clip; here 24 as well, a step that is no binary fraction), MiniCPM-V 4.6 (every frame)
SGLANG_GEMMA4 = [(VideoSpec(1800, 1280, 720, 30.0), {}), (VideoSpec(20, 640, 360, 10.0), {}),
                 (VideoSpec(1000, 640, 360, 25.0), {"num_frames": 24})]
SGLANG_MINICPM = [VideoSpec(6, 1280, 720, 30.0), VideoSpec(5, 300, 200, 1.0), VideoSpec(3, 1920, 1080, 30.0),
                  VideoSpec(4, 448, 448, 2.0)]
# qwen-vl-utils and SGLang from a file: sampled at 2 fps (pairs, at least 4, at most the clip's), each frame within its
# budget: sampled down, a small frame grown to the minimum, a portrait clip kept whole, tiny frames, a short clip
LOADER = [VideoSpec(600, 640, 360, 30.0), VideoSpec(400, 320, 240, 5.0), VideoSpec(100, 200, 600, 1.0),
          VideoSpec(96, 64, 40, 24.0), VideoSpec(9, 480, 270, 3.0)]
ONEVISION_CONFIG = {
    "model_type": "llava_onevision", "architectures": ["LlavaOnevisionForConditionalGeneration"],
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 384, "patch_size": 14},
    "text_config": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000}}


NEXT_VIDEO = [VideoSpec(8, 640, 360), VideoSpec(30, 1280, 720, 15.0)]
VIDEO_LLAVA = [VideoSpec(8, 640, 360), VideoSpec(12, 240, 320, 6.0)]
NEXT_VIDEO_CONFIG = {
    "model_type": "llava_next_video", "architectures": ["LlavaNextVideoForConditionalGeneration"],
    "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 224, "patch_size": 14},
    "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000},
    "image_token_index": 990, "video_token_index": 991}
# Video-LLaVA: the same sub-configs (its image and video towers are two CLIP towers of one vision_config)
VIDEO_LLAVA_CONFIG = {**NEXT_VIDEO_CONFIG, "model_type": "video_llava",
                      "architectures": ["VideoLlavaForConditionalGeneration"]}


# InternVL (448² frames, as the InternVL3 -hf checkpoints set) and SmolVLM2 (512² frames and a video_sampling
# table, whose max_frames and fps its constructor takes), each on small configs with settings of the shape their
# model files carry (written here, not byte copies: none was at hand to check against): every frame, and
# the processor's own sampler (InternVL: a count or a rate from half a step in; SmolVLM: a rate under a cap,
# a second off each end of a long clip, repeated indices dropped)
INTERNVL_CONFIG = {
    "model_type": "internvl", "architectures": ["InternVLForConditionalGeneration"], "downsample_ratio": 0.5,
    "vision_config": {"model_type": "internvl_vision", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": [448, 448],
                      "patch_size": [14, 14]},
    "text_config": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000},
    "vision_feature_select_strategy": "default", "image_token_id": 990}
SMOLVLM_CONFIG = {
    "model_type": "smolvlm", "architectures": ["SmolVLMForConditionalGeneration"], "scale_factor": 4,
    "vision_config": {"model_type": "smolvlm_vision", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 512, "patch_size": 16},
    "text_config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000},
    "image_token_id": 990}
# GLM-4.6V on a small config, at its class's defaults (no byte copy of its video config was at hand): a rate by
# the clip's duration (3, 1 or 0.5 temporal patches a second), at most 640 frames; clips of each band, fewer
# frames than it asks for (spread by linspace, repeats dropped), more than 640, longer than 2,400 s
GLM46V_CONFIG = {
    "model_type": "glm46v", "architectures": ["Glm46VForConditionalGeneration"],
    "vision_config": {"model_type": "glm4v_vision", "depth": 2, "hidden_size": 32, "intermediate_size": 64,
                      "num_heads": 2, "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "image_size": 336},
    "text_config": {"model_type": "glm4v_text", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2],
                                        "partial_rotary_factor": 0.5}}}
GLM46V_CLIPS = [VideoSpec(*c) for c in [(30, 640, 360, 3.0), (300, 320, 240, 30.0), (31, 480, 270, 30.0),
                                        (1200, 64, 40, 10.0), (1400, 64, 40, 2.0), (5000, 64, 40, 2.0),
                                        (9, 320, 180, 0.5), (7, 200, 600, 5.0)]]
GLM46V_SETTINGS = [{}, {"do_sample_frames": False}]


def _glm46v_settings(spec: VideoSpec) -> list[dict[str, Any]]:
    """Every frame only of short clips: the reference resizes each frame."""
    return GLM46V_SETTINGS if spec.frames <= 50 else GLM46V_SETTINGS[:1]


# Processors that copy a modelled one (CohereCompass: Qwen3-VL's, its processor's text too; Cosmos3-Edge: the same
# with temporal patches of one frame; MiniCPM-OCR:
# MiniCPM-V 4.6's, "4x" by default) or vary it (Glmga: GLM-4.6V's with a plain rate, a frame cap and a patch
# expansion), on small configs at their classes' defaults (no byte copy of their files was at hand): ref:
# (config, video processor, processor, the processor's marks and call settings, settings tried)
COHERE_CONFIG = {
    "model_type": "cohere_compass", "architectures": ["CohereCompassForConditionalGeneration"],
    "vision_config": {"model_type": "cohere_compass_vision", "depth": 2, "hidden_size": 32, "intermediate_size": 64,
                      "num_heads": 2, "out_hidden_size": 64, "patch_size": 16, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "deepstack_visual_indexes": [0]},
    "text_config": {"model_type": "cohere_compass_text", "hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                    "layer_types": ["full_attention"] * 2,
                    "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 10000.0,
                                                           "mrope_section": [2, 3, 3]}}}}
COPIES: dict[str, tuple[dict[str, Any], str, str, dict[str, Any], list[dict[str, Any]]]] = {
    "cohere_compass": (COHERE_CONFIG, "CohereCompassVideoProcessor", "CohereCompassProcessor", {},
                       [{}, {"do_sample_frames": True, "num_frames": 8, "fps": None}]),
    "glmga": ({**GLM46V_CONFIG, "model_type": "glmga"}, "GlmgaVideoProcessor", "Glm46VProcessor", {},
              [{}, {"fps": 1, "max_frames": 60}, {"patch_expand_factor": 2}]),
    "cosmos3_edge": ({}, "Cosmos3EdgeVideoProcessor", "Cosmos3EdgeProcessor", {},  # temporal patches of a frame
                     [{}, {"do_sample_frames": True, "num_frames": 8, "fps": None}, {"do_sample_frames": False}]),
    "glm5_next": ({}, "Glm5NextVideoProcessor", "Glm5NextProcessor", {},  # its own sampler and canvas
                  [{}, {"fps": 1, "max_frames": 60}, {"max_image_tokens": 300}, {"min_image_tokens": 2000}]),
    "muse_glimmer": ({}, "MuseGlimmerVideoProcessor", "MuseGlimmerProcessor",  # its start, separator, end marks
                     {"attrs": {"video_start_token": "<S>", "video_sep_token": "<G>", "video_end_token": "<E>"}},
                     [{}, {"num_frames": 8}, {"max_video_frame_tokens": 40, "fps": 1}, {"do_sample_frames": False}]),
    "minicpm_ocr": ({}, "MiniCPMOcrVideoProcessor", "MiniCPMOcrProcessor",  # the processor's divisor: "4x"
                    {**PROCESSOR_PARTS[MINICPM], "replace": {"video_token_divisor": 4}}, [{}, {"max_num_frames": 8}]),
}
COPIES_CLIPS = [VideoSpec(*c) for c in [(30, 640, 360, 3.0), (300, 320, 240, 30.0), (1400, 64, 40, 2.0),
                                        (9, 320, 180, 0.5), (7, 200, 600, 5.0), (12, 1280, 720, 6.0)]]


def _copy_config(ref: str) -> dict[str, Any]:
    """The small config, or (MiniCPM-OCR) transformers' default config of the model_type."""
    config = COPIES[ref][0]
    if config:
        return config
    from vlmscope.sources.zoo import default_source

    return default_source(ref).config


# Kimi-K2.5: 2 fps in chunks of 4 frames (a whole chunk; the last of 2; one of 4 and 3), frames scaled down to
# 4,096 patches (4K) or kept (a portrait clip), never up (a tiny one)
KIMI = "Kimi-K2.5"
KIMI_CLIPS = [VideoSpec(*c) for c in [(60, 1280, 720, 30.0), (450, 640, 360, 30.0), (20, 3840, 2160, 2.0),
                                      (35, 200, 600, 5.0), (48, 64, 40, 24.0)]]


FRAMEWISE = {  # ref: (config, settings file, its settings, processor, the processor's marks and tokens per frame)
    "internvl": (INTERNVL_CONFIG, "video_preprocessor_config.json",
                 {"video_processor_type": "InternVLVideoProcessor", "size": {"height": 448, "width": 448}},
                 "InternVLProcessor", {"start_image_token": "<S>", "end_image_token": "<E>", "image_seq_length": 256}),
    "smolvlm": (SMOLVLM_CONFIG, "preprocessor_config.json",
                {"max_image_size": {"longest_edge": 512}, "size": {"longest_edge": 2048},
                 "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}},
                "SmolVLMProcessor", {"fake_image_token": "<S>", "global_image_token": "<G>", "image_seq_len": 64})}
FRAMEWISE_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, 3.0), (300, 320, 240, 30.0), (400, 64, 40, 2.0),
                                           (7, 200, 600, 5.0), (5, 480, 270, 1.0), (9, 320, 180, 0.5)]]
FRAMEWISE_SETTINGS = {"internvl": [{}, {"do_sample_frames": True, "num_frames": 4},
                                   {"do_sample_frames": True, "fps": 1}, {"do_sample_frames": True, "num_frames": 3,
                                                                          "initial_shift": 0}],
                      "smolvlm": [{}, {"do_sample_frames": True}]}
# vLLM's InternVL (run as InternS1): its default loader's 32 frames, then transformers' processor with the video
# processor built at the image processor's size: the files' (here 448², over a video config of 384²), else
# GotOcr2ImageProcessor's class default (384²)
INTERNVL_VLLM = {
    "internvl-vllm": {"video_preprocessor_config.json": {"video_processor_type": "InternVLVideoProcessor",
                                                         "size": {"height": 384, "width": 384}},
                      "preprocessor_config.json": {"image_processor_type": "GotOcr2ImageProcessor",
                                                   "size": {"height": 448, "width": 448}}},
    "internvl-vllm-bare": {"video_preprocessor_config.json": FRAMEWISE["internvl"][2]}}


# InstructBLIP-Video (transformers' default config; settings as its checkpoints' files have them, 224² frames):
# its processor writes 4 × 32 query tokens whatever the clip, its model reads 32 a frame: only 4 frames run
BLIP_VIDEO = {"video_processor_type": "InstructBlipVideoVideoProcessor", "size": {"height": 224, "width": 224}}
BLIP_CLIPS = [VideoSpec(4, 640, 360), VideoSpec(20, 320, 240, 2.0), VideoSpec(7, 200, 600, 5.0)]
BLIP_SETTINGS = [{}, {"do_sample_frames": True, "num_frames": 4}, {"do_sample_frames": True, "fps": 1}]


# ERNIE-4.5-VL on a small config (no byte copy of its video settings was at hand: the class's defaults, drawing
# off, which changes pixels only): its sampler (every frame up to 180, at least 16 where the clip has them; a rate;
# a count), an odd count padded, the frames resized as its images; its resampler merges pairs of frames
ERNIE_CONFIG = {
    "model_type": "ernie4_5_vl_moe", "architectures": ["Ernie4_5_VLMoeForConditionalGeneration"],
    "vision_config": {"model_type": "ernie4_5_vl_moe_vision", "depth": 2, "hidden_size": 32, "num_heads": 2,
                      "intermediate_size": 64, "patch_size": 14, "spatial_merge_size": 2, "temporal_merge_size": 2},
    "text_config": {"model_type": "ernie4_5_vl_moe_text", "hidden_size": 64, "intermediate_size": 128,
                    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
                    "moe_intermediate_size": [32, 16], "moe_k": 2, "moe_num_experts": 4, "moe_num_shared_experts": 1,
                    "mlp_layer_types": ["dense", "sparse"],
                    "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0, "mrope_section": [2, 2, 4]}},
    "image_token_id": 990, "video_token_id": 991, "image_start_token_id": 992, "image_end_token_id": 993,
    "video_start_token_id": 994, "video_end_token_id": 995}
ERNIE_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, None), (31, 480, 270, 30.0), (300, 320, 240, 30.0),
                                       (30, 1280, 720, 6.0), (7, 200, 600, 5.0), (400, 64, 40, 2.0)]]
ERNIE_SETTINGS = [{}, {"fps": 2}, {"num_frames": 16}, {"do_sample_frames": False}]


# VideoLLaMA3 on a small config at its class's defaults: every frame (or a rate, or a count) within one pixel
# budget shared by the frames; its compression keeps what changes between frames: frames of zeros keep the
# fewest, frames of noise the most
VL3_CONFIG = {
    "model_type": "video_llama_3", "architectures": ["VideoLlama3ForConditionalGeneration"],
    "vision_config": {"model_type": "video_llama_3_vision", "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 2, "patch_size": 14},
    "text_config": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000},
    "image_token_id": 990, "video_token_id": 991}
VL3_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, None), (31, 480, 270, 30.0), (300, 320, 240, 30.0),
                                     (7, 200, 600, 5.0), (1, 1280, 720, 1.0)]]
VL3_SETTINGS = [{}, {"use_token_compression": False}, {"do_sample_frames": True, "fps": 2},
                {"do_sample_frames": True, "num_frames": 8}]


# HunYuan-V4-VL (transformers' default config, its language model cut to 2 layers): every frame, its sampler (2 fps
# by default, or a count), and a clip budget that binds; each frame's grid of merged patches and a newline a row
HY_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, None), (31, 480, 270, 30.0), (300, 320, 240, 30.0),
                                    (7, 200, 600, 5.0), (40, 1280, 720, 10.0), (48, 64, 40, 24.0)]]
HY_SETTINGS = [{}, {"do_sample_frames": True}, {"do_sample_frames": True, "fps": None, "num_frames": 8},
               {"size": {"longest_edge": 2_000_000}}]


# Molmo2 (transformers' default config, its language model cut to 2 layers): its sampler (64 frames, at most 2 a
# second of a faster clip; a rate; a count), every frame, the processor's text ('1.5 ' and its frame marks)
MOLMO2_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, None), (1800, 64, 40, 30.0), (31, 480, 270, 30.0),
                                        (7, 200, 600, 5.0), (300, 320, 240, 30.0)]]
MOLMO2_SETTINGS = [{}, {"fps": 1, "num_frames": None}, {"num_frames": 8}, {"do_sample_frames": False}]
MOLMO2_PARTS = {"attrs": {"use_frame_special_tokens": True, "video_use_col_tokens": False},
                "rename": {"<frame_start>": "<S>", "<frame_end>": "<E>", "<im_patch>": "<V>"}}


def _molmo2_config() -> dict[str, Any]:
    from vlmscope.sources.zoo import default_source

    config = default_source("molmo2").config
    config["text_config"]["num_hidden_layers"] = 2
    return config


# Nemotron-H-Omni (transformers' default config): every frame or a count, each one tile near 1,024 patches (its
# aspect, or a square), tubelets of 2 frames, each labelled with its frames and their times (text)
NEMOTRON = "NemotronH_Omni_Reasoning_V3VideoProcessor"
NEMOTRON_CLIPS = [VideoSpec(*c) for c in [(9, 640, 360, None), (31, 480, 270, 30.0), (7, 200, 600, 5.0),
                                          (40, 1280, 720, 10.0)]]
NEMOTRON_SETTINGS = [{}, {"do_sample_frames": True, "num_frames": 8}, {"video_target_num_patches": 256},
                     {"video_maintain_aspect_ratio": False}]
NEMOTRON_NORM = {"norm_mean": [0.5, 0.5, 0.5], "norm_std": [0.5, 0.5, 0.5]}  # pixels only: its class has none


# MiniCPM-V 4.6 with stacked sub-frames: each second's further frames on one canvas (one sub-frame: the frame's
# size; two or three: a row or a column; four: 2 × 2; five: a row), after its second's frame, as an image; a partial
# last second, a portrait clip, a clip longer than max_num_frames seconds (its sub-frames thinned), and every frame
STACK_CLIPS = [VideoSpec(*c) for c in [(20, 640, 360, 2.0), (25, 480, 270, 10.0), (30, 200, 600, 6.0),
                                       (9, 1280, 720, 3.0)]]
STACK_SETTINGS = [{"stack_frames": 2}, {"stack_frames": 3}, {"stack_frames": 4}, {"stack_frames": 5},
                  {"stack_frames": 6}, {"stack_frames": 3, "max_num_frames": 2},
                  {"stack_frames": 3, "do_sample_frames": False}]


# MiniMax-M3-VL (transformers' default config, its language model and tower cut to 2 layers): its processor passes
# do_resize=False, so frames go unresized and must be whole merged patches (a 640×360 clip is refused, as its
# processor's reshape fails); or resized within its pixel budget; every frame, or its class's sampler (1 fps, or a
# count); a clip past one segment of 4 temporal patches, and one in a single segment
MINIMAX_CLIPS = [VideoSpec(*c) for c in [(9, 644, 364, None), (31, 476, 280, 30.0), (7, 196, 588, 5.0),
                                         (20, 640, 360, 10.0)]]
MINIMAX_SETTINGS = [{"do_resize": False}, {"do_resize": True}, {"do_resize": False, "do_sample_frames": True},
                    {"do_resize": True, "do_sample_frames": True, "fps": None, "num_frames": 5},
                    {"do_resize": True, "max_pixels": 200_000, "vision_segment_max_frames": None}]
MINIMAX_PARTS = {"rename": {"]<]start of image[>[": "<S>", "]<]end of image[>[": "<E>", "]<]video[>[": "<V>"}}


# Qwen3-Omni's processor passes its video processor a size of its own on every call (its videos_kwargs), over the
# one the model's files build of min_pixels and max_pixels; a request's max_pixels goes over both
OMNI_FILES = {"min_pixels": 3136, "max_pixels": 100_000}
OMNI_CALLS = [{}, {"max_pixels": 200_000}]


def _minimax_config() -> dict[str, Any]:
    from vlmscope.sources.zoo import default_source

    config = default_source("minimax_m3_vl").config
    text = config["text_config"]
    text["num_hidden_layers"], config["vision_config"]["num_hidden_layers"] = 2, 2
    for key in ("mlp_layer_types", "layer_types"):
        text[key] = text[key][:2]
    return config


def _hy_config() -> dict[str, Any]:
    from vlmscope.sources.zoo import default_source

    config = default_source("hy_v4_vl").config
    text = config["text_config"]
    text["num_hidden_layers"], config["vision_config"]["num_hidden_layers"] = 2, 2
    for key in ("mlp_layer_types", "layer_types", "indexer_types"):
        text[key] = text[key][:2]
    return config


def _framewise_settings(ref: str, spec: VideoSpec) -> list[dict[str, Any]]:
    """The settings a clip is tried under: SmolVLM keeps every frame of a long clip only at 10 s of resizing in
    the reference (twice per frame, Lanczos), for the arithmetic of a short one: long clips are sampled."""
    return [s for s in FRAMEWISE_SETTINGS[ref] if ref != "smolvlm" or s or spec.frames <= 50]


def _key(ref: str, spec: VideoSpec, settings: dict[str, Any] | None = None) -> str:
    return f"{ref}|{spec}|{json.dumps(settings or {}, sort_keys=True)}"


def _cases() -> dict[str, dict[str, Any]]:
    cases = {}
    for ref, (folder, processor) in MODELS.items():
        for spec in GRID:
            cases[_key(ref, spec)] = {"folder": str(CATALOG / folder), "processor": processor,
                                      **PROCESSOR_PARTS.get(ref, {})}
            cases[_key(ref, spec)]["video"] = [spec.frames, spec.width, spec.height, spec.fps]
        for settings in SETTINGS if ref in (QWEN25, QWEN3) else ():
            cases[_key(ref, SETTINGS_CLIP, settings)] = {
                "folder": str(CATALOG / folder), "processor": processor, "settings": settings,
                "video": [SETTINGS_CLIP.frames, SETTINGS_CLIP.width, SETTINGS_CLIP.height, SETTINGS_CLIP.fps]}
    for ref, spec in itertools.product(VLLM_SAMPLED, LOADER):  # vLLM's loaders: the processor, resampling
        named = "GlmgaVideoProcessor" if ref == "glmga" else "Glm46VVideoProcessor"
        where = {"folder": str(CATALOG / MODELS[ref][0]), "processor": MODELS[ref][1]} if ref in MODELS else {
            "class": named, "processor": "Glm46VProcessor"}
        settings = {**VLLM_SAMPLED[ref], **({"max_frames": min(640, spec.frames)} if ref == "glmga" else {})}
        cases[_key(ref, spec, {"recipe": "vllm"})] = {**where, "settings": settings,
                                                      "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for ref, spec in itertools.product((GLM, "glm46v"), LOADER):  # SGLang's GLM processor: its own sampler's frames
        where = ({"folder": str(CATALOG / MODELS[ref][0]), "processor": MODELS[ref][1]} if ref in MODELS else
                 {"class": "Glm46VVideoProcessor", "processor": "Glm46VProcessor"})
        cases[_key(ref, spec, {"recipe": "sglang"})] = {**where, "recipe": "sglang-glm", "sglang": str(TORCHVISION),
                                                        "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in SGLANG_GEMMA4:
        cases[_key(GEMMA4, spec, {"recipe": "sglang", **settings})] = {
            "folder": str(CATALOG / MODELS[GEMMA4][0]), "processor": MODELS[GEMMA4][1], "settings": settings,
            "recipe": "sglang-gemma4", "sglang": str(TORCHVISION),
            "video": [spec.frames, spec.width, spec.height, None]}
    config = json.loads((CATALOG / MODELS[MINICPM][0] / "config.json").read_text())
    for spec in SGLANG_MINICPM:
        cases[_key(MINICPM, spec, {"recipe": "sglang"})] = {
            "recipe": "sglang-minicpm", "sglang": str(TORCHVISION), "name": "MiniCPMV4_6VideoProcessor", "index": 0,
            "patch": config["vision_config"]["patch_size"], "downsample_mode": config.get("downsample_mode", "16x"),
            "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for ref, recipe in itertools.product((QWEN25, QWEN3), LOADERS):
        folder, processor = MODELS[ref]
        for spec in LOADER:
            cases[_key(ref, spec, {"recipe": recipe})] = {
                "folder": str(CATALOG / folder), "processor": processor, "recipe": recipe, "sglang": str(TORCHVISION),
                "patch": 14 if ref == QWEN25 else 16, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec in NEXT_VIDEO:  # the class's defaults: shortest edge 224, center crop 224²; the processor's patch 14
        cases[_key("next-video", spec)] = {"class": "LlavaNextVideoVideoProcessor", "patch": 14,
                                           "processor": "LlavaNextVideoProcessor",
                                           "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec in VIDEO_LLAVA:  # the class's defaults; the processor's patch 14 and one class token per frame
        cases[_key("video-llava", spec)] = {"class": "VideoLlavaVideoProcessor", "patch": 14,
                                            "processor": "VideoLlavaProcessor",
                                            "attrs": {"num_additional_image_tokens": 1},
                                            "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec in ONEVISION:  # the class's defaults; the processor's num_image_tokens is (384 // 14)²
        cases[_key("onevision", spec)] = {"class": "LlavaOnevisionVideoProcessor", "image_tokens": 729,
                                          "processor": "LlavaOnevisionProcessor",
                                          "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for ref, spec in itertools.product(("onevision", "next-video"), VLLM_UNIFORM):  # the 32 frames vLLM hands over
        cases[_key(ref, spec, {"recipe": "vllm"})] = {
            **{k: v for k, v in cases[_key(ref, ONEVISION[0] if ref == "onevision" else NEXT_VIDEO[0])].items()
               if k != "video"}, "video": [min(32, spec.frames), spec.width, spec.height, spec.fps]}
    for (ref, files), spec in itertools.product(INTERNVL_VLLM.items(), VLLM_UNIFORM):
        image = files.get("preprocessor_config.json", {}).get("size", {"height": 384, "width": 384})
        video = {k: v for k, v in files["video_preprocessor_config.json"].items() if k != "video_processor_type"}
        cases[_key(ref, spec, {"recipe": "vllm"})] = {
            "class": "InternVLVideoProcessor", "processor": "InternVLProcessor", "attrs": FRAMEWISE["internvl"][4],
            "settings": {**video, "size": image, "do_sample_frames": False}, "tensor": True,
            "video": [min(32, spec.frames), spec.width, spec.height, spec.fps]}
    for spec in VLLM_UNIFORM:  # the same frames for Gemma 4, whose processor vLLM runs on them as they are, each
        kept = min(32, spec.frames)  # frame's time from the loader's index (VideoBackend's np.linspace)
        cases[_key(GEMMA4, spec, {"recipe": "vllm"})] = {
            "folder": str(CATALOG / MODELS[GEMMA4][0]), "processor": MODELS[GEMMA4][1],
            "settings": {"do_sample_frames": False}, "video": [kept, spec.width, spec.height, spec.fps],
            "total": spec.frames, "indices": [int(i) for i in np.linspace(0, spec.frames - 1, kept, dtype=int)]}
    for spec in KIMI_CLIPS:  # the class's defaults (the catalog's Kimi-K2.5 ships no video settings)
        cases[_key("kimi", spec)] = {"class": "Kimi_K25VideoProcessor", "processor": "Kimi_K25Processor",
                                     "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec in GLM46V_CLIPS:
        for settings in _glm46v_settings(spec):
            cases[_key("glm46v", spec, settings)] = {"class": "Glm46VVideoProcessor", "processor": "Glm46VProcessor",
                                                     "settings": settings,
                                                     "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for ref, (_, name, processor, parts, tried) in COPIES.items():
        for spec in COPIES_CLIPS:
            for settings in tried:
                cases[_key(ref, spec, settings)] = {"class": name, "processor": processor, "settings": settings,
                                                    **parts, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for ref, (_, _, own, processor, attrs) in FRAMEWISE.items():
        for spec in FRAMEWISE_CLIPS:
            for settings in _framewise_settings(ref, spec):
                cases[_key(ref, spec, settings)] = {
                    "class": own.get("video_processor_type", "SmolVLMVideoProcessor"), "processor": processor,
                    "settings": {k: v for k, v in {**own, **settings}.items() if k != "video_processor_type"},
                    "attrs": attrs, "tensor": True, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in itertools.product(STACK_CLIPS, STACK_SETTINGS):
        cases[_key("minicpm-stack", spec, settings)] = {
            "folder": str(CATALOG / MODELS[MINICPM][0]), "processor": MODELS[MINICPM][1], "settings": settings,
            **PROCESSOR_PARTS[MINICPM], "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in itertools.product(MOLMO2_CLIPS, MOLMO2_SETTINGS):
        if spec.frames <= 40 or settings.get("do_sample_frames") is not False:  # every frame only of short clips
            cases[_key("molmo2", spec, settings)] = {
                "class": "Molmo2VideoProcessor", "processor": "Molmo2Processor", "settings": settings, "tensor": True,
                **MOLMO2_PARTS, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in itertools.product(NEMOTRON_CLIPS, NEMOTRON_SETTINGS):
        cases[_key("nemotron", spec, settings)] = {
            "class": NEMOTRON, "processor": "NemotronH_Omni_Reasoning_V3Processor", "tensor": True,
            "settings": {**NEMOTRON_NORM, **settings}, "video": [spec.frames, spec.width, spec.height, spec.fps],
            "attrs": {"image_start_token": "<S>", "image_end_token": "<E>", "video_temporal_patch_dim": 2}}
    for spec, settings in itertools.product(HY_CLIPS, HY_SETTINGS):
        cases[_key("hunyuan", spec, settings)] = {
            "class": "HYV4VLVideoProcessor", "processor": "HYV4VLProcessor", "settings": settings, "tensor": True,
            "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings, noise in itertools.product(VL3_CLIPS, VL3_SETTINGS, (False, True)):
        cases[_key("videollama3", spec, {**settings, "noise": noise})] = {
            "class": "VideoLlama3VideoProcessor", "processor": "VideoLlama3Processor", "settings": settings,
            "noise": noise, "tensor": True, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in itertools.product(ERNIE_CLIPS, ERNIE_SETTINGS):
        if spec.frames <= 40 or settings.get("do_sample_frames") is not False:  # every frame only of short clips
            cases[_key("ernie", spec, settings)] = {
                "class": "Ernie4_5_VLMoeVideoProcessor", "processor": "Ernie4_5_VLMoeProcessor",
                "settings": {"draw_on_frames": False, **settings},
                "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for spec, settings in itertools.product(MINIMAX_CLIPS, MINIMAX_SETTINGS):
        cases[_key("minimax", spec, settings)] = {
            "class": "MiniMaxM3VLVideoProcessor", "processor": "MiniMaxM3VLProcessor", "settings": settings,
            "tensor": True, **MINIMAX_PARTS, "video": [spec.frames, spec.width, spec.height, spec.fps]}
    for request in OMNI_CALLS:
        cases[_key("qwen3-omni", SETTINGS_CLIP, request)] = {
            "class": "Qwen2VLVideoProcessor", "processor": "Qwen2VLProcessor", "settings": OMNI_FILES,
            "call": {**rules._video()["processor_kwargs"]["qwen3_omni_moe"], **request},
            "video": [SETTINGS_CLIP.frames, SETTINGS_CLIP.width, SETTINGS_CLIP.height, SETTINGS_CLIP.fps]}
    for spec, settings in itertools.product(BLIP_CLIPS, BLIP_SETTINGS):
        cases[_key("instructblipvideo", spec, settings)] = {
            "class": BLIP_VIDEO["video_processor_type"], "processor": "InstructBlipVideoProcessor", "query_tokens": 32,
            "settings": {**BLIP_VIDEO, **settings}, "video": [spec.frames, spec.width, spec.height, spec.fps]}
        del cases[_key("instructblipvideo", spec, settings)]["settings"]["video_processor_type"]
    return cases


def _torchvision_only() -> list[str]:
    """The image processor classes transformers has only a torchvision backend of."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    return sorted({v["torchvision"] for v in IMAGE_PROCESSOR_MAPPING_NAMES.values()
                   if isinstance(v, dict) and v.get("torchvision") and "pil" not in v})


_STARTED: dict[Path, concurrent.futures.Future[Path]] = {}


def begin_in_background(config: pytest.Config) -> None:
    """Start the reference in a thread of this process as soon as the session's tests are collected (tests/
    conftest.py calls this): about 35 s of work that the tests here would otherwise wait for, while the
    other xdist worker, whose turn comes second, waits for it in its own thread, not in a test."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None or not (TORCHVISION / "torchvision").is_dir():
        return
    root = factory.getbasetemp()  # a worker's own folder under the session's, or the session's
    shared = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "video-reference.json"
    if shared not in _STARTED:
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="video-reference")
        _STARTED[shared] = pool.submit(_reference_file, shared)
        pool.shutdown(wait=False)


def _reference_file(shared: Path) -> Path:
    """Every case through transformers' own processors, in one process of its own, once per test session:
    pytest-xdist's workers share the answer through their common temporary folder."""
    from filelock import FileLock

    job = {"torchvision": str(TORCHVISION), "cases": list(_cases().values()), "classes": sorted(rules._MODELLED),
           "images": _torchvision_only(), "words": WORDS}
    with FileLock(f"{shared}.lock"):
        if not shared.exists():
            done = subprocess.run([sys.executable, str(Path(__file__).with_name("video_reference.py"))],
                                  input=json.dumps(job), capture_output=True, text=True, timeout=600, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
            shared.write_text(done.stdout.strip().splitlines()[-1])
    return shared


@pytest.fixture(scope="module")
def reference(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The reference's answers by case, from the run begun at collection (begun here where it was not)."""
    if not (TORCHVISION / "torchvision").is_dir():
        pytest.fail(f"no torchvision at {TORCHVISION}: .ci/run installs it there (pip install --target); or set "
                    "VLMSCOPE_TORCHVISION to a folder holding it")
    begin_in_background(pytestconfig)
    (started,) = _STARTED.values()
    found = json.loads(started.result(timeout=900).read_text())
    return {"cases": dict(zip(_cases(), found["cases"], strict=True)), "tables": found["tables"],
            "words": {int(n): w for n, w in found["words"].items()}}


def _ours(ref: str, spec: VideoSpec, recipe: str = "transformers", **settings: Any) -> Any:
    """The whole cost sheet of the clip."""
    request = CostRequest(images=0, videos=(spec,), processor=settings, video_recipe=recipe)
    _, sheet = vlmscope.cost(ref, request, use_cache=False)
    return sheet


def _clip(ref: str, spec: VideoSpec, recipe: str = "transformers", **settings: Any) -> VideoTokens:
    """The clip's tokens alone, as the cost sheet computes them (from the cached anatomy: no trace)."""
    anatomy = vlmscope.inspect(ref)
    source = with_settings(resolve(ref), CostRequest(processor=settings).processor)
    return rules.video_tokens(encoded(anatomy.vision, anatomy.connector), source, spec, recipe)


def _named_beside(ref: str, default: VideoTokens, recipe: str) -> list[str]:
    """The notes a transformers sheet of the clip writes about ``recipe``'s count."""
    anatomy = vlmscope.inspect(ref)
    others = rules.alternatives(encoded(anatomy.vision, anatomy.connector), resolve(ref), default.video)
    return [n for n in other_recipes((default,), (others,)) if f"--video-recipe {recipe})" in n]


def _same(clip: Any, real: dict[str, Any]) -> None:
    assert "error" not in real, real
    assert clip.processor == real["processor"]
    if real["grid"] is not None:
        t, gh, gw = real["grid"]
        assert (clip.units, clip.unit.grid) == (t, (gh, gw))
    if "text_error" in real:  # no prompt without sampled frame indices (Qwen3-VL's, GLM-4.6V's, SmolVLM's timestamps)
        assert real["processor"] in ("Qwen3VLVideoProcessor", "Glm46VVideoProcessor", "SmolVLMVideoProcessor",
                                     "CohereCompassVideoProcessor", "GlmgaVideoProcessor"), real
        return
    assert clip.tokens == real["video"] + real["separators"]
    assert clip.timestamps == real["timestamps"]
    # the text between the special tokens, piece by piece (timestamps by the frames the processor's sampler or the
    # loader picks: qwen-vl-utils' torch.linspace, SGLang's np.linspace, vLLM's the processor's)
    assert list(clip.text) == real["pieces"]


def _tried(reference: dict[str, Any], ref: str, spec: VideoSpec, tried: list[dict[str, Any]], folder: Path,
           refused: str | None = None) -> Iterator[tuple[VideoTokens, dict[str, Any]]]:
    """The clip under each of ``tried`` settings the reference ran, with the processor's answer; where the
    processor refuses them, vlmscope refuses them too, in one line (matching ``refused``)."""
    for settings in tried:
        real = reference["cases"].get(_key(ref, spec, settings))
        if real is None:
            continue
        if "error" in real:
            with pytest.raises(RequestError, match=refused):
                _clip(str(folder), spec, **settings)
            continue
        yield _clip(str(folder), spec, **settings), real


@pytest.mark.parametrize("spec", GRID, ids=str)
@pytest.mark.parametrize("ref", list(MODELS))
def test_video_tokens_equal_the_models_own_processor(reference: dict[str, Any], ref: str, spec: VideoSpec) -> None:
    """Frames kept (padded to whole temporal patches), their resized grid, the placeholder tokens and the
    timestamps, as the model's own files make transformers' processors give them; a clip the processor
    refuses (GLM-4.1V and MiniCPM-V sample by rate: a bare frame count has none; Gemma 4 samples 32 frames: a
    shorter clip has too few) is refused in one line."""
    real = reference["cases"][_key(ref, spec)]
    if "error" in real:
        assert (ref in (GLM, MINICPM) and spec.fps is None) or (ref == GEMMA4 and spec.frames < 32), real
        with pytest.raises(RequestError, match="samples 32 frames" if ref == GEMMA4 else "frame rate"):
            _clip(ref, spec)
        return
    _same(_clip(ref, spec), real)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("ref", [QWEN25, QWEN3])
def test_video_settings_follow_the_models_own_processor(reference: dict[str, Any], ref: str,
                                                        settings: dict[str, Any]) -> None:
    """Sampling (fps, num_frames), the per-frame pixel cap and the pixel budget, as the processor loaded with
    them follows them (settings, as in the model's files). Qwen3-VL's video processor takes no max_pixels (its
    image processor does): the video is as without it."""
    _same(_clip(ref, SETTINGS_CLIP, **settings), reference["cases"][_key(ref, SETTINGS_CLIP, settings)])


@pytest.mark.parametrize("spec", LOADER, ids=str)
@pytest.mark.parametrize("recipe", LOADERS)
@pytest.mark.parametrize("ref", [QWEN25, QWEN3])
def test_loader_recipes_equal_the_loaders_themselves(reference: dict[str, Any], ref: str, recipe: str,
                                                     spec: VideoSpec) -> None:
    """--video-recipe qwen-vl-utils: the frames qwen-vl-utils 0.0.14's own fetch_video keeps and sizes (its
    reader run with the decoding replaced), then the model's processor without resampling or resizing, as
    its README passes them. --video-recipe sglang: SGLang 0.5.23's own preprocess_video (its source run, the
    decoder replaced), then the model's processor as SGLang calls it, which resizes the frames again. The
    transformers sheet names each difference."""
    clip = _clip(ref, spec, recipe)
    _same(clip, reference["cases"][_key(ref, spec, {"recipe": recipe})])
    assert clip.recipe == recipe and clip.frames == clip.units * 2 and clip.rule.startswith(recipe)
    default = _clip(ref, spec)
    assert len(_named_beside(ref, default, recipe)) == (default.tokens != clip.tokens)


@pytest.mark.parametrize(("ref", "spec"), [*(("onevision", s) for s in ONEVISION),
                                           *(("next-video", s) for s in NEXT_VIDEO),
                                           *(("video-llava", s) for s in VIDEO_LLAVA)], ids=str)
def test_llava_video_tokens_equal_their_processors(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                                   tmp_path: Path) -> None:
    """LLaVA-OneVision: every frame at 384², 27×27 patches pooled 2×2 to 14×14, and one newline per video.
    LLaVA-NeXT-Video: every frame center-cropped to 224², 16×16 patches pooled 2×2 to 64 tokens a frame.
    Video-LLaVA: every frame center-cropped to 224², 16×16 patches and the class token, 257 tokens a frame."""
    config = {"onevision": ONEVISION_CONFIG, "next-video": NEXT_VIDEO_CONFIG, "video-llava": VIDEO_LLAVA_CONFIG}[ref]
    (tmp_path / "config.json").write_text(json.dumps(config))
    clip = _clip(str(tmp_path), spec)
    real = reference["cases"][_key(ref, spec)]
    _same(clip, real)
    assert clip.units == real["frames"] == spec.frames and list(clip.unit.frame) == real["frame"]


@pytest.mark.parametrize("spec", FRAMEWISE_CLIPS, ids=str)
@pytest.mark.parametrize("ref", list(FRAMEWISE))
def test_internvl_and_smolvlm_tokens_equal_their_processors(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                                            tmp_path: Path) -> None:
    """InternVL: each kept frame one 448² tile of 256 tokens between the start and end of image, after its
    'FrameN: ' label. SmolVLM2: each kept frame resized to 512², 64 tokens after the fake and global image marks
    and before a last fake mark, after its 'Frame from mm:ss:'. Frames kept as each processor samples them."""
    config, name, own, _, _ = FRAMEWISE[ref]
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / name).write_text(json.dumps(own))
    for settings in _framewise_settings(ref, spec):
        real = reference["cases"][_key(ref, spec, settings)]
        if "error" in real:  # SmolVLM's sampler needs a rate; InternVL's refuses more frames than the clip has
            with pytest.raises(RequestError):
                _clip(str(tmp_path), spec, **settings)
            continue
        clip = _clip(str(tmp_path), spec, **settings)
        _same(clip, real)
        assert clip.units == real["frames"] and list(clip.unit.frame) == real["frame"], settings


def test_frame_counts_are_spelled_as_num2words_does(reference: dict[str, Any]) -> None:
    """SmolVLM's intro line spells the frame count with num2words (0.5.14): 'one hundred and five', 'one
    thousand, two hundred and thirty-four'; vlmscope writes the same words without it."""
    assert {n: stamps.words(n) for n in WORDS} == reference["words"]


@pytest.mark.parametrize("spec", GLM46V_CLIPS, ids=str)
def test_glm46v_tokens_equal_its_processor(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """GLM-4.6V: frames sampled by the clip's duration band, the pixel budget over all of them, and per temporal
    patch the begin and end of image and its seconds (text), as its processor gives them; every frame, where
    sampling is off (short clips only: the reference resizes every frame)."""
    (tmp_path / "config.json").write_text(json.dumps(GLM46V_CONFIG))
    for settings in _glm46v_settings(spec):
        clip = _clip(str(tmp_path), spec, **settings)
        real = reference["cases"][_key("glm46v", spec, settings)]
        _same(clip, real)
        assert clip.frames == real["grid"][0] * 2, settings
    assert "do_sample_frames=true" in " ".join(_clip(str(tmp_path), spec).assumed)


@pytest.mark.parametrize("spec", LOADER, ids=str)
@pytest.mark.parametrize("ref", list(VLLM_SAMPLED))
def test_vllm_recipe_samples_as_its_loaders(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                            tmp_path: Path) -> None:
    """--video-recipe vllm: the frames vLLM 0.33.0's Qwen loaders (2 fps, 4 to 768 frames) and GLM loaders keep
    (Glmga's: at most the clip's frames, where transformers' sampler repeats them),
    resized and tokenized by the model's own processor, as that processor gives them sampling under the same
    settings; the transformers sheet names vLLM's count where it differs (Qwen2.5-VL's processor samples
    nothing itself; GLM-4.1V's files ask for another rate)."""
    groups = {name: g["settings"] for g in rules._video()["recipes"]["vllm"]["sampled_as"] for name in g["processors"]}
    if ref not in MODELS:
        (tmp_path / "config.json").write_text(json.dumps({**GLM46V_CONFIG, "model_type": ref}))
    folder = ref if ref in MODELS else str(tmp_path)
    assert groups[rules.processor_of(resolve(folder))] == VLLM_SAMPLED[ref]
    clip = _clip(folder, spec, "vllm")
    _same(clip, reference["cases"][_key(ref, spec, {"recipe": "vllm"})])
    assert clip.recipe == "vllm" and clip.rule.startswith("vllm 0.33.0's loader")
    assert not {a.split("=")[0] for a in clip.assumed} & set(VLLM_SAMPLED[ref])  # its own, not the class's
    default = _clip(folder, spec)
    assert len(_named_beside(folder, default, "vllm")) == (default.tokens != clip.tokens)


@pytest.mark.parametrize("spec", VLLM_UNIFORM, ids=str)
@pytest.mark.parametrize("ref", ["onevision", "next-video", GEMMA4])
def test_vllm_default_loader_hands_over_32_frames(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                                  tmp_path: Path) -> None:
    """--video-recipe vllm on LLaVA-OneVision, LLaVA-NeXT-Video and Gemma 4, which vLLM 0.33.0 has no loader of
    their own for: its default loader's 32 frames spread evenly (every frame of a shorter clip), each as the
    processor, sampling nothing, gives them (Gemma 4: each frame's mm:ss from its index in the clip); the
    transformers sheet (every frame; Gemma 4: 32 frames, a shorter clip refused) names vLLM's count."""
    folder = ref
    if ref != GEMMA4:
        (tmp_path / "config.json").write_text(json.dumps({"onevision": ONEVISION_CONFIG,
                                                          "next-video": NEXT_VIDEO_CONFIG}[ref]))
        folder = str(tmp_path)
    clip = _clip(folder, spec, "vllm")
    _same(clip, reference["cases"][_key(ref, spec, {"recipe": "vllm"})])
    assert clip.units == min(32, spec.frames) and clip.recipe == "vllm" and "default loader" in clip.rule
    if ref == GEMMA4 and spec.frames < 32:
        with pytest.raises(RequestError, match="samples 32 frames"):
            _clip(folder, spec)
        return
    default = _clip(folder, spec)
    differs = default.tokens != clip.tokens
    assert len(_named_beside(folder, default, "vllm")) == differs == (spec.frames > 32 and ref != GEMMA4)


@pytest.mark.parametrize("spec", VLLM_UNIFORM, ids=str)
@pytest.mark.parametrize("ref", list(INTERNVL_VLLM))
def test_vllm_internvl_takes_the_image_processors_size(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                                       tmp_path: Path) -> None:
    """--video-recipe vllm on InternVL: vLLM 0.33.0's default loader hands over 32 frames (every frame of a
    shorter clip), which transformers' InternVLProcessor takes as they are, its video processor built at the
    image processor's size (the files', else GotOcr2ImageProcessor's 384²), each frame one tile after its
    'FrameN: ' label; the transformers sheet keeps every frame at the video processor's own size."""
    (tmp_path / "config.json").write_text(json.dumps(INTERNVL_CONFIG))
    for name, settings in INTERNVL_VLLM[ref].items():
        (tmp_path / name).write_text(json.dumps(settings))
    clip = _clip(str(tmp_path), spec, "vllm")
    real = reference["cases"][_key(ref, spec, {"recipe": "vllm"})]
    _same(clip, real)
    side = 448 if "preprocessor_config.json" in INTERNVL_VLLM[ref] else 384
    assert clip.units == min(32, spec.frames) and list(clip.unit.frame) == real["frame"] == [side, side]
    assert f'size={{"height": {side}, "width": {side}}}' in clip.rule and "size" not in " ".join(clip.assumed)
    default = _clip(str(tmp_path), spec)
    assert default.units == spec.frames and default.unit.frame == ((384, 384) if side == 448 else (448, 448))
    with pytest.raises(RequestError, match="vllm's processor call samples them again"):
        _clip(str(tmp_path), spec, "vllm", do_sample_frames=True, num_frames=4)


@pytest.mark.parametrize("spec", [*VLLM_UNIFORM, VideoSpec(300, 1920, 1080, 30.0), VideoSpec(5, 300, 200, 1.0)],
                         ids=str)
def test_vllm_minicpm_v_runs_each_frame_through_its_image_processor(spec: VideoSpec) -> None:
    """--video-recipe vllm on MiniCPM-V 4.6: its default loader's 32 frames (every frame of a shorter clip), each
    cut by transformers' MiniCPMV4_6ImageProcessor at the video processor's max_slice_nums, as vLLM 0.33.0's
    process_videos calls it (run here on a blank frame): per frame the view's and slices' tokens, each between its
    marks, and a newline between rows of slices; nothing stacked, the files' own sampling not run; the video's
    '<image_id>0</image_id>' before them."""
    from PIL import Image
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

    files = json.loads((CATALOG / MODELS[MINICPM][0] / "processor_config.json").read_text())
    image = MiniCPMV4_6ImageProcessorPil(**{k: v for k, v in files["image_processor"].items()
                                            if k != "image_processor_type"})
    most = files["video_processor"]["max_slice_nums"]
    out = image([Image.new("RGB", (spec.width, spec.height))], max_slice_nums=most, return_tensors="np")
    views, (rows, _) = np.asarray(out["target_sizes"]), np.asarray(out["grids"])[0]
    kept = min(32, spec.frames)
    clip = _clip(MINICPM, spec, "vllm")
    assert clip.units == kept and clip.recipe == "vllm" and "default loader" in clip.rule
    assert clip.tokens == kept * (int((views.prod(-1) // 16).sum()) + 2 * len(views)) + 2  # and its id's marks
    assert clip.text == ("0", *("\n",) * (kept * max(0, int(rows) - 1)))  # '<image_id>0</image_id>' first
    assert clip.unit.crops == len(views) and not clip.parts


@pytest.mark.parametrize("spec", LOADER, ids=str)
@pytest.mark.parametrize("ref", [GLM, "glm46v"])
def test_sglang_glm_takes_its_processors_own_frames(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                                    tmp_path: Path) -> None:
    """--video-recipe sglang on GLM-4.1V and GLM-4.6V: SGLang 0.5.23's GLM processor (its own
    glm_processor_video_config and _hf_sample_frame_indices, run on the model's video processor) picks the frames
    the processor's own sampler picks at its own rate, and hands them over with the clip's metadata: the count
    and text transformers gives, so the transformers sheet names no difference. GLM-4.6V as vLLM and SGLang serve
    it: a Glm4v architecture whose files name GLM-4.6V's video processor."""
    folder = ref
    if ref not in MODELS:
        (tmp_path / "config.json").write_text((CATALOG / MODELS[GLM][0] / "config.json").read_text())
        (tmp_path / "video_preprocessor_config.json").write_text('{"video_processor_type": "Glm46VVideoProcessor"}')
        folder = str(tmp_path)
    clip = _clip(folder, spec, "sglang")
    real = reference["cases"][_key(ref, spec, {"recipe": "sglang"})]
    _same(clip, real)
    assert "text_error" not in real and clip.recipe == "sglang" and clip.rule.startswith("sglang 0.5.23's loader")
    default = _clip(folder, spec)
    assert (clip.tokens, clip.text) == (default.tokens, default.text) and not _named_beside(folder, default, "sglang")


@pytest.mark.parametrize(("spec", "settings"), SGLANG_GEMMA4, ids=str)
def test_sglang_gemma4_times_frames_by_their_place(reference: dict[str, Any], spec: VideoSpec,
                                                   settings: dict[str, Any]) -> None:
    """--video-recipe sglang on Gemma 4: SGLang 0.5.23's own _video_decoder_to_tensor (the processor's
    num_frames by torch.arange, every frame of a shorter clip), then the processor without metadata, which
    times each frame by its place among those kept at 24 fps; transformers' sampler refuses a short clip."""
    clip = _clip(GEMMA4, spec, "sglang", **settings)
    _same(clip, reference["cases"][_key(GEMMA4, spec, {"recipe": "sglang", **settings})])
    kept = min(settings.get("num_frames", 32), spec.frames)
    assert clip.units == kept and clip.recipe == "sglang" and "place over 24 fps" in clip.rule
    if spec.frames < 32:
        with pytest.raises(RequestError, match="samples 32 frames"):
            _clip(GEMMA4, spec)
    many = _clip(GEMMA4, VideoSpec(10**6, 64, 64, 30.0), "sglang", num_frames=MAX_TEXT_PIECES + 1)
    assert (many.units, many.timestamps, many.text) == (MAX_TEXT_PIECES + 1, MAX_TEXT_PIECES + 1, ())  # counted only


@pytest.mark.parametrize("spec", SGLANG_MINICPM, ids=str)
def test_sglang_minicpm_v_takes_every_frame(reference: dict[str, Any], spec: VideoSpec) -> None:
    """--video-recipe sglang on MiniCPM-V 4.6: SGLang 0.5.23's own processor takes every frame the decoder
    gives, each cut by its own MiniCPMV4_6ImageProcessor (max_slice_nums 9, whatever the files say), the video's
    '<image_id>0</image_id>' first: its image processor and _expand_media run on frames of zeros."""
    clip = _clip(MINICPM, spec, "sglang")
    real = reference["cases"][_key(MINICPM, spec, {"recipe": "sglang"})]
    _same(clip, real)
    assert clip.units == real["frames"] == spec.frames and clip.recipe == "sglang"
    assert "max_slice_nums" not in " ".join(clip.assumed)  # SGLang's fixed 9, not the class's


def _refused(ref: str, recipe: str, pattern: str, spec: VideoSpec = VLLM_UNIFORM[1]) -> None:
    """``recipe`` on ``ref`` is refused in one line matching ``pattern``, whole within the CLI's error line."""
    with pytest.raises(RequestError, match=pattern) as refused:
        _clip(ref, spec, recipe)
    assert len(f"vlmscope: error: {refused.value}") <= MAX_LINE, str(refused.value)


def test_runtime_refusals_say_why(tmp_path: Path) -> None:
    """A recipe on a model whose runtime has no video path of its own for it (SGLang 0.5.23: LLaVA-OneVision's
    frames are cut by the client, transformers' InternVL is not what its InternVL processor serves, SmolVLM2 goes
    through its Transformers backend, GLM-5 Next's frames are sampled and pre-resized by its own code; vLLM 0.33.0:
    SmolVLM takes images only, Kimi-K2.5's clip is cut into vision chunks before its processor): one line that
    names the recipes there are, and why."""
    (tmp_path / "config.json").write_text(json.dumps(ONEVISION_CONFIG))
    _refused(str(tmp_path), "sglang", r"transformers, vllm \(SGLang 0\.5\.23's LLaVA processor .* --image\)")
    config, name, own, _, _ = FRAMEWISE["smolvlm"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / name).write_text(json.dumps(own))
    _refused(str(tmp_path), "sglang", r"for SmolVLMVideoProcessor: transformers \(SGLang .* Transformers backend")
    _refused(str(tmp_path), "vllm", r"for SmolVLMVideoProcessor: transformers \(vLLM 0\.33\.0's SmolVLM .*images only")
    _refused(KIMI, "vllm", r"for Kimi_K25VideoProcessor: transformers \(vLLM .* vision chunks")
    (tmp_path / name).unlink()
    (tmp_path / "config.json").write_text(json.dumps(_copy_config("glm5_next")))
    _refused(str(tmp_path), "sglang", r"for Glm5NextVideoProcessor: transformers \(SGLang .* pre-resizes")


def test_sglang_picks_its_processor_by_architecture(tmp_path: Path) -> None:
    """SGLang 0.5.23 picks its processor by the config's architectures, not by the video processor: GLM-4.6V's
    video processor under transformers' own Glm46VForConditionalGeneration, which no SGLang processor names (its
    Transformers backend would hand the clip to transformers' processor), is refused in one line that says so;
    the same video processor under a Glm4v architecture is SGLang's GLM path."""
    (tmp_path / "config.json").write_text(json.dumps(GLM46V_CONFIG))
    _refused(str(tmp_path), "sglang", r"not 'Glm46VForConditionalGeneration' \(SGLang 0\.5\.23 picks its processor "
                                      r"by architecture.* Transformers backend: use --video-recipe transformers\)",
             LOADER[0])
    assert _clip(str(tmp_path), LOADER[0], "vllm").recipe == "vllm"  # vLLM picks its loader by the video processor


def test_minicpm_numbers_each_video_of_a_prompt() -> None:
    """MiniCPM-V's processor puts '<image_id>k</image_id>' before the k-th video of a prompt (use_image_id, the
    image processor's, on in its files): the sheet's second video carries '1', two special tokens more than its
    clip alone; with use_image_id off there is none, except under vLLM, whose MiniCPM-V 4.6 writes it always."""
    spec = VideoSpec(4, 64, 40, 1.0)
    _, sheet = vlmscope.cost(MINICPM, CostRequest(images=0, videos=(spec, spec)), use_cache=False)
    first, second = sheet.tokens.videos
    assert (first.text[0], second.text[0]) == ("0", "1") and first.tokens == second.tokens
    assert "'<image_id>1</image_id>' before it" in second.rule
    anatomy = vlmscope.inspect(MINICPM)
    enc, source = encoded(anatomy.vision, anatomy.connector), resolve(MINICPM)
    off = with_settings(source, CostRequest(processor={"use_image_id": False}).processor)
    bare = rules.video_tokens(enc, off, spec)
    assert bare.tokens == first.tokens - 2 and bare.text == first.text[1:]
    assert rules.video_tokens(enc, off, spec, "vllm", 3).text[0] == "3"


def test_internvls_image_processor_default_size_is_its_class() -> None:
    """The size vLLM's InternVL takes where the files set none is the class default of the image processor that
    transformers gives model_type internvl (read from its source: the module imports torchvision)."""
    import ast

    import transformers
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES

    (group,) = rules._video()["recipes"]["vllm"]["uniform"]
    known = group["image_processor_settings"]["InternVLVideoProcessor"]
    assert IMAGE_PROCESSOR_MAPPING_NAMES["internvl"]["torchvision"] == known["class"] == "GotOcr2ImageProcessor"
    path = Path(transformers.__file__).parent / "models" / "got_ocr2" / "image_processing_got_ocr2.py"
    (cls,) = [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef) and n.name == known["class"]]
    (size,) = [ast.literal_eval(n.value) for n in cls.body if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "size" for t in n.targets)]
    assert size == known["defaults"]["size"]


@pytest.mark.parametrize("spec", COPIES_CLIPS, ids=str)
@pytest.mark.parametrize("ref", list(COPIES))
def test_copied_video_processors_equal_theirs(reference: dict[str, Any], ref: str, spec: VideoSpec,
                                              tmp_path: Path) -> None:
    """CohereCompass samples, resizes and writes its prompt as Qwen3-VL does, Cosmos3-Edge too with temporal
    patches of one frame (a timestamp per frame); MiniCPM-OCR samples and slices as
    MiniCPM-V 4.6, four times the tokens ("4x"); Glmga samples at a plain rate under its frame cap (a clip with
    fewer frames repeats them) and resizes in multiples of its patch expansion: each as its own processor."""
    (tmp_path / "config.json").write_text(json.dumps(_copy_config(ref)))
    for settings in COPIES[ref][4]:
        real = reference["cases"][_key(ref, spec, settings)]
        if "error" in real:
            with pytest.raises(RequestError):
                _clip(str(tmp_path), spec, **settings)
            continue
        clip = _clip(str(tmp_path), spec, **settings)
        _same(clip, real)
        assert clip.processor == COPIES[ref][1]


@pytest.mark.parametrize("spec", BLIP_CLIPS, ids=str)
def test_instructblip_video_takes_four_frames_as_its_model_does(reference: dict[str, Any], spec: VideoSpec,
                                                                 tmp_path: Path) -> None:
    """InstructBLIP-Video: its processor writes 4 × 32 query tokens for any clip, and its model reads 32 a
    frame (get_video_features: num_query_tokens × frames), so a clip runs only as 4 frames: those are counted
    as the processor counts them, at the frames' size, and any other is refused in one line, as the model refuses
    it. Its image-only sibling InstructBLIP, which transformers maps to the same video processor, takes none: its
    processor class takes no video processor."""
    from vlmscope.sources.zoo import default_source

    (tmp_path / "config.json").write_text(json.dumps(default_source("instructblipvideo").config))
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(BLIP_VIDEO))
    for settings in BLIP_SETTINGS:
        real = reference["cases"][_key("instructblipvideo", spec, settings)]
        if "error" in real:  # a rate without the clip's: refused, as there
            with pytest.raises(RequestError, match="frame rate"):
                _clip(str(tmp_path), spec, **settings)
            continue
        if real["frames"] != 4:
            assert real["video"] == 4 * 32  # the processor's count, whatever the frames
            with pytest.raises(RequestError, match="4 frames, as its model reads 4 × 32 query tokens"):
                _clip(str(tmp_path), spec, **settings)
            continue
        clip = _clip(str(tmp_path), spec, **settings)
        _same(clip, real)
        assert (clip.frames, clip.units, list(clip.unit.frame or ())) == (4, 4, real["frame"])
    if spec.fps is None:  # its cost: 4 passes of the tower and of the Q-Former, as 4 images of 224² cost
        _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
        _, images = vlmscope.cost(str(tmp_path), CostRequest(images=4, image_size=(224, 224)), use_cache=False)
        assert sheet.flops.vision == images.flops.vision > 0 and sheet.tokens.prefill == images.tokens.prefill == 128
    (tmp_path / "config.json").write_text(json.dumps(default_source("instructblip").config))
    with pytest.raises(RequestError, match="its processor class, InstructBlipProcessor, takes no video processor"):
        _clip(str(tmp_path), VideoSpec(4, 640, 360))


@pytest.mark.parametrize("spec", ERNIE_CLIPS, ids=str)
def test_ernie_pairs_of_frames_equal_its_processor(reference: dict[str, Any], spec: VideoSpec,
                                                    tmp_path: Path) -> None:
    """ERNIE-4.5-VL: the frames its sampler keeps (a fractional count kept as torch.arange keeps it), padded
    to pairs, each resized within its pixel budget; one token per merged patch per pair of frames, all its
    processor writes (the timestamps are drawn on the frames)."""
    (tmp_path / "config.json").write_text(json.dumps(ERNIE_CONFIG))
    for clip, real in _tried(reference, "ernie", spec, ERNIE_SETTINGS, tmp_path):
        t, gh, gw = real["grid"]
        assert (clip.frames, clip.units, clip.unit.grid, clip.unit.frames) == (t, t // 2, (gh, gw), 2)
        assert (clip.tokens, clip.text, clip.processor) == (real["video"], (), real["processor"])
        assert real["separators"] == real["timestamps"] == 0 and real["pieces"] == []


@pytest.mark.parametrize("spec", VL3_CLIPS, ids=str)
def test_videollama3_tokens_span_its_compression(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """VideoLLaMA3: the frames its sampler keeps, each resized within the pixel budget the frames share, one
    token per merged patch, a 'Time 1.5s:' per frame (text, written out as its processor writes it). Its
    compression drops the patches that do not change from the frame before: vlmscope's count is what its
    processor writes for frames of noise (every patch changing), its fewest what it writes for a still clip
    (frames of zeros); without compression, both are the count."""
    (tmp_path / "config.json").write_text(json.dumps(VL3_CONFIG))
    for settings in VL3_SETTINGS:
        still, noise = (reference["cases"][_key("videollama3", spec, {**settings, "noise": n})] for n in (False, True))
        if "error" in still:
            with pytest.raises(RequestError):
                _clip(str(tmp_path), spec, **settings)
            continue
        clip = _clip(str(tmp_path), spec, **settings)
        t, gh, gw = still["grid"]
        assert (clip.frames, clip.units, clip.unit.grid) == (t, t, (gh, gw))
        assert (clip.tokens, clip.fewest or clip.tokens) == (noise["video"], still["video"])
        assert (clip.fewest is None) == (still["video"] == noise["video"])
        assert (list(clip.text), clip.timestamps) == (still["pieces"], still["timestamps"])


@pytest.mark.parametrize("spec", HY_CLIPS, ids=str)
def test_hunyuan_frames_equal_its_processor(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """HunYuan-V4-VL: the frames its sampler keeps, every frame one grid of merged patches (never grown, at most
    max_image_size pixels, the clip's tokens within its budget), and per frame a newline token closing each row,
    as its processor writes them."""
    (tmp_path / "config.json").write_text(json.dumps(_hy_config()))
    for clip, real in _tried(reference, "hunyuan", spec, HY_SETTINGS, tmp_path):
        _same(clip, real)
        assert clip.unit.tokens == real["grid"][1] // 2 * (real["grid"][2] // 2 + 1) and real["pieces"] == []


@pytest.mark.parametrize("request_", OMNI_CALLS, ids=str)
def test_a_size_the_processor_passes_goes_over_the_models_files(reference: dict[str, Any],
                                                               request_: dict[str, Any]) -> None:
    """Qwen3-Omni's processor calls its Qwen2-VL video processor with a size of its own, which replaces the one the
    processor built of the model's min_pixels and max_pixels; a request's max_pixels goes over it, as a call's
    does."""
    from vlmscope.data import Origin, SourceInfo
    from vlmscope.sources import ModelSource
    from vlmscope.tokens import Encoded

    source = ModelSource("omni", {"model_type": "qwen3_omni_moe"}, None, None, SourceInfo(Origin.zoo, "test", ()),
                         video={"video_processor_type": "Qwen2VLVideoProcessor", **OMNI_FILES})
    given = with_settings(source, CostRequest(processor=request_).processor)
    clip = rules.video_tokens(Encoded(0, 14, False, None, 2, dynamic=True), given, SETTINGS_CLIP)
    real = reference["cases"][_key("qwen3-omni", SETTINGS_CLIP, request_)]
    _same(clip, real)
    files = rules.video_tokens(Encoded(0, 14, False, None, 2, dynamic=True), replace(
        source, config={"model_type": "qwen2_vl"}), SETTINGS_CLIP)  # the files' budget alone: another count
    assert files.unit.grid != clip.unit.grid


@pytest.mark.parametrize("spec", MINIMAX_CLIPS, ids=str)
def test_minimax_frames_equal_its_processor(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """MiniMax-M3-VL: its processor passes do_resize=False, so by default the frames keep their size (one not in
    whole merged patches is refused in one line, where its processor's reshape fails), or, resized, they fit its
    pixel budget; per temporal patch its tokens between the image start and end, and its first frame's time (text)
    for a clip with a rate; the encoder's passes are its segments of vision_segment_max_frames temporal patches."""
    (tmp_path / "config.json").write_text(json.dumps(_minimax_config()))
    for settings in MINIMAX_SETTINGS:
        real = reference["cases"][_key("minimax", spec, settings)]
        given = {k: v for k, v in settings.items() if k != "do_resize" or v}  # off: the processor's own
        if "error" in real:  # a rate asked of a clip without one, or unresized frames not in whole merged patches
            unsized = not settings["do_resize"] and bool(spec.width % 28 or spec.height % 28)
            with pytest.raises(RequestError, match="multiples of 28" if unsized else "frame rate"):
                _clip(str(tmp_path), spec, **given)
            continue
        clip = _clip(str(tmp_path), spec, **given)
        grids = real["grids"]
        steps, (_, gh, gw) = sum(g[0] for g in grids), grids[0]
        assert (clip.frames, clip.units, clip.unit.grid, clip.unit.temporal) == (2 * steps, len(grids), (gh, gw), 2)
        assert clip.unit.steps == grids[0][0]  # the first segment is the longest
        assert (clip.tokens, clip.timestamps) == (real["video"] + real["separators"], real["timestamps"])
        assert list(clip.text) == real["pieces"] and real["timestamps"] == (steps if spec.fps else 0)


def test_minimax_video_flops_are_its_own_video_features(reference: dict[str, Any], tmp_path: Path) -> None:
    """MiniMax-M3-VL's encoder attends over a segment's temporal patches together (4 a segment, the last
    shorter): the clip's vision FLOPs are the model's own get_video_features over the segments as its processor
    lists them (3 segments of 4, 4 and 2 temporal patches), more than each temporal patch's alone."""
    from vlmscope.anatomy import read
    from vlmscope.costing.counting import count
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded
    from vlmscope.skeleton import build

    spec = MINIMAX_CLIPS[3]
    grids = reference["cases"][_key("minimax", spec, {"do_resize": True})]["grids"]
    assert [g[0] for g in grids] == [4, 4, 2]
    (tmp_path / "config.json").write_text(json.dumps(_minimax_config()))
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,), processor={"do_resize": True}),
                             use_cache=False)
    _, alone = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,), processor={
        "do_resize": True, "vision_segment_max_frames": 1}), use_cache=False)
    inner = read(build(resolve(str(tmp_path)))).model.model  # type: ignore[union-attr]
    pixels = torch.empty(sum(t * h * w for t, h, w in grids), 3 * 2 * 14 * 14, device="meta")
    grid_thw = torch.tensor(grids)  # data the encoder reads (spans, positions): on the CPU, made outside the mode
    with MetaPromotion(), unpadded(), torch.no_grad():
        own = count(lambda: inner.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid_thw))
    assert sheet.flops.vision == own and "chunks of 8 frames and one of 4" in sheet.flops.method
    assert sheet.memory is not None and "vision: encoder and connector traced" in sheet.memory.method  # unbatched
    assert alone.flops.vision is not None and alone.flops.vision < own
    # its images: one token per 2×2 merged patch (its projector joins 4 after projecting each), so its own
    # get_image_features runs over the grid; 868×504 within its image processor's own budget (451,584 pixels)
    _, image = vlmscope.cost(str(tmp_path), CostRequest(image_size=(1288, 728)), use_cache=False)
    assert image.tokens.per_image == 31 * 18 and image.flops.vision and "get_image_features" in image.flops.method


@pytest.mark.parametrize("spec", MOLMO2_CLIPS, ids=str)
def test_molmo2_frames_equal_its_processor(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """Molmo2: the frames its sampler keeps, each one square crop whose 27×27 patches pool in 3×3 windows (9×9
    tokens), the frame start and end around them and its time before (text, written out as its processor writes
    it: the frame's index over the clip's rate, or over max_fps for a clip without one)."""
    (tmp_path / "config.json").write_text(json.dumps(_molmo2_config()))
    for clip, real in _tried(reference, "molmo2", spec, MOLMO2_SETTINGS, tmp_path):
        _same(clip, real)
        (frames, rows, cols), = real["grids"]
        assert (clip.frames, clip.units, clip.unit.tokens, clip.pooling) == (frames, frames, rows * cols, (3, 3))


def test_molmo2_video_flops_are_its_own_video_features(tmp_path: Path) -> None:
    """Molmo2's adapter pools each frame's patches in the windows its video processor lists (3×3; its images'
    are 2×2): the clip's vision FLOPs are the model's own get_video_features over all its frames at once, given
    those windows as its processor builds them, which vlmscope counts as one frame's times the frames."""
    from vlmscope.anatomy import read
    from vlmscope.costing.counting import count
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded
    from vlmscope.skeleton import build

    (tmp_path / "config.json").write_text(json.dumps(_molmo2_config()))
    spec = VideoSpec(3, 640, 360, 2.0)
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    inner = read(build(resolve(str(tmp_path)))).model.model  # type: ignore[union-attr]
    windows = torch.arange(27 * 27).reshape(27, 27).reshape(9, 3, 9, 3).permute(0, 2, 1, 3).reshape(81, 9)
    windows = torch.cat([windows + 729 * f for f in range(3)])  # each frame's patches, as its processor offsets them
    pixels, grids = torch.empty(3, 729, 3 * 14 * 14, device="meta"), torch.tensor([[3, 9, 9]])
    with MetaPromotion(), unpadded(), torch.no_grad():
        own = count(lambda: inner.get_video_features(pixel_values_videos=pixels, video_token_pooling=windows,
                                                     video_grids=grids))
    assert sheet.flops.vision == own > 0 and "its pooling windows" in sheet.flops.method


@pytest.mark.parametrize("spec", NEMOTRON_CLIPS, ids=str)
def test_nemotron_tubelets_equal_its_processor(reference: dict[str, Any], spec: VideoSpec, tmp_path: Path) -> None:
    """Nemotron-H-Omni: every frame (or a count), one tile a frame near its patch budget, tubelets of 2 frames
    (the last padded), a token per pixel-shuffled patch between the image start and end, and each tubelet's
    label (its frames and the times they were sampled at: text, written out as its processor writes it)."""
    from vlmscope.sources.zoo import default_source

    (tmp_path / "config.json").write_text(json.dumps(default_source("nemotron_h_omni").config))
    for clip, real in _tried(reference, "nemotron", spec, NEMOTRON_SETTINGS, tmp_path, "a longer clip"):
        _same(clip, real)
        assert (clip.units, list(clip.unit.frame or ())) == (real["frames"], real["frame"])  # tubelets, a frame


def test_nemotron_video_flops_are_its_own_tubelets(tmp_path: Path) -> None:
    """Nemotron-H-Omni's tower takes a tubelet's 2 frames stacked as 6 channels (its video embedder): a clip's
    vision FLOPs are the model's own get_video_features over the tubelets as its processor stacks them, not
    over its frames as images."""
    from vlmscope.anatomy import read
    from vlmscope.costing.counting import count
    from vlmscope.skeleton import build
    from vlmscope.sources.zoo import default_source

    (tmp_path / "config.json").write_text(json.dumps(default_source("nemotron_h_omni").config))
    spec = VideoSpec(5, 1280, 720, 2.0)  # 3 tubelets (the last padded) of 672×384 frames
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    model = read(build(resolve(str(tmp_path)))).model  # its get_video_features on the model itself
    own = {c: count(lambda c=c: model.get_video_features(torch.empty(1, 3, c, 384, 672, device="meta")))
           for c in (3, 6)}
    assert sheet.flops.vision == own[6] != own[3] and "one tubelet of 2 frames" in sheet.flops.method


@pytest.mark.parametrize("spec", STACK_CLIPS, ids=str)
def test_minicpm_stacked_sub_frames_equal_its_processor(reference: dict[str, Any], spec: VideoSpec) -> None:
    """MiniCPM-V 4.6 with stack_frames: its frames a second apart, and after each its second's sub-frames joined
    on a canvas (a grid with 6-pixel lines), each image a view and slices: tokens, marks and newlines as its
    processor writes them."""
    for clip, real in _tried(reference, "minicpm-stack", spec, STACK_SETTINGS, CATALOG / MODELS[MINICPM][0]):
        _same(clip, real)
        assert clip.units == clip.frames + sum(n for n, _ in clip.parts)


def test_minicpm_canvases_cost_what_their_images_cost() -> None:
    """With stack_frames 2 every second of a 10 s clip gets one sub-frame, whose canvas is the frame's own size:
    the clip then costs the tower and connector exactly twice what it costs without stacking, and its
    tokens are twice too (but for the video's id, written once)."""
    spec = VideoSpec(20, 640, 360, 2.0)
    _, single = vlmscope.cost(MINICPM, CostRequest(images=0, videos=(spec,)), use_cache=False)
    _, stacked = vlmscope.cost(MINICPM, CostRequest(images=0, videos=(spec,), processor={"stack_frames": 2}),
                               use_cache=False)
    assert stacked.flops.vision == 2 * single.flops.vision > 0
    id_marks = 2  # '<image_id>0</image_id>' before the video, once
    assert stacked.tokens.videos[0].tokens - id_marks == 2 * (single.tokens.videos[0].tokens - id_marks)


def test_videollama3_video_flops_are_its_own_video_features(tmp_path: Path) -> None:
    """VideoLLaMA3's video features are merged 2×2 (its video processor's merge_size; its images' is 1): the
    clip's vision FLOPs are the model's own get_video_features over the clip's grid, told that merge size, as
    one call over all frames (its encoder attends within a frame), whatever the compression keeps after it."""
    from vlmscope.anatomy import read
    from vlmscope.costing.counting import count
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded
    from vlmscope.skeleton import build

    (tmp_path / "config.json").write_text(json.dumps(VL3_CONFIG))
    spec = VL3_CLIPS[0]  # 9 frames of 336×168: 12×24 patches each
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    inner = read(build(resolve(str(tmp_path)))).model.model  # type: ignore[union-attr]
    grid, merge = torch.tensor([[9, 12, 24]]), torch.tensor([2])
    pixels = torch.empty(9 * 12 * 24, 3 * 14 * 14, device="meta")
    with MetaPromotion(), unpadded(), torch.no_grad():
        own = count(lambda: inner.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid,
                                                     video_merge_sizes=merge))
    assert sheet.flops.vision == own > 0 and "9 frames, through the model's get_video_features" in sheet.flops.method
    assert sheet.tokens.videos[0].tokens == 9 * 72 and any("a still clip is 80" in n for n in sheet.assumptions)


def test_ernie_video_flops_are_its_own_video_features(tmp_path: Path) -> None:
    """ERNIE-4.5-VL's encoder takes each frame alone and its resampler merges each pair of frames (a video's
    pairs, where an image is merged with itself): so a clip's vision FLOPs are the model's own
    get_video_features over the clip's whole grid as its processor hands it over (one call, 10 frames), which
    vlmscope counts as one pair's times 5; not 10 images."""
    from vlmscope.anatomy import read
    from vlmscope.costing.counting import count
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded
    from vlmscope.skeleton import build

    (tmp_path / "config.json").write_text(json.dumps(ERNIE_CONFIG))
    spec = ERNIE_CLIPS[0]  # 9 frames: 10 as 5 pairs of 26×46 patches
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    inner = read(build(resolve(str(tmp_path)))).model.model  # type: ignore[union-attr]
    grid = torch.tensor([[10, 26, 46]])
    pixels = torch.empty(10 * 26 * 46, 3 * 14 * 14, device="meta")
    with MetaPromotion(), unpadded(), torch.no_grad():
        own = count(lambda: inner.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid), False)
    _, images = vlmscope.cost(str(tmp_path), CostRequest(images=10, image_size=(364, 644)), use_cache=False)
    assert sheet.flops.vision == own != images.flops.vision and "get_video_features" in sheet.flops.method
    assert sheet.tokens.videos[0].tokens == 5 * 13 * 23


@pytest.mark.parametrize("spec", KIMI_CLIPS, ids=str)
def test_kimi_chunks_equal_its_processor(reference: dict[str, Any], spec: VideoSpec) -> None:
    """Kimi-K2.5: frames sampled at 2 fps, cut into chunks of 4 (the last maybe fewer), each frame scaled and
    padded as its processor does; per chunk one token per merged patch, its media marks and its start time
    (text: written out as its processor writes it), as its processor writes them."""
    real = reference["cases"][_key("kimi", spec)]
    assert "error" not in real, real
    clip = _clip(KIMI, spec)
    grids = real["grids"]
    assert (clip.units, clip.frames, clip.processor) == (len(grids), sum(g[0] for g in grids), real["processor"])
    assert all(tuple(g[1:]) == clip.unit.grid for g in grids) and {g[0] for g in grids[:-1]} <= {4}
    assert (clip.tokens, clip.timestamps) == (real["video"] + real["separators"], real["timestamps"])
    assert list(clip.text) == real["pieces"]  # each chunk's start time and the word 'video'


def test_kimi_video_flops_are_its_own_video_features(reference: dict[str, Any]) -> None:
    """The vision FLOPs of a Kimi-K2.5 clip are the model's own get_video_features over the chunks' grids as its
    processor made them (three whole chunks, and a last one of 2 frames): its encoder attends across a chunk's
    frames, so a chunk is not 4 images (one costs 5.7 times a frame's pass at 644×364)."""
    spec = KIMI_CLIPS[3]
    from vlmscope.costing.counting import count
    from vlmscope.costing.inputs import MetaPromotion
    from vlmscope.costing.vision import unpadded

    grids = reference["cases"][_key("kimi", spec)]["grids"]
    assert [g[0] for g in grids] == [4, 4, 4, 2]
    from vlmscope.anatomy import read
    from vlmscope.costing.sheet import cost_sheet
    from vlmscope.skeleton import build

    source = resolve(KIMI)
    reading = read(build(source))  # its 1T-parameter skeleton built once, for the sheet and for the reference
    sheet = cost_sheet(reading, source, vlmscope.inspect(KIMI), CostRequest(images=0, videos=(spec,)))
    inner = reading.model.model  # type: ignore[union-attr]
    pixels = torch.empty(sum(t * h * w for t, h, w in grids), 3, 14, 14, device="meta",
                         dtype=next(inner.vision_tower.parameters()).dtype)
    grid_thw = torch.tensor(grids)  # data the encoder reads (spans, positions): on the CPU, made outside the mode
    with MetaPromotion(), unpadded(), torch.no_grad():
        own = count(lambda: inner.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid_thw))
    assert sheet.flops.vision == own and "get_video_features" in sheet.flops.method


def test_the_mapping_and_defaults_are_transformers_own(reference: dict[str, Any]) -> None:
    """knowledge/processing.json's video table: every model_type's video processor as transformers maps it,
    and each modelled processor's defaults and keywords as its class has them."""
    known, real = rules._video(), reference["tables"]
    assert known["model_types"] == real["model_types"]
    assert known["without_video"] == real["without_video"] and "instructblip" in known["without_video"]
    assert known["processor_kwargs"] == real["processor_kwargs"] and "minimax_m3_vl" in known["processor_kwargs"]
    assert set(known["processors"]) == set(real["classes"]) == set(rules._MODELLED)
    for name, defaults in known["processors"].items():
        assert defaults["accepted"] == real["classes"][name]["accepted"]
        for key, value in defaults.items():
            if key not in ("accepted", "source"):
                assert real["classes"][name]["attributes"][key] == value, (name, key)


def test_settings_of_torchvision_only_image_processors_are_read_from_their_source(
        reference: dict[str, Any]) -> None:
    """Without torchvision (vlmscope's own environment) transformers hands a placeholder for an image processor
    with only a torchvision backend, so --processor reads the keys such a class takes from its source: the
    same keys as the class itself, imported with torchvision, for every one of them."""
    from vlmscope.tokens.settings import _declared, accepted

    real = reference["tables"]["images"]
    assert len(real) >= 30 and "Lfm2VlImageProcessor" in real and "Kimi_K25ImageProcessor" in real
    for name, keys in real.items():
        assert sorted(_declared(name)) == keys, name
    assert "max_tiles" in accepted("Lfm2VlImageProcessor")  # the placeholder, then the source


@pytest.mark.parametrize(("config", "frame", "projected"), [
    (NEXT_VIDEO_CONFIG, 224, 64), (VIDEO_LLAVA_CONFIG, 224, 257), (ONEVISION_CONFIG, 384, 729)],
    ids=["next-video", "video-llava", "onevision"])
def test_framewise_video_flops_are_the_models_own_video_path(config: dict[str, Any], frame: int, projected: int,
                                                            tmp_path: Path) -> None:
    """A frame-by-frame clip costs its frames' tower passes plus the projector over the tokens the model's own
    video path hands it: LLaVA-NeXT-Video pools 16×16 to 8×8 before projecting, Video-LLaVA projects the
    class token too, LLaVA-OneVision projects all 27×27 before pooling. The projector (Linear 32→64, GELU,
    Linear 64→64) costs 2 × (32·64 + 64·64) FLOPs a token; a tower pass, what an image's costs less its
    projector over its 256 (729) tokens."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    clip = parse_video("8f:640x360")
    _, sheet = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(clip,)), use_cache=False)
    _, image = vlmscope.cost(str(tmp_path), CostRequest(images=1, image_size=(frame, frame)), use_cache=False)
    per_token = 2 * (32 * 64 + 64 * 64)
    image_tokens = (frame // 14) ** 2
    tower = image.flops.vision - image_tokens * per_token
    assert sheet.flops.vision == 8 * (tower + projected * per_token)
    assert "get_video_features" in sheet.flops.method


def test_a_video_costs_what_its_encoder_passes_cost_as_images() -> None:
    """Qwen2.5-VL: 60 temporal patches of 1288×728 frames cost the tower what 60 images of that size cost
    (its attention is per frame), and their tokens join the prompt; the sheet names qwen-vl-utils' count."""
    sheet = _ours(QWEN25, parse_video("60s@2:1280x720"))
    assert any("qwen-vl-utils 0.0.14: 120 frames" in n and "43,200 in all" in n for n in sheet.assumptions)
    clip = sheet.tokens.videos[0]
    _, images = vlmscope.cost(QWEN25, CostRequest(images=60, image_size=(1288, 728)), use_cache=False)
    assert clip.tokens == images.tokens.per_image * 60 == 71_760
    assert sheet.flops.vision == images.flops.vision
    assert sheet.memory.vision_peak_bytes == images.memory.vision_peak_bytes
    assert sheet.tokens.prefill == clip.tokens and sheet.memory.kv_cache_bytes > 0


def test_video_text_forms() -> None:
    assert parse_video("60s@2:1280x720") == VideoSpec(120, 1280, 720, 2.0)
    assert parse_video("1.5m@30:640x480") == VideoSpec(2700, 640, 480, 30.0)
    assert parse_video("32F:1280X720") == VideoSpec(32, 1280, 720)
    assert str(parse_video("60s@2:1280x720")) == "60s@2:1280x720" and str(VideoSpec(32, 8, 8)) == "32f:8x8"
    for bad in ("60s:1280x720", "60@2:1280x720", "32f", "0f:10x10", "60s@0:10x10", "-1f:10x10", 7):
        with pytest.raises(RequestError):
            parse_video(bad)
    with pytest.raises(LimitError, match="video frames"):
        parse_video("1000h@60:10x10")
    with pytest.raises(LimitError, match="videos"):
        CostRequest(videos=("1f:8x8",) * 65)


def test_a_model_without_video_gets_one_line(tmp_path: Path) -> None:
    from vlmscope.sources.zoo import default_source

    with pytest.raises(RequestError, match=r"takes none \(transformers has no video processor for model_type "
                                           r"'llava'\)"):
        _clip("llava-1.5-7b-hf", parse_video("10s@2:640x480"))
    (tmp_path / "config.json").write_text(json.dumps(default_source("gemma4_unified").config))
    with pytest.raises(RequestError, match=r"a video processor \(Gemma4UnifiedVideoProcessor\), but no vision "
                                           "encoder or patch projection"):  # its flat patches: not read yet
        _clip(str(tmp_path), parse_video("10s@2:640x480"))
    with pytest.raises(LimitError, match="video sub-frames"):  # untrusted settings: sub-frames listed, bounded
        _clip(MINICPM, parse_video("10s@2:640x480"), stack_frames=10**9)
    with pytest.raises(RequestError, match="frame rate"):  # sampling by rate needs the clip's rate
        _clip(QWEN25, parse_video("32f:640x480"), do_sample_frames=True, fps=2)
    with pytest.raises(RequestError, match="exclusive"):  # as transformers' sample_frames refuses them together
        _clip(QWEN3, parse_video("32f:640x480"), num_frames=8)
    with pytest.raises(RequestError, match="one for LlavaOnevisionVideoProcessor: transformers"):
        _clip("llava-onevision-qwen2-7b-ov-hf", parse_video("10s@2:640x480"), "qwen-vl-utils")
    with pytest.raises(RequestError, match="video_recipe"):
        CostRequest(video_recipe="ollama")


@pytest.mark.parametrize(("settings", "error", "match"), [
    ({"fps": 1e12}, LimitError, "video frames sampled"),
    ({"fps": -2}, RequestError, "a positive frame rate"),
    ({"fps": "fast"}, ConfigError, "video processor's settings cannot be read"),
    ({"temporal_patch_size": 0}, ConfigError, "ZeroDivisionError")])
def test_hostile_video_settings_are_one_line(settings: dict[str, Any], error: type, match: str) -> None:
    """Settings are untrusted (a Hub config, or --processor): a rate that would list 10¹⁴ frame indices, one
    out of its domain, one of the wrong type: one line naming it, never a hang or a traceback."""
    with pytest.raises(error, match=match) as info:
        _clip(GLM, parse_video("60s@30:640x360"), **settings)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("ref", "own", "settings", "error", "match"), [
    ("internvl", {}, {"do_sample_frames": True, "num_frames": 4, "initial_shift": "middle"}, ConfigError,
     "cannot be read"),
    ("internvl", {}, {"do_sample_frames": True, "num_frames": 10**9}, RequestError, "samples 1000000000 frames"),
    ("smolvlm", {"video_sampling": {"fps": 1e12, "max_frames": 10**12}}, {"do_sample_frames": True}, LimitError,
     "video frames sampled"),
    ("smolvlm", {"video_sampling": None}, {}, ConfigError, "TypeError"),
    ("minicpm", {}, {"max_num_frames": "many"}, ConfigError, "ValueError"),
    ("minicpm", {}, {"max_num_frames": 0}, RequestError, "at least 1 frame"),
    ("glm46v", {}, {"temporal_patch_size": 0}, ConfigError, "ZeroDivisionError"),
    ("glm46v", {}, {"size": {"longest_edge": 10}}, RequestError, "shortest_edge and longest_edge"),
    ("glm46v", {}, {"patch_size": "wide"}, ConfigError, "ValueError"),
    ("glmga", {}, {"fps": 0}, RequestError, "a positive frame rate"),
    ("glmga", {}, {"fps": 1e9, "max_frames": 10**12}, LimitError, "video frames sampled"),
    ("glmga", {}, {"patch_expand_factor": 0}, ConfigError, "ZeroDivisionError"),
    ("glm5_next", {}, {"max_image_tokens": 1}, RequestError, "at least 600: one merged patch a frame over 1200"),
    ("glm5_next", {}, {"fps": 1e9, "max_frames": 10**12}, LimitError, "video frames sampled"),
    ("muse_glimmer", {}, {"frame_timestamp_format": "{timestamp:999999999}"}, RequestError, "one '{timestamp}'"),
    ("muse_glimmer", {}, {"num_frames": 0}, RequestError, "a positive rate and frame count")])
def test_hostile_settings_of_the_per_frame_processors(ref: str, own: dict[str, Any], settings: dict[str, Any],
                                                       error: type, match: str, tmp_path: Path) -> None:
    """InternVL's, SmolVLM's, MiniCPM-V's, GLM-4.6V's, Glmga's, GLM-5 Next's and MuseGlimmer's settings, from
    their files or --processor: a
    shift of the wrong type, more frames than the clip, a sampling rate that would list 10¹⁴ indices, a
    video_sampling that is not a table, a frame cap of the wrong type or of none, a zero temporal patch, a size
    without its pixel bounds, a patch size that is not a number, a zero rate, a zero patch expansion, a token
    budget under one merged patch a frame, a timestamp format that asks for a billion characters: one line each."""
    if ref == "minicpm":
        folder = MINICPM
    elif ref in COPIES or ref == "glm46v":
        (tmp_path / "config.json").write_text(json.dumps(_copy_config(ref) if ref in COPIES else GLM46V_CONFIG))
        folder = str(tmp_path)
    else:
        config, name, file_settings, _, _ = FRAMEWISE[ref]
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / name).write_text(json.dumps({**file_settings, **own}))
        folder = str(tmp_path)
    with pytest.raises(error, match=match) as info:
        _clip(folder, parse_video("600s@30:640x360"), **settings)
    assert "\n" not in str(info.value)
