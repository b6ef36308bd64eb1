"""Shared fixtures. Tests are offline; the anatomy cache lives in a per-session temporary folder."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="Rewrite the golden files from current output.")


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # pytest-xdist's workers share one cache (its writes are atomic), so a sheet one of them computed is the
    # other's too, as in one process
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "vlmscope-cache"
    cache.mkdir(exist_ok=True)
    old = {k: os.environ.get(k) for k in ("VLMSCOPE_CACHE", "VLMSCOPE_NO_CACHE", "HF_HUB_OFFLINE", "NO_COLOR")}
    os.environ.update(VLMSCOPE_CACHE=str(cache), HF_HUB_OFFLINE="1", NO_COLOR="1")
    os.environ.pop("VLMSCOPE_NO_CACHE", None)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def seed_comparison():  # type: ignore[no-untyped-def]
    import vlmscope

    return vlmscope.compare(use_cache=False)


@pytest.fixture(scope="session")
def anatomies(seed_comparison):  # type: ignore[no-untyped-def]
    return {a.model_id: a for a in seed_comparison.models}


@pytest.fixture(scope="session")
def llava15():  # type: ignore[no-untyped-def]
    """LLaVA-1.5's anatomy and cost sheet for 24 text tokens at a 2048-token context (built, not cached)."""
    import vlmscope

    return vlmscope.cost("llava-1.5-7b-hf", vlmscope.CostRequest(text_tokens=24, context=2048), use_cache=False)


@pytest.fixture
def golden(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Compare text with tests/golden/NAME, or rewrite it with --regen-golden."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--regen-golden"):
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run pytest --regen-golden"
        assert text == path.read_text(encoding="utf-8"), f"{name} differs from golden; run pytest --regen-golden"

    return check


def vlmscope_exe() -> str:
    """The installed console script (the real entry point)."""
    exe = Path(sys.executable).with_name("vlmscope")
    found = str(exe) if exe.exists() else shutil.which("vlmscope")
    assert found, "the vlmscope console script is not installed; pip install -e ."
    return found


def run_cold(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script in a process of its own (a cold start: it imports torch)."""
    return subprocess.run([vlmscope_exe(), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script's own entry point (``vlmscope.cli:run``, as pyproject names it) called in this
    process, as a cold process would see it: its argv, environment and working folder, stdout and stderr
    apart, Python's warning filters fresh, an uncaught exception as a traceback on stderr and exit 1. Several
    seconds faster a call than ``run_cold``, which the tests of the process itself use."""
    from vlmscope.cli import run

    out, err, code = io.StringIO(), io.StringIO(), 0
    with (mock.patch.dict(os.environ, env or {}), mock.patch.object(sys, "argv", ["vlmscope", *args]),
          contextlib.chdir(ROOT), warnings.catch_warnings(), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err)):
        warnings.resetwarnings()
        warnings.simplefilter("default")
        try:
            run()
        except SystemExit as exc:
            code = _exit_code(exc.code, err)
        except Exception:
            traceback.print_exc(file=err)
            code = 1
    return subprocess.CompletedProcess(["vlmscope", *args], code, out.getvalue(), err.getvalue())


def _exit_code(code: object, err: io.StringIO) -> int:
    """What a process exits with on SystemExit(code): an int as it is, None as 0, anything else printed and 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=err)
    return 1


def pytest_collection_finish(session: pytest.Session) -> None:
    """Modules whose tests share a slow reference computed apart (tests/tokens/test_video.py) begin it as soon as
    their tests are collected for this session, in a thread, rather than when their first test asks."""
    for module in {getattr(item, "module", None) for item in session.items} - {None}:
        begin = getattr(module, "begin_in_background", None)
        if callable(begin):
            begin(session.config)
