"""N anatomies → the seed's two tables (aligned rows of display strings), and the flat JSON record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vlmscope.schema import Anatomy, Comparison, MLPFacts, NormFacts, VisionFacts


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def short_count(n: int) -> str:
    """7,063,427,072 → "7.06B"; 20,979,712 → "21.0M"."""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= size:
            value = n / size
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:.{digits}f}{suffix}"
    return str(n)


def exact_count(n: int) -> str:
    return f"{n:,} ({short_count(n)})"


def mlp_text(mlp: MLPFacts) -> str:
    a, b, c = mlp.dims
    gated = " gated" if mlp.gated else ""
    return f"{mlp.class_name}{gated} ({a}→{b}→{c}, {mlp.activation})"


def norm_text(norm: NormFacts) -> str:
    eps = f", eps={norm.eps:g}" if norm.eps is not None else ""
    return f"{norm.class_name}({norm.dim}{eps})"


def projector_text(a: Anatomy) -> str:
    """The connector's class and projection, plus its resampler when it has one."""
    text = f"{a.connector.class_name}: {a.connector.projection}"
    return f"{text} + {a.connector.pooling}" if "latents" in a.connector.pooling else text


def _flash(a: Anatomy) -> str:
    return "Yes (flash_attention_2)" if "flash_attention_2" in a.attention_backends else "No"


def _card(a: Anatomy, pick: Callable[[Any], str]) -> str:
    return pick(a.card) if a.card else "— (no catalog card)"


NO_VISION = "none (no vision tower)"


def _v(get: Callable[[VisionFacts], str]) -> Callable[[Anatomy], str]:
    """A vision cell, or an explicit "none" for models whose patches go straight to the language model."""
    return lambda a: get(a.vision) if a.vision is not None else NO_VISION


OVERVIEW: tuple[tuple[str, Callable[[Anatomy], str]], ...] = (
    ("Model", lambda a: a.display_name),
    ("# of Parameters", lambda a: exact_count(a.params.total)),
    ("Architecture", lambda a: a.architecture.capitalize()),
    ("Vision Encoder", _v(lambda v: v.family)),
    ("Pooling", lambda a: a.connector.pooling),
    ("Modality Projection", lambda a: a.connector.projection),
    ("Language Model Backbone", lambda a: a.language.family),
    ("Fine-tuning Method", lambda a: _card(a, lambda c: c.training_method.value)),
    ("Flash Attention", _flash),
    ("Hugging Face Model Card URL", lambda a: _card(a, lambda c: c.model_card_url)),
)

ARCHITECTURE: tuple[tuple[str, Callable[[Anatomy], str]], ...] = (
    ("Model Name", lambda a: a.model_id),
    ("Model Class", lambda a: a.model_class),
    ("Vision Model", _v(lambda v: v.class_name)),
    ("Vision Layers", _v(lambda v: str(v.layers))),
    ("Vision Embeddings", _v(lambda v: v.embeddings)),
    ("Vision Self Attention", _v(lambda v: v.attention)),
    ("Vision MLP", _v(lambda v: mlp_text(v.mlp))),
    ("Vision LayerNorm", _v(lambda v: norm_text(v.norm))),
    ("Multi-Modal Projector", lambda a: projector_text(a)),
    ("Language Model", lambda a: a.language.class_name),
    ("Language Layers", lambda a: str(a.language.layers)),
    ("Language Self Attention", lambda a: a.language.attention),
    ("Language MLP", lambda a: mlp_text(a.language.mlp)),
    ("Language LayerNorm", lambda a: norm_text(a.language.norm)),
    ("LM Head", lambda a: f"{a.lm_head.class_name}({a.lm_head.in_features}→{a.lm_head.out_features})"
                          + (" tied" if a.lm_head.tied else "")),
)


def _table(title: str, spec: tuple[tuple[str, Callable[[Anatomy], str]], ...], comparison: Comparison) -> Table:
    return Table(title, tuple(h for h, _ in spec), tuple(tuple(get(a) for _, get in spec) for a in comparison.models))


def seed_tables(comparison: Comparison) -> tuple[Table, Table]:
    """The seed's overview and architecture tables, one row per model."""
    return (_table("Overview", OVERVIEW, comparison), _table("Architecture", ARCHITECTURE, comparison))


def record(a: Anatomy) -> dict[str, Any]:
    """The documented JSON object for one model (docs/json.md)."""
    v, c, lang, h = a.vision, a.connector, a.language, a.lm_head
    return {
        "model_id": a.model_id,
        "display_name": a.display_name,
        "model_class": a.model_class,
        "model_type": a.model_type,
        "architecture": a.architecture,
        "params": {"total": a.params.total, "vision": a.params.vision, "connector": a.params.connector,
                   "language": a.params.language, "lm_head": a.params.lm_head, "other": a.params.other},
        "vision": _vision_record(v),
        "connector": {"class": c.class_name, "projection": c.projection, "pooling": c.pooling,
                      "tokens_per_image": c.tokens_per_image, "tokens_rule": c.tokens_rule,
                      "separators": list(c.separators), "paths": list(c.paths)},
        "language": {"class": lang.class_name, "family": lang.family, "layers": lang.layers,
                     "hidden_size": lang.hidden_size, "intermediate_size": lang.intermediate_size,
                     "heads": lang.heads, "kv_heads": lang.kv_heads, "vocab_size": lang.vocab_size,
                     "attention": lang.attention, "mlp": lang.mlp.class_name, "mlp_gated": lang.mlp.gated,
                     "activation": lang.mlp.activation, "norm": lang.norm.class_name, "norm_eps": lang.norm.eps,
                     "max_position_embeddings": lang.max_position_embeddings, "path": lang.path},
        "lm_head": {"in_features": h.in_features, "out_features": h.out_features, "tied": h.tied, "path": h.path},
        "attention_backends": list(a.attention_backends),
        "card": None if a.card is None else {
            "display_name": a.card.display_name.value, "training_method": a.card.training_method.value,
            "training_method_source": a.card.training_method.source, "model_card_url": a.card.model_card_url},
        "source": {"origin": a.source.origin, "location": a.source.location, "files": list(a.source.files),
                   "reconstructed": a.source.reconstructed},
    }


def _vision_record(v: VisionFacts | None) -> dict[str, Any]:
    if v is None:
        return {"class": "none", "family": "none", **dict.fromkeys(
            ("layers", "hidden_size", "intermediate_size", "heads", "patch_size", "image_size", "positions",
             "class_token", "embeddings", "attention", "mlp", "mlp_gated", "activation", "norm", "norm_eps",
             "path"))}
    return {"class": v.class_name, "family": v.family, "layers": v.layers, "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size, "heads": v.heads, "patch_size": v.patch_size,
            "image_size": v.image_size, "positions": v.positions, "class_token": v.class_token,
            "embeddings": v.embeddings, "attention": v.attention, "mlp": v.mlp.class_name,
            "mlp_gated": v.mlp.gated, "activation": v.mlp.activation, "norm": v.norm.class_name,
            "norm_eps": v.norm.eps, "path": v.path}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists become ";"-joined strings (for CSV)."""
    flat: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, f"{name}."))
        elif isinstance(v, list):
            flat[name] = ";".join(map(str, v))
        else:
            flat[name] = v
    return flat
