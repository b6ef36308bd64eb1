"""Stage 4, facts + image size → visual tokens: the model's own processing rules, torch-free."""

from __future__ import annotations

from vlmscope.tokens.rules import Encoded, encoded, image_tokens, native_tokens, request_tokens

__all__ = ["Encoded", "encoded", "image_tokens", "native_tokens", "request_tokens"]
