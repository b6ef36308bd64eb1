"""Exact parameter counts, per role, with shared or tied tensors counted once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vlmscope
from vlmscope import SEED_MODELS
from vlmscope.sources import catalog

# Totals from the meta-device builds. Published cross-checks: llava-1.5-7b-hf's safetensors index says
# total_size 14,126,854,144 bytes in fp16 = 7,063,427,072; Phi-3-vision's published count is
# 4,146,621,440; the Open LLM leaderboard request files list Mantis-clip at 8.355B and Mantis-siglip at 8.48B.
TOTALS = {
    "HuggingFaceM4/idefics2-8b-base": 8_402_759_920,
    "HuggingFaceM4/idefics2-8b": 8_402_768_112,
    "HuggingFaceM4/idefics2-8b-chatty": 8_402_768_112,
    "llava-hf/llava-v1.6-mistral-7b-hf": 7_566_747_648,
    "llava-hf/llava-v1.6-vicuna-7b-hf": 7_063_431_168,
    "TIGER-Lab/Mantis-8B-clip-llama3": 8_354_764_800,
    "TIGER-Lab/Mantis-8B-siglip-llama3": 8_480_007_232,
    "microsoft/Phi-3-vision-128k-instruct": 4_146_621_440,
    "llava-hf/llava-1.5-7b-hf": 7_063_427_072,
}
PUBLISHED_BILLIONS = {"TIGER-Lab/Mantis-8B-clip-llama3": 8.355, "TIGER-Lab/Mantis-8B-siglip-llama3": 8.48}


def test_llava_15_matches_its_published_safetensors_total(anatomies) -> None:  # type: ignore[no-untyped-def]
    assert anatomies["llava-hf/llava-1.5-7b-hf"].params.total == 14_126_854_144 // 2 == 7_063_427_072


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_exact_total(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    assert anatomies[model_id].params.total == TOTALS[model_id]


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_BILLIONS))
def test_total_rounds_to_the_published_figure(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    billions = PUBLISHED_BILLIONS[model_id]
    digits = len(str(billions).split(".")[1])
    assert round(anatomies[model_id].params.total / 1e9, digits) == billions


@pytest.mark.parametrize("model_id", SEED_MODELS)
def test_roles_sum_to_total(anatomies, model_id: str) -> None:  # type: ignore[no-untyped-def]
    p = anatomies[model_id].params
    assert p.vision + p.connector + p.language + p.lm_head == p.total
    assert min(p.vision, p.connector, p.language, p.lm_head) > 0


def _clip_vit(hidden: int, layers: int, inner: int, patch: int, positions: int) -> int:
    """Analytic parameter count of a CLIPVisionModel (class embedding, pre/post norms, biased linears)."""
    block = 4 * (hidden * hidden + hidden) + 2 * 2 * hidden + (hidden * inner + inner) + (inner * hidden + hidden)
    return hidden + 3 * patch * patch * hidden + positions * hidden + 2 * 2 * hidden + layers * block


def test_role_counts_match_an_analytic_count(anatomies) -> None:  # type: ignore[no-untyped-def]
    p = anatomies["llava-hf/llava-1.5-7b-hf"].params
    assert p.vision == _clip_vit(1024, 24, 4096, 14, 577)
    assert p.connector == (1024 * 4096 + 4096) + (4096 * 4096 + 4096)
    assert p.lm_head == 4096 * 32064
    llama_block = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096
    assert p.language == 32064 * 4096 + 32 * llama_block + 4096


def test_phi3v_roles_count_the_shared_embedding_once(anatomies) -> None:  # type: ignore[no-untyped-def]
    p = anatomies["microsoft/Phi-3-vision-128k-instruct"].params
    assert p.vision == _clip_vit(1024, 24, 4096, 14, 577)
    # Projection 4096→3072→3072 plus the two 4096-wide learned separators.
    assert p.connector == (4096 * 3072 + 3072) + (3072 * 3072 + 3072) + 2 * 4096
    assert p.lm_head == 3072 * 32064


def test_tied_head_is_counted_once(tmp_path: Path) -> None:
    src = catalog.find("llava-1.5-7b-hf")
    assert src is not None
    folder = tmp_path / "tied-llava"
    folder.mkdir()
    config = json.loads(src.config_path.read_text())
    config["tie_word_embeddings"] = True
    config["text_config"]["tie_word_embeddings"] = True
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(src.folder / "preprocessor_config.json", folder)
    a = vlmscope.inspect(str(folder), use_cache=False)
    assert a.lm_head.tied is True
    assert a.params.lm_head == 0
    assert a.params.total == TOTALS["llava-hf/llava-1.5-7b-hf"] - 4096 * 32064
    assert a.params.vision + a.params.connector + a.params.language == a.params.total
