"""Data renderers: JSON and CSV of the documented records (docs/json.md), and a pandas DataFrame."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from vlmscope.data import Anatomy, Comparison, CostSheet, Fit, ZooEntry
from vlmscope.diff import Diff
from vlmscope.records import cost_record, fit_record, flatten, record, zoo_record
from vlmscope.render.rows import printable
from vlmscope.render.tree import tree_lines


def dumps(data: Any) -> str:
    """JSON as every command prints it: indented, UTF-8 kept, a final newline. Control and format characters
    (C1 controls such as U+009B, bidi overrides such as U+202E) are written as ``\\uXXXX`` escapes, so the
    text cannot drive a terminal or reorder what a reader sees; the JSON still parses to the same strings."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if not text.replace("\n", "").isprintable():
        text = "".join(ch if ch.isprintable() or ch in "\n " else json.dumps(ch)[1:-1] for ch in text)
    return text + "\n"


def _records(comparison: Comparison, sheets: tuple[CostSheet, ...] | None) -> list[dict[str, object]]:
    sheets = sheets if sheets is not None else comparison.sheets
    records: list[dict[str, object]] = [record(a) for a in comparison.models]
    for item, sheet in zip(records, sheets or (), strict=False):
        item["cost"] = cost_record(sheet)
    return records


def json_text(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    return dumps(_records(comparison, sheets))


def csv_cell(value: Any) -> Any:
    """A CSV value, safe to open in a spreadsheet: a text starting with ``=``, ``+``, ``-``, ``@``, a tab or
    a carriage return is prefixed with ``'`` (OWASP's rule against formula injection); control characters
    become visible escapes. Numbers stay numbers."""
    if not isinstance(value, str):
        return value
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return printable(value)


def csv_text(comparison: Comparison, sheets: tuple[CostSheet, ...] | None = None) -> str:
    rows = [{k: csv_cell(v) for k, v in flatten(r).items()} for r in _records(comparison, sheets)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def show_json(a: Anatomy, sheets: list[CostSheet], depth: int | None = None) -> str:
    """One model: its record, the cost object of the first request (``costs``: all, when several) and the
    module tree as text lines."""
    data: dict[str, Any] = {**record(a), "cost": cost_record(sheets[0]), "tree": tree_lines(a.tree, depth)}
    if len(sheets) > 1:
        data["costs"] = [cost_record(s) for s in sheets]
    return dumps(data)


def zoo_json(entries: tuple[ZooEntry, ...]) -> str:
    """One object per model_type: model_type, status, reason (errors) and anatomy (ok), as documented."""
    return dumps([zoo_record(e) for e in entries])


def diff_json(d: Diff, show_all: bool = False) -> str:
    rows = d.rows if show_all else d.changed()
    data = {"a": d.a, "b": d.b, "rows": [{"field": r.field, "a": r.a, "b": r.b, "same": r.same} for r in rows]}
    return dumps(data)


def frame(comparison: Comparison) -> Any:
    """One row per model, one column per fact of the flat record (needs the optional ``pandas`` extra)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas: pip install 'vlmscope[pandas]'") from exc
    return pd.DataFrame([flatten(r) for r in _records(comparison, comparison.sheets)])


def fit_frame(fits: tuple[Fit, ...]) -> Any:
    """``vlmscope.fit(...).to_pandas()``: one row per model, the keys of ``fit -f json`` flattened."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas: pip install 'vlmscope[pandas]'") from exc
    return pd.DataFrame([flatten(fit_record(f)) for f in fits])


def fit_json(fits: tuple[Fit, ...]) -> str:
    """``fit -f json``: a list with one object per model, sorted by peak (docs/json.md)."""
    return dumps([fit_record(f) for f in fits])


def fit_csv(fits: tuple[Fit, ...]) -> str:
    """``fit -f csv``: one row per model, the JSON keys flattened."""
    return records_csv([fit_record(f) for f in fits])


def records_csv(records: list[dict[str, Any]]) -> str:
    """One CSV row per record, its keys flattened (``memory.peak_bytes``), cells safe for a spreadsheet."""
    rows = [flatten(r) for r in records]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["model_id"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()
