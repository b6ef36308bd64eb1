"""``vlmscope train``: will fine-tuning this VLM fit, with which recipe, on which GPUs?"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from vlmscope.cli.app import app
from vlmscope.cli.common import (
    DebugOpt,
    Format,
    GpuOpt,
    ReserveOpt,
    TrustOpt,
    VersionOpt,
    color,
    emit,
    error_line,
    guard,
    one_line,
    parse_memory,
    parse_reserve,
    parse_size,
    width,
)
from vlmscope.errors import VlmscopeError

ROLES = "vision, connector, language, lm_head"


def _roles(text: str | None) -> tuple[str, ...]:
    return tuple(r.strip() for r in (text or "").split(",") if r.strip())


@app.command()
def train(
    models: Annotated[list[str], typer.Argument(help="Models: catalog names, folders, config.json paths or Hub "
                                                     "repo ids.", show_default=False)],
    method: Annotated[str, typer.Option(help="full, lora or qlora (LoRA over an nf4 base, as bitsandbytes "
                                             "stores it).")] = "full",
    lora_rank: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    lora_targets: Annotated[str, typer.Option(help="Modules LoRA adapts, as peft matches target_modules: names "
                                                   "(q_proj,v_proj: a name or a dotted tail), a regex over the "
                                                   "whole name, or all-linear.")] = "all-linear",
    lora_roles: Annotated[str, typer.Option(help=f"Roles whose modules LoRA may adapt, among {ROLES}.")] = "language",
    freeze: Annotated[str | None, typer.Option(help=f"Full fine-tune: roles left frozen, among {ROLES} "
                                                    "(e.g. vision,connector).", show_default=False)] = None,
    precision: Annotated[str, typer.Option(help="bf16 (weights, gradients and optimizer states in bf16) or mixed "
                                                "(fp32 weights, gradients and states; the forward under bf16 "
                                                "autocast, emulated with CUDA's operation lists).")] = "bf16",
    optimizer: Annotated[str, typer.Option(help="adamw (torch, foreach), adamw-fused, adamw-8bit (bitsandbytes), "
                                                "sgd (momentum) or adafactor (transformers').")] = "adamw",
    gc: Annotated[bool, typer.Option("--gc", help="Gradient checkpointing per decoder layer (transformers' "
                                                  "gradient_checkpointing_enable).")] = False,
    micro_batch: Annotated[int, typer.Option(help="Samples per GPU per step.", min=1)] = 1,
    seq_len: Annotated[int, typer.Option(help="Tokens per sample, the images' visual tokens included.",
                                         min=2)] = 2048,
    images: Annotated[int, typer.Option(help="Images per sample.", min=0)] = 1,
    image_size: Annotated[str | None, typer.Option(help="Image size WIDTHxHEIGHT. Default: the encoder's native "
                                                        "size.", show_default=False)] = None,
    zero: Annotated[int | None, typer.Option(help="DeepSpeed ZeRO stage 1, 2 or 3 over --gpus.",
                                             show_default=False)] = None,
    fsdp: Annotated[bool, typer.Option("--fsdp", help="FSDP full shard over --gpus.")] = False,
    gpus: Annotated[int, typer.Option(help="GPUs the step runs on (data parallel).", min=1)] = 1,
    offload: Annotated[bool, typer.Option("--offload", help="With --zero or --fsdp: optimizer states (ZeRO-3 and "
                                                            "FSDP: parameters too) on the CPU.")] = False,
    gpu: GpuOpt = None,
    gpu_mem: Annotated[str | None, typer.Option(help="GPU memory with its unit instead of --gpu's: 24GB, 80GiB.",
                                                show_default=False)] = None,
    reserve: ReserveOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    trust_remote_code: TrustOpt = False,
    debug: DebugOpt = False,
    version: VersionOpt = False,
) -> None:
    """Will fine-tuning fit, and how far can it go? Per model, one training step of the recipe traced on meta
    tensors (forward with the loss, backward, optimizer step): parameters trained per role, bytes of weights,
    gradients, optimizer states and activations on each GPU, the peak and its phase; with --gpu or --gpu-mem,
    whether it fits and the largest micro-batch and sequence that do.

    A model that fails gets one error line on stderr and the others still run; the exit code is then 2."""
    from vlmscope import api
    from vlmscope.data import CostRequest
    from vlmscope.data.training import TrainRecipe, TrainShape
    from vlmscope.render import markdown, terminal
    from vlmscope.render import training as render

    recipe = guard(debug, lambda: TrainRecipe(
        method=method, lora_rank=lora_rank, lora_targets=lora_targets, lora_roles=_roles(lora_roles),
        freeze=_roles(freeze), precision=precision, optimizer=optimizer, gpus=gpus, zero=zero,
        fsdp=fsdp, offload=offload))
    shape = guard(debug, lambda: TrainShape(micro_batch, seq_len, images,
                                            parse_size(image_size) if image_size else None, gc))
    gpu_request = None if gpu is None and gpu_mem is None else guard(debug, lambda: CostRequest(
        gpu=gpu, gpu_bytes=parse_memory(gpu_mem) if gpu_mem else None, reserve_bytes=parse_reserve(reserve)))
    if gpu_request is not None:
        guard(debug, lambda: api.gpu_memory(gpu_request))
    done, failed = [], False
    for ref in models:  # one model's error does not stop the others
        try:
            done.append(api.train(ref, recipe, shape, gpu=gpu_request, trust_remote_code=trust_remote_code))
        except Exception as exc:
            if debug or os.environ.get("VLMSCOPE_DEBUG"):
                raise
            failed = True
            error_line(str(exc) if isinstance(exc, VlmscopeError) else
                       f"{one_line(ref)}: internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
    if done or fmt in (Format.json, Format.csv):
        table = render.train_rows(done)
        emit(fmt, {
            Format.table: lambda: terminal.records(table, width=width(), color=color()),
            Format.markdown: lambda: f"### {table.title}\n\n{markdown.markdown_table(table)}",
            Format.json: lambda: render.train_json(done),
            Format.csv: lambda: render.train_csv(done),
        })
    if failed:
        raise typer.Exit(2)
