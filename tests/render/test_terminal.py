"""The terminal view at 80, 120 and 200 columns and when piped: goldens, and the promise that no number,
identifier or word is split across lines."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from conftest import run_cli
from vlmscope.render import layout, terminal
from vlmscope.render.rows import short_count, tables

WIDTHS = (80, 120, 200)


@pytest.fixture(scope="session")
def costed_seed():  # type: ignore[no-untyped-def]
    import vlmscope

    return vlmscope.compare(use_cache=False, request=vlmscope.CostRequest())


def _tokens(text: str) -> set[str]:
    return {t for line in text.splitlines() for t in line.split()}


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_matches_golden_at_width(costed_seed, golden, width: int) -> None:  # type: ignore[no-untyped-def]
    golden(f"compare_terminal_{width}.txt", terminal.comparison(costed_seed, width=width))


@pytest.mark.parametrize("width", WIDTHS)
def test_no_line_is_wider_than_the_terminal(costed_seed, width: int) -> None:  # type: ignore[no-untyped-def]
    out = terminal.comparison(costed_seed, width=width)
    assert max(cell_len(line) for line in out.splitlines()) <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_every_short_parameter_count_is_on_one_line(costed_seed, width: int) -> None:  # type: ignore[no-untyped-def]
    lines = terminal.comparison(costed_seed, width=width).splitlines()
    for a in costed_seed.models:
        full = f"{a.params.total:,}"
        assert any(f"({short_count(a.params.total)})" in line for line in lines), a.model_id
        assert any(full in line.split() for line in lines), a.model_id


@pytest.mark.parametrize("width", WIDTHS)
def test_no_word_of_any_cell_is_split(costed_seed, width: int) -> None:  # type: ignore[no-untyped-def]
    """Every word of every cell appears whole on a line; one longer than a column may hold is shortened
    with an ellipsis (its start and end kept), never broken in two."""
    found = _tokens(terminal.comparison(costed_seed, width=width))
    for t in tables(costed_seed, None):
        for row in t.rows:
            for word in (w for c in row for w in c.split()):
                if word in found:
                    continue
                shortened = [f for f in found if "…" in f and word.startswith(f.split("…")[0])
                             and word.endswith(f.split("…")[1])]
                assert shortened, f"{word!r} is split at width {width}"


def test_models_stay_side_by_side_at_80(costed_seed) -> None:  # type: ignore[no-untyped-def]
    """At 80 columns each group of the Overview holds at least two models."""
    out = terminal.comparison(costed_seed, width=80)
    overview = out.split("Architecture\n")[0]
    headers = [line for line in overview.splitlines() if line.startswith(" " * 10) and line.strip()]
    names = [a.display_name for a in costed_seed.models]
    per_group = [sum(name in line.split() for name in names) for line in headers]
    assert per_group and sum(per_group) == len(names)
    assert sorted(per_group)[-1] >= 2 and per_group.count(1) <= 1


def test_wide_never_shortens(costed_seed) -> None:  # type: ignore[no-untyped-def]
    out = terminal.comparison(costed_seed, width=80, wide=True)
    assert "…" not in out
    assert "https://huggingface.co/microsoft/Phi-3-vision-128k-instruct" in _tokens(out)
    assert max(cell_len(line) for line in out.splitlines()) <= 80


@pytest.mark.parametrize("columns", ["80", "120", "200"])
def test_cli_compare_at_width(columns: str) -> None:
    result = run_cli("compare", "llava-1.5-7b-hf", "Phi-3-vision-128k-instruct", env={"COLUMNS": columns})
    assert result.returncode == 0, result.stderr
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= int(columns)
    for text in ("7,063,427,072", "(7.06B)", "4,146,621,440", "(4.15B)", "2,509"):
        assert text in _tokens(result.stdout)


def test_cli_compare_piped_uses_a_whole_line_per_cell() -> None:
    """Piped with no COLUMNS, the table is laid out for 200 columns (and still never splits a word)."""
    result = run_cli("compare", "llava-1.5-7b-hf", env={"COLUMNS": ""})
    assert result.returncode == 0, result.stderr
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 200
    assert "https://huggingface.co/llava-hf/llava-1.5-7b-hf" in _tokens(result.stdout)


def test_diff_keeps_both_models_side_by_side() -> None:
    result = run_cli("diff", "llava-1.5-7b-hf", "llava-v1.6-mistral-7b-hf", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["params.total", "7,063,427,072", "7,566,747,648"] in rows
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80


@pytest.mark.parametrize("width", [1, 5, 17, 40])
def test_wrap_breaks_at_spaces_only(width: int) -> None:
    text = "Linear(1024→4096) + GELU + Linear(4096→4096) and 8,402,759,920 (8.40B)"
    lines = layout.wrap(text, width).splitlines()
    assert all(cell_len(line) <= width for line in lines)
    for word in text.split():
        assert word in _tokens("\n".join(lines)) or any("…" in t for t in _tokens("\n".join(lines)))
    if width >= 17:
        assert " ".join(lines) == text


def test_shorten_keeps_start_and_end() -> None:
    url = "https://huggingface.co/microsoft/Phi-3-vision-128k-instruct"
    short = layout.shorten(url, 28)
    assert cell_len(short) == 28 and short.endswith("128k-instruct") and short.startswith("https://")
    assert re.fullmatch(r"[^…]+…[^…]+", short)
    assert layout.shorten("short", 28) == "short"


def test_groups_fit_and_are_balanced() -> None:
    columns = [[f"model-{i}", "x" * 20] for i in range(9)]
    found = layout.groups(columns, label=16, width=120)
    assert [len(g.columns) for g in found] == [3, 3, 3] or len({len(g.columns) for g in found}) <= 2
    for g in found:
        assert 16 + 2 + sum(w + layout.GAP for w in g.widths) <= 120
    assert [i for g in found for i in g.columns] == list(range(9))


def test_readme_shows_the_80_column_view() -> None:
    """The README's excerpt is the start of the 80-column golden, line for line."""
    from conftest import GOLDEN, ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ COLUMNS=80 vlmscope compare\n", 1)[1].split("\n...\n```", 1)[0]
    assert len(block.splitlines()) > 20
    assert (GOLDEN / "compare_terminal_80.txt").read_text(encoding="utf-8").startswith(block + "\n")
