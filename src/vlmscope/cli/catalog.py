"""Commands over collections: the transformers zoo and the bundled catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from vlmscope.cli.app import app
from vlmscope.cli.common import NoCacheOpt, VersionOpt, ZooFormat, color, emit, fail, width, with_progress


@app.command()
def zoo(
    model_types: Annotated[list[str] | None, typer.Argument(
        help="model_types to survey. Default: every model_type the installed transformers maps to "
             "image-text-to-text.", show_default=False)] = None,
    fmt: Annotated[ZooFormat, typer.Option("--format", "-f", help="Output format.")] = ZooFormat.table,
    no_cache: NoCacheOpt = False,
    version: VersionOpt = False,
) -> None:
    """Survey the transformers VLM zoo: build each model_type from its default config and find its roles."""
    from vlmscope import api
    from vlmscope.render import data, terminal
    from vlmscope.sources.zoo import model_types as known_types

    types = tuple(model_types) if model_types else known_types()
    unknown = sorted(set(types) - set(known_types()))
    if unknown:
        fail(f"not image-text-to-text model_types in this transformers: {', '.join(unknown)}; "
              "run 'vlmscope zoo' to see them all")
    entries = with_progress(types, lambda done: api.survey(types, use_cache=not no_cache, on_done=done))
    emit(fmt, {ZooFormat.json: lambda: data.zoo_json(entries),
                ZooFormat.table: lambda: terminal.zoo(entries, width=width(), color=color())})


@app.command(name="list")
def list_models(version: VersionOpt = False) -> None:
    """List the bundled catalog: model id, short name, origin (official, conversion, fine-tune or copy), the
    base model it was converted or fine-tuned from, and whether its config is verbatim or reconstructed.
    Origins and base models are cited in each entry's card (vlmscope show -f json: card)."""
    from vlmscope.sources import catalog

    rows = [("model id", "short name", "origin", "base model", "config")]
    for e in catalog.entries():
        rows.append((e.model_id, e.short_name, e.card.origin.value if e.card.origin else "—",
                     e.card.base_model.value if e.card.base_model else "—",
                     "reconstructed" if e.reconstructed else "verbatim"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(f"{cell:{w}}" for cell, w in zip(row, widths, strict=True)).rstrip())
