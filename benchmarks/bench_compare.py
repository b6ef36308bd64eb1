"""Wall time of `vlmscope compare` from process start, against the floor `python -c "import torch, transformers"`.

Runs are interleaved (floor, cold, warm, floor, cold, warm, ...) so machine noise hits all of them alike;
the ratios of the medians are what to read. Cold: no anatomy cache (every model is built on the meta
device, and its cost sheet counted). Warm: the on-disk cache already holds the nine anatomies and cost
sheets. The cold `--no-cost` run shows what the cost table adds. Target: warm ≤ 1.5× the floor.

`--against REV` also runs the cold `compare` of another revision of this repository (its `src/`, taken
with `git archive`, first on PYTHONPATH), interleaved with this checkout's, and prints the ratio: how a
change moved the time, measured side by side in one run.

    python benchmarks/bench_compare.py [--rounds N] [--against REV]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "floor (import torch, transformers)"
COLD = "vlmscope compare, cold (no cache)"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def _checkout(rev: str, into: Path) -> Path:
    """The ``src/`` of ``rev``, unpacked into ``into``."""
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _runs(base: dict[str, str], against: tuple[str, Path] | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    cold_env = {**base, "VLMSCOPE_NO_CACHE": "1"}
    here = [sys.executable, "-m", "vlmscope", "compare"]
    runs = {
        FLOOR: ([sys.executable, "-c", "import torch, transformers"], base),
        COLD: (here, {**cold_env, "PYTHONPATH": str(ROOT / "src")}),
        "vlmscope compare --no-cost, cold": ([*here, "--no-cost"], cold_env),
        "vlmscope compare, warm (cached)": (here, base),
    }
    if against is not None:
        rev, src = against
        runs[f"vlmscope compare, cold, at {rev}"] = (here, {**cold_env, "PYTHONPATH": str(src)})
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="REV", help="also time the cold compare of this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as old:
        against = (args.against, _checkout(args.against, Path(old))) if args.against else None
        base = {**os.environ, "VLMSCOPE_CACHE": cache}
        runs = _runs(base, against)
        _timed(runs["vlmscope compare, warm (cached)"][0], base)  # fill the cache once
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (cmd, env) in runs.items():
                times[name].append(_timed(cmd, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians[FLOOR]
    print(f"{args.rounds} interleaved rounds, medians:")
    for name, value in medians.items():
        print(f"  {name:44} {value:6.2f} s   {value / floor:5.2f}× floor")
    if args.against:
        ratio = medians[COLD] / medians[f"vlmscope compare, cold, at {args.against}"]
        print(f"cold compare, this checkout / {args.against}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
