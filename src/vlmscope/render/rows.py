"""Display specs: the seed's two tables and the cost table as rows of display strings, and number formatting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vlmscope.data import (
    Anatomy,
    Comparison,
    CostSheet,
    Fit,
    Memory,
    MLPFacts,
    NormFacts,
    ResamplerKind,
    VideoTokens,
    VisionFacts,
    ZooEntry,
)

_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` with every control or format character (ESC, BEL, CR, bidi overrides, ...) written as a
    visible escape, so a string from a config, a path or a repo id cannot clear, recolour or retitle a
    terminal, nor reorder what a reader sees. Printable text is returned as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _VISIBLE.get(ch) or ascii(ch)[1:-1] for ch in text)


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()  # footnotes printed under the table


def short_count(n: int) -> str:
    """7,063,427,072 → "7.06B"; 20,979,712 → "21.0M"; 1,740,000,000,000 → "1.74T"."""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
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
    """The connector's class and projection, plus its Perceiver resampler when it has one (the seed's layout;
    a Q-Former is named under pooling only)."""
    c = a.connector
    text = f"{c.class_name}: {c.projection}"
    return f"{text} + {c.pooling}" if c.resampler and c.resampler.kind is ResamplerKind.perceiver else text


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
    return Table(title, tuple(h for h, _ in spec),
                 tuple(tuple(printable(get(a)) for _, get in spec) for a in comparison.models))


def seed_tables(comparison: Comparison) -> tuple[Table, Table]:
    """The seed's overview and architecture tables, one row per model."""
    return (_table("Overview", OVERVIEW, comparison), _table("Architecture", ARCHITECTURE, comparison))


def gflops(n: int | None) -> str:
    return "not counted (see the warnings)" if n is None else f"{n / 1e9:,.1f}"


def size_text(size: tuple[int, int]) -> str:
    """"1024×768", or "no native size" for models that take any size and got none (Qwen2-VL, Fuyu)."""
    return f"{size[0]}×{size[1]}" if size[0] and size[1] else "— (no native size: pass --image-size)"


def readable(n: int) -> str:
    """Bytes in binary units, labelled: 131,072 → "128 KiB"; 336,068,608 → "320.5 MiB"."""
    value, unit = float(n), "B"
    for name in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, name
    text = f"{value:,.1f}".removesuffix(".0") if unit != "B" else f"{n:,}"
    return f"{text} {unit}"


def gib(n: int) -> str:
    return f"{n / 1024**3:,.2f} GiB"


COST: tuple[tuple[str, Callable[[tuple[Anatomy, CostSheet]], str]], ...] = (
    ("Model", lambda p: p[0].display_name),
    ("Image size", lambda p: size_text(p[1].tokens.image_size)),
    ("Tokens per image", lambda p: "—" if p[1].tokens.per_image is None else f"{p[1].tokens.per_image:,}"),
    ("Vision GFLOPs", lambda p: gflops(p[1].flops.vision)),
    ("Prefill GFLOPs", lambda p: gflops(p[1].flops.prefill)),
    ("Decode GFLOPs / token", lambda p: gflops(p[1].flops.decode_per_token)),
    ("bf16 weights", lambda p: gib(p[1].memory.weights_by_dtype["bf16"])),
    ("KV MiB per 1k tokens", lambda p: f"{p[1].kv.bytes_per_token * 1000 / 1024**2:,.1f}"),
)


def _size(n: int | None) -> str:
    return "—" if n is None else readable(n)


def _held(pick: Callable[[Memory], int | None]) -> Callable[[tuple[Anatomy, CostSheet]], str]:
    return lambda p: _size(pick(p[1].memory))


MEMORY: tuple[tuple[str, Callable[[tuple[Anatomy, CostSheet]], str]], ...] = (
    ("KV cache at the context", _held(lambda m: m.kv_cache_bytes)),
    ("Activation peak (prefill)", _held(lambda m: m.activation_peak_bytes)),
    ("Peak memory (bf16)", _held(lambda m: m.peak_bytes)),
)

LATENCY: tuple[tuple[str, Callable[[tuple[Anatomy, CostSheet]], str]], ...] = (
    ("First token (lower bound)", lambda p: _seconds(p[1].latency.prefill_s_lower_bound if p[1].latency else None)),
    ("Per token (lower bound)",
     lambda p: _seconds(p[1].latency.decode_s_per_token_lower_bound if p[1].latency else None)),
)


