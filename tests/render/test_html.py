"""The HTML report in a real headless browser (Debian's chromium, driven by playwright), diff, notebook
display and escaping of strings that come from configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vlmscope
from conftest import ROOT, run_cli
from vlmscope.render import data as render_data
from vlmscope.render import markdown
from vlmscope.render.html import report
from vlmscope.render.rows import seed_tables
from vlmscope.sources import catalog

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
EVIL = "evil<img src=x onerror=\"window.__pwned=1\">|'q'<script>window.__pwned=2<_script>"  # no "/" in a folder name


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install chromium (.ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


def _open(browser, path: Path):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, errors


def test_report_in_headless_chromium(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    result = run_cli("report", "llava-1.5-7b-hf", "idefics2-8b", "Phi-3-vision-128k-instruct", "-o", str(out))
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "<script src" not in html and "<link" not in html  # self-contained: no CDN, no stylesheet links
    page, errors = _open(browser, out)
    assert page.locator("svg.diagram").count() == 3  # every model has its diagram
    assert page.locator("section.model").count() == 3
    overview = page.locator("table.sortable").first
    header = overview.locator("th", has_text="# of Parameters")
    header.click()
    ascending = [c.inner_text().split(" ")[0] for c in overview.locator("tbody tr td:nth-child(2)").all()]
    assert ascending == ["4,146,621,440", "7,063,427,072", "8,402,768,112"]
    header.click()
    descending = [c.inner_text().split(" ")[0] for c in overview.locator("tbody tr td:nth-child(2)").all()]
    assert descending == ascending[::-1]
    # every label fits its box, measured by the browser's own text layout
    overflow = page.evaluate("""() => [...document.querySelectorAll('svg.diagram g.stage')].flatMap(g => {
        const box = g.querySelector('rect').getBBox();
        return [...g.querySelectorAll('text')].filter(t => t.getBBox().width > box.width - 6 + 0.5)
            .map(t => t.textContent); })""")
    assert overflow == []
    # no diagram text below 10 px: none squeezed (textLength), every font at least 10 px as the browser lays it out
    sizes = page.evaluate("""() => [...document.querySelectorAll('svg.diagram text')].map(t =>
        [parseFloat(getComputedStyle(t).fontSize), t.hasAttribute('textLength')])""")
    assert sizes and all(px >= 10 and not squeezed for px, squeezed in sizes)
    meta = page.locator("p.meta").inner_text()  # provenance: versions, date and the request
    assert all(part in meta for part in ("vlmscope ", "transformers ", "torch ", "made 20", "request: 1 image"))
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")
    llava = page.locator("section.model").first
    assert "336×336" in llava.locator("g.stage").first.inner_html() and "576 tok → LM" in llava.inner_html()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # wide tables scroll in their box
    number = page.locator("td.num").first
    assert number.evaluate("e => getComputedStyle(e).textAlign") == "right"
    assert page.locator("a[href^='https://huggingface.co/']").count() >= 3  # card URLs are links
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    assert errors == []


def _evil_model(tmp_path: Path) -> Path:
    entry = catalog.find("llava-1.5-7b-hf")
    assert entry is not None
    folder = tmp_path / EVIL
    folder.mkdir()
    config = json.loads(entry.config_path.read_text())
    config["_name_or_path"] = EVIL
    config["text_config"]["_name_or_path"] = EVIL
    config["auto_map"] = {"AutoConfig": EVIL}
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(entry.folder / "preprocessor_config.json", folder)
    return folder


def test_config_strings_are_escaped_everywhere(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = vlmscope.inspect(str(_evil_model(tmp_path)), use_cache=False)
    assert a.model_id == EVIL
    comparison = vlmscope.compare(["llava-1.5-7b-hf"], use_cache=False)
    comparison = type(comparison)((a, *comparison.models))
    page_path = tmp_path / "evil.html"
    page_path.write_text(report(comparison))
    page, errors = _open(browser, page_path)
    assert page.evaluate("window.__pwned") is None  # no injected script or handler ran
    assert EVIL in page.locator("body").inner_text()  # shown as text, not markup
    assert errors == []
    md = markdown.markdown(comparison)
    for line in md.splitlines():
        if line.startswith("| "):
            assert line.replace("\\|", "").count("|") in (len(seed_tables(comparison)[0].headers) + 1,
                                                          len(seed_tables(comparison)[1].headers) + 1)
    data = json.loads(render_data.json_text(comparison))
    assert data[0]["model_id"] == EVIL
    assert json.loads(json.dumps(data)) == data
    assert "<script>" not in a._repr_html_() and "&lt;script&gt;" in a._repr_html_()


def test_diff_in_every_format() -> None:
    md = run_cli("diff", "llava-1.5-7b-hf", "llava-v1.6-vicuna-7b-hf", "-f", "markdown")
    assert md.returncode == 0, md.stderr
    assert "| model_class | LlavaForConditionalGeneration | LlavaNextForConditionalGeneration |" in md.stdout
    assert "| language.layers |" not in md.stdout  # equal rows are hidden
    full = run_cli("diff", "llava-1.5-7b-hf", "llava-v1.6-vicuna-7b-hf", "-f", "markdown", "--all").stdout
    assert "| language.layers | 32 | 32 |" in full
    data = json.loads(run_cli("diff", "llava-1.5-7b-hf", "llava-v1.6-vicuna-7b-hf", "-f", "json").stdout)
    fields = {r["field"]: r for r in data["rows"]}
    assert fields["connector.tokens_per_image"]["a"] == 576 and fields["connector.tokens_per_image"]["b"] == 1176
    assert all(not r["same"] for r in data["rows"])
    table = run_cli("diff", "llava-1.5-7b-hf", "idefics2-8b")
    assert table.returncode == 0 and "facts differ" in table.stdout


def test_notebook_display_and_pandas(seed_comparison) -> None:  # type: ignore[no-untyped-def]
    html = seed_comparison._repr_html_()
    assert html.count("<table") == 2 and "8,402,768,112" in html
    one = seed_comparison.models[-1]._repr_html_()
    assert "<svg" in one and "CLIP ViT-L/14 @336" in one
    frame = seed_comparison.to_pandas()
    assert len(frame) == 9 and int(frame.loc[8, "params.total"]) == 7_063_427_072
    assert len(seed_comparison.models[0].to_pandas()) == 1
