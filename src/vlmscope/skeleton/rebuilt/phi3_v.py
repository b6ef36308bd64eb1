"""Phi-3-vision (model_type ``phi3_v``), rebuilt from transformers' Phi-3 and CLIP building blocks.

The published model (microsoft/Phi-3-vision-128k-instruct) ships its code as remote code
(``modeling_phi3_v.py`` and ``image_embedding_phi3_v.py``). This module mirrors that code's module tree
without running it (the module tree only; its processor's HD transform is a token rule in
``vlmscope.tokens.processors``, which ``vlmscope_processing`` names):

    Phi3VForCausalLM
      model: Phi3VModel
        embed_tokens           Embedding(vocab, hidden, padding_idx=pad_token_id)
        embed_dropout          Dropout
        vision_embed_tokens    Phi3ImageEmbedding
          drop                 Dropout
          wte                  the same module as model.embed_tokens (shared, counted once)
          img_processor        CLIPVisionModel (transformers 4 layout: .vision_model = CLIP ViT-L/14 @336,
                               with post_layernorm)
          glb_GN, sub_GN       learned separators, 4 × image_dim_out wide (2×2 patch merge)
          img_projection       Sequential(Linear(4·image_dim_out → hidden), GELU, Linear(hidden → hidden))
        layers                 N × Phi3DecoderLayer
        norm                   Phi3RMSNorm
      lm_head                  Linear(hidden → vocab)

The attention backends are those the remote code declares (``_supports_flash_attn_2 = True``,
``_supports_sdpa = False``), not those of transformers' Phi-3 classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, Phi3Config
from transformers.models.phi3.modeling_phi3 import (
    Phi3DecoderLayer,
    Phi3Model,
    Phi3PreTrainedModel,
    Phi3RMSNorm,
    Phi3RotaryEmbedding,
)

# The vision tower config hard-coded in image_embedding_phi3_v.py (CLIP_VIT_LARGE_PATCH14_336_CONFIG),
# which equals https://huggingface.co/openai/clip-vit-large-patch14-336/blob/main/config.json (vision part).
_CLIP_VIT_L_14_336: dict[str, Any] = dict(
    attention_dropout=0.0, dropout=0.0, hidden_act="quick_gelu", hidden_size=1024, image_size=336,
    initializer_factor=1.0, initializer_range=0.02, intermediate_size=4096, layer_norm_eps=1e-05,
    num_attention_heads=16, num_channels=3, num_hidden_layers=24, patch_size=14, projection_dim=768,
)
_SUPPORTED_PROCESSOR = "openai/clip-vit-large-patch14-336"
_NOT_PHI3_FIELDS = ("auto_map", "architectures", "model_type", "embd_layer", "img_processor", "_name_or_path",
                    "_attn_implementation", "torch_dtype", "transformers_version")


class Phi3VConfig(Phi3Config):
    """Phi-3 text config plus the vision fields of the remote ``Phi3VConfig``."""

    model_type = "phi3_v"

    def __init__(self, img_processor: dict[str, Any] | None = None, embd_layer: dict[str, Any] | None = None,
                 embd_pdrop: float = 0.0, **kwargs: Any) -> None:
        self.img_processor = img_processor or {}
        self.embd_layer = embd_layer or {}
        self.embd_pdrop = embd_pdrop
        super().__init__(**kwargs)


class CLIPVisionTransformer(CLIPVisionModel):
    """transformers 5's flattened CLIPVisionModel is transformers 4's CLIPVisionTransformer."""


class CLIPVisionModel4(nn.Module):
    """CLIPVisionModel as transformers 4 laid it out (the published checkpoint's names:
    ``img_processor.vision_model.*``); transformers 5 dropped the ``vision_model`` level."""

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.vision_model = CLIPVisionTransformer(config)


CLIPVisionModel4.__name__ = CLIPVisionModel4.__qualname__ = "CLIPVisionModel"


class Phi3ImageEmbedding(nn.Module):
    """The remote ``Phi3ImageEmbedding`` (HD transform with learned separators, MLP projection)."""

    def __init__(self, config: Phi3VConfig, wte: nn.Embedding) -> None:
        super().__init__()
        processor = config.img_processor
        if processor.get("name") != "clip_vision_model" or processor.get("model_name") != _SUPPORTED_PROCESSOR:
            raise ValueError(f"img_processor {processor!r} is not the CLIP ViT-L/14-336 the published code supports")
        layer = config.embd_layer
        self.drop = nn.Dropout(config.embd_pdrop)
        self.wte = wte
        self.img_processor = CLIPVisionModel4(CLIPVisionConfig(**_CLIP_VIT_L_14_336))
        self.image_dim_out = int(processor["image_dim_out"])
        self.num_img_tokens = int(processor["num_img_tokens"])
        self.use_hd_transform = bool(layer.get("use_hd_transform", False))
        if layer.get("with_learnable_separator", False):
            self.glb_GN = nn.Parameter(torch.zeros(1, 1, self.image_dim_out * 4))
            self.sub_GN = nn.Parameter(torch.zeros(1, 1, 1, self.image_dim_out * 4))
        self.img_projection = _projection(layer.get("projection_cls", "linear"), self.use_hd_transform,
                                          self.image_dim_out, config.hidden_size)


def _projection(kind: str, hd: bool, dim_in: int, hidden: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(dim_in, hidden)
    if kind == "mlp":
        width = dim_in * 4 if hd else dim_in
        return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden))
    raise ValueError(f"projection_cls {kind!r} is not one the published code supports")


class Phi3VModel(Phi3PreTrainedModel):
    config_class = Phi3VConfig

    def __init__(self, config: Phi3VConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.embed_dropout = nn.Dropout(config.embd_pdrop)
        self.vision_embed_tokens = Phi3ImageEmbedding(config, wte=self.embed_tokens)
        self.layers = nn.ModuleList(Phi3DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = Phi3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        # The published code keeps a rotary embedding inside each attention; it has no parameters, so one
        # shared module here changes no name or count and lets the text path run transformers' Phi-3 forward.
        self.rotary_emb = Phi3RotaryEmbedding(config=config)
        self.gradient_checkpointing = False

    # Text path (inputs_embeds → hidden states): the same computation as transformers' Phi-3 decoder.
    forward = Phi3Model.forward

    def get_input_embeddings(self) -> nn.Module:
        return self.embed_tokens


class Phi3VForCausalLM(Phi3PreTrainedModel):
    config_class = Phi3VConfig
    # As declared by the published modeling_phi3_v.py.
    _supports_flash_attn = True
    _supports_sdpa = False
    _supports_flex_attn = False
    # How its image processor (image_processing_phi3_v.py) cuts an image: vlmscope's token rules read this.
    vlmscope_processing = "hd_transform"

    def __init__(self, config: Phi3VConfig) -> None:
        super().__init__(config)
        self.model = Phi3VModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def get_input_embeddings(self) -> nn.Module:
        embeddings: nn.Module = self.model.embed_tokens
        return embeddings

    def get_output_embeddings(self) -> nn.Module:
        head: nn.Module = self.lm_head
        return head


def make_config(raw: dict[str, Any]) -> Phi3VConfig:
    """A Phi3VConfig from the published config.json; the legacy rope type 'su' is transformers' 'longrope'."""
    fields = {k: v for k, v in raw.items() if k not in _NOT_PHI3_FIELDS}
    rope = fields.get("rope_scaling")
    if isinstance(rope, dict) and rope.get("type") == "su":
        fields["rope_scaling"] = {**rope, "type": "longrope"}
    config = Phi3VConfig(img_processor=raw.get("img_processor"), embd_layer=raw.get("embd_layer"), **fields)
    config.architectures = ["Phi3VForCausalLM"]
    return config


def build(raw: dict[str, Any]) -> nn.Module:
    """Build Phi3VForCausalLM from a phi3_v config dict (call under ``torch.device('meta')``)."""
    return Phi3VForCausalLM(make_config(raw))
