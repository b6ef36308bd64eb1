"""vlmscope: look inside vision-language models without downloading their weights."""

from __future__ import annotations

from vlmscope.api import SEED_MODELS, compare, cost, cost_many, inspect
from vlmscope.data import CostRequest, CostSheet

__all__ = ["SEED_MODELS", "CostRequest", "CostSheet", "compare", "cost", "cost_many", "inspect"]
__version__ = "0.1.0"
