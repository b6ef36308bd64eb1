"""HTML renderers: notebook displays, architecture diagrams (SVG) and a self-contained report page.

Every string that comes from a config or a card is escaped. The report needs no network: CSS, JS and SVG
are inline.
"""

from __future__ import annotations

import html
import re

from vlmscope.data import Anatomy, Comparison, CostSheet, Fit
from vlmscope.data.training import TrainSheet
from vlmscope.render.rows import (
    NO_VISION,
    Table,
    cost_sheet_rows,
    exact_count,
    fit_rows,
    printable,
    seed_tables,
    tables,
)
from vlmscope.render.training import train_rows

ROLE_COLORS = {"vision": "#4c9be8", "connector": "#b565d8", "language": "#3fae6a", "lm_head": "#e0a030",
               "other": "#999999"}


def escape(text: str, quote: bool = True) -> str:
    """HTML-escaped, with control and format characters (ESC, BEL, C1, bidi overrides) written as visible
    escapes first, as the terminal and Markdown renderers write them."""
    return html.escape(printable(text), quote)


_NUMBER = re.compile(r"[\d,.]+( \([\d.]+[KMBT]\)| GiB| MiB| KiB)?|—")


def _cell(text: str) -> str:
    """A table cell: numbers right-aligned, URLs as links (escaped like every other string)."""
    if text.startswith(("https://", "http://")) and " " not in text:
        return f'<td><a href="{escape(text, quote=True)}" rel="noopener noreferrer">{escape(text)}</a></td>'
    if _NUMBER.fullmatch(text):
        return f'<td class="num">{escape(text)}</td>'
    return f"<td>{escape(text)}</td>"


