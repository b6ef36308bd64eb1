"""The Python API: named results, comparisons that carry their cost sheets."""

from __future__ import annotations

import vlmscope
from vlmscope.data import Costed, CostRequest
from vlmscope.render.markdown import markdown


def test_cost_returns_a_named_result() -> None:
    result = vlmscope.cost("llava-1.5-7b-hf", CostRequest(image_size=(1024, 768)))
    assert isinstance(result, Costed)
    anatomy, sheet = result  # still unpacks like the tuple it was
    assert result.anatomy is anatomy and result.sheet is sheet and sheet.visual_tokens == 576


def test_a_costed_comparison_carries_its_sheets() -> None:
    request = CostRequest(image_size=(1024, 768), context=8192)
    comparison = vlmscope.compare(["llava-1.5-7b-hf", "idefics2-8b"], request=request)
    assert comparison.sheets is not None and [s.visual_tokens for s in comparison.sheets] == [576, 320]
    frame = comparison.to_pandas()
    assert list(frame["cost.visual_tokens"]) == [576, 320] and "cost.flops.prefill" in frame.columns
    text = markdown(comparison)
    assert "### Cost" in text and "| LLaVA-1.5-7B | 1024×768 | 576 |" in text
    plain = vlmscope.compare(["llava-1.5-7b-hf"])
    assert plain.sheets is None and "### Cost" not in markdown(plain)
    assert "cost.visual_tokens" not in plain.to_pandas().columns
