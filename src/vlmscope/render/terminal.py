"""Terminal renderers (rich). They return strings; only the CLI prints."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape as markup_escape
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text
from rich.tree import Tree

from vlmscope.data import Anatomy, Comparison, CostSheet, TreeNode, VisionFacts, ZooEntry
from vlmscope.diff import Diff
from vlmscope.render import layout
from vlmscope.render.rows import (
    NO_VISION,
    Table,
    cell,
    cost_sheet_rows,
    exact_count,
    mlp_text,
    norm_text,
    printable,
    size_text,
    tables,
    zoo_rows,
)
from vlmscope.render.tree import node_label


def escape(text: str) -> str:
    """Text from the data, safe for rich: control characters made visible, markup brackets escaped."""
    return markup_escape(printable(text))


_ROLE_STYLE = {"vision": "cyan", "connector": "magenta", "language": "green", "lm_head": "yellow", "model": "white"}


def _render(renderable: RenderableType, width: int, color: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False, soft_wrap=False)
    console.print(renderable)
    text = buffer.getvalue()
    return text if color else "".join(line.rstrip(" ") + "\n" for line in text.splitlines())


def _facts_by_model(t: Table, names: list[str]) -> tuple[list[str], list[list[str]]]:
    """The fact labels and, per model, its column (header first). The table's first column becomes the
    header; it stays a fact row too unless it only repeats the short name (the Architecture table's ids)."""
    first = [row[0] for row in t.rows]
    skip = 1 if first == names else 0
    labels = list(t.headers[skip:])
    return labels, [[names[i], *row[skip:]] for i, row in enumerate(t.rows)]


def _group_table(labels: list[str], columns: list[list[str]], group: layout.Group, label: int,
                 styles: list[list[str]] | None = None) -> RichTable:
    out = RichTable(box=box.SIMPLE_HEAVY, pad_edge=False, show_lines=True, header_style="bold")
    out.add_column("", style="bold", width=label, no_wrap=True)
    for i, w in zip(group.columns, group.widths, strict=True):
        out.add_column(Text(layout.wrap(columns[i][0], w)), width=w, no_wrap=True)
    for r, name in enumerate(labels, start=1):
        cells = [Text(layout.wrap(columns[i][r], w), style=styles[i][r] if styles else "")
                 for i, w in zip(group.columns, group.widths, strict=True)]
        out.add_row(Text(layout.wrap(name, label)), *cells)
    return out


def side_by_side(labels: list[str], columns: list[list[str]], width: int, wide: bool = False,
                 styles: list[list[str]] | None = None) -> list[RenderableType]:
    """Facts as rows, models as columns, in as many groups of columns as the width needs (a diff's two
    columns, styled, always in one group)."""
    labels, columns = [printable(x) for x in labels], [[printable(c) for c in col] for col in columns]
    label = layout.label_width(labels, width, share=4 if styles else 3)
    parts: list[RenderableType] = []
    for group in layout.groups(columns, label, width, wide, together=styles is not None):
        parts.append(_group_table(labels, columns, group, label, styles))
    return parts


def _notes(notes: tuple[str, ...], width: int) -> list[RenderableType]:
    lines = ["* " + layout.wrap(printable(n), max(width - 2, 1)).replace("\n", "\n  ") for n in notes]
    return [Text(line) for line in lines]


def _turned(t: Table, names: list[str], width: int, wide: bool) -> list[RenderableType]:
    """One table turned: its title, facts as rows and models (headed by ``names``) as columns in groups that
    fit ``width``, then its notes."""
    return [Text(layout.shorten(t.title, width), style="bold"),
            *side_by_side(*_facts_by_model(t, names), width, wide), *_notes(t.notes, width)]


def comparison(comp: Comparison, width: int = 200, color: bool = False,
               sheets: tuple[CostSheet, ...] | None = None, wide: bool = False) -> str:
    """The two seed tables (and the cost table, when given): facts as rows, models as columns headed by their
    short names, in groups that fit ``width``; no cell is ever split inside a word."""
    names = [printable(a.display_name) for a in comp.models]
    return _render(Group(*(part for t in tables(comp, sheets) for part in _turned(t, names, width, wide))),
                   width, color)


def records(t: Table, width: int = 200, color: bool = False, wide: bool = False) -> str:
    """A table of one row per model (``fit``), turned as ``compare`` shows it, the first column heading the
    model columns."""
    return _render(Group(*_turned(t, [row[0] for row in t.rows], width, wide)), width, color)


def table(t: Table, width: int = 200, color: bool = False) -> str:
    """Any table, one row per record."""
    out = RichTable(title=t.title, box=box.SIMPLE_HEAVY, header_style="bold", title_style="bold")
    for header in t.headers:
        out.add_column(header)  # rich's default overflow: words are never split, only shortened with …
    for row in t.rows:
        out.add_row(*(escape(c) for c in row))
    return _render(out, width, color)


def _tree(node: TreeNode, depth: int | None, into: Tree | None = None) -> Tree:
    label = Text(printable(node_label(node)), style=_ROLE_STYLE.get(node.role, "white"), overflow="ellipsis")
    branch = Tree(label) if into is None else into.add(label)
    if depth is None or depth > 0:
        for child in node.children:
            _tree(child, None if depth is None else depth - 1, branch)
    return branch


def _vision_rows(v: VisionFacts | None) -> list[tuple[str, str]]:
    if v is None:
        return [("Vision encoder", NO_VISION)]
    return [("Vision encoder", f"{v.family}: {v.class_name} at {v.path}, {v.layers} × {v.block_class}"),
            ("  embeddings", v.embeddings),
            ("  attention / MLP", f"{v.attention} (heads {v.heads}) / {mlp_text(v.mlp)}"),
            ("  norm", norm_text(v.norm))]


def show(a: Anatomy, depth: int | None = None, width: int = 120, color: bool = False,
         sheets: list[CostSheet] | None = None) -> str:
    """One model in depth: a facts table per role and the collapsed module tree."""
    facts = RichTable(box=box.SIMPLE, show_header=False)
    facts.add_column(style="bold")
    facts.add_column()
    v, c, lang, h = a.vision, a.connector, a.language, a.lm_head
    rows = [
        ("Parameters", exact_count(a.params.total)),
        ("  vision / connector", f"{exact_count(a.params.vision)} / {exact_count(a.params.connector)}"),
        ("  language / lm_head", f"{exact_count(a.params.language)} / {exact_count(a.params.lm_head)}"),
        ("Architecture", f"{a.architecture} — {a.model_class} ({a.model_type})"),
        *_vision_rows(v),
        ("Connector", f"{c.class_name}: {c.projection}"),
        ("  pooling", c.pooling),
        ("  separators", ", ".join(s.text for s in c.separators) or "none"),
        ("  tokens per image", f"{c.tokens_per_image if c.tokens_per_image is not None else '—'} ({c.tokens_rule})"),
        ("Language model", f"{lang.family}: {lang.class_name} at {lang.path}, {lang.layers} × {lang.block_class}"),
        ("  attention / MLP", f"{lang.attention} (heads {lang.heads}, kv {lang.kv_heads}) / {mlp_text(lang.mlp)}"),
        ("  norm / vocab / ctx", f"{norm_text(lang.norm)} / {lang.vocab_size:,} / {lang.max_position_embeddings}"),
        ("LM head", f"{h.class_name}({h.in_features}→{h.out_features}){' tied' if h.tied else ''} at {h.path}"),
        ("Attention backends", ", ".join(a.attention_backends)),
        ("Config", f"{a.source.origin}: {a.source.location}" + (" (reconstructed)" if a.source.reconstructed else "")),
    ]
    if a.card and a.card.training_method:
        rows.append(("Training", f"{a.card.training_method.value} [{a.card.training_method.source}]"))
    for key, value in rows:
        facts.add_row(key, escape(value))
    title = a.model_id if a.display_name == a.model_id else f"{a.display_name} ({a.model_id})"
    panel = Panel(facts, title=escape(title), expand=False)
    parts: list[RenderableType] = [panel]
    for sheet in sheets or []:
        table = RichTable(box=box.SIMPLE, show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in cost_sheet_rows(sheet):
            table.add_row(escape(key), escape(value))
        title = f"cost at {size_text(sheet.tokens.image_size)}"
        parts.append(Panel(table, title=title, expand=False))
    return _render(Group(*parts, _tree(a.tree, depth)), width, color)


def diff(d: Diff, show_all: bool = False, width: int = 160, color: bool = False, wide: bool = False) -> str:
    """The two models side by side; differing values in colour (red: A, green: B)."""
    rows = d.rows if show_all else d.changed()
    styles = [["bold", *("" if r.same else "red" for r in rows)], ["bold", *("" if r.same else "green" for r in rows)]]
    columns = [[d.a, *(cell(r.a) for r in rows)], [d.b, *(cell(r.b) for r in rows)]]
    title = Text(f"{len(d.changed())} of {len(d.rows)} facts differ", style="bold")
    return _render(Group(title, *side_by_side([r.field for r in rows], columns, width, wide, styles)), width, color)


def zoo(entries: tuple[ZooEntry, ...], width: int = 200, color: bool = False) -> str:
    """The zoo table, then one line per model_type that failed, then how many were built and read."""
    out = table(zoo_rows(entries), width=width, color=color)
    out += "".join(f"{e.model_type}: {e.reason}\n" for e in entries if e.anatomy is None)
    ok = sum(e.anatomy is not None for e in entries)
    return out + f"{ok} of {len(entries)} model_types built and read.\n"
