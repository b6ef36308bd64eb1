"""Reading and writing files safely: regular files only, bounded in size, written whole or not at all.

Paths come from users and from config files; a path can name a FIFO (a read that never ends), a device
(``/dev/zero``: a read that never stops), or a symlink planted beside a target. Reads here refuse anything
but a regular file of bounded size; writes go to a new, exclusively created temporary file in the target's
folder that is renamed over the target, keeping the mode of the file it replaces.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path


class UnsafeFileError(OSError):
    """A path that is not a regular file, or a file over its size limit."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: Path, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes; else UnsafeFileError.
    Opened without blocking, so a FIFO is refused instead of waited on."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:  # the last component is a symlink
            raise UnsafeFileError(f"{path} is a symlink") from exc
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnsafeFileError(f"{path} is {info.st_size:,} bytes, over the limit of {limit:,}")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFileError(f"{path} grew past the limit of {limit:,} bytes while read")
    return data


def check_target(path: Path) -> os.stat_result | None:
    """The status of a file about to be replaced (None when it does not exist yet); UnsafeFileError when the
    path exists but is not a regular file (a FIFO, a device, a folder or a symlink)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} exists and is {_kind(info.st_mode)}, not a regular file")
    return info


def write_atomic(path: Path, data: bytes, *, own: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all. The temporary file has a random name in the same
    folder and is created exclusively (O_EXCL), so nothing planted there is followed; a file that is
    replaced keeps its permission bits (never setuid, setgid or sticky), a new one gets the mode the umask
    gives. A path that exists as anything but a regular file is refused, unless the path is vlmscope's
    ``own`` (a cache entry): then whatever stands there (a FIFO, a symlink) is replaced, never followed."""
    existing = None if own else check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # the permission bits only: a setuid, setgid or sticky bit of the replaced file is not copied
        os.chmod(tmp, existing.st_mode & 0o777 if existing is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
