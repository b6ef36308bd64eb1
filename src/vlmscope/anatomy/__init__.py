"""Stage 3, module tree → facts: walk the skeleton once (index), find the roles from its structure (roles),
read each role's blocks (blocks), name what they are (names), and gather the anatomy (analyze)."""

from __future__ import annotations

from vlmscope.anatomy.analyze import Reading, analyze, read

__all__ = ["Reading", "analyze", "read"]
