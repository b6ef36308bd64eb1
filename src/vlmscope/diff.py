"""Stage 6, N anatomies → aligned facts: line up the records of two models and keep the rows that differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmscope.data import Anatomy
from vlmscope.records import flatten, record

# Where a config came from is not a fact about the model.
_IGNORED = ("source.location",)


@dataclass(frozen=True)
class DiffRow:
    field: str
    a: Any
    b: Any

    @property
    def same(self) -> bool:
        return bool(self.a == self.b)


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    rows: tuple[DiffRow, ...]  # every fact, in record order

    def changed(self) -> tuple[DiffRow, ...]:
        return tuple(r for r in self.rows if not r.same)


def diff(a: Anatomy, b: Anatomy) -> Diff:
    """Every fact of the two models' records, side by side (see ``Diff.changed`` for the differences)."""
    left, right = flatten(record(a)), flatten(record(b))
    fields = [f for f in dict.fromkeys([*left, *right]) if f not in _IGNORED]
    return Diff(a.model_id, b.model_id, tuple(DiffRow(f, left.get(f), right.get(f)) for f in fields))
