"""The huggingface_hub cache, read and written by vlmscope itself for the few config files it fetches.

The layout is huggingface_hub's own (``models--org--name/{blobs,snapshots,refs}``), so its tools and
vlmscope share one cache. Every name that becomes a path is checked first: a commit must be 40 hex
digits, a blob name (the server's ETag) 40 or 64, a file name one of the allow-listed config files; a
snapshot entry is read only where it resolves to a blob of its own repository's folder, so a planted
symlink is never followed out of it. Writes are atomic: a refused or interrupted download leaves nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from vlmscope.files import read_bounded, write_atomic
from vlmscope.limits import MAX_CONFIG_BYTES

COMMIT = re.compile(r"[0-9a-f]{40}")
BLOB = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a git blob id (sha1) or an LFS object id (sha256)


def root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(repo_id: str) -> Path:
    """The cache folder of a (validated) model repo id."""
    return root() / ("models--" + repo_id.replace("/", "--"))


def blob_name(etag: str | None) -> str | None:
    """The blob name an ETag header gives (quotes and a weak marker removed), when it is the hex it must be."""
    if etag is None:
        return None
    name = etag.strip().removeprefix("W/").strip('"')
    return name if BLOB.fullmatch(name) else None


def commit_of(repo_id: str, revision: str) -> str | None:
    """The commit a revision names in the cache: itself when it is a commit hash, else what ``refs/`` holds
    for it (None when absent or not a commit)."""
    if COMMIT.fullmatch(revision):
        return revision
    try:
        text = read_bounded(repo_folder(repo_id) / "refs" / revision, 256, follow_symlinks=False).decode("ascii")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return text.strip() if COMMIT.fullmatch(text.strip()) else None


def read(repo_id: str, commit: str, filename: str) -> Path | None:
    """The cached ``filename`` of ``commit``, when it resolves to a blob of this repo's folder; else None."""
    folder = repo_folder(repo_id)
    entry = folder / "snapshots" / commit / filename
    try:
        target = entry.resolve(strict=True)
        blobs = (folder / "blobs").resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if (folder / "blobs").is_symlink() or target.parent != blobs or not BLOB.fullmatch(target.name) \
            or not target.is_file():
        return None
    return entry


def write(repo_id: str, revision: str, commit: str, filename: str, blob: str, data: bytes,
          limit: int = MAX_CONFIG_BYTES) -> Path:
    """Store ``data`` as huggingface_hub would: the blob, the snapshot entry pointing at it, and the ref of a
    branch or tag. ``commit`` and ``blob`` must already be checked (``COMMIT``, ``blob_name``)."""
    if not COMMIT.fullmatch(commit) or not BLOB.fullmatch(blob) or len(data) > limit:
        raise ValueError("refused cache entry")
    folder = repo_folder(repo_id)
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "blobs" / blob, data, own=True)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    entry = snapshot / filename
    _link(entry, Path("..", "..", "blobs", blob), data)
    if revision != commit:
        ref = folder / "refs" / revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(ref, commit.encode("ascii"), own=True)
    return entry


def _link(entry: Path, target: Path, data: bytes) -> None:
    """Point ``entry`` at its blob with a relative symlink, replacing what was there; a copy where the file
    system has no symlinks."""
    temporary = entry.with_name(f".{entry.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    try:
        temporary.symlink_to(target)
    except OSError:
        write_atomic(entry, data, own=True)
        return
    try:
        os.replace(temporary, entry)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
