"""The project's promises about itself: CI runs the README's test command; the code is lint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_two_commands_and_the_test_one_is_ci() -> None:
    commands = _quickstart()
    assert len(commands) == 2
    assert commands[0].endswith("vlmscope compare")
    assert commands[1] == "bash .ci/run"
    script = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in script and "-c constraints.txt" in script


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    assert exe, "ruff is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([exe, "check", "src", "tests", "benchmarks", "scripts"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
