"""The ``vlmscope`` command line: one module per command group, sharing one output helper and one error
guard (``common``). Commands parse options, call the API, pick a renderer and print; nothing else writes."""

from __future__ import annotations

import importlib
import inspect

from vlmscope.cli.app import app

# Importing a group registers its commands; --help lists them in this order.
for _group in ("models", "fitting", "catalog"):
    importlib.import_module(f"vlmscope.cli.{_group}")


def _paragraphs(doc: str) -> str:
    """A docstring as --help text: its paragraphs kept, the line breaks inside a paragraph (which rich would
    print as they are, mid-sentence) joined, so the terminal's width decides where lines break."""
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n") if p.strip())


for _info in app.registered_commands:
    if _info.help is None and _info.callback is not None:
        _info.help = _paragraphs(inspect.getdoc(_info.callback) or "")


def run() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "run"]
