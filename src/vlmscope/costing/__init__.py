"""Stage 5, anatomy + request → cost: FLOPs counted on meta tensors (counting, echo, vision, flops), memory
(weights, KV cache, fit) and the sheet that gathers them."""

from __future__ import annotations

from vlmscope.costing.sheet import cost_sheet

__all__ = ["cost_sheet"]
