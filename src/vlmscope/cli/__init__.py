"""The ``vlmscope`` command line: one module per command group, sharing one output helper and one error
guard (``common``). Commands parse options, call the API, pick a renderer and print; nothing else writes."""

from __future__ import annotations

import importlib

from vlmscope.cli.app import app

# Importing a group registers its commands; --help lists them in this order.
for _group in ("models", "catalog"):
    importlib.import_module(f"vlmscope.cli.{_group}")


def run() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "run"]
