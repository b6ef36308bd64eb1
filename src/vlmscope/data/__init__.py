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
    Fit,
    Fitted,
    Flops,
    KVCache,
    Latency,
    Memory,
    Outcome,
    Tokens,
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
from vlmscope.data.quant import QUANT_METHODS, CompressedScheme, Quant, QuantMethod
from vlmscope.data.video import ImageTokens, VideoSpec, VideoTokens, parse_video

__all__ = [
    "DTYPE_BYTES",
    "QUANT_METHODS",
    "Anatomy",
    "Card",
    "Cited",
    "Comparison",
    "CompressedScheme",
    "ConnectorFacts",
    "CostRequest",
    "CostSheet",
    "Costed",
    "DType",
    "Fit",
    "Fitted",
    "Flops",
    "HeadFacts",
    "ImageTokens",
    "KVCache",
    "LanguageFacts",
    "Latency",
    "MLPFacts",
    "Memory",
    "NormFacts",
    "Origin",
    "Outcome",
    "ParamCounts",
    "Quant",
    "QuantMethod",
    "ResamplerFacts",
    "ResamplerKind",
    "Role",
    "Separator",
    "SourceInfo",
    "Tokens",
    "TreeNode",
    "VideoSpec",
    "VideoTokens",
    "VisionFacts",
    "ZooEntry",
    "parse_video",
]
