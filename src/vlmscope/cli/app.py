"""The ``vlmscope`` Typer application and its top-level options."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from vlmscope import __version__
from vlmscope.cli.common import show_warning

app = typer.Typer(
    name="vlmscope",
    help="Look inside vision-language models without downloading weights: roles, layers, exact parameter "
         "counts and visual tokens, computed from the models' own definitions on PyTorch's meta device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
    warnings.showwarning = show_warning  # vlmscope's warnings as one line on stderr
