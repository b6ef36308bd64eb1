"""Safe file reading and writing: regular files only, bounded, whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vlmscope.files import UnsafeFileError, read_bounded, write_atomic


def test_reads_a_regular_file_within_its_limit(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert read_bounded(tmp_path / "f", 3) == b"abc"
    with pytest.raises(UnsafeFileError, match="over the limit of 2"):
        read_bounded(tmp_path / "f", 2)


def test_refuses_fifos_devices_and_symlinks_when_asked(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeFileError, match="a FIFO"):
        read_bounded(tmp_path / "fifo", 10)  # refused at once, not waited on
    with pytest.raises(UnsafeFileError, match="a device"):
        read_bounded(Path("/dev/zero"), 10)
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert read_bounded(tmp_path / "link", 10) == b"x"
    with pytest.raises(UnsafeFileError, match="symlink"):
        read_bounded(tmp_path / "link", 10, follow_symlinks=False)


def test_writes_whole_keeps_the_mode_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out.html"
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    target.chmod(0o600)
    write_atomic(target, b"newer")
    assert target.read_bytes() == b"newer" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]


def test_refuses_to_replace_what_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    for name in ("fifo", "link"):
        with pytest.raises(UnsafeFileError):
            write_atomic(tmp_path / name, b"x")
    assert not (tmp_path / "elsewhere").exists() and stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
