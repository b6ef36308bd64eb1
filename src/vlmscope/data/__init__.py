"""The typed, frozen data model: every output format is rendered from these objects.

Kept free of torch and transformers, so cached anatomies and cost sheets load without importing them.
Closed sets are ``StrEnum``s (their members compare and serialise as their plain string values).
"""

from __future__ import annotations

from vlmscope.data.cost import (
    DTYPE_BYTES,
    Costed,
    CostRequest,
    CostSheet,
    DType,
    Flops,
    ImageTokens,
    Outcome,
)
from vlmscope.data.facts import (
    Anatomy,
    Card,
    Cited,
    Comparison,
    ConnectorFacts,
    HeadFacts,
    LanguageFacts,
    MLPFacts,
    NormFacts,
    Origin,
    ParamCounts,
    ResamplerFacts,
    ResamplerKind,
    Role,
    Separator,
    SourceInfo,
    TreeNode,
    VisionFacts,
    ZooEntry,
)

__all__ = [
    "DTYPE_BYTES",
    "Anatomy",
    "Card",
    "Cited",
    "Comparison",
    "ConnectorFacts",
    "CostRequest",
    "CostSheet",
    "Costed",
    "DType",
    "Flops",
    "HeadFacts",
    "ImageTokens",
    "LanguageFacts",
    "MLPFacts",
    "NormFacts",
    "Origin",
    "Outcome",
    "ParamCounts",
    "ResamplerFacts",
    "ResamplerKind",
    "Role",
    "Separator",
    "SourceInfo",
    "TreeNode",
    "VisionFacts",
    "ZooEntry",
]
