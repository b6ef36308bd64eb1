"""Stage 4, facts + image size → visual tokens: the model's own processing rules, torch-free."""

from __future__ import annotations

from vlmscope.tokens.rules import ASSUMED_SIZE, Encoded, cost_size, encoded, image_tokens, native_tokens, request_tokens

__all__ = ["ASSUMED_SIZE", "Encoded", "cost_size", "encoded", "image_tokens", "native_tokens", "request_tokens"]
