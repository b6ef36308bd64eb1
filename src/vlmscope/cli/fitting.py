"""``vlmscope fit``: which models run on a GPU, at a context, image size, batch and quantization."""

from __future__ import annotations

from typing import Annotated

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
    TextTokensOpt,
    TrustOpt,
    VersionOpt,
    VideoOpt,
    VideoRecipeOpt,
    batch_of,
    color,
    cost_requests,
    emit,
    fail,
    guard,
    one_size,
    parse_memory,
    parse_reserve,
    width,
)


@app.command()
def fit(
    models: Annotated[list[str] | None, typer.Argument(
        help="Models (as for compare). Default: the models of --set.", show_default=False)] = None,
    model_set: SetOpt = ModelSet.seed,
    gpu: GpuOpt = None,
    gpu_mem: Annotated[str | None, typer.Option(help="GPU memory with its unit instead of --gpu's: 24GB (10^9 "
                                                     "bytes), 80GiB (2^30 bytes).", show_default=False)] = None,
    reserve: ReserveOpt = None,
    quant: QuantOpt = None,
    group_size: GroupSizeOpt = 128,
    double_quant: DoubleQuantOpt = False,
    image_size: ImageSizeOpt = None,
    processor: ProcessorOpt = None,
    video: VideoOpt = None,
    video_recipe: VideoRecipeOpt = "transformers",
    images: ImagesOpt = 1,
    text_tokens: TextTokensOpt = 0,
    context: ContextOpt = 4096,
    batch: Annotated[int, typer.Option(help="Concurrent sequences.", min=1)] = 1,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    jobs: JobsOpt = 1,
    no_cache: NoCacheOpt = False,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Will it fit, and how fast? Per model, sorted by peak memory: weights as stored, the KV cache at the
    context, the prefill's activation peak (traced on meta tensors) and their total against the GPU; the
    largest context that fits at the batch and the largest batch at the context; with --gpu, roofline lower
    bounds on the time to the first token and per token, and an upper bound on tokens per second.

    A model that fails gets one error line on stderr and the others are still fitted; the exit code is then
    2."""
    from vlmscope import api
    from vlmscope.render import data, markdown, rows, terminal

    if gpu is None and gpu_mem is None:
        fail("fit needs a GPU: --gpu NAME (e.g. --gpu h100-sxm, --gpu rtx-4090) or --gpu-mem 24GiB")
    request = guard(debug, lambda: cost_requests(one_size(image_size), images=images,
                                                 text_tokens=text_tokens, context=context, batch=batch,
                                                 quant=quant, group_size=group_size, double_quant=double_quant,
                                                 gpu=gpu, gpu_bytes=parse_memory(gpu_mem) if gpu_mem else None,
                                                 reserve_bytes=parse_reserve(reserve), processor=processor,
                                                 video=video, video_recipe=video_recipe)[0])
    refs = tuple(models) if models else api.MODEL_SETS[model_set]
    guard(debug, lambda: api.gpu_memory(request))
    outcomes = batch_of(refs, debug, lambda done: api.compare_each(
        refs, jobs=jobs, use_cache=not no_cache, trust_remote_code=trust_remote_code, on_done=done,
        cost_request=request, fail_fast=debug))
    found = api.fits_of(outcomes, request)
    table = rows.fit_rows(found)
    if found or fmt in (Format.json, Format.csv):  # no model fitted: the error lines alone, or an empty list
        emit(fmt, {
            Format.table: lambda: terminal.records(table, width=width(), color=color()),
            Format.markdown: lambda: f"### {table.title}\n\n{markdown.markdown_table(table)}",
            Format.json: lambda: data.fit_json(found),
            Format.csv: lambda: data.fit_csv(found),
        })
    if any(o.error for o in outcomes):
        raise typer.Exit(2)
