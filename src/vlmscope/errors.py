"""Typed errors. Each message names the bad value and what to do; the CLI prints it as one line."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an input of any length quoted in a one-line message)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, clipped: a value from untrusted input, quoted in one line."""
    return clip(repr(value), limit)


def reason(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and the first non-empty line of its message, clipped (the
    reason a figure was not counted, or a zoo type not built)."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return clip(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, limit)


def from_library(exc: BaseException) -> bool:
    """Whether ``exc`` was raised outside vlmscope's own code (its innermost frame lies in transformers,
    torch or another library): a library refusing a value of the config it was given, not a vlmscope bug."""
    import os

    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    here = os.path.dirname(os.path.abspath(__file__))
    return not os.path.abspath(last.tb_frame.f_code.co_filename).startswith(here + os.sep)


class VlmscopeError(Exception):
    """Base class of every error vlmscope raises on purpose (bad input, unsupported model)."""


class UnknownModelError(VlmscopeError, LookupError):
    """A reference names no catalog model, folder or file."""

    def __init__(self, ref: str, suggestions: tuple[str, ...] = ()) -> None:
        self.ref = ref
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown model {ref!r}: not a catalog name, a folder, a config.json or a Hub repo id (org/name).{hint}"
            " Run 'vlmscope list' to see the catalog."
        )


class AmbiguousModelError(VlmscopeError, LookupError):
    """A short name matches several catalog models."""

    def __init__(self, ref: str, matches: tuple[str, ...]) -> None:
        self.ref = ref
        self.matches = matches
        super().__init__(f"model name {ref!r} is ambiguous: it matches {', '.join(matches)}. Use the full id.")


class ConfigError(VlmscopeError, ValueError):
    """A config file is unreadable, not JSON, or lacks a required field."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"bad config {path}: {problem}")


class UnsupportedArchitectureError(VlmscopeError, ValueError):
    """transformers cannot build this model_type / architecture, and no rebuilt skeleton exists."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"cannot build {name!r}: {problem}")


class AnatomyError(VlmscopeError, RuntimeError):
    """The module tree does not have a part vlmscope needs (e.g. no language decoder stack)."""


class HubError(VlmscopeError, OSError):
    """The Hub could not give a model's config files."""

    def __init__(self, ref: str, problem: str) -> None:
        self.ref = ref
        super().__init__(f"{ref}: {problem}")


class RequestError(VlmscopeError, ValueError):
    """A value passed to the API (a cost request, an option) is out of its domain."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"bad {name} {shown(value, 80)}: use {expected}")


class LimitError(VlmscopeError, ValueError):
    """An input asks for more work than vlmscope's bounds allow (see ``vlmscope.sources.limits``)."""

    def __init__(self, where: str, key: str, value: object, limit: object, what: str) -> None:
        self.key = key
        self.value = value
        self.limit = limit
        super().__init__(f"{where}: {key} = {shown(value)} is over vlmscope's limit of {limit} ({what}); "
                         "no real model needs that much, so the file is refused")


class VlmscopeWarning(UserWarning):
    """Something the user should know about a result that is still given (e.g. cached files used)."""
