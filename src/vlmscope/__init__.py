"""vlmscope: look inside vision-language models without downloading their weights."""

from __future__ import annotations

from vlmscope.api import SEED_MODELS, compare, cost, cost_many, fit, inspect, train
from vlmscope.data import CostRequest, CostSheet, Fit, Fitted
from vlmscope.data.training import TrainRecipe, TrainShape, TrainSheet

__all__ = ["SEED_MODELS", "CostRequest", "CostSheet", "Fit", "Fitted", "TrainRecipe", "TrainShape", "TrainSheet",
           "compare", "cost", "cost_many", "fit", "inspect", "train"]
__version__ = "0.1.0"
