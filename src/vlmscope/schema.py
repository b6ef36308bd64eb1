"""The typed, frozen data model. Every output format is rendered from these objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cited:
    """A fact that no model definition can give, with where it comes from."""

    value: str
    source: str
    evidence: str = ""


@dataclass(frozen=True)
class Card:
    """Catalog card: only the facts a config cannot tell."""

    display_name: Cited
    training_method: Cited | None  # None: no stored model-card text says how it was trained
    model_card_url: str


@dataclass(frozen=True)
class SourceInfo:
    """Where the config files came from."""

    origin: str  # "catalog", "folder", "file"
    location: str
    files: tuple[str, ...]
    reconstructed: bool = False


@dataclass(frozen=True)
class ParamCounts:
    """Parameters per role; shared or tied tensors are counted once. The roles sum to ``total``.

    ``other`` holds encoders of other modalities (e.g. an audio tower); it is 0 for vision-language models,
    whose four roles then sum to the total on their own."""

    total: int
    vision: int
    connector: int
    language: int
    lm_head: int
    other: int = 0


@dataclass(frozen=True)
class MLPFacts:
    """One transformer block's feed-forward network."""

    class_name: str
    dims: tuple[int, int, int]  # (in, inner width of one branch, out)
    gated: bool
    activation: str


@dataclass(frozen=True)
class NormFacts:
    class_name: str
    dim: int
    eps: float | None


@dataclass(frozen=True)
class VisionFacts:
    class_name: str
    path: str
    family: str
    layers: int
    block_class: str
    hidden_size: int
    heads: int | None
    patch_size: int | None
    image_size: int | None
    positions: int | None
    class_token: bool
    embeddings: str
    attention: str
    mlp: MLPFacts
    norm: NormFacts
    native_resolution: bool = False  # the tower's forward takes the patch grid (any image size, no resize)

    @property
    def intermediate_size(self) -> int:
        return self.mlp.dims[1]


@dataclass(frozen=True)
class ConnectorFacts:
    class_name: str
    paths: tuple[str, ...]
    projection: str
    pooling: str
    tokens_per_image: int | None
    tokens_rule: str
    separators: tuple[str, ...] = ()
    queries: int | None = None  # learned queries / latents per crop (resamplers)
    merge: int = 1  # s of an s×s space-to-depth merge
    avg_pool: int = 1  # k of a k×k average pool
    merge_hint: str | None = None  # config key naming the merge: spatial_merge_size, scale_factor, ...


@dataclass(frozen=True)
class LanguageFacts:
    class_name: str
    path: str
    family: str
    layers: int
    block_class: str
    hidden_size: int
    heads: int | None
    kv_heads: int | None
    vocab_size: int
    attention: str
    mlp: MLPFacts
    norm: NormFacts
    max_position_embeddings: int | None

    @property
    def intermediate_size(self) -> int:
        return self.mlp.dims[1]


@dataclass(frozen=True)
class HeadFacts:
    class_name: str
    path: str
    in_features: int
    out_features: int
    tied: bool


@dataclass(frozen=True)
class TreeNode:
    """One node of the module tree; ``repeat`` > 1 stands for N identical siblings collapsed."""

    name: str
    class_name: str
    params: int
    role: str
    repeat: int = 1
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True)
class Anatomy:
    """Everything vlmscope knows about one model, computed from its definition (or cited from its card)."""

    model_id: str
    model_class: str
    model_type: str
    architecture: str
    params: ParamCounts
    vision: VisionFacts | None  # None: no vision tower (a patch embedding feeds the language model)
    connector: ConnectorFacts
    language: LanguageFacts
    lm_head: HeadFacts
    attention_backends: tuple[str, ...]
    source: SourceInfo
    tree: TreeNode
    card: Card | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return self.card.display_name.value if self.card else self.model_id

    def _repr_html_(self) -> str:
        from vlmscope.render.html import anatomy_html

        return anatomy_html(self)

    def to_pandas(self) -> Any:
        """One-row DataFrame of the flat record (needs the optional ``pandas`` extra)."""
        return Comparison((self,)).to_pandas()


@dataclass(frozen=True)
class Comparison:
    """N anatomies side by side, in the order asked for."""

    models: tuple[Anatomy, ...]

    def _repr_html_(self) -> str:
        from vlmscope.render.html import comparison_html

        return comparison_html(self)

    def to_pandas(self) -> Any:
        """One row per model, one column per fact of the flat record (needs the optional ``pandas`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_pandas() needs pandas: pip install 'vlmscope[pandas]'") from exc
        from vlmscope.tables import flatten, record

        return pd.DataFrame([flatten(record(a)) for a in self.models])
