"""Config files from the Hugging Face Hub: an allow-list of small JSON files, never weights or code.

vlmscope fetches those files with a small client of its own and stores them in huggingface_hub's cache, in
its layout (``hubcache``), so ``HF_TOKEN``, ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE`` all apply and the cache is shared with huggingface_hub's tools. The server chooses
neither a path nor a size: its commit and ETag must be hex digests before anything is written, a body is
read to the config limit (``MAX_CONFIG_BYTES``) and no further, and a refused answer leaves nothing behind.
Code files are fetched only for ``--trust-remote-code`` (by transformers' own loader).

A whole resolution has one deadline, ``VLMSCOPE_HUB_TIMEOUT`` seconds (20 by default), applied to every
request and enforced around them. A revision that is a commit hash is answered from the cache without any
request (a commit never changes). For a branch or tag, the Hub is asked first; when it cannot be reached,
the cached files are used and a warning says so.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urljoin, urlsplit

from vlmscope.errors import HubError, RequestError, VlmscopeWarning, clip, reason, shown
from vlmscope.limits import MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES
from vlmscope.sources import hubcache

CONFIG = "config.json"
OPTIONAL = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")
TOKENIZER = "tokenizer.json"  # fetched only to count the text a video processor writes, and only then
TIMEOUT_ENV = "VLMSCOPE_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 20.0
_CANDIDATE = re.compile(r"[^/@\s]+/[^/@\s]+(@.*)?", re.S)
_REVISION = re.compile(r"[\w][\w.\-/]{0,254}")
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
    deadline. A commit hash already cached, and ``HF_HUB_OFFLINE``, are answered without any request."""
    repo_id, revision = split(ref)
    revision = revision or "main"
    if hubcache.COMMIT.fullmatch(revision) and (cached := _cached(repo_id, revision)):
        return cached
    if _offline():
        if cached := _cached(repo_id, revision):
            return cached
        raise HubError(ref, "offline (HF_HUB_OFFLINE=1) and its config.json is not in the cache; "
                            "run once online or unset HF_HUB_OFFLINE")
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


def fetch_tokenizer(ref: str) -> Path | None:
    """The model's tokenizer.json at the commit its config files came from: the cache's (huggingface_hub's
    own, where the model was used), else the Hub's, bounded by MAX_TOKENIZER_BYTES and the deadline; None
    where the repo has none, or it cannot be had (offline, unreachable, too large): the text is then not
    counted, and the sheet says so."""
    repo_id, revision = split(ref)
    commit = hubcache.commit_of(repo_id, revision or "main")
    if commit is None:
        return None
    if cached := hubcache.read(repo_id, commit, TOKENIZER):
        return cached
    if _offline():
        return None
    limit = timeout_s()
    try:
        headers, data = _within(limit, lambda: _get(_url(repo_id, commit, TOKENIZER), time.monotonic() + limit,
                                                    MAX_TOKENIZER_BYTES))
    except (_Status, _TooLarge, _Unreachable):
        return None
    blob = hubcache.blob_name(headers.get("x-linked-etag") or headers.get("etag"))
    return None if blob is None else hubcache.write(repo_id, commit, commit, TOKENIZER, blob, data,
                                                    MAX_TOKENIZER_BYTES)