def cost_table(pairs: tuple[tuple[Anatomy, CostSheet], ...]) -> Table:
    """One row per model: what one image and one request cost (FLOPs, not MACs); footnotes say which models'
    figures rest on assumed processor defaults, and what makes a request questionable. With a GPU named, the
    peak memory and the latency lower bounds too."""
    clips = ((("Video tokens", lambda p: f"{sum(v.tokens for v in p[1].tokens.videos):,}"),)
             if any(c.tokens.videos for _, c in pairs) else ())
    spec = COST[:3] + clips + COST[3:] + MEMORY + (LATENCY if any(c.latency is not None for _, c in pairs) else ())
    rows = tuple(tuple(printable(get(p)) for _, get in spec) for p in pairs)
    said: dict[str, list[str]] = {}
    for a, c in pairs:
        if c.tokens.processor_defaults:
            said.setdefault(_DEFAULTS_NOTE, []).append(a.display_name)
        for warning in c.warnings:
            said.setdefault(warning, []).append(a.display_name)
    notes = tuple(printable(f"{', '.join(names)}: {text}") for text, names in said.items())
    if any(c.latency is not None for _, c in pairs):
        gpu = next(c.latency.gpu for _, c in pairs if c.latency is not None)
        notes += (f"latency: roofline lower bounds on {gpu} (dense peak and memory bandwidth); a real run is "
                  "never faster",)
    return Table("Cost", tuple(h for h, _ in spec), rows, notes)


_DEFAULTS_NOTE = ("no preprocessor_config.json bundled: processor defaults assumed (images cut only as "
                  "config.json says, no image splitting or tiling of the processor's own)")


def _video_rows(videos: tuple[VideoTokens, ...]) -> list[tuple[str, str]]:
    """One row per video: its tokens, its processor's text beside them (counted by a tokenizer), rule, passes."""
    return [(f"Video {c.video}", ("at most " if c.fewest else "") + f"{c.tokens:,} tokens" + ("" if not (c.timestamps
             or c.text) else f", + {len(c.text) or c.timestamps:,} text strings (not counted)" if c.text_tokens is None
             else f", + {c.text_tokens:,} text tokens (timestamps, labels, newlines: by the model's tokenizer)")
             + f"; {c.units:,} encoder passes ({c.processor}: {c.rule})") for c in videos]


def cost_sheet_rows(c: CostSheet) -> list[tuple[str, str]]:
    """The cost sheet of one model as (fact, value) rows: tokens, FLOPs, memory, fit, latency, notes."""
    f, t, r, m, kv = c.flops, c.tokens, c.request, c.memory, c.kv
    rows = [
        ("Image", f"{r.images} × {size_text(t.image_size)}"),
        ("Visual tokens per image", "—" if t.per_image is None else f"{t.per_image:,} ({t.rule})"),
        ("Vision-encoder passes per image", str(t.crops)),
        *_video_rows(t.videos),
        ("Prefill tokens", "—" if t.prefill is None else
         f"{t.prefill:,} (visual{' + videos' if t.videos else ''} + {r.text_tokens} text)"),
        ("Vision + connector", f"{gflops(f.vision)} GFLOPs"),
        ("Prefill (LM + head)", f"{gflops(f.prefill)} GFLOPs"),
        (f"Decode, 1 token at context {r.context:,}", f"{gflops(f.decode_per_token)} GFLOPs"),
        ("FLOP method", f"{f.method} (FLOPs, not MACs)"),
    ]
    rows += [(f"Weights {d}", gib(n)) for d, n in m.weights_by_dtype.items() if d != "fp16"]
    window = f", sliding window {kv.window:,}" if kv.window else ""
    rows.append(("KV cache (bf16)", f"{readable(kv.bytes_per_token)} per token over {kv.layers} layers{window}"))
    if c.fit is not None:
        rows.append(_fit_row(c.fit))
    rows += [(f"Weights as stored ({m.quant})", readable(m.weights_bytes)), ("  quantized", m.quantized_roles),
             ("  checkpoint dtype", m.checkpoint_dtype or "— (not in the config)"),
             (f"KV cache at {r.context:,} × {r.batch}", readable(m.kv_cache_bytes)),
             ("Activation peak (prefill)", _size(m.activation_peak_bytes)),
             ("Peak memory", _size(m.peak_bytes)),
             ("Memory method", m.method)]
    if c.latency is not None:
        lat = c.latency
        rows += [(f"First token on {lat.gpu}", _seconds(lat.prefill_s_lower_bound)),
                 ("Per output token", _seconds(lat.decode_s_per_token_lower_bound)),
                 ("Tokens per second", f"≤ {lat.tokens_per_s_upper_bound:,.0f} (batch {r.batch})"),
                 ("Bounded by", lat.bound_by)]
    rows += [("Assumed", a) for a in c.assumptions] + [("Warning", w) for w in c.warnings]
    return rows


def tables(comparison: Comparison, sheets: tuple[CostSheet, ...] | None) -> tuple[Table, ...]:
    """The seed's two tables, then the cost table when the sheets are given (or the comparison carries
    them)."""
    sheets = sheets if sheets is not None else comparison.sheets
    found: tuple[Table, ...] = seed_tables(comparison)
    if sheets is not None:
        found = (*found, cost_table(tuple(zip(comparison.models, sheets, strict=True))))
    return found


