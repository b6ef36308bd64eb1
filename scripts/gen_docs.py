"""Regenerate the generated docs pages (docs/seed-corrections.md) from vlmscope's own output."""

from __future__ import annotations

import sys
from pathlib import Path

from seed import corrections_markdown, seed_text  # scripts/seed.py, beside this file

import vlmscope

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    comparison = vlmscope.compare(use_cache=False)
    page = corrections_markdown(comparison, seed_text(ROOT))
    (ROOT / "docs" / "seed-corrections.md").write_text(page, encoding="utf-8")
    print(f"wrote docs/seed-corrections.md ({page.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