def _within(limit: float, work: Callable[[], T]) -> T:
    """Run ``work`` in a daemon thread and give up after ``limit`` seconds (the thread is abandoned)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=run, name="vlmscope-hub", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise _unreachable(TimeoutError())
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _cached(repo_id: str, revision: str) -> dict[str, Path] | None:
    """The config files of ``repo_id`` at ``revision`` already in the cache, or None."""
    commit = hubcache.commit_of(repo_id, revision)
    config = hubcache.read(repo_id, commit, CONFIG) if commit else None
    if commit is None or config is None:
        return None
    found = {CONFIG: config}
    for name in OPTIONAL:
        if (path := hubcache.read(repo_id, commit, name)) is not None:
            found[name] = path
    return found


def _download(ref: str, repo_id: str, revision: str, deadline: float) -> dict[str, Path]:
    """Fetch config.json and the optional files, each bounded in size and time, and store each in the cache
    once its commit and ETag are checked as the hex they must be."""
    files: dict[str, Path] = {}
    for name in (CONFIG, *OPTIONAL):
        try:
            headers, data = _get(_url(repo_id, revision, name), deadline)
        except _Status as exc:
            if name != CONFIG and exc.status == 404:
                continue  # optional: absent in the repo
            raise _status_error(ref, revision, name, exc) from exc
        except _TooLarge as exc:
            raise HubError(ref, f"{name} is larger than the {MAX_CONFIG_BYTES // 2**20} MiB limit of a config "
                                "file; refused, nothing written") from exc
        commit, etag = headers.get("x-repo-commit"), headers.get("x-linked-etag") or headers.get("etag")
        blob = hubcache.blob_name(etag)
        if commit is None or not hubcache.COMMIT.fullmatch(commit) or blob is None:
            bad = f"X-Repo-Commit {shown(commit)}" if blob else f"ETag {shown(etag)}"
            raise HubError(ref, f"the server's answer for {name} has a malformed {bad} (a commit and an ETag are "
                                "hex digests); refused, nothing written")
        files[name] = hubcache.write(repo_id, revision, commit, name, blob, data)
    return files


class _Status(Exception):
    """An HTTP error answer: its status and the Hub's ``X-Error-Code``."""

    def __init__(self, status: int, code: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.code = status, code


class _TooLarge(Exception):
    """An answer whose body is past the config limit (declared, or read to one byte beyond it)."""


def _unreachable(exc: BaseException) -> _Unreachable:
    """A failed request as the ``_Unreachable`` that lets the cache answer: a timeout says the deadline."""
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        return _Unreachable(f"no answer within {timeout_s():g} s; {TIMEOUT_ENV} sets the deadline")
    return _Unreachable(reason(exc, 120))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # redirects are followed in ``_get``, with their metadata kept


def _url(repo_id: str, revision: str, filename: str) -> str:
    return f"{endpoint().rstrip('/')}/{repo_id}/resolve/{quote(revision, safe='')}/{filename}"


def _get(url: str, deadline: float, limit: int = MAX_CONFIG_BYTES) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a GET, following at most 3 redirects (the Hub's metadata headers are taken from
    the first answer that has them; the token is sent to the endpoint's host only); the body is read to
    one byte past ``limit`` (a config file's) at most."""
    from huggingface_hub import get_token

    token, host = get_token(), urlsplit(url).netloc
    opener = urllib.request.build_opener(_NoRedirect)
    meta: dict[str, str] = {}
    for _ in range(4):
        headers = {"User-Agent": "vlmscope", **({"Authorization": f"Bearer {token}"} if token and
                                                urlsplit(url).netloc == host else {})}
        try:
            response = opener.open(urllib.request.Request(url, headers=headers),
                                   timeout=max(deadline - time.monotonic(), 0.1))
        except urllib.error.HTTPError as exc:
            answer = {k.lower(): v for k, v in exc.headers.items()}
            meta = meta or (answer if "x-repo-commit" in answer else {})
            if exc.code in (301, 302, 303, 307, 308) and answer.get("location"):
                url = urljoin(url, answer["location"])
                continue
            raise _Status(exc.code, answer.get("x-error-code")) from exc
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            raise _unreachable(exc) from exc
        with response:
            answer = {k.lower(): v for k, v in response.headers.items()}
            length = answer.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise _TooLarge(length)  # refused unread
            try:
                body = response.read(limit + 1)
            except (OSError, http.client.HTTPException) as exc:  # a body that stalls, or a dropped connection
                raise _unreachable(exc) from exc
            if len(body) > limit:
                raise _TooLarge(len(body))
            return {**answer, **meta}, body
    raise _Unreachable("more than 3 redirects")


def _status_error(ref: str, revision: str, name: str, exc: _Status) -> HubError:
    """The one-line error for an HTTP error answer, read from the Hub's ``X-Error-Code``."""
    if exc.code == "GatedRepo":
        return HubError(ref, "the repository is gated: accept its terms on the Hub, then set HF_TOKEN")
    if exc.code == "RepoNotFound" or exc.status == 401:
        return HubError(ref, f"repository not found on {endpoint()} (if it is private, set HF_TOKEN)")
    if exc.code == "RevisionNotFound":
        return HubError(ref, f"revision {revision!r} not found")
    if exc.status == 404:
        return HubError(ref, "the repository has no config.json; it is not a transformers model")
    return HubError(ref, f"cannot download {name} from {endpoint()}: HTTP {exc.status}")