def table_html(table: Table, sortable: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    cls = ' class="sortable"' if sortable else ""
    notes = "".join(f"<li>{escape(note)}</li>" for note in table.notes)
    return f'<div class="scroll"><table{cls}><caption>{escape(table.title)}</caption><thead><tr>{head}</tr></thead>' \
           f"<tbody>{body}</tbody></table></div>" + (f'<ul class="notes">{notes}</ul>' if notes else "")


def _label(x: int, y: int, width: int, css: str, text: str, px: float) -> str:
    """An SVG text that fits ``width`` at its own font size (never squeezed below it): shown whole, or
    shortened with "…" where it would be wider than the box at ``px`` pixels per character; the whole text
    stays in its tooltip."""
    most = max(int(width / px), 1)
    shown = text if len(text) <= most else text[:max(most - 1, 1)].rstrip() + "…"
    tip = f"<title>{escape(text)}</title>" if shown != text else ""
    return f'<text x="{x}" y="{y}" class="{css}">{tip}{escape(shown)}</text>'


def _stages(a: Anatomy, sheet: CostSheet | None) -> list[tuple[str, str, int, str]]:
    p = a.params
    image = ""
    if sheet is not None and sheet.tokens.image_size[0]:
        image = f"{sheet.tokens.image_size[0]}×{sheet.tokens.image_size[1]}"
    stages = [("image", image, 0, "#9a9a9a")]
    if a.vision is not None:
        stages.append((f"{a.vision.class_name}", f"×{a.vision.layers} {a.vision.block_class}", p.vision,
                       ROLE_COLORS["vision"]))
    else:
        stages.append(("no vision tower", "patches go straight in", 0, ROLE_COLORS["vision"]))
    stages.append((a.connector.class_name, a.connector.pooling, p.connector, ROLE_COLORS["connector"]))
    stages.append((a.language.class_name, f"×{a.language.layers} {a.language.block_class}", p.language,
                   ROLE_COLORS["language"]))
    head = "tied to embeddings" if a.lm_head.tied else f"{a.lm_head.in_features}→{a.lm_head.out_features}"
    stages.append(("LM head", head, p.lm_head, ROLE_COLORS["lm_head"]))
    return stages


def diagram_svg(a: Anatomy, width: int = 900, sheet: CostSheet | None = None) -> str:
    """image → vision encoder (×N) → connector → language model (×N) → head, boxes coloured by role and
    sized by parameter share; repeated blocks are one box. With a cost sheet, the image box says its size
    and the arrow into the language model the visual tokens. Every label fits its box."""
    stages, total = _stages(a, sheet), max(a.params.total, 1)
    gap, minimum = 26, 110
    spare = width - gap * (len(stages) - 1) - minimum * len(stages)
    widths = [minimum + int(spare * n / total) for _, _, n, _ in stages]
    per_image = None if sheet is None else sheet.tokens.per_image
    tokens = "" if per_image is None else f"{per_image:,} tok"
    x, parts = 0, []
    for i, ((title, sub, n, color), w) in enumerate(zip(stages, widths, strict=True)):
        share = f"{100 * n / total:.1f}% · {exact_count(n)}" if n else ""
        parts.append(
            f'<g class="stage"><rect x="{x}" y="22" width="{w}" height="70" rx="8" fill="{color}"/>'
            + _label(x + 6, 44, w - 12, "t", title, 7.2) + _label(x + 6, 62, w - 12, "s", sub, 6.2)
            + _label(x + 6, 80, w - 12, "s", share, 6.2)
            + f"<title>{escape(title)} — {escape(sub)} — {escape(share)}</title></g>")
        if x + w + gap <= width:
            parts.append(f'<path d="M{x + w + 2} 57 l{gap - 6} 0" stroke="#555" stroke-width="2" '
                         f'marker-end="url(#arrow)"/>')
            if i == 2 and tokens:  # connector → language model: the visual tokens one image becomes
                parts.append(f'<text x="{x + w - 40}" y="14" class="a">{escape(tokens)} → LM</text>')
        x += w + gap
    defs = ('<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="6" refY="3" orient="auto">'
            '<path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker></defs>')
    label = escape(f"Architecture of {a.model_id}")
    return (f'<svg class="diagram" role="img" aria-label="{label}" viewBox="0 0 {width} 100" width="{width}" '
            f'height="100" xmlns="http://www.w3.org/2000/svg">{defs}{"".join(parts)}</svg>')


def share_bar(a: Anatomy) -> str:
    """One horizontal bar split by parameter share per role."""
    p = a.params
    total = max(p.total, 1)
    cells = "".join(
        f'<span style="width:{100 * n / total:.3f}%;background:{ROLE_COLORS[role]}" '
        f'title="{escape(role)}: {exact_count(n)}"></span>'
        for role, n in (("vision", p.vision), ("connector", p.connector), ("language", p.language),
                        ("lm_head", p.lm_head), ("other", p.other)) if n)
    return f'<div class="bar">{cells}</div>'


def anatomy_html(a: Anatomy) -> str:
    """A notebook display of one model: diagram, share bar, facts."""
    v = a.vision
    rows = [("Parameters", exact_count(a.params.total)), ("Architecture", a.architecture),
            ("Vision encoder", v.family if v else NO_VISION), ("Pooling", a.connector.pooling),
            ("Projection", a.connector.projection), ("Language model", a.language.family),
            ("Tokens per image", str(a.connector.tokens_per_image))]
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(val)}</td></tr>" for k, val in rows)
    return (f'<div class="vlmscope"><h4>{escape(a.display_name)} <code>{escape(a.model_id)}</code></h4>'
            f"{diagram_svg(a)}{share_bar(a)}<table>{facts}</table></div>{_STYLE}")


def comparison_html(c: Comparison) -> str:
    """A notebook display of a comparison: the seed's two tables."""
    return '<div class="vlmscope">' + "".join(table_html(t) for t in seed_tables(c)) + f"</div>{_STYLE}"


