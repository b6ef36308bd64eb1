"""Stage 2, config → the real transformers model on PyTorch's meta device (no weight memory); rebuilt
skeletons for architectures that exist only as remote code."""

from __future__ import annotations

from vlmscope.quiet import quiet
from vlmscope.skeleton.build import build, make_config

__all__ = ["build", "make_config", "quiet"]
