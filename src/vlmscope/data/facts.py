"""The facts of one model: roles, parameters, vision / connector / language / head facts, the module tree,
its source and catalog card. Computed from the model definition (or cited from the card)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlmscope.data.cost import CostSheet


class Role(StrEnum):
    """What a module or parameter is for. ``model`` marks trunks that hold several roles."""

    vision = "vision"
    connector = "connector"
    language = "language"
    lm_head = "lm_head"
    other = "other"
    model = "model"


class Origin(StrEnum):
    """Where a model's config files came from."""

    catalog = "catalog"
    folder = "folder"
    file = "file"
    hub = "hub"
    zoo = "zoo"



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
    origin: Cited | None = None  # official, conversion, fine-tune or copy (CARD_ORIGINS)
    base_model: Cited | None = None  # the checkpoint it was converted, fine-tuned or copied from


CARD_ORIGINS = ("official", "conversion", "fine-tune", "copy")


@dataclass(frozen=True)
class SourceInfo:
    """Where the config files came from."""

    origin: Origin
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
    variable_frames: bool = False  # the tower's forward takes a patch mask: frames of any size, padded
    any_size: bool = False  # the tower's forward takes each image's size: one frame at the image's own aspect
    aspect_tiles: bool = False  # the tower's forward takes each image's tiles with their aspect ratio (Mllama)
    patch_grids: bool = False  # the tower takes each frame's patch grid (SigLIP2 shapes, MiniCPM-V target sizes)

    @property
    def intermediate_size(self) -> int:
        return self.mlp.dims[1]


class ResamplerKind(StrEnum):
    """Connectors that attend with learned queries; the member's value is its display name."""

    perceiver = "Perceiver resampler"
    qformer = "Q-Former"
    learned_query = "Learned-query resampler"

    @property
    def unit(self) -> str:
        return "latents" if self is ResamplerKind.perceiver else "queries"


@dataclass(frozen=True)
class ResamplerFacts:
    """A resampler in the connector: its kind, its learned queries (latents) per crop and its depth."""

    kind: ResamplerKind
    queries: int
    layers: int | None = None

    @property
    def text(self) -> str:
        depth = f", {self.layers} layers" if self.layers else ""
        return f"{self.kind.value} ({self.queries} {self.kind.unit}{depth})"


@dataclass(frozen=True)
class Separator:
    """A learned single vector the connector inserts between image features (e.g. LLaVA-NeXT's image_newline)."""

    name: str
    width: int

    @property
    def text(self) -> str:
        return f"{self.name} ({self.width})"


@dataclass(frozen=True)
class ConnectorFacts:
    class_name: str
    paths: tuple[str, ...]
    projection: str
    pooling: str
    tokens_per_image: int | None
    tokens_rule: str
    separators: tuple[Separator, ...] = ()
    queries: int | None = None  # learned queries / latents per crop (resamplers)
    merge: int = 1  # s of an s×s space-to-depth merge
    avg_pool: int = 1  # k of a k×k average pool
    merge_hint: str | None = None  # config key naming the merge: spatial_merge_size, scale_factor, ...
    resampler: ResamplerFacts | None = None
    flat_patch: int = 0  # patch side when flattened patches go straight into the LM (no vision tower)
    processing: str | None = None  # a rebuilt skeleton's own image processing (``vlmscope_processing``)


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
    role: Role
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

    @property
    def display_name(self) -> str:
        return self.card.display_name.value if self.card else self.model_id

    def _repr_html_(self) -> str:
        from vlmscope.render.html import anatomy_html  # notebook hook: the one reach into render

        return anatomy_html(self)

    def to_pandas(self) -> Any:
        """One-row DataFrame of the flat record (needs the optional ``pandas`` extra)."""
        return Comparison((self,)).to_pandas()


@dataclass(frozen=True)
class Comparison:
    """N anatomies side by side, in the order asked for; with their cost sheets when they were costed
    (one per model, in the same order)."""

    models: tuple[Anatomy, ...]
    sheets: tuple[CostSheet, ...] | None = None

    def _repr_html_(self) -> str:
        from vlmscope.render.html import comparison_html  # notebook hook: the one reach into render

        return comparison_html(self)

    def to_pandas(self) -> Any:
        """One row per model, one column per fact of the flat record, the cost columns too when the models
        were costed (needs the optional ``pandas`` extra)."""
        from vlmscope.render.data import frame  # notebook hook, like _repr_html_

        return frame(self)


@dataclass(frozen=True)
class ZooEntry:
    """One model_type of the transformers zoo: its anatomy, or why it could not be built or read."""

    model_type: str
    reason: str | None
    anatomy: Anatomy | None

    @property
    def status(self) -> str:
        return "ok" if self.anatomy is not None else "error"