_STYLE = """<style>
body.vlmscope{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px auto;
max-width:1360px;padding:0 16px;color:#1f2328;line-height:1.45;font-size:14px}
.vlmscope h1{font-size:24px;margin:0 0 4px}.vlmscope h2{font-size:19px;margin:28px 0 6px;border-bottom:1px solid #ddd}
.vlmscope h3{font-size:16px;margin:22px 0 6px}.vlmscope code{font:12.5px ui-monospace,Menlo,Consolas,monospace}
.vlmscope p.meta{color:#57606a;margin:0 0 12px}.vlmscope th{background:#f6f8fa}
.vlmscope table{border-collapse:collapse;margin:.6em 0;font-size:13px}
.vlmscope th,.vlmscope td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
.vlmscope caption{font-weight:bold;text-align:left;padding:4px 0}
.vlmscope .bar{display:flex;height:12px;width:900px;border-radius:4px;overflow:hidden;margin:4px 0}
.vlmscope .bar span{display:block;height:100%}
.vlmscope svg text.t{font:bold 12px sans-serif;fill:#fff}.vlmscope svg text.s{font:11px sans-serif;fill:#fff}
.vlmscope svg text.a{font:11px sans-serif;fill:#333}
.vlmscope .scroll{overflow-x:auto;max-width:100%}.vlmscope td.num{text-align:right;white-space:nowrap}
.vlmscope th.sorted-asc::after{content:" ▲"}.vlmscope th.sorted-desc::after{content:" ▼"}
.vlmscope table.sortable th{cursor:pointer}
</style>"""

_SORT_JS = """<script>
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var asc = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var key = function (row) {
        var text = row.cells[col].textContent.trim();
        var num = parseFloat(text.replace(/,/g, ""));
        return isNaN(num) ? text.toLowerCase() : num;
      };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) { return 0; }
        return ((x < y) === asc) ? -1 : 1;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
</script>"""


def _provenance(sheets: tuple[CostSheet, ...] | None, fits: tuple[Fit, ...] | None) -> str:
    """The page's header line: which vlmscope, transformers and torch made it, when, and for which request."""
    import datetime
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    parts = [f"vlmscope {version('vlmscope')}", f"transformers {version('transformers')}",
             f"torch {version('torch')}", f"made {datetime.date.today().isoformat()}"]
    if sheets:
        first, r = sheets[0].tokens.image_size, sheets[0].request
        same = len({x.tokens.image_size for x in sheets}) == 1 and first[0]
        size = f"{first[0]}×{first[1]}" if same else "each model's own size"
        parts.append(f"request: {r.images} image{'' if r.images == 1 else 's'} at {size}, {r.text_tokens:,} text "
                     f"tokens, context {r.context:,}, batch {r.batch}")
    if fits:
        parts.append(f"GPU: {fits[0].gpu or f'{fits[0].gpu_bytes:,} bytes'}")
    return f'<p class="meta">{escape(" · ".join(parts))}</p>'


def report(c: Comparison, sheets: tuple[CostSheet, ...] | None = None, title: str = "vlmscope report",
           fits: tuple[Fit, ...] | None = None, trained: list[tuple[Anatomy, TrainSheet]] | None = None) -> str:
    """A self-contained HTML page: sortable seed tables (and cost table), the Fit table when a GPU was named,
    the Training table when asked, a diagram, share bar and cost sheet per model. No network is needed to view
    it."""
    sheets = sheets if sheets is not None else c.sheets
    sections = []
    for i, a in enumerate(c.models):
        sheet_html = ""
        if sheets is not None:
            rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in cost_sheet_rows(sheets[i]))
            sheet_html = f"<table><caption>Cost</caption>{rows}</table>"
        sections.append(f'<section class="model" id="model-{i}"><h3>{escape(a.display_name)} '
                        f"<code>{escape(a.model_id)}</code></h3>{diagram_svg(a, sheet=sheets[i] if sheets else None)}"
                        f"{share_bar(a)}{sheet_html}</section>")
    legend = " ".join(f'<span style="color:{color}">■</span> {escape(role)}' for role, color in ROLE_COLORS.items())
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"{_STYLE}</head><body class=\"vlmscope\"><h1>{escape(title)}</h1>{_provenance(sheets, fits)}"
            f"<p>Computed by vlmscope from the models' own definitions on PyTorch's meta device. {legend}</p>"
            + "".join(table_html(t, sortable=True) for t in tables(c, sheets))
            + (f"<h2>Fit</h2>{table_html(fit_rows(fits), sortable=True)}" if fits else "")
            + (f"<h2>Training</h2>{table_html(train_rows(trained), sortable=True)}" if trained else "")
            + "<h2>Architectures</h2>" + "".join(sections) + _SORT_JS + "</body></html>\n")
