"""``python -m vlmscope`` runs the CLI."""

from vlmscope.cli import run

run()
