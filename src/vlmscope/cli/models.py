"""Commands over models: compare, show, diff, report. Each builds the data, renders it, prints last."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vlmscope.cli.app import app
from vlmscope.cli.common import (
    ContextOpt,
    DebugOpt,
    DoubleQuantOpt,
    Format,
    GpuOpt,
    GroupSizeOpt,
    ImageSizeOpt,
    ImagesOpt,
    JobsOpt,
    ModelSet,
    NoCacheOpt,
    ProcessorOpt,
    QuantOpt,
    ReserveOpt,
    SetOpt,
    ShowFormat,
    TextTokensOpt,
    TrustOpt,
    VersionOpt,
    VideoOpt,
    VideoRecipeOpt,
    WideOpt,
    batch_of,
    color,
    cost_requests,
    emit,
    error_line,
    guard,
    one_line,
    one_size,
    output_path,
    parse_memory,
    parse_reserve,
    print_comparison,
    width,
    write,
)
from vlmscope.data.training import TrainRecipe
from vlmscope.errors import VlmscopeError

if TYPE_CHECKING:
    from vlmscope.data import Anatomy, Comparison, CostRequest, Fit
    from vlmscope.data.training import TrainSheet


@app.command()
def compare(
    models: Annotated[list[str] | None, typer.Argument(
        help="Catalog names (full id or unique short name), model folders, config.json paths or Hub repo ids "
             "(org/name or org/name@revision; config files only). Default: the models of --set.",
        show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    model_set: SetOpt = ModelSet.seed,
    jobs: JobsOpt = 1,
    cost: Annotated[bool, typer.Option(
        "--cost/--no-cost", help="The cost table: tokens per image, vision / prefill / decode GFLOPs (real "
                                 "forwards on meta tensors), bf16 weight size, KV MiB per 1k tokens. --no-cost "
                                 "prints only the seed's two tables.")] = True,
    image_size: ImageSizeOpt = None,
    processor: ProcessorOpt = None,
    video: VideoOpt = None,
    video_recipe: VideoRecipeOpt = "transformers",
    images: ImagesOpt = 1,
    text_tokens: TextTokensOpt = 0,
    context: ContextOpt = 4096,
    gpu: GpuOpt = None,
    wide: WideOpt = False,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Compare models side by side: the seed's overview and architecture tables, then the cost table
    (one image at each model's native size unless --image-size is given; --no-cost leaves it out).

    A model that fails gets one error line on stderr and the others are still compared; the exit code is
    then 2."""
    request = _request(cost, debug, image_size, processor, context=context, text_tokens=text_tokens, gpu=gpu,
                       video=video, video_recipe=video_recipe, images=images)
    comparison, failed, _ = _batch(models, request, jobs, no_cache, trust_remote_code, debug, model_set)
    if comparison.models:
        print_comparison(comparison, fmt, wide)
    if failed:
        raise typer.Exit(2)


def _request(cost: bool, debug: bool, image_size: list[str] | None, processor: list[str] | None,
             video: list[str] | None = None, **fields: object) -> CostRequest | None:
    """The one request a batch command costs (its first --image-size), or None with --no-cost."""
    if not cost:
        return None
    return guard(debug, lambda: cost_requests(one_size(image_size), processor, video, **fields)[0])


def _batch(models: list[str] | None, request: CostRequest | None, jobs: int, no_cache: bool, trust: bool,
           debug: bool, model_set: ModelSet = ModelSet.seed) -> tuple[Comparison, bool, tuple[str, ...]]:
    """(comparison, with its cost sheets when costed; whether a model failed; the references its models were
    given by, in its order) of the models a batch command names (default: the catalog models of
    ``model_set``); each failure has had its error line."""
    from vlmscope import api

    refs = tuple(models) if models else api.MODEL_SETS[model_set]
    outcomes = batch_of(refs, debug, lambda done: api.compare_each(
        refs, jobs=jobs, use_cache=not no_cache, trust_remote_code=trust, on_done=done, cost_request=request,
        fail_fast=debug))
    refs_done = tuple(o.ref for o in outcomes if o.anatomy is not None)
    return api.gather(outcomes, costed=request is not None), any(o.error for o in outcomes), refs_done


