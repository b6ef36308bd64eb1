"""N anatomies → the seed's two tables (aligned rows of display strings), and the flat JSON record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vlmscope.costtypes import CostSheet
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
    ("Fine-tuning Method", lambda a: _card(a, lambda c: c.training_method.value if c.training_method
                                           else "— (not recorded in the catalog)")),
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
            "display_name": a.card.display_name.value,
            "training_method": a.card.training_method.value if a.card.training_method else None,
            "training_method_source": a.card.training_method.source if a.card.training_method else None,
            "model_card_url": a.card.model_card_url},
        "source": {"origin": a.source.origin, "location": a.source.location, "files": list(a.source.files),
                   "reconstructed": a.source.reconstructed},
    }


def _vision_record(v: VisionFacts | None) -> dict[str, Any]:
    if v is None:
        return {"class": "none", "family": "none", **dict.fromkeys(
            ("layers", "hidden_size", "intermediate_size", "heads", "patch_size", "image_size", "positions",
             "class_token", "native_resolution", "embeddings", "attention", "mlp", "mlp_gated", "activation",
             "norm", "norm_eps", "path"))}
    return {"class": v.class_name, "family": v.family, "layers": v.layers, "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size, "heads": v.heads, "patch_size": v.patch_size,
            "image_size": v.image_size, "positions": v.positions, "class_token": v.class_token,
            "native_resolution": v.native_resolution, "embeddings": v.embeddings, "attention": v.attention,
            "mlp": v.mlp.class_name,
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


def cost_record(c: CostSheet) -> dict[str, Any]:
    """The documented ``cost`` object (docs/json.md)."""
    f = c.flops
    return {
        "image_size": list(c.image_size), "images": c.images, "visual_tokens": c.visual_tokens, "crops": c.crops,
        "tokens_rule": c.tokens_rule, "text_tokens": c.text_tokens, "prefill_tokens": c.prefill_tokens,
        "context": c.context, "batch": c.batch,
        "flops": {"vision": f.vision, "prefill": f.prefill, "decode_per_token": f.decode_per_token,
                  "unit": "FLOPs (a multiply-add counts 2; not MACs)", "method": f.method},
        "weights_bytes": dict(c.weights_bytes),
        "weights_bytes_by_role": {role: dict(v) for role, v in c.role_weights_bytes.items()},
        "kv_cache_bytes_per_token": c.kv_cache_bytes_per_token, "kv_layers": c.kv_layers,
        "sliding_window": c.sliding_window,
        "scenario": {"weights_dtype": c.weights_dtype, "vision_dtype": c.vision_dtype, "bytes": c.scenario_bytes,
                     "gpu_gb": c.gpu_gb, "fits": c.fits},
    }


def gflops(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e9:,.1f}"


def size_text(size: tuple[int, int]) -> str:
    """"1024×768", or "no native size" for models that take any size and got none (Qwen2-VL, Fuyu)."""
    return f"{size[0]}×{size[1]}" if size[0] and size[1] else "— (no native size: pass --image-size)"


def gib(n: int) -> str:
    return f"{n / 1024**3:,.2f} GiB"


COST: tuple[tuple[str, Callable[[tuple[Anatomy, CostSheet]], str]], ...] = (
    ("Model", lambda p: p[0].display_name),
    ("Image size", lambda p: size_text(p[1].image_size)),
    ("Tokens per image", lambda p: "—" if p[1].visual_tokens is None else f"{p[1].visual_tokens:,}"),
    ("Vision GFLOPs", lambda p: gflops(p[1].flops.vision)),
    ("Prefill GFLOPs", lambda p: gflops(p[1].flops.prefill)),
    ("Decode GFLOPs / token", lambda p: gflops(p[1].flops.decode_per_token)),
    ("bf16 weights", lambda p: gib(p[1].weights_bytes["bf16"])),
    ("KV MB per 1k tokens", lambda p: f"{p[1].kv_cache_bytes_per_token * 1000 / 1024**2:,.1f}"),
)


def cost_table(pairs: tuple[tuple[Anatomy, CostSheet], ...]) -> Table:
    """One row per model: what one image and one request cost (FLOPs, not MACs)."""
    return Table("Cost", tuple(h for h, _ in COST), tuple(tuple(get(p) for _, get in COST) for p in pairs))


def cost_sheet_rows(c: CostSheet) -> list[tuple[str, str]]:
    """The cost sheet of one model as (fact, value) rows."""
    f = c.flops
    rows = [
        ("Image", f"{c.images} × {size_text(c.image_size)}"),
        ("Visual tokens per image", "—" if c.visual_tokens is None else f"{c.visual_tokens:,} ({c.tokens_rule})"),
        ("Vision-encoder passes per image", str(c.crops)),
        ("Prefill tokens",
         "—" if c.prefill_tokens is None else f"{c.prefill_tokens:,} (visual + {c.text_tokens} text)"),
        ("Vision + connector", f"{gflops(f.vision)} GFLOPs"),
        ("Prefill (LM + head)", f"{gflops(f.prefill)} GFLOPs"),
        (f"Decode, 1 token at context {c.context:,}", f"{gflops(f.decode_per_token)} GFLOPs"),
        ("FLOP method", f"{f.method} (FLOPs, not MACs)"),
    ]
    rows += [(f"Weights {d}", gib(n)) for d, n in c.weights_bytes.items() if d != "fp16"]
    window = f", sliding window {c.sliding_window:,}" if c.sliding_window else ""
    rows.append(("KV cache (bf16)", f"{c.kv_cache_bytes_per_token:,} B per token over {c.kv_layers} layers{window}"))
    fits = ""
    if c.fits is not None:
        fits = f" — {'fits' if c.fits else 'does NOT fit'} in {c.gpu_gb:g} GB"
    rows.append((f"Scenario: batch {c.batch}, context {c.context:,}",
                 f"{gib(c.scenario_bytes)} (weights {c.weights_dtype}, vision {c.vision_dtype}, + KV){fits}"))
    return rows