def zoo_rows(entries: tuple[ZooEntry, ...]) -> Table:
    """The zoo as one table: roles and kind per model_type, or the reason it failed."""
    headers = ("model_type", "status", "vision encoder", "connector / pooling", "language model", "kind",
               "parameters")
    rows = []
    for e in entries:
        a = e.anatomy
        if a is None:
            rows.append((e.model_type, "error", "(see below)", "", "", "", ""))
            continue
        vision = f"{a.vision.class_name} ×{a.vision.layers}" if a.vision else NO_VISION
        rows.append((e.model_type, "ok", vision, f"{a.connector.class_name} / {a.connector.pooling}",
                     f"{a.language.class_name} ×{a.language.layers}", a.architecture, exact_count(a.params.total)))
    return Table("transformers image-text-to-text zoo", headers, tuple(tuple(map(printable, r)) for r in rows))


def cell(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


def _seconds(s: float | None) -> str:
    return "—" if s is None else f"≥ {s * 1000:,.1f} ms"


def fit_rows(fits: tuple[Fit, ...]) -> Table:
    """``vlmscope fit``: one row per model, sorted by peak; the latency columns when a GPU was named."""
    timed = any(f.latency is not None for f in fits)
    headers = ["Model", "Weights", "KV cache", "Activations", "Peak", "Fits", "Headroom", "Max context",
               "Max batch"] + (["First token", "Per token", "Tokens/s"] if timed else [])
    rows = []
    for f in fits:
        verdict = "?" if f.fits is None else "✓" if f.fits else "✗"
        headroom = "—" if f.headroom_bytes is None else (
            readable(f.headroom_bytes) if f.headroom_bytes >= 0 else f"−{readable(-f.headroom_bytes)}")
        context = "—" if f.max_context is None else f"{f.max_context:,}" + (
            " (model max)" if f.max_context == f.context_limit else "")
        row = [f.display_name, f"{_size(f.weights_bytes)} ({f.quant})", _size(f.kv_cache_bytes),
               _size(f.activation_peak_bytes), _size(f.peak_bytes), verdict, headroom, context,
               "—" if f.max_batch is None else f"{f.max_batch:,}"]
        if timed:
            lat = f.latency
            row += ["—", "—", "—"] if lat is None else [
                _seconds(lat.prefill_s_lower_bound), _seconds(lat.decode_s_per_token_lower_bound),
                f"≤ {lat.tokens_per_s_upper_bound:,.0f}"]
        rows.append(tuple(printable(c) for c in row))
    asked = _fit_request(fits[0]) if fits else []
    notes = [*asked, *(f"{f.display_name}: {w}" for f in fits for w in f.warnings)]
    if timed:
        notes.append("latency: roofline lower bounds (dense peak and memory bandwidth); a real run is never faster")
    title = f"Fit on {fits[0].gpu or 'a GPU of ' + readable(fits[0].gpu_bytes)}" if fits else "Fit"
    return Table(printable(title), tuple(headers), tuple(rows), tuple(printable(n) for n in notes))


def _fit_row(f: Fit) -> tuple[str, str]:
    """`show --gpu/--gpu-mem`: fit's verdict for the sheet's request, as `fit` gives it."""
    on = f.gpu or readable(f.gpu_bytes)
    if f.fits is None or f.peak_bytes is None or f.headroom_bytes is None:
        return f"Fits {on}", "? (the activation peak was not traced)"
    usable = f.gpu_bytes - f.reserve_bytes
    verdict = "✓ fits" if f.fits else "✗ does NOT fit"
    room = readable(f.headroom_bytes) if f.headroom_bytes >= 0 else f"−{readable(-f.headroom_bytes)}"
    return (f"Fits {on}", f"{verdict}: peak {readable(f.peak_bytes)} of {readable(usable)} ({readable(f.gpu_bytes)} "
                          f"less a {readable(f.reserve_bytes)} reserve), headroom {room}"
            + ("" if f.fits or f.headroom_bytes < 0 else f"; {f.warnings[-1]}"))


def _fit_request(f: Fit) -> list[str]:
    """What a fit answered for: the GPU's memory and reserve, and the request (the same for every row)."""
    reported = ", the total its driver reports" if f.gpu else ""
    size = "at the encoder's own size" if f.image_size == (0, 0) else f"of {size_text(f.image_size)}"
    return [f"GPU memory: {f.gpu_bytes:,} bytes ({readable(f.gpu_bytes)}{reported}), less a reserve of "
            f"{readable(f.reserve_bytes)} for what a process cannot use (CUDA context, workspaces, allocator "
            "slack; --reserve): the verdict, headroom and maxima are against the rest",
            "request: " + (f"{f.images} image{'' if f.images == 1 else 's'} {size}, " if f.images else "no images, ")
            + "".join(f"video {v}, " for v in f.videos)
            + f"{f.text_tokens:,} text tokens, context {f.context:,}, batch {f.batch}, weights {f.quant}"]
