"""Rendered outputs: golden Markdown, the JSON key list, CSV shape, escaping."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from seed import corrections_markdown, parse, seed_text

from vlmscope.render import data as render_data
from vlmscope.render import markdown
from vlmscope.render.rows import ARCHITECTURE, OVERVIEW, Table

ROOT = Path(__file__).resolve().parents[2]

JSON_KEYS = {
    "": {"model_id", "model_class", "model_type", "architecture", "params", "vision", "connector", "language",
         "lm_head", "attention_backends"},
    "params": {"total", "vision", "connector", "language", "lm_head"},
    "vision": {"class", "family", "layers", "hidden_size", "intermediate_size", "heads", "patch_size", "image_size",
               "positions", "attention", "mlp", "norm", "norm_eps"},
    "connector": {"class", "projection", "pooling", "tokens_per_image"},
    "language": {"class", "family", "layers", "hidden_size", "intermediate_size", "heads", "kv_heads", "vocab_size",
                 "attention", "mlp", "norm", "norm_eps", "max_position_embeddings"},
    "lm_head": {"in_features", "out_features", "tied"},
}


def test_markdown_matches_golden(seed_comparison, golden) -> None:  # type: ignore[no-untyped-def]
    golden("compare_seed.md", markdown.markdown(seed_comparison))


def test_json_matches_golden(seed_comparison, golden) -> None:  # type: ignore[no-untyped-def]
    golden("compare_seed.json", render_data.json_text(seed_comparison))


def test_markdown_has_the_seed_headers_in_order(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    seed_overview, seed_arch = parse(seed_text(ROOT))
    assert tuple(h for h, _ in OVERVIEW) == seed_overview.headers
    assert tuple(h for h, _ in ARCHITECTURE) == seed_arch.headers
    md = markdown.markdown(seed_comparison)
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 2 * (1 + 9)  # header + nine models, twice
    assert all(row.count(" | ") + 1 in (len(OVERVIEW), len(ARCHITECTURE)) for row in rows)


def test_json_has_every_documented_key(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(render_data.json_text(seed_comparison))
    assert len(data) == 9
    for item in data:
        for section, keys in JSON_KEYS.items():
            obj = item if not section else item[section]
            assert keys <= set(obj), (section, keys - set(obj))
        assert isinstance(item["params"]["total"], int)
        assert isinstance(item["attention_backends"], list)


def test_json_keys_are_documented() -> None:
    doc = (ROOT / "docs" / "json.md").read_text()
    for section, keys in JSON_KEYS.items():
        for key in keys - set(JSON_KEYS):  # sections are documented through their keys
            assert f"`{section + '.' if section else ''}{key}`" in doc, (section, key)


def test_csv_has_one_row_per_model_with_exact_counts(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(render_data.csv_text(seed_comparison))))
    assert [r["model_id"] for r in rows] == [a.model_id for a in seed_comparison.models]
    assert rows[-1]["params.total"] == "7063427072"
    assert rows[0]["vision.family"] == "SigLIP SO400M/14 @980"


@pytest.mark.parametrize("raw, cell", [("a|b", "a\\|b"), ("<script>x</script>", "&lt;script>x&lt;/script>"),
                                       ("two\nlines", "two lines"), ("back\\slash", "back\\\\slash")])
def test_markdown_cells_are_escaped(raw: str, cell: str) -> None:
    assert markdown.md_cell(raw) == cell
    table = markdown.markdown_table(Table("t", ("h1", "h2"), ((raw, "x"),)))
    assert table.splitlines()[2] == f"| {cell} | x |"


def test_seed_corrections_page_is_current(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    page = corrections_markdown(seed_comparison, seed_text(ROOT))
    assert page == (ROOT / "docs" / "seed-corrections.md").read_text(), "run python scripts/gen_docs.py"


def test_seed_corrections_name_the_known_seed_errors(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    from seed import corrections

    found = {(c.model, c.column): c for c in corrections(seed_comparison, seed_text(ROOT))}
    wrong_class = found[("TIGER-Lab/Mantis-8B-clip-llama3", "Model Class")]
    assert (wrong_class.seed, wrong_class.generated) == ("LlavaNextForConditionalGeneration",
                                                         "LlavaForConditionalGeneration")
    assert found[("Phi-3-vision-128k-instruct", "Modality Projection")].seed == "Flash Attention v2"
    assert "not even a correct rounding" in found[("Phi-3-vision-128k-instruct", "# of Parameters")].why
    assert ("Idefics2-8b", "Language Model Backbone") not in found  # the seed got this one right


@pytest.mark.parametrize("n, text", [(999, "999"), (20_979_712, "21.0M"), (7_063_427_072, "7.06B"),
                                     (1_740_000_000_000, "1.74T")])
def test_short_counts(n: int, text: str) -> None:
    from vlmscope.render.rows import short_count

    assert short_count(n) == text
