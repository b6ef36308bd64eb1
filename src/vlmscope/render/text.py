"""Plain-text renderers: Markdown tables, JSON, CSV and the collapsed module tree."""

from __future__ import annotations

import csv
import io
import json

from vlmscope.costtypes import CostSheet
from vlmscope.diff import Diff
from vlmscope.schema import Anatomy, Comparison, TreeNode
from vlmscope.tables import (
    NO_VISION,
    Table,
    cost_record,
    cost_sheet_rows,
    cost_table,
    exact_count,
    flatten,
    record,
    seed_tables,
    size_text,
)
from vlmscope.zoo import ZooEntry


def md_cell(text: str) -> str:
    """Escape a string for a Markdown table cell: pipes, HTML brackets, backslashes, newlines."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
    return " ".join(text.split())


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _tables(comparison: Comparison, sheets: tuple[CostSheet, ...] | None) -> tuple[Table, ...]:
    tables: tuple[Table, ...] = seed_tables(comparison)
    if sheets is not None:
        tables = (*tables, cost_table(tuple(zip(comparison.models, sheets, strict=True))))
    return tables


def markdown(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    """The seed's two tables (and the cost table, when given) as GitHub-flavoured Markdown."""
    parts = []
    for table in _tables(comparison, sheets):
        parts += [f"### {table.title}", "", markdown_table(table), ""]
    return "\n".join(parts)


def _records(comparison: Comparison, sheets: tuple[CostSheet, ...] | None) -> list[dict[str, object]]:
    records: list[dict[str, object]] = [record(a) for a in comparison.models]
    for item, sheet in zip(records, sheets or (), strict=False):
        item["cost"] = cost_record(sheet)
    return records


def json_text(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    return json.dumps(_records(comparison, sheets), indent=2, ensure_ascii=False) + "\n"


def csv_text(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    rows = [flatten(r) for r in _records(comparison, sheets)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def tree_lines(node: TreeNode, depth: int | None = None) -> list[str]:
    """The module tree, repeated blocks collapsed ("24 × CLIPEncoderLayer"), with parameter counts."""
    lines = [_node_label(node)]
    _walk(node, "", depth, lines)
    return lines


def _node_label(node: TreeNode) -> str:
    name = f"{node.name}: " if node.name else ""
    if node.repeat > 1:
        return f"{name}{node.repeat} × {node.class_name}  [{node.role}] {node.params:,} each"
    count = f" {node.params:,}" if node.params else ""
    return f"{name}{node.class_name}  [{node.role}]{count}"


def _walk(node: TreeNode, prefix: str, depth: int | None, lines: list[str]) -> None:
    if depth is not None and depth <= 0:
        return
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{_node_label(child)}")
        _walk(child, prefix + ("    " if last else "│   "), None if depth is None else depth - 1, lines)


def show_markdown(a: Anatomy, depth: int | None = None, sheets: list[CostSheet] | None = None) -> str:
    """One model in depth: facts per role, then the collapsed module tree."""
    r = record(a)
    lines = [f"## {md_cell(a.display_name)} (`{a.model_id}`)", "",
             f"- Parameters: {exact_count(a.params.total)}",
             *(f"  - {role}: {exact_count(n)}" for role, n in r["params"].items() if role != "total"),
             f"- Architecture: {a.architecture}; model class `{a.model_class}` (`{a.model_type}`)",
             f"- Attention backends: {', '.join(a.attention_backends)}",
             f"- Config source: {a.source.origin} {a.source.location}"
             + (" (reconstructed config)" if a.source.reconstructed else ""), ""]
    for role in ("vision", "connector", "language", "lm_head"):
        lines += [f"### {role}", "", "| fact | value |", "|---|---|"]
        lines += [f"| {k} | {md_cell(str(v))} |" for k, v in r[role].items()]
        lines.append("")
    for sheet in sheets or []:
        lines += [f"### cost at {size_text(sheet.image_size)}", "", "| fact | value |", "|---|---|"]
        lines += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in cost_sheet_rows(sheet)]
        lines.append("")
    lines += ["### Module tree", "", "```", *tree_lines(a.tree, depth), "```", ""]
    return "\n".join(lines)


def zoo_json(entries: tuple[ZooEntry, ...]) -> str:
    """One object per model_type: model_type, status, reason (errors) and anatomy (ok), as documented."""
    items = []
    for e in entries:
        item: dict[str, object] = {"model_type": e.model_type, "status": e.status}
        if e.status == "ok" and e.anatomy is not None:
            item["anatomy"] = record(e.anatomy)
        else:
            item["reason"] = e.reason
        items.append(item)
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


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
    return Table("transformers image-text-to-text zoo", headers, tuple(rows))


def _cell(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


def diff_markdown(d: Diff, show_all: bool = False) -> str:
    rows = d.rows if show_all else d.changed()
    lines = [f"| fact | {md_cell(d.a)} | {md_cell(d.b)} |", "|---|---|---|"]
    lines += [f"| {md_cell(r.field)} | {md_cell(_cell(r.a))} | {md_cell(_cell(r.b))} |" for r in rows]
    summary = f"{len(d.changed())} of {len(d.rows)} facts differ."
    return "\n".join([*lines, "", summary]) + "\n"


def diff_json(d: Diff, show_all: bool = False) -> str:
    rows = d.rows if show_all else d.changed()
    data = {"a": d.a, "b": d.b, "rows": [{"field": r.field, "a": r.a, "b": r.b, "same": r.same} for r in rows]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
