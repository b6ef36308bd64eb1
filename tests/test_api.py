"""The Python API: named results, comparisons that carry their cost sheets."""

from __future__ import annotations

import pytest

import vlmscope
from vlmscope.data import Costed, CostRequest
from vlmscope.render.markdown import markdown


def test_cost_returns_a_named_result() -> None:
    result = vlmscope.cost("llava-1.5-7b-hf", CostRequest(image_size=(1024, 768)))
    assert isinstance(result, Costed)
    anatomy, sheet = result  # still unpacks like the tuple it was
    assert result.anatomy is anatomy and result.sheet is sheet and sheet.tokens.per_image == 576


def test_a_costed_comparison_carries_its_sheets() -> None:
    request = CostRequest(image_size=(1024, 768), context=8192)
    comparison = vlmscope.compare(["llava-1.5-7b-hf", "idefics2-8b"], request=request)
    assert comparison.sheets is not None and [s.tokens.per_image for s in comparison.sheets] == [576, 320]
    frame = comparison.to_pandas()
    assert list(frame["cost.visual_tokens"]) == [576, 320] and "cost.flops.prefill" in frame.columns
    text = markdown(comparison)
    assert "### Cost" in text and "| LLaVA-1.5-7B | 1024×768 | 576 |" in text
    plain = vlmscope.compare(["llava-1.5-7b-hf"])
    assert plain.sheets is None and "### Cost" not in markdown(plain)
    assert "cost.visual_tokens" not in plain.to_pandas().columns


def test_several_sizes_build_the_skeleton_once(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """cost_many: one skeleton for every size of one model; with the anatomy cached, a new size builds it once
    more, and sizes already costed build nothing."""
    import vlmscope
    from vlmscope import api

    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    reads = []
    real = api._read
    monkeypatch.setattr(api, "_read", lambda *a: reads.append(1) or real(*a))
    sizes = [vlmscope.CostRequest(image_size=s) for s in ((336, 336), (672, 672), (1024, 768))]
    anatomy, sheets = vlmscope.cost_many("llava-v1.6-mistral-7b-hf", sizes)
    assert anatomy.model_id == "llava-hf/llava-v1.6-mistral-7b-hf"
    assert len(reads) == 1 and [s.tokens.image_size for s in sheets] == [(336, 336), (672, 672), (1024, 768)]
    assert len({s.tokens.per_image for s in sheets}) == 3  # AnyRes: the tokens follow the size
    alone = [vlmscope.cost("llava-v1.6-mistral-7b-hf", r, use_cache=False)[1] for r in sizes]
    assert list(sheets) == alone
    reads.clear()
    vlmscope.cost_many("llava-v1.6-mistral-7b-hf", sizes)
    assert not reads  # every sheet cached: nothing built
    vlmscope.cost_many("llava-v1.6-mistral-7b-hf", [*sizes, vlmscope.CostRequest(image_size=(800, 600))])
    assert len(reads) == 1  # the anatomy is cached, the new size needs one skeleton


def test_an_unknown_gpu_is_refused_before_the_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """CostRequest(gpu="tpu-v9") names no card of the table: one RequestError listing the known ones, raised
    before any skeleton is built."""
    from vlmscope import api
    from vlmscope.errors import RequestError

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(api, "_read", no_build)
    with pytest.raises(RequestError, match="one of h100-sxm"):
        api.cost("llava-1.5-7b-hf", CostRequest(gpu="tpu-v9"), use_cache=False)