@app.command()
def show(
    model: Annotated[str, typer.Argument(
        help="Catalog name, model folder, config.json path or Hub repo id (org/name or org/name@revision).")],
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")] = ShowFormat.table,
    depth: Annotated[int | None, typer.Option(help="Limit the module tree to this depth.", min=0)] = None,
    image_size: ImageSizeOpt = None,
    processor: ProcessorOpt = None,
    video: VideoOpt = None,
    video_recipe: VideoRecipeOpt = "transformers",
    images: ImagesOpt = 1,
    text_tokens: TextTokensOpt = 0,
    context: ContextOpt = 4096,
    batch: Annotated[int, typer.Option(help="Concurrent sequences (KV cache, activations, the fit).", min=1)] = 1,
    dtype: Annotated[str, typer.Option("--dtype", help="Weight dtype: fp32, bf16, fp16, fp8, int8, int4.")] = "bf16",
    vision_dtype: Annotated[str | None, typer.Option(help="Vision-encoder dtype, if it differs.")] = None,
    gpu_mem: Annotated[str | None, typer.Option(help="GPU memory to fit against, with its unit: 24GB (10^9 "
                                                     "bytes), 80GiB (2^30 bytes), ...; the verdict is fit's.")] = None,
    gpu_gb: Annotated[float | None, typer.Option(help="The same in GiB (2^30 bytes), as a number.")] = None,
    quant: QuantOpt = None,
    group_size: GroupSizeOpt = 128,
    double_quant: DoubleQuantOpt = False,
    gpu: GpuOpt = None,
    reserve: ReserveOpt = None,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """One model in depth: its anatomy, its cost sheet (visual tokens, FLOPs, memory, KV cache) and its
    module tree with repeated blocks collapsed. With --gpu or --gpu-mem, the sheet says whether the request
    fits, with the same verdict as `vlmscope fit`."""
    from vlmscope import api
    from vlmscope.render import data, markdown, terminal

    requests = guard(debug, lambda: cost_requests(image_size, images=images, text_tokens=text_tokens, context=context,
                                               batch=batch, weights_dtype=dtype, vision_dtype=vision_dtype,
                                               gpu_gb=gpu_gb, quant=quant, group_size=group_size,
                                               double_quant=double_quant, gpu=gpu,
                                               gpu_bytes=parse_memory(gpu_mem) if gpu_mem else None,
                                               reserve_bytes=parse_reserve(reserve), processor=processor,
                                               video=video, video_recipe=video_recipe))
    anatomy, found = guard(debug, lambda: api.cost_many(model, requests, use_cache=not no_cache,
                                                        trust_remote_code=trust_remote_code))
    sheets = list(found)
    emit(fmt, {
        ShowFormat.json: lambda: data.show_json(anatomy, sheets, depth),
        ShowFormat.markdown: lambda: markdown.show_markdown(anatomy, depth, sheets),
        ShowFormat.table: lambda: terminal.show(anatomy, depth, width=width(), color=color(), sheets=sheets),
    })


@app.command(name="diff")
def diff_models(
    model_a: Annotated[str, typer.Argument(help="First model (catalog name, folder, config.json or Hub id).")],
    model_b: Annotated[str, typer.Argument(help="Second model.")],
    show_all: Annotated[bool, typer.Option("--all", help="Show every fact, not only those that differ.")] = False,
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="Output format.")] = ShowFormat.table,
    wide: WideOpt = False,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Line up the facts of two models and show the ones that differ."""
    from vlmscope import api
    from vlmscope.diff import diff
    from vlmscope.render import data, markdown, terminal

    a, b = guard(debug, lambda: [api.inspect(m, use_cache=not no_cache, trust_remote_code=trust_remote_code)
                                  for m in (model_a, model_b)])
    result = diff(a, b)
    emit(fmt, {
        ShowFormat.json: lambda: data.diff_json(result, show_all),
        ShowFormat.markdown: lambda: markdown.diff_markdown(result, show_all),
        ShowFormat.table: lambda: terminal.diff(result, show_all, width=width(), color=color(), wide=wide),
    })


@app.command()
def report(
    models: Annotated[list[str] | None, typer.Argument(
        help="Models to report on (as for compare). Default: the models of --set.", show_default=False)] = None,
    model_set: SetOpt = ModelSet.seed,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE",
                                        help="HTML file to write (replaced whole, keeping its mode; a target that "
                                             "is not a regular file is refused).")
                      ] = "vlmscope-report.html",
    cost: Annotated[bool, typer.Option("--cost/--no-cost", help="Include the cost sheets.")] = True,
    image_size: ImageSizeOpt = None,
    processor: ProcessorOpt = None,
    video: VideoOpt = None,
    video_recipe: VideoRecipeOpt = "transformers",
    images: ImagesOpt = 1,
    text_tokens: TextTokensOpt = 0,
    context: ContextOpt = 4096,
    gpu: GpuOpt = None,
    reserve: ReserveOpt = None,
    train: Annotated[str | None, typer.Option(
        "--train", metavar="METHOD", help="Add a Training section: one training step per model of this method "
        "(full, lora or qlora), with `vlmscope train`'s defaults and --gpu.", show_default=False)] = None,
    jobs: JobsOpt = 1,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Write one self-contained HTML report: sortable tables, diagrams, share bars and cost sheets.

    Per model: an SVG architecture diagram and a parameter-share bar. The page needs no network to view.
    A model that fails gets one error line on stderr and the others are still reported; the exit code is
    then 2."""
    from vlmscope.render.html import report as render_report

    target = output_path(output)
    request = _request(cost, debug, image_size, processor, context=context, text_tokens=text_tokens, gpu=gpu,
                       reserve_bytes=parse_reserve(reserve), video=video, video_recipe=video_recipe, images=images)
    recipe = None if train is None else guard(debug, lambda: TrainRecipe(method=train))
    comparison, failed, refs = _batch(models, request, jobs, no_cache, trust_remote_code, debug, model_set)
    if comparison.models:
        trained = None if recipe is None else _trained(comparison, refs, recipe, request, trust_remote_code, debug)
        page = render_report(comparison, fits=_fits(comparison, request), trained=trained)
        write(target, page)
        n = len(comparison.models)
        typer.echo(f"wrote {one_line(str(target))} ({n} model{'' if n == 1 else 's'}, {len(page):,} bytes)")
    if failed:
        raise typer.Exit(2)




