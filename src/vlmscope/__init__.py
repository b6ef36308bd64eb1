"""vlmscope: look inside vision-language models without downloading their weights."""

from __future__ import annotations

from vlmscope.api import SEED_MODELS, compare, cost, cost_many, fit, inspect
from vlmscope.data import CostRequest, CostSheet, Fit, Fitted

__all__ = ["SEED_MODELS", "CostRequest", "CostSheet", "Fit", "Fitted", "compare", "cost", "cost_many", "fit",
           "inspect"]
__version__ = "0.1.0"
