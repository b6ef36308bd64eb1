"""Markdown renderers: the comparison tables, one model in depth, a diff. GitHub-flavoured, pasteable into a
README or a notebook."""

from __future__ import annotations

import re

from vlmscope.data import Anatomy, Comparison, CostSheet
from vlmscope.diff import Diff
from vlmscope.records import record
from vlmscope.render.rows import Table, cell, cost_sheet_rows, exact_count, printable, size_text, tables
from vlmscope.render.tree import tree_lines


def md_cell(text: str) -> str:
    """Escape a string for Markdown text or a table cell: whitespace runs (newlines too) become one space,
    control characters visible escapes; backslashes, pipes, backticks and HTML brackets are escaped."""
    text = printable(" ".join(text.split()))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;")


def md_code(text: str) -> str:
    """A Markdown code span holding ``text`` literally: fenced by more backticks than it contains, so a
    backtick in a name cannot close it early."""
    text = printable(" ".join(text.split()))
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(lines: list[str]) -> list[str]:
    """A fenced code block holding ``lines``, fenced by more backticks than any line contains."""
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *lines, fence]


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines += ["", *(f"- {md_cell(note)}" for note in table.notes)]
    return "\n".join(lines)


def markdown(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    """The seed's two tables (and the cost table, when given) as GitHub-flavoured Markdown."""
    parts = []
    for table in tables(comparison, sheets):
        parts += [f"### {table.title}", "", markdown_table(table), ""]
    return "\n".join(parts)


def show_markdown(a: Anatomy, depth: int | None = None, sheets: list[CostSheet] | None = None) -> str:
    """One model in depth: facts per role, then the collapsed module tree."""
    r = record(a)
    title = md_code(a.model_id)  # a local folder: its name is its id, said once
    if a.display_name != a.model_id:
        title = f"{md_cell(a.display_name)} ({title})"
    lines = [f"## {title}", "",
             f"- Parameters: {exact_count(a.params.total)}",
             *(f"  - {role}: {exact_count(n)}" for role, n in r["params"].items() if role != "total"),
             f"- Architecture: {a.architecture}; model class {md_code(a.model_class)} ({md_code(a.model_type)})",
             f"- Attention backends: {', '.join(a.attention_backends)}",
             f"- Config source: {a.source.origin} {md_cell(a.source.location)}"
             + (" (reconstructed config)" if a.source.reconstructed else ""), ""]
    for role in ("vision", "connector", "language", "lm_head"):
        lines += [f"### {role}", "", "| fact | value |", "|---|---|"]
        lines += [f"| {k} | {md_cell(str(v))} |" for k, v in r[role].items()]
        lines.append("")
    for sheet in sheets or []:
        lines += [f"### cost at {size_text(sheet.tokens.image_size)}", "", "| fact | value |", "|---|---|"]
        lines += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in cost_sheet_rows(sheet)]
        lines.append("")
    lines += ["### Module tree", "", *md_block(tree_lines(a.tree, depth)), ""]
    return "\n".join(lines)


def diff_markdown(d: Diff, show_all: bool = False) -> str:
    rows = d.rows if show_all else d.changed()
    lines = [f"| fact | {md_cell(d.a)} | {md_cell(d.b)} |", "|---|---|---|"]
    lines += [f"| {md_cell(r.field)} | {md_cell(cell(r.a))} | {md_cell(cell(r.b))} |" for r in rows]
    summary = f"{len(d.changed())} of {len(d.rows)} facts differ."
    return "\n".join([*lines, "", summary]) + "\n"