def _trained(comparison: Comparison, refs: tuple[str, ...], recipe: TrainRecipe, request: CostRequest | None,
             trust: bool, debug: bool) -> list[tuple[Anatomy, TrainSheet]]:
    """The report's Training section: one step of ``recipe`` per reported model (against the GPU the request
    names, if any); a model whose step fails gets one error line and is left out of the section."""
    from vlmscope import api

    gpu = request if request is not None and request.gpu is not None else None
    done = []
    for a, ref in zip(comparison.models, refs, strict=True):
        try:
            done.append((a, api.train(ref, recipe, gpu=gpu, trust_remote_code=trust)[1]))
        except VlmscopeError as exc:
            if debug:
                raise
            error_line(f"{one_line(a.model_id)}: not in the Training section: {exc}")
    return done


def _fits(comparison: Comparison, request: CostRequest | None) -> tuple[Fit, ...] | None:
    """The report's Fit section: each costed model against the GPU its request names, sorted by peak."""
    if request is None or request.gpu is None or comparison.sheets is None:
        return None
    from vlmscope import api
    from vlmscope.data import Outcome

    outcomes = [Outcome(a.model_id, a, None, s) for a, s in zip(comparison.models, comparison.sheets, strict=True)]
    return api.fits_of(outcomes, request)
