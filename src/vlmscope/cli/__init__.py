"""The ``vlmscope`` command line: one module per command group, sharing one output helper and one error
guard (``common``). Commands parse options, call the API, pick a renderer and print; nothing else writes."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from vlmscope.cli.app import app

# Importing a group registers its commands; --help lists them in this order.
for _group in ("models", "fitting", "training", "catalog"):
    importlib.import_module(f"vlmscope.cli.{_group}")


def _paragraphs(doc: str) -> str:
    """A docstring as --help text: its paragraphs kept, the line breaks inside a paragraph (which rich would
    print as they are, mid-sentence) joined, so the terminal's width decides where lines break."""
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n") if p.strip())


for _info in app.registered_commands:
    if _info.help is None and _info.callback is not None:
        _info.help = _paragraphs(inspect.getdoc(_info.callback) or "")


def run() -> None:
    """Console-script entry point. A command line click cannot parse (an unknown option or command, a value
    of the wrong type or range) is one line on stderr quoting the bad value, exit 2."""
    import sys

    import typer
    from typer.exceptions import TyperException  # the base of the usage errors of typer's own click

    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        raise SystemExit(_line("interrupted", 130)) from None
    except TyperException as exc:
        if not hasattr(exc, "format_message"):
            raise
        raise SystemExit(_usage_line(exc, sys.argv[1:])) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _usage_line(exc: Any, argv: list[str]) -> int:
    """Print ``exc`` as one error line, the value the user gave quoted, and the help to read; return 2."""
    from vlmscope.cli.common import one_line

    message = exc.format_message().rstrip(".")
    param = getattr(exc, "param", None)
    given = _given(argv, list(getattr(param, "opts", ()) or ())) if param is not None else None
    if given is not None and repr(given) not in message:
        message += f" (got {one_line(repr(given))[:80]})"
    command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "vlmscope"
    return _line(f"{message}; see '{command} --help'", int(getattr(exc, "exit_code", 2)))


def _given(argv: list[str], opts: list[str]) -> str | None:
    """The value given to one of ``opts`` on the command line (``--opt VALUE`` or ``--opt=VALUE``)."""
    for i, arg in enumerate(argv):
        for opt in opts:
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1:]
            if arg == opt and i + 1 < len(argv):
                return argv[i + 1]
    return None


def _line(message: str, code: int) -> int:
    from vlmscope.cli.common import error_line

    error_line(message)
    return code


__all__ = ["app", "run"]
