"""The transformers VLM zoo: every image-text-to-text model_type, built from its default config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmscope import api
from vlmscope.data import ZooEntry
from vlmscope.records import record
from vlmscope.sources import zoo

TYPES = zoo.model_types()


@pytest.fixture(scope="module")
def entries() -> dict[str, ZooEntry]:
    return {e.model_type: e for e in api.survey(use_cache=False)}


def _transformers_builds(model_type: str) -> bool:
    """Whether transformers itself builds the default config (independently of vlmscope)."""
    import torch
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as NAMES

    try:
        with torch.device("meta"):
            getattr(transformers, NAMES[model_type])(CONFIG_MAPPING[model_type]())
    except Exception:
        return False
    return True


def test_the_zoo_is_the_whole_mapping() -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    assert set(TYPES) == set(MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
    assert len(TYPES) >= 50


@pytest.mark.parametrize("model_type", TYPES)
def test_every_buildable_type_has_all_roles(entries, model_type: str) -> None:  # type: ignore[no-untyped-def]
    entry = entries[model_type]
    if entry.status == "error":
        assert entry.reason and ":" in entry.reason
        assert not _transformers_builds(model_type), f"transformers builds {model_type}, vlmscope fails: {entry.reason}"
        return
    a = entry.anatomy
    assert a is not None
    p = a.params
    assert p.vision + p.connector + p.language + p.lm_head + p.other == p.total > 0
    assert a.language.layers >= 1 and a.language.vocab_size > 0
    assert a.vision is None or (a.vision.layers >= 1 and p.vision > 0)
    assert a.connector.class_name and a.connector.pooling  # "none" when there is no such part, never empty
    assert a.lm_head.class_name
    assert a.architecture in ("fully autoregressive", "cross-attention", "encoder-decoder")
    json.dumps(record(a))  # every fact is a plain JSON value


KINDS = {
    "mllama": ("architecture", "cross-attention"),
    "idefics": ("architecture", "cross-attention"),
    "vision-encoder-decoder": ("architecture", "encoder-decoder"),
    "florence2": ("architecture", "encoder-decoder"),
    "pix2struct": ("architecture", "encoder-decoder"),
    "blip-2": ("pooling", "Q-Former (32 queries"),
    "instructblip": ("pooling", "Q-Former (32 queries"),
    "qwen2_vl": ("pooling", "2×2 patch merger"),
    "qwen2_5_vl": ("pooling", "2×2 patch merger"),
    "idefics3": ("pooling", "pixel shuffle"),
    "smolvlm": ("pooling", "pixel shuffle"),
    "internvl": ("pooling", "pixel shuffle"),
    "llava_onevision": ("pooling", "none (AnyRes tiling; learned image_newline)"),
    "mistral3": ("pooling", "2×2 patch merger"),
    "minimax_m3_vl": ("pooling", "2×2 patch merger after a projection"),  # per patch to 6144, then 4 joined
    "idefics2": ("pooling", "Perceiver resampler (64 latents"),
    "llava": ("architecture", "fully autoregressive"),
}


@pytest.mark.parametrize("model_type", sorted(KINDS))
def test_kinds_are_named(entries, model_type: str) -> None:  # type: ignore[no-untyped-def]
    a = entries[model_type].anatomy
    assert a is not None
    field, want = KINDS[model_type]
    have = a.architecture if field == "architecture" else a.connector.pooling
    assert have.startswith(want), have


def test_fuyu_has_a_patch_embedding_but_no_vision_tower(entries) -> None:  # type: ignore[no-untyped-def]
    a = entries["fuyu"].anatomy
    assert a is not None and a.vision is None and a.params.vision == 0
    assert a.connector.projection.startswith("Linear(")


def test_paligemma_keeps_every_patch(entries) -> None:  # type: ignore[no-untyped-def]
    a = entries["paligemma"].anatomy
    assert a is not None and a.connector.pooling == "none" and a.connector.tokens_per_image == 256


def test_gemma3_average_pooling_at_its_real_resolution(tmp_path: Path) -> None:
    import vlmscope

    config = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "mm_tokens_per_image": 256,
              "vision_config": {"model_type": "siglip_vision_model", "image_size": 896, "patch_size": 14}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    a = vlmscope.inspect(str(tmp_path), use_cache=False)
    assert a.connector.pooling == "4×4 average pooling"
    assert a.connector.tokens_per_image == 256


def test_an_audio_input_is_no_connector(entries) -> None:  # type: ignore[no-untyped-def]
    """inkling_mm_model's audio tower (audio-token embeddings built from its audio_config) reads neither the
    image features nor the LM's width: it is another modality's input, not the connector."""
    a = entries["inkling_mm_model"].anatomy
    assert a is not None
    assert "model.audio_tower" not in a.connector.paths and a.connector.class_name != "InklingAudioModel"
    assert a.params.other > 0


def test_a_joint_text_image_encoder_is_the_language_models(entries) -> None:  # type: ignore[no-untyped-def]
    """UDOP's encoder reads the text tokens beside the image patches: its 24 blocks are the language model's
    encoder, so there is no vision tower, only a patch embedding (the connector)."""
    a = entries["udop"].anatomy
    assert a is not None and a.vision is None and a.params.vision == 0
    assert a.connector.class_name == "UdopPatchEmbeddings"
    assert a.architecture == "encoder-decoder"
    assert a.params.language > 0.99 * (a.params.total - a.params.connector)


def test_a_bare_container_connector_is_named_by_its_blocks(entries) -> None:  # type: ignore[no-untyped-def]
    a = entries["idefics"].anatomy
    assert a is not None and a.connector.class_name == "IdeficsGatedCrossAttentionLayer ×32"


def test_no_connector_is_a_bare_container(entries) -> None:  # type: ignore[no-untyped-def]
    for e in entries.values():
        if e.anatomy is not None:
            assert e.anatomy.connector.class_name not in ("ModuleList", "Sequential", "ModuleDict"), e.model_type
