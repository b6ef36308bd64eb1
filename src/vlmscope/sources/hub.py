"""Config files from the Hugging Face Hub: an allow-list of small JSON files, never weights or code.

Downloads go through huggingface_hub, so its cache, ``HF_TOKEN``, ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``
all apply. Code files are fetched only for ``--trust-remote-code`` (by transformers' own loader).

A whole resolution has one deadline, ``VLMSCOPE_HUB_TIMEOUT`` seconds (20 by default), passed to
huggingface_hub's own timeouts and enforced around them. A revision that is a commit hash is answered from
the cache without any request (a commit never changes). For a branch or tag, the Hub is asked first; when
it cannot be reached, the cached files are used and a warning says so. huggingface_hub's retry warnings
are silenced: the user sees one line.
"""

from __future__ import annotations

import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from vlmscope.errors import HubError, RequestError, VlmscopeWarning, clip

CONFIG = "config.json"
OPTIONAL = ("preprocessor_config.json", "processor_config.json")
TIMEOUT_ENV = "VLMSCOPE_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 20.0
_CANDIDATE = re.compile(r"[^/@\s]+/[^/@\s]+(@.*)?", re.S)
_REVISION = re.compile(r"[\w][\w.\-/]{0,254}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
T = TypeVar("T")


class CachedFallbackWarning(VlmscopeWarning):
    """The Hub could not be reached; the cached config files of a branch or tag were used instead."""


class _Unreachable(Exception):
    """No answer from the endpoint (timeout, connection refused, DNS): the cache may still answer."""


def looks_like_repo_id(ref: str) -> bool:
    """``org/name`` or ``org/name@revision`` in shape; ``validate`` says whether it is a valid one."""
    return _CANDIDATE.fullmatch(ref) is not None


def split(ref: str) -> tuple[str, str | None]:
    repo_id, _, revision = ref.partition("@")
    return repo_id, revision or None


def validate(ref: str) -> None:
    """Check a repo id with huggingface_hub's own validator and a revision by shape, before any file access:
    no ``..``, no leading ``/``, at most 255 characters."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils._validators import validate_repo_id

    repo_id, revision = split(ref)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(clip(ref, 100), "not a valid Hub repo id: use org/name (letters, digits, '-', '_' and '.', "
                                    "at most 96 characters)") from exc
    if "@" in ref and (not revision or ".." in revision or not _REVISION.fullmatch(revision)):
        raise HubError(clip(ref, 100), "not a valid revision: name a branch, a tag or a commit hash")


def timeout_s() -> float:
    """The deadline of one Hub resolution, from ``VLMSCOPE_HUB_TIMEOUT`` (seconds)."""
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < 3600:
        raise RequestError(TIMEOUT_ENV, raw, "a number of seconds between 0 and 3600")
    return value


def endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def fetch(ref: str) -> dict[str, Path]:
    """config.json and the optional processor configs of ``ref``, from the cache or the Hub, within the
    deadline."""
    repo_id, revision = split(ref)
    if revision is not None and _COMMIT.fullmatch(revision) and (cached := _cached(repo_id, revision)):
        return cached
    limit = timeout_s()
    try:
        return _within(limit, lambda: _download(ref, repo_id, revision, time.monotonic() + limit))
    except _Unreachable as exc:
        cached = _cached(repo_id, revision)
        if not cached:
            raise HubError(ref, f"cannot reach {endpoint()} ({exc}) and its config.json is not in the cache") from exc
        warnings.warn(CachedFallbackWarning(f"{ref}: cannot reach {endpoint()} ({exc}); using the cached config "
                                            "files, which may be older than the Hub's"), stacklevel=2)
        return cached


def _within(limit: float, work: Callable[[], T]) -> T:
    """Run ``work`` in a daemon thread and give up after ``limit`` seconds (the thread is abandoned)."""
    from huggingface_hub.utils import logging as hub_logging

    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    level = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()  # no retry warnings: the user sees one line
    try:
        thread = threading.Thread(target=run, name="vlmscope-hub", daemon=True)
        thread.start()
        thread.join(limit)
    finally:
        hub_logging.set_verbosity(level)
    if thread.is_alive():
        raise _Unreachable(f"no answer within {limit:g} s; {TIMEOUT_ENV} sets the deadline")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _cached(repo_id: str, revision: str | None) -> dict[str, Path] | None:
    """The config files of ``repo_id`` at ``revision`` already in the huggingface_hub cache, or None."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        found = {CONFIG: Path(hf_hub_download(repo_id, CONFIG, revision=revision, local_files_only=True))}
    except (OSError, ValueError, EntryNotFoundError):
        return None
    for name in OPTIONAL:
        try:
            found[name] = Path(hf_hub_download(repo_id, name, revision=revision, local_files_only=True))
        except (OSError, ValueError, EntryNotFoundError):
            continue
    return found


def _download(ref: str, repo_id: str, revision: str | None, deadline: float) -> dict[str, Path]:
    """Ask the Hub (one quick request without retries first, so an unreachable endpoint fails fast), then
    download config.json and the optional files, each request timed out by what is left of the deadline."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    def left() -> float:
        return max(deadline - time.monotonic(), 0.1)

    try:
        if not _offline():
            get_hf_file_metadata(hf_hub_url(repo_id, CONFIG, revision=revision), timeout=left())
        files = {CONFIG: Path(hf_hub_download(repo_id, CONFIG, revision=revision, etag_timeout=left()))}
    except (OSError, TimeoutError, *_transport_errors()) as exc:
        raise _hub_error(ref, revision, exc) from exc
    for name in OPTIONAL:
        try:
            files[name] = Path(hf_hub_download(repo_id, name, revision=revision, etag_timeout=left()))
        except (hub_errors.EntryNotFoundError, OSError):
            continue  # optional: absent in the repo, or offline and not cached
    return files


def _transport_errors() -> tuple[type[Exception], type[Exception]]:
    """(any transport error, a timeout) of the HTTP client huggingface_hub uses."""
    import importlib

    try:
        client = importlib.import_module("httpx2")  # huggingface_hub 2.x
    except ImportError:
        client = importlib.import_module("httpx")
    return client.HTTPError, client.TimeoutException


def _hub_error(ref: str, revision: str | None, exc: Exception) -> Exception:
    """The one-line error (or the ``_Unreachable`` that lets the cache answer) for a failed request."""
    from huggingface_hub import errors as hub_errors

    if isinstance(exc, hub_errors.GatedRepoError):
        return HubError(ref, "the repository is gated: accept its terms on the Hub, then set HF_TOKEN")
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return HubError(ref, f"repository not found on {endpoint()} (if it is private, set HF_TOKEN)")
    if isinstance(exc, hub_errors.RevisionNotFoundError):
        return HubError(ref, f"revision {revision!r} not found")
    if isinstance(exc, hub_errors.RemoteEntryNotFoundError):
        return HubError(ref, "the repository has no config.json; it is not a transformers model")
    if isinstance(exc, hub_errors.LocalEntryNotFoundError) and _offline():
        return HubError(ref, "offline (HF_HUB_OFFLINE=1) and its config.json is not in the cache; "
                             "run once online or unset HF_HUB_OFFLINE")
    if isinstance(exc, (TimeoutError, _transport_errors()[1])):
        return _Unreachable(f"no answer within {timeout_s():g} s; {TIMEOUT_ENV} sets the deadline")
    if isinstance(exc, hub_errors.HfHubHTTPError) and exc.response is not None:
        return HubError(ref, f"cannot download config.json from {endpoint()}: HTTP {exc.response.status_code}")
    return _Unreachable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}".rstrip(": "))
