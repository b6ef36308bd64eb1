"""Quantized checkpoints as stored, checked against the library that writes them: compressed-tensors compresses
small real Linear layers, and the bytes of every tensor it keeps are what vlmscope counts."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import vlmscope
from vlmscope.costing import compressed, quant
from vlmscope.data import CostRequest

FRONTIER = Path(__file__).parents[1] / "data" / "frontier"
KIMI = json.loads((FRONTIER / "moonshotai__Kimi-K2.5" / "config.json").read_text())["text_config"]


def _config(fmt: str, weights: dict[str, Any], inputs: dict[str, Any] | None = None,
            ignore: list[str] | None = None) -> dict[str, Any]:
    return {"quant_method": "compressed-tensors", "format": fmt, "ignore": ignore or [],
            "config_groups": {"g": {"targets": ["Linear"], "weights": weights, "input_activations": inputs}}}


def _weights(bits: int, kind: str, strategy: str, symmetric: bool = True, group: int | None = None,
             block: list[int] | None = None) -> dict[str, Any]:
    return {"num_bits": bits, "type": kind, "strategy": strategy, "symmetric": symmetric, "group_size": group,
            "block_structure": block, "dynamic": False}


SCHEMES = {
    "int4 packed, group 32 (Kimi-K2.5)": KIMI["quantization_config"] | {"ignore": []},
    "int4 packed, group 32, asymmetric": _config("pack-quantized", _weights(4, "int", "group", False, 32)),
    "int8 packed, per channel": _config("pack-quantized", _weights(8, "int", "channel")),
    "int4 packed, per channel, asymmetric": _config("pack-quantized", _weights(4, "int", "channel", False)),
    "int8, per channel": _config("int-quantized", _weights(8, "int", "channel")),
    "int8, per channel, asymmetric": _config("int-quantized", _weights(8, "int", "channel", False)),
    "int8 naive, per tensor": _config("naive-quantized", _weights(8, "int", "tensor")),
    "fp8, per channel": _config("float-quantized", _weights(8, "float", "channel")),
    "fp8, per tensor, static input scale": _config("float-quantized", _weights(8, "float", "tensor"), {
        "num_bits": 8, "type": "float", "strategy": "tensor", "symmetric": True, "dynamic": False}),
    "fp8, 128² blocks": _config("float-quantized", _weights(8, "float", "block", block=[128, 128])),
    "nvfp4": _config("nvfp4-pack-quantized", _weights(4, "float", "tensor_group", group=16), {
        "num_bits": 4, "type": "float", "strategy": "tensor_group", "symmetric": True, "dynamic": "local",
        "group_size": 16}),
}


def _compress(model: nn.Module, q: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The state dict compressed-tensors saves for ``model`` under ``q`` (scales filled so that packing runs)."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config

    config = QuantizationConfig.model_validate(q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        apply_quantization_config(model, config)
        for module in model.modules():
            for name in ("weight_scale", "input_scale", "weight_global_scale", "input_global_scale"):
                if hasattr(module, name):
                    getattr(module, name).data.fill_(0.01)
        ModelCompressor(quantization_config=config, force_compression_format=q["format"]).compress_model(model)
    return model.state_dict()


def _bytes(state: dict[str, torch.Tensor], prefix: str) -> int:
    return sum(t.numel() * t.element_size() for n, t in state.items()
               if n.startswith(prefix) and not n.endswith("bias"))


@pytest.mark.parametrize("name", SCHEMES)
def test_each_linear_is_stored_as_compressed_tensors_writes_it(name: str) -> None:
    q = SCHEMES[name]
    shapes = [(200, 256), (136, 96), (48, 64)]
    model = nn.Sequential(*(nn.Linear(i, o, bias=k == 1) for k, (o, i) in enumerate(shapes))).to(torch.bfloat16)
    state = _compress(model, q)
    scheme = compressed.scheme(q, 2)
    assert scheme is not None
    for k, (out, inp) in enumerate(shapes):
        assert compressed.linear_bytes(out, inp, scheme) == _bytes(state, f"{k}.")


def test_fused_experts_are_stored_one_linear_per_expert(tmp_path: Path) -> None:
    """A small DeepSeek-V3 (Kimi-K2.5's language model) under Kimi-K2.5's own quantization_config: its routed
    experts, fused in transformers (experts × 2·moe × hidden), are stored as compressed-tensors stores each
    expert's gate_proj, up_proj and down_proj; attention, shared experts, the dense MLP and the head stay bf16."""
    hidden, moe, experts, layers, dense = 64, 32, 8, 3, 1
    config = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": hidden,
              "intermediate_size": 96, "moe_intermediate_size": moe, "num_hidden_layers": layers,
              "first_k_dense_replace": dense, "n_routed_experts": experts, "n_shared_experts": 1,
              "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1, "num_attention_heads": 4,
              "num_key_value_heads": 4, "q_lora_rank": 48, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
              "qk_rope_head_dim": 8, "v_head_dim": 16, "vocab_size": 256, "dtype": "bfloat16",
              "quantization_config": KIMI["quantization_config"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    anatomy, sheet = vlmscope.cost(str(tmp_path), CostRequest(), use_cache=False)

    one = nn.Module()  # one routed expert as the checkpoint names it
    for proj, (out, inp) in {"gate_proj": (moe, hidden), "up_proj": (moe, hidden), "down_proj": (hidden, moe)}.items():
        one.add_module(proj, nn.Linear(inp, out, bias=False))
    root = nn.Module()
    root.add_module("mlp", nn.Module())
    root.mlp.add_module("experts", nn.ModuleList([one]))
    expert = _bytes(_compress(root.to(torch.bfloat16), KIMI["quantization_config"]), "mlp.experts.0.")
    routed = (layers - dense) * experts
    assert sheet.memory is not None
    assert sheet.memory.weights_bytes == routed * expert + 2 * (anatomy.params.total - routed * 3 * moe * hidden)
    assert f"{routed * 3} linears packed" in sheet.memory.method


def test_a_sub_configs_quantization_covers_that_sub_model_only() -> None:
    found = quant.from_config({"text_config": KIMI, "vision_config": {}})
    assert found is not None and found.method == "compressed-tensors" and found.scope == "language"
    assert found.scheme is not None and (found.scheme.bits, found.scheme.group_size) == (4, 32)
    assert "int4 pack-quantized, group 32, symmetric" in quant.quantized_roles(found)


@pytest.mark.parametrize("bad", [
    {"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "strategy": "group",
                                                                  "group_size": 0}}}, "format": "pack-quantized"},
    {"config_groups": {"g": {"targets": ["re:(a+)+$"], "weights": {"num_bits": 4, "strategy": "channel"}}},
     "format": "pack-quantized"},
    {"config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "strategy": "channel"}}},
     "format": "marlin-24"},
    {"config_groups": "Linear", "format": "pack-quantized"},
])
def test_a_scheme_vlmscope_cannot_lay_out_is_said_not_guessed(bad: dict[str, Any]) -> None:
    """An unknown format, a zero group or a pattern that could backtrack for ever: no layout, so the sheet
    counts the config's dtype and says the method is not modelled."""
    assert quant.from_config({"quantization_config": {"quant_method": "compressed-tensors"} | bad}) is None


def test_one_list_of_quantization_methods() -> None:
    """QuantMethod is the one list: --quant takes each requestable method and its help names each; a plain
    dtype is no method; AWQ / GPTQ are the decoder-only ones; bf16 / fp16 have no layout of their own."""
    import typing

    from vlmscope.cli.common import QuantOpt
    from vlmscope.data import QUANT_METHODS, CostRequest, QuantMethod

    help_text = typing.get_args(QuantOpt)[1].help
    assert all(m in help_text for m in QUANT_METHODS) and "compressed-tensors" not in QUANT_METHODS
    assert all(CostRequest(quant=m).quant == m for m in QUANT_METHODS)
    assert QuantMethod.of("int4") is None and QuantMethod.of("awq-int4") is QuantMethod.awq_int4
    assert {m for m in QuantMethod if m.decoder_only} == {QuantMethod.awq_int4, QuantMethod.gptq_int4,
                                                          QuantMethod.gptq_int8}
    assert {m for m in QuantMethod if not m.packed} == {QuantMethod.bf16, QuantMethod.fp16}
