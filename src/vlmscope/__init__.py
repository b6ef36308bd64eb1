"""vlmscope: look inside vision-language models without downloading their weights."""

from __future__ import annotations

from vlmscope.api import SEED_MODELS, compare, inspect

__all__ = ["SEED_MODELS", "compare", "inspect"]
__version__ = "0.1.0"
