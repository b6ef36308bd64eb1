"""Roles and facts read from the module tree, for every seed model."""

from __future__ import annotations

import pytest

from vlmscope import SEED_MODELS

# model id → (vision family, language family, pooling, tokens per image at native resolution)
EXPECTED = {
    "HuggingFaceM4/idefics2-8b-base": ("SigLIP SO400M/14 @980", "Mistral-7B",
                                       "Perceiver resampler (64 latents, 3 layers)", 64),
    "HuggingFaceM4/idefics2-8b": ("SigLIP SO400M/14 @980", "Mistral-7B",
                                  "Perceiver resampler (64 latents, 3 layers)", 320),
    "HuggingFaceM4/idefics2-8b-chatty": ("SigLIP SO400M/14 @980", "Mistral-7B",
                                         "Perceiver resampler (64 latents, 3 layers)", 64),
    "llava-hf/llava-v1.6-mistral-7b-hf": ("CLIP ViT-L/14 @336", "Mistral-7B",
                                          "none (AnyRes tiling; learned image_newline)", 1176),
    "llava-hf/llava-v1.6-vicuna-7b-hf": ("CLIP ViT-L/14 @336", "Vicuna-7B (Llama-2)",
                                         "none (AnyRes tiling; learned image_newline)", 1176),
    "TIGER-Lab/Mantis-8B-clip-llama3": ("CLIP ViT-L/14 @336", "Llama-3-8B", "none", 576),
    "TIGER-Lab/Mantis-8B-siglip-llama3": ("SigLIP SO400M/14 @384", "Llama-3-8B", "none", 728),
    "microsoft/Phi-3-vision-128k-instruct": ("CLIP ViT-L/14 @336", "Phi-3-mini",
                                             "2×2 patch merge (learned glb_GN, sub_GN)", 2509),
    "llava-hf/llava-1.5-7b-hf": ("CLIP ViT-L/14 @336", "Vicuna-7B (Llama-2)", "none", 576),
}


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_families_pooling_and_tokens(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    a = anatomies[model_id]
    assert (a.vision.family, a.language.family, a.connector.pooling, a.connector.tokens_per_image) == EXPECTED[model_id]


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_every_role_is_found(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    a = anatomies[model_id]
    assert a.architecture == "fully autoregressive"
    assert a.vision.layers in (24, 27) and a.language.layers == 32
    assert a.connector.paths and a.connector.projection.startswith(("Linear(", "SwiGLU"))
    assert a.lm_head.out_features == a.language.vocab_size and a.lm_head.in_features == a.language.hidden_size
    assert a.lm_head.tied is False
    assert a.vision.norm.eps in (1e-5, 1e-6) and a.language.norm.eps == 1e-5


def test_llava_15_facts_in_detail(anatomies) -> None:  # type: ignore[no-untyped-def]
    a = anatomies["llava-hf/llava-1.5-7b-hf"]
    v, lang = a.vision, a.language
    assert (v.class_name, v.path, v.block_class, v.attention) == (
        "CLIPVisionModel", "model.vision_tower", "CLIPEncoderLayer", "CLIPAttention")
    assert (v.hidden_size, v.heads, v.patch_size, v.image_size, v.positions, v.class_token) == (
        1024, 16, 14, 336, 577, True)
    assert (v.mlp.dims, v.mlp.gated, v.mlp.activation) == ((1024, 4096, 1024), False, "QuickGELU")
    assert v.embeddings == "Conv2d(3→1024, 14×14/14) + Embedding(577)"
    assert (lang.class_name, lang.path, lang.heads, lang.kv_heads, lang.vocab_size) == (
        "LlamaModel", "model.language_model", 32, 32, 32064)
    assert (lang.mlp.dims, lang.mlp.gated, lang.max_position_embeddings) == ((4096, 11008, 4096), True, 4096)
    assert a.connector.projection == "Linear(1024→4096) + GELU + Linear(4096→4096)"
    assert a.connector.class_name == "LlavaMultiModalProjector"
    assert a.attention_backends == ("eager", "sdpa", "flash_attention_2", "flex")


def test_gqa_is_read_from_the_attention(anatomies) -> None:  # type: ignore[no-untyped-def]
    assert anatomies["TIGER-Lab/Mantis-8B-clip-llama3"].language.kv_heads == 8
    assert anatomies["llava-hf/llava-v1.6-mistral-7b-hf"].language.kv_heads == 8


def test_idefics2_connector_holds_projection_and_resampler(anatomies) -> None:  # type: ignore[no-untyped-def]
    c = anatomies["HuggingFaceM4/idefics2-8b-base"].connector
    assert c.class_name == "Idefics2Connector"
    assert c.projection == "SwiGLU MLP (1152→14336→4096)"
    assert c.paths == ("model.connector",)
    # the resampler is data, not a string to parse: its kind, its 64 latents, its 3 layers
    assert c.resampler is not None and (c.resampler.kind.unit, c.resampler.queries, c.resampler.layers) == (
        "latents", 64, 3)
    assert c.pooling == c.resampler.text == "Perceiver resampler (64 latents, 3 layers)"


def test_llava_next_newline_is_a_connector_separator(anatomies) -> None:  # type: ignore[no-untyped-def]
    c = anatomies["llava-hf/llava-v1.6-mistral-7b-hf"].connector
    assert [(s.name, s.width) for s in c.separators] == [("image_newline", 4096)]
    assert "model.image_newline" in c.paths


def test_phi3v_rebuild_is_faithful(anatomies) -> None:  # type: ignore[no-untyped-def]
    a = anatomies["microsoft/Phi-3-vision-128k-instruct"]
    assert a.model_class == "Phi3VForCausalLM" and a.model_type == "phi3_v"
    assert a.vision.path == "model.vision_embed_tokens.img_processor"
    assert a.language.path == "model" and a.language.mlp.dims == (3072, 8192, 3072) and a.language.mlp.gated
    assert a.connector.class_name == "Phi3ImageEmbedding"
    assert [s.text for s in a.connector.separators] == ["glb_GN (4096)", "sub_GN (4096)"]
    # As declared by the published modeling_phi3_v.py: flash_attention_2 yes, sdpa no.
    assert a.attention_backends == ("eager", "flash_attention_2")


def test_phi3v_state_dict_names_match_the_published_checkpoint() -> None:
    import torch

    from vlmscope.skeleton import build
    from vlmscope.sources import resolve

    model = build(resolve("microsoft/Phi-3-vision-128k-instruct"))
    names = set(model.state_dict())
    for name in ("model.embed_tokens.weight", "model.vision_embed_tokens.glb_GN", "model.vision_embed_tokens.sub_GN",
                 "model.vision_embed_tokens.img_processor.vision_model.post_layernorm.weight",
                 "model.vision_embed_tokens.img_processor.vision_model.embeddings.class_embedding",
                 "model.vision_embed_tokens.img_projection.0.weight", "model.vision_embed_tokens.img_projection.2.bias",
                 "model.layers.31.self_attn.qkv_proj.weight", "model.layers.0.mlp.gate_up_proj.weight",
                 "model.norm.weight", "lm_head.weight"):
        assert name in names, name
    assert model.model.vision_embed_tokens.wte is model.model.embed_tokens
    assert all(p.device == torch.device("meta") for p in model.parameters())


def test_skeletons_hold_no_weight_memory() -> None:
    import torch

    from vlmscope.skeleton import build
    from vlmscope.sources import resolve

    model = build(resolve("llava-1.5-7b-hf"))
    assert {p.device for p in model.parameters()} == {torch.device("meta")}


def test_module_tree_collapses_repeated_blocks(anatomies) -> None:  # type: ignore[no-untyped-def]
    from vlmscope.render.tree import tree_lines

    lines = "\n".join(tree_lines(anatomies["llava-hf/llava-1.5-7b-hf"].tree))
    assert "0-23: 24 × CLIPEncoderLayer  [vision] 12,596,224 each" in lines
    assert "0-31: 32 × LlamaDecoderLayer  [language] 202,383,360 each" in lines
    assert lines.count("CLIPEncoderLayer") == 1
