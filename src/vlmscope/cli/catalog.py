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
    """List the bundled catalog: model id, short name, and whether its config is verbatim or reconstructed."""
    from vlmscope.sources import catalog

    entries = catalog.entries()
    width = max(len("model id"), *(len(e.model_id) for e in entries))
    short = max(len("short name"), *(len(e.short_name) for e in entries))
    typer.echo(f"{'model id':{width}}  {'short name':{short}}  config")
    for entry in entries:
        config = "reconstructed" if entry.reconstructed else "verbatim"
        typer.echo(f"{entry.model_id:{width}}  {entry.short_name:{short}}  {config}")
