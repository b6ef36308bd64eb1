"""The ``vlmscope`` command line. Build the data, render it, print last."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from vlmscope import __version__
from vlmscope.errors import VlmscopeError

if TYPE_CHECKING:
    from vlmscope.data import Comparison, CostRequest, CostSheet, Outcome

T = TypeVar("T")

app = typer.Typer(
    name="vlmscope",
    help="Look inside vision-language models without downloading weights: roles, layers, exact parameter "
         "counts and visual tokens, computed from the models' own definitions on PyTorch's meta device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Format(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


class ShowFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
TrustOpt = Annotated[bool, typer.Option(
    "--trust-remote-code", help="Run the Python code a model ships (auto_map) to build it. Off by default: "
                                "only do this for repositories you trust.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Rebuild every model; ignore the on-disk cache.")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"vlmscope: error: {message}", err=True)
    raise typer.Exit(code)


def _guard(debug: bool, work: Callable[[], T]) -> T:
    """Run ``work``; expected errors become one line on stderr and exit code 2 (tracebacks with --debug)."""
    try:
        return work()
    except typer.Exit:
        raise
    except VlmscopeError as exc:
        if debug or os.environ.get("VLMSCOPE_DEBUG"):
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if debug or os.environ.get("VLMSCOPE_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
    raise AssertionError("unreachable")


ImageSizeOpt = Annotated[list[str] | None, typer.Option(
    "--image-size", help="Image size WIDTHxHEIGHT for the cost sheet (repeatable). Default: the encoder's native "
                         "size.", show_default=False)]
ContextOpt = Annotated[int, typer.Option(help="Context length (tokens) for the decode step and the KV cache.", min=1)]


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        _fail(f"bad --image-size {text!r}: write WIDTHxHEIGHT, e.g. 1024x768")
    return int(parts[0]), int(parts[1])


def _requests(sizes: list[str] | None, **fields: object) -> list[CostRequest]:
    """One cost request per image size; CostRequest validates every value (RequestError: one line, exit 2)."""
    from vlmscope.data import CostRequest

    parsed: list[tuple[int, int] | None] = [_parse_size(s) for s in sizes] if sizes else [None]
    return [CostRequest(image_size=size, **fields) for size in parsed]  # type: ignore[arg-type]


def _emit(fmt: str, renderers: dict[str, Callable[[], str]]) -> None:
    """Render in the chosen format and print: the one place a command's output is written."""
    out = renderers[fmt]()
    typer.echo(out, nl=not out.endswith("\n"))


def _width() -> int:
    return shutil.get_terminal_size((200, 40)).columns


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vlmscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """vlmscope: anatomy, parameters and visual tokens of vision-language models."""


