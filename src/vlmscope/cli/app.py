"""The ``vlmscope`` Typer application and its top-level options."""

from __future__ import annotations

import warnings

import typer

from vlmscope.cli.common import VersionOpt, show_warning

app = typer.Typer(
    name="vlmscope",
    help="Look inside vision-language models without downloading weights: roles, layers, exact parameter "
         "counts and visual tokens, computed from the models' own definitions on PyTorch's meta device.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def main(
    version: VersionOpt = False,
) -> None:
    """vlmscope: anatomy, parameters and visual tokens of vision-language models."""
    warnings.showwarning = show_warning  # vlmscope's warnings as one line on stderr
