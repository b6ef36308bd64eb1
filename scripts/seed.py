"""The seed's hand-typed tables, parsed, and every cell where the generated tables disagree, with why.

A seed cell agrees when its words and numbers appear, in order, in the generated cell (the generated
cells say more: exact counts, activation, eps). Everything else is a correction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vlmscope.data import Anatomy, Comparison
from vlmscope.render.rows import ARCHITECTURE, OVERVIEW, Table, seed_tables, short_count

_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?|[a-z_][a-z0-9_]*")
_UNITS = {"B": 10**9, "M": 10**6}


@dataclass(frozen=True)
class SeedTable:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Correction:
    model: str
    column: str
    seed: str
    generated: str
    why: str


def parse(text: str) -> tuple[SeedTable, SeedTable]:
    """The overview and architecture tables of the seed text (architecture rows span several lines)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("---|")]
    tables = []
    for n, sep in enumerate(starts):
        headers = _cells(lines[sep - 1])
        end = starts[n + 1] - 1 if n + 1 < len(starts) else len(lines)
        cells = _cells(" ".join(lines[sep + 1:end]))
        width = len(headers)
        rows = tuple(tuple(cells[i:i + width]) for i in range(0, len(cells) - width + 1, width))
        tables.append(SeedTable(tuple(headers), rows))
    return tables[0], tables[1]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("|") if c.strip()]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("->", "→").lower())


def agrees(seed: str, generated: str) -> bool:
    """Seed tokens form an ordered subsequence of the generated tokens ("layers" is notation only)."""
    want = [t for t in tokens(seed) if t != "layers"]
    have = iter(tokens(generated))
    return all(any(t == h for h in have) for t in want)


def _params_why(a: Anatomy, seed: str) -> str:
    n = a.params.total
    match = re.fullmatch(r"([\d.]+)\s*([BM])", seed.strip())
    exact = f"exact count {n:,} ({short_count(n)}) from the meta-device build"
    if not match:
        return exact
    value, unit = float(match.group(1)), _UNITS[match.group(2)]
    digits = len(match.group(1).split(".")[1]) if "." in match.group(1) else 0
    rounds = round(n / unit, digits) == value
    return f"{exact}; the seed's {seed} is {'a rounding' if rounds else 'not even a correct rounding'} of it"


_WHY: dict[str, Callable[[Anatomy, str], str]] = {
    "# of Parameters": _params_why,
    "Architecture": lambda a, s: "structure: visual tokens enter the language model's input sequence and the LM has "
                                 "no cross-attention layers, so the model is fully autoregressive",
    "Vision Encoder": lambda a, s: (
        f"structure: {a.vision.class_name} with {a.vision.layers} layers, width {a.vision.hidden_size}, MLP "
        f"{a.vision.intermediate_size}, patch {a.vision.patch_size}, {a.vision.positions} positions = "
        f"{a.vision.family}" if a.vision else "the model has no vision tower"),
    "Pooling": lambda a, s: f"connector structure: {a.connector.pooling}",
    "Modality Projection": lambda a, s: f"the projector's layers ({a.connector.class_name}); the seed's words are "
                                        "not a projection",
    "Language Model Backbone": lambda a, s: (
        f"structure: {a.language.layers} layers, width {a.language.hidden_size}, MLP {a.language.intermediate_size}, "
        f"{a.language.kv_heads} KV heads, vocab {a.language.vocab_size:,} = {a.language.family}"),
    "Fine-tuning Method": lambda a, s: (f"{a.card.training_method.evidence} ({a.card.training_method.source})"
                                        if a.card and a.card.training_method else "no card"),
    "Flash Attention": lambda a, s: f"{a.model_class} supports the backends {', '.join(a.attention_backends)}",
    "Model Class": lambda a, s: f"config.json 'architectures' names {a.model_class}; transformers builds that class",
    "Vision Self Attention": lambda a, s: "transformers 5 has one attention class per model; sdpa / flash_attention_2 "
                                          "are run-time backends, not classes",
    "Language Self Attention": lambda a, s: "transformers 5 has one attention class per model; sdpa / "
                                            "flash_attention_2 are run-time backends, not classes",
    "Language Model": lambda a, s: f"the module that holds the decoder stack is {a.language.class_name} "
                                   f"({a.language.path}); in transformers 5 the LM head sits on the top-level model",
    "Language MLP": lambda a, s: (f"{a.language.mlp.class_name} is gated; each branch is "
                                  f"{a.language.intermediate_size} wide (a fused gate_up projection outputs "
                                  f"{2 * a.language.intermediate_size})" if a.language.mlp.gated else "MLP shape"),
    "Multi-Modal Projector": lambda a, s: f"the connector's layers are {a.connector.projection}, pooled by "
                                          f"{a.connector.pooling}",
}


def corrections(comparison: Comparison, seed_text: str) -> list[Correction]:
    """Every seed cell that disagrees with the generated tables, in seed order."""
    overview, architecture = parse(seed_text)
    generated = seed_tables(comparison)
    by_name = {a.display_name: a for a in comparison.models}
    by_id = {a.model_id: a for a in comparison.models}
    found = []
    for seed, table, index, spec in ((overview, generated[0], by_name, OVERVIEW),
                                     (architecture, generated[1], by_id, ARCHITECTURE)):
        assert seed.headers == tuple(h for h, _ in spec), f"seed headers changed: {seed.headers}"
        found += _diff(seed, table, index)
    return found


def _diff(seed: SeedTable, table: Table, index: dict[str, Anatomy]) -> list[Correction]:
    rows = {row[0]: row for row in table.rows}
    found = []
    for seed_row in seed.rows:
        anatomy = index[seed_row[0]]
        gen_row = rows[seed_row[0]]
        for header, want, have in zip(seed.headers[1:], seed_row[1:], gen_row[1:], strict=True):
            if not agrees(want, have) or (header == "# of Parameters" and want != have):
                why = _WHY.get(header, lambda a, s: "computed from the model definition")(anatomy, want)
                found.append(Correction(seed_row[0], header, want, have, why))
    return found


def corrections_markdown(comparison: Comparison, seed_text: str) -> str:
    """The docs page: every correction, generated from the tool's output."""
    from vlmscope.render.markdown import md_cell

    found = corrections(comparison, seed_text)
    lines = [
        "# Seed corrections",
        "",
        "<!-- Generated by `python scripts/gen_docs.py` from vlmscope's own output; do not edit by hand. -->",
        "",
        "Every cell of the seed's two hand-typed tables (`docs/seed/seed-tables.txt`) that disagrees with the",
        "tables `vlmscope compare` generates from the models' definitions. A seed cell counts as agreeing when",
        "its words and numbers appear, in order, in the generated cell; parameter counts are always exact.",
        "",
        f"{len(found)} cells differ.",
        "",
        "| Model | Column | Seed | Generated | Why |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {md_cell(c.model)} | {md_cell(c.column)} | {md_cell(c.seed)} | {md_cell(c.generated)} | "
              f"{md_cell(c.why)} |" for c in found]
    return "\n".join(lines) + "\n"


def seed_text(root: Path) -> str:
    return (root / "docs" / "seed" / "seed-tables.txt").read_text(encoding="utf-8")