@app.command()
def compare(
    models: Annotated[list[str] | None, typer.Argument(
        help="Catalog names (full id or unique short name), model folders, config.json paths or Hub repo ids "
             "(org/name or org/name@revision; config files only). Default: the nine seed models.",
        show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Build models in this many processes.")] = 1,
    cost: Annotated[bool, typer.Option(
        "--cost/--no-cost", help="The cost table: tokens per image, vision / prefill / decode GFLOPs (real "
                                 "forwards on meta tensors), bf16 weight size, KV MB per 1k tokens. --no-cost "
                                 "prints only the seed's two tables.")] = True,
    image_size: ImageSizeOpt = None,
    context: ContextOpt = 4096,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare models side by side: the seed's overview and architecture tables, then the cost table
    (one image at each model's native size unless --image-size is given; --no-cost leaves it out).

    A model that fails gets one error line on stderr and the others are still compared; the exit code is
    then 2."""
    from vlmscope import api

    refs = tuple(models) if models else api.SEED_MODELS
    request = _guard(debug, lambda: _requests(image_size[:1] if image_size else None, context=context)[0]) \
        if cost else None
    outcomes = _batch(refs, debug, lambda done: api.compare_each(
        refs, jobs=jobs, use_cache=not no_cache, trust_remote_code=trust_remote_code, on_done=done,
        cost_request=request, fail_fast=debug))
    comparison, sheets = _gathered(outcomes, cost)
    if comparison.models:
        _print_comparison(comparison, fmt, sheets)
    if any(o.error for o in outcomes):
        raise typer.Exit(2)


def _batch(refs: tuple[str, ...], debug: bool,
           work: Callable[[Callable[[str], None]], tuple[Outcome, ...]]) -> tuple[Outcome, ...]:
    """Run a batch with a progress bar; each model that failed gets its one error line on stderr.
    With --debug the batch fails fast, with the traceback."""
    outcomes = _guard(debug, lambda: _with_progress(refs, work)) if debug else _with_progress(refs, work)
    for failed in (o for o in outcomes if o.error is not None):
        typer.echo(f"vlmscope: error: {failed.error}", err=True)
    return outcomes


def _gathered(outcomes: tuple[Outcome, ...], cost: bool) -> tuple[Comparison, tuple[CostSheet, ...] | None]:
    from vlmscope.data import Comparison

    comparison = Comparison(tuple(o.anatomy for o in outcomes if o.anatomy is not None))
    return comparison, tuple(o.sheet for o in outcomes if o.sheet is not None) if cost else None


def _print_comparison(comparison: Comparison, fmt: Format, sheets: tuple[CostSheet, ...] | None) -> None:
    from vlmscope.render import data, markdown, terminal

    _emit(fmt, {
        Format.table: lambda: terminal.comparison(comparison, width=_width(), color=_color(), sheets=sheets),
        Format.markdown: lambda: markdown.markdown(comparison, sheets),
        Format.json: lambda: data.json_text(comparison, sheets),
        Format.csv: lambda: data.csv_text(comparison, sheets),
    })


def _with_progress(refs: tuple[str, ...], work: Callable[[Callable[[str], None]], T]) -> T:
    """A transient progress bar on stderr while models are built (only on a terminal)."""
    if not sys.stderr.isatty():
        return work(lambda ref: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]inspecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=len(refs))
        return work(lambda ref: bar.update(task, advance=1, description=ref))


@app.command()
def show(
    model: Annotated[str, typer.Argument(
        help="Catalog name, model folder, config.json path or Hub repo id (org/name or org/name@revision).")],
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")] = ShowFormat.table,
    depth: Annotated[int | None, typer.Option(help="Limit the module tree to this depth.", min=0)] = None,
    image_size: ImageSizeOpt = None,
    images: Annotated[int, typer.Option(help="Images per request.", min=0)] = 1,
    text_tokens: Annotated[int, typer.Option(help="Text tokens in the prompt, besides the visual tokens.", min=0)] = 0,
    context: ContextOpt = 4096,
    batch: Annotated[int, typer.Option(help="Concurrent sequences for the memory scenario.", min=1)] = 1,
    dtype: Annotated[str, typer.Option("--dtype", help="Weight dtype: fp32, bf16, fp16, fp8, int8, int4.")] = "bf16",
    vision_dtype: Annotated[str | None, typer.Option(help="Vision-encoder dtype, if it differs.")] = None,
    gpu_gb: Annotated[float | None, typer.Option(help="Say whether the scenario fits in this many GB.")] = None,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
) -> None:
    """One model in depth: its anatomy, its cost sheet (visual tokens, FLOPs, memory, KV cache) and its
    module tree with repeated blocks collapsed."""
    from vlmscope import api
    from vlmscope.render import data, markdown, terminal

    requests = _guard(debug, lambda: _requests(image_size, images=images, text_tokens=text_tokens, context=context,
                                               batch=batch, weights_dtype=dtype, vision_dtype=vision_dtype,
                                               gpu_gb=gpu_gb))
    results = _guard(debug, lambda: [api.cost(model, r, use_cache=not no_cache, trust_remote_code=trust_remote_code)
                                     for r in requests])
    anatomy, sheets = results[0][0], [sheet for _, sheet in results]
    _emit(fmt, {
        ShowFormat.json: lambda: data.show_json(anatomy, sheets, depth),
        ShowFormat.markdown: lambda: markdown.show_markdown(anatomy, depth, sheets),
        ShowFormat.table: lambda: terminal.show(anatomy, depth, width=_width(), color=_color(), sheets=sheets),
    })


@app.command(name="diff")
def diff_models(
    model_a: Annotated[str, typer.Argument(help="First model (catalog name, folder, config.json or Hub id).")],
    model_b: Annotated[str, typer.Argument(help="Second model.")],
    show_all: Annotated[bool, typer.Option("--all", help="Show every fact, not only those that differ.")] = False,
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")] = ShowFormat.table,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Line up the facts of two models and show the ones that differ."""
    from vlmscope import api
    from vlmscope.diff import diff
    from vlmscope.render import data, markdown, terminal

    a, b = _guard(debug, lambda: [api.inspect(m, use_cache=not no_cache, trust_remote_code=trust_remote_code)
                                  for m in (model_a, model_b)])
    result = diff(a, b)
    _emit(fmt, {
        ShowFormat.json: lambda: data.diff_json(result, show_all),
        ShowFormat.markdown: lambda: markdown.diff_markdown(result, show_all),
        ShowFormat.table: lambda: terminal.diff(result, show_all, width=_width(), color=_color()),
    })


@app.command()
def report(
    models: Annotated[list[str] | None, typer.Argument(
        help="Models to report on (as for compare). Default: the nine seed models.", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("vlmscope-report.html"),
    cost: Annotated[bool, typer.Option("--cost/--no-cost", help="Include the cost sheets.")] = True,
    context: ContextOpt = 4096,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Build models in this many processes.")] = 1,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write one self-contained HTML report: sortable tables, diagrams, share bars and cost sheets.

    Per model: an SVG architecture diagram and a parameter-share bar. The page needs no network to view.
    A model that fails gets one error line on stderr and the others are still reported; the exit code is
    then 2."""
    from vlmscope import api
    from vlmscope.render.html import report as render_report

    refs = tuple(models) if models else api.SEED_MODELS
    request = _guard(debug, lambda: _requests(None, context=context)[0]) if cost else None
    outcomes = _batch(refs, debug, lambda done: api.compare_each(
        refs, jobs=jobs, use_cache=not no_cache, trust_remote_code=trust_remote_code, on_done=done,
        cost_request=request, fail_fast=debug))
    comparison, sheets = _gathered(outcomes, cost)
    if comparison.models:
        page = render_report(comparison, sheets)
        _write(output, page)
        typer.echo(f"wrote {output} ({len(comparison.models)} models, {len(page):,} bytes)")
    if any(o.error for o in outcomes):
        raise typer.Exit(2)


def _write(output: Path, page: str) -> None:
    """Write ``page`` to ``output`` whole or not at all (a temporary file renamed over it)."""
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(output)  # never leave a half-written report
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail(f"cannot write {output}: {exc.strerror}")


class ZooFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def zoo(
    model_types: Annotated[list[str] | None, typer.Argument(
        help="model_types to survey. Default: every model_type the installed transformers maps to "
             "image-text-to-text.", show_default=False)] = None,
    fmt: Annotated[ZooFormat, typer.Option("--format", "-f", help="Output format.")] = ZooFormat.table,
    no_cache: NoCacheOpt = False,
) -> None:
    """Survey the transformers VLM zoo: build each model_type from its default config and find its roles."""
    from vlmscope import api
    from vlmscope.render import data, terminal
    from vlmscope.sources.zoo import model_types as known_types

    types = tuple(model_types) if model_types else known_types()
    unknown = sorted(set(types) - set(known_types()))
    if unknown:
        _fail(f"not image-text-to-text model_types in this transformers: {', '.join(unknown)}; "
              "run 'vlmscope zoo' to see them all")
    entries = _with_progress(types, lambda done: api.survey(types, use_cache=not no_cache, on_done=done))
    _emit(fmt, {ZooFormat.json: lambda: data.zoo_json(entries),
                ZooFormat.table: lambda: terminal.zoo(entries, width=_width(), color=_color())})


@app.command(name="list")
def list_models() -> None:
    """List the bundled catalog: model id, short name, and whether its config is reconstructed."""
    from vlmscope.sources import catalog

    for entry in catalog.entries():
        flag = "  (reconstructed config)" if entry.reconstructed else ""
        typer.echo(f"{entry.model_id:45} {entry.short_name}{flag}")


def run() -> None:
    """Console-script entry point."""
    app()
