"""What every command shares: output formats and options, the error guard (one line, exit 2), the output
helper, progress bars and cost requests."""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO, TypeVar

import typer

from vlmscope.errors import VlmscopeError, VlmscopeWarning, clip
from vlmscope.limits import MAX_IMAGE_SIDE, MAX_JOBS, MAX_SIZES

if TYPE_CHECKING:
    from vlmscope.data import Comparison, CostRequest, Outcome

T = TypeVar("T")


class Format(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


class ShowFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


def _version(value: bool) -> None:
    if value:
        from vlmscope import __version__

        typer.echo(f"vlmscope {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
TrustOpt = Annotated[bool, typer.Option(
    "--trust-remote-code", help="Run the Python code a model ships (auto_map) to build it. Off by default: "
                                "only do this for repositories you trust.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Rebuild every model; ignore the on-disk cache.")]


class ModelSet(StrEnum):
    seed = "seed"
    today = "today"


SetOpt = Annotated[ModelSet, typer.Option(
    "--set", help="The catalog models compared when none are named: 'seed' (the seed's nine, 2024) or 'today' "
                  "(official 2025–2026 checkpoints: Qwen2.5/3-VL, Qwen3.5, SmolVLM, Gemma 3/4, PaliGemma 2, "
                  "Llama 3.2 Vision, GLM-4.1V, Devstral 2, LFM2.5-VL, MiniCPM-V 4.6, Florence-2).")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="Terminal tables: never shorten a long name or URL with …, even if a model then needs a "
                   "group of columns of its own. Cells wrap at spaces only, with or without it.")]


MAX_LINE = 300  # characters of one error or warning line


def one_line(text: str) -> str:
    """A message as one printable line of bounded length: whitespace runs become one space, control
    characters visible escapes, and the end is cut past ``MAX_LINE`` characters."""
    from vlmscope.render.rows import printable

    line = printable(" ".join(text.split()))
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def error_line(message: str) -> None:
    typer.echo(f"vlmscope: error: {one_line(message)}", err=True)


def fail(message: str, code: int = 2) -> None:
    error_line(message)
    raise typer.Exit(code)


_python_showwarning = warnings.showwarning


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    """vlmscope's own warnings as one line on stderr; others as Python shows them."""
    if issubclass(category, VlmscopeWarning):
        typer.echo(f"vlmscope: warning: {one_line(str(message))}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def guard(debug: bool, work: Callable[[], T]) -> T:
    """Run ``work``; expected errors become one line on stderr and exit code 2 (tracebacks with --debug)."""
    try:
        return work()
    except typer.Exit:
        raise
    except VlmscopeError as exc:
        if debug or os.environ.get("VLMSCOPE_DEBUG"):
            raise
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if debug or os.environ.get("VLMSCOPE_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)
    raise AssertionError("unreachable")


ImageSizeOpt = Annotated[list[str] | None, typer.Option(
    "--image-size", help="Image size WIDTHxHEIGHT for the cost sheet (show: repeatable, one sheet per size; "
                         "compare, fit, report: one). Default: the encoder's native size.", show_default=False)]


def one_size(sizes: list[str] | None) -> list[str] | None:
    """The one --image-size a batch command takes; a second is refused in one line, not dropped."""
    if sizes and len(sizes) > 1:
        fail(f"--image-size given {len(sizes)} times ({', '.join(one_line(s) for s in sizes[:4])}): this command "
             "costs one size; run it once per size, or use `vlmscope show MODEL --image-size A --image-size B`")
    return sizes
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=MAX_JOBS, help=(
    f"Build models in this many processes (at most {MAX_JOBS}; each holds about 350 MB)."))]
TextTokensOpt = Annotated[int, typer.Option(help="Text tokens in the prompt, besides the visual tokens.", min=0)]
ContextOpt = Annotated[int, typer.Option(help="Context length (tokens) for the decode step and the KV cache.", min=1)]
QuantOpt = Annotated[str | None, typer.Option(
    "--quant", help="Weights as a quantized checkpoint stores them: bf16, fp16, fp8 (128×128 block scales), int8 "
                    "(bitsandbytes LLM.int8), nf4 (bitsandbytes 4-bit), awq-int4, gptq-int4, gptq-int8. Default: "
                    "the config's quantization_config, else --dtype.", show_default=False)]
GroupSizeOpt = Annotated[int, typer.Option("--group-size", help="AWQ / GPTQ group size along the input "
                                                                "(-1: one group per column).")]
DoubleQuantOpt = Annotated[bool, typer.Option("--double-quant", help="nf4: absmax quantized again "
                                                                     "(bnb_4bit_use_double_quant).")]
GpuOpt = Annotated[str | None, typer.Option(
    "--gpu", help="A GPU of the accelerator table (h100-sxm, h200, a100-80gb, l40s, l4, rtx-4090, rtx-3090, a10g): "
                  "roofline lower bounds on latency, and its memory for the fit (the total its driver "
                  "reports).", show_default=False)]
ReserveOpt = Annotated[str | None, typer.Option(
    "--reserve", help="Of the GPU's memory, what the process cannot use (CUDA context, workspaces, allocator "
                      "slack), with its unit: 1GiB (the default, an allowance), 600MiB, 0GiB. Measure yours with "
                      "benchmarks/gpu_check.py.", show_default=False)]


ProcessorOpt = Annotated[list[str] | None, typer.Option(
    "--processor", metavar="KEY=VALUE", help="A setting of the model's image processor (and of its video "
    "processor, where that takes it), over its own files (repeatable): max_pixels=12845056, "
    "do_image_splitting=false, max_patches=6, size='{\"longest_edge\": 1456}', fps=1. Each key must be one the "
    "model's processors take; the value is read as JSON where it is JSON.",
    show_default=False)]


VideoOpt = Annotated[list[str] | None, typer.Option(
    "--video", metavar="CLIP", help="A video in the request (repeatable), as it reaches the processor: "
    "DURATION@FPS:WxH (60s@2:1280x720 is 120 frames of 1280x720 at 2 fps; units s, m, h) or FRAMESf:WxH (32f:"
    "1280x720, frames without a rate). Frames are sampled, resized and turned into tokens as the model's "
    "transformers video processor does (its files' settings, and --processor's: fps, num_frames, "
    "do_sample_frames, cap_pixels_per_frame, ...); the timestamps and labels it writes are counted by the "
    "model's tokenizer where one is at hand (a folder's or Hub repo's tokenizer.json). Where the count depends "
    "on the pictures (VideoLLaMA3's compression), the most is counted and the fewest given.",
    show_default=False)]


ImagesOpt = Annotated[int, typer.Option(help="Images per request (0 with --video: the clip alone).", min=0)]
VideoRecipeOpt = Annotated[str, typer.Option(
    "--video-recipe", metavar="RECIPE", help="Who samples and resizes the --video frames before the model's "
    "processor: transformers (its video processor, with the model's files; the default), qwen-vl-utils (Qwen's "
    "own loader, 0.0.14: 2 fps, at most 768 merged patches a frame, for Qwen2-VL / 2.5-VL / 3-VL / 3.5), sglang "
    "(SGLang 0.5.23: for the Qwen families its Qwen-VL preprocessing, the same caps in 28-pixel patches, then the "
    "processor resizes again; GLM-4.1V's and GLM-4.6V's own samplers; Gemma 4's num_frames by torch.arange, timed "
    "at 24 fps; every frame for MiniCPM-V 4.6, each cut as an image; by the config's architectures, as SGLang "
    "picks), or vllm (vLLM 0.33.0's loaders: 2 fps and 4 to 768 frames for the Qwen families, GLM-4.1V's and "
    "GLM-4.6V's samplers, 32 frames spread evenly for LLaVA-OneVision, LLaVA-NeXT-Video, Gemma 4, InternVL (at "
    "its image processor's size) and MiniCPM-V 4.6 (each frame cut as an image); the processor's own resize).")]


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in ASCII digits; a side of more than 12 digits is refused before it is converted."""
    match = re.fullmatch(r"\s*([0-9]{1,12})\s*[x×X]\s*([0-9]{1,12})\s*", text)
    if match is None or not all(int(side) > 0 for side in match.groups()):
        fail(f"bad --image-size {one_line(clip(repr(text), 60))}: write WIDTHxHEIGHT in digits 0-9, each side "
             f"from 1 to {MAX_IMAGE_SIDE:,} pixels, e.g. 1024x768")
        raise AssertionError("unreachable")
    return int(match.group(1)), int(match.group(2))


_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(text: str, flag: str = "--gpu-mem", minimum: int = 1) -> int:
    """``24GB`` (10^9 bytes each), ``80GiB`` (2^30), ``512MiB``, ... as bytes; a unit is required, since GB
    and GiB differ by 7%."""
    match = re.fullmatch(r"\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([A-Za-z]{1,3})\s*", text)
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        fail(f"bad {flag} {one_line(clip(repr(text), 60))}: write a size with its unit, e.g. 24GB (10^9 bytes) "
             "or 80GiB (2^30 bytes)")
        raise AssertionError("unreachable")
    size = int(float(match.group(1)) * unit)
    if not minimum <= size <= 2**60:
        fail(f"bad {flag} {one_line(clip(repr(text), 60))}: a size of at least {minimum} byte(s) and at most 1 EiB "
             "(2^60 bytes)")
    return size


def parse_reserve(text: str | None) -> int | None:
    """``--reserve`` as bytes (0 allowed), or None for fit's default."""
    return parse_memory(text, "--reserve", 0) if text else None


def cost_requests(sizes: list[str] | None, processor: list[str] | None = None, video: list[str] | None = None,
                  **fields: object) -> list[CostRequest]:
    """One cost request per image size; CostRequest validates every value (RequestError: one line, exit 2).
    ``processor``: the --processor KEY=VALUE settings; ``video``: the --video clips."""
    from vlmscope.data import CostRequest
    from vlmscope.tokens.settings import parse_setting

    fields["processor"] = tuple(parse_setting(text) for text in processor or ())
    fields["videos"] = tuple(video or ())
    if isinstance(fields.get("gpu"), str):  # a GPU of the table, by any of its spellings
        from vlmscope.costing.latency import accelerator

        fields["gpu"] = accelerator(str(fields["gpu"]))[0]
    if sizes and len(sizes) > MAX_SIZES:
        fail(f"--image-size given {len(sizes)} times: one run costs at most {MAX_SIZES} sizes (each is a cost "
             "sheet of its own); run it again for the others")
    parsed: list[tuple[int, int] | None] = [parse_size(s) for s in sizes] if sizes else [None]
    return [CostRequest(image_size=size, **fields) for size in parsed]  # type: ignore[arg-type]


def emit(fmt: str, renderers: dict[str, Callable[[], str]]) -> None:
    """Render in the chosen format and print: the one place a command's output is written."""
    out = renderers[fmt]()
    typer.echo(out, nl=not out.endswith("\n"))


def width() -> int:
    return shutil.get_terminal_size((200, 40)).columns


def color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def batch_of(refs: tuple[str, ...], debug: bool,
           work: Callable[[Callable[[str], None]], tuple[Outcome, ...]]) -> tuple[Outcome, ...]:
    """Run a batch with a progress bar; each model that failed gets its one error line on stderr.
    With --debug the batch fails fast, with the traceback."""
    outcomes = guard(debug, lambda: with_progress(refs, work)) if debug else with_progress(refs, work)
    for failed in outcomes:
        if failed.error is not None:
            error_line(failed.error)
    return outcomes


def print_comparison(comparison: Comparison, fmt: Format, wide: bool = False) -> None:
    """The comparison (and the cost table, when it carries sheets) in ``fmt``."""
    from vlmscope.render import data, markdown, terminal

    emit(fmt, {
        Format.table: lambda: terminal.comparison(comparison, width=width(), color=color(), wide=wide),
        Format.markdown: lambda: markdown.markdown(comparison),
        Format.json: lambda: data.json_text(comparison),
        Format.csv: lambda: data.csv_text(comparison),
    })


def with_progress(refs: tuple[str, ...], work: Callable[[Callable[[str], None]], T]) -> T:
    """A transient progress bar on stderr while models are built (only on a terminal)."""
    if not sys.stderr.isatty():
        return work(lambda ref: None)
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]inspecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=len(refs))
        return work(lambda ref: bar.update(task, advance=1, description=escape(one_line(ref))))


def output_path(raw: str) -> Path:
    """The file ``-o`` names; an empty name, a folder (``/``, ``.``) or a missing folder is refused."""
    path, shown = Path(raw), one_line(clip(repr(raw), 80))
    try:
        if not raw.strip() or raw.endswith(("/", "\\")) or path.name in ("", ".", "..") or path.is_dir():
            fail(f"bad --output {shown}: name a file to write, e.g. report.html")
        if not path.parent.is_dir():
            fail(f"bad --output {shown}: the folder {one_line(clip(repr(str(path.parent)), 80))} does not exist")
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        fail(f"bad --output {shown}: {getattr(exc, 'strerror', None) or exc}")
    return path


def write(output: Path, page: str) -> None:
    """Write ``page`` to ``output`` whole or not at all: a new temporary file, created exclusively in the
    same folder, renamed over it. A target that exists but is not a regular file is refused."""
    from vlmscope.files import UnsafeFileError, write_atomic

    try:
        write_atomic(output, page.encode("utf-8"))
    except UnsafeFileError as exc:
        fail(f"refusing to write: {exc}; choose another --output")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")


class ZooFormat(StrEnum):
    table = "table"
    json = "json"
