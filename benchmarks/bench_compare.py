"""Wall time of `vlmscope compare` from process start, against the floor `python -c "import torch, transformers"`.

Runs are interleaved (floor, cold, warm, floor, cold, warm, ...) so machine noise hits all three alike;
the ratios of the medians are what to read. Cold: no anatomy cache (every model is built on the meta
device, and its cost sheet counted). Warm: the on-disk cache already holds the nine anatomies and cost
sheets. The cold `--no-cost` run shows what the cost table adds. Target: warm ≤ 1.5× the floor.

    python benchmarks/bench_compare.py [--rounds N]
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


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("vlmscope"))
    with tempfile.TemporaryDirectory() as cache:
        base = {**os.environ, "VLMSCOPE_CACHE": cache}
        cold_env = {**base, "VLMSCOPE_NO_CACHE": "1"}
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "floor (import torch, transformers)": ([sys.executable, "-c", "import torch, transformers"], base),
            "vlmscope compare, cold (no cache)": ([exe, "compare"], cold_env),
            "vlmscope compare --no-cost, cold": ([exe, "compare", "--no-cost"], cold_env),
            "vlmscope compare, warm (cached)": ([exe, "compare"], base),
        }
        _timed([exe, "compare"], base)  # fill the cache once
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (cmd, env) in runs.items():
                times[name].append(_timed(cmd, env))
    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["floor (import torch, transformers)"]
    print(f"{args.rounds} interleaved rounds, medians:")
    for name, value in medians.items():
        print(f"  {name:38} {value:6.2f} s   {value / floor:5.2f}× floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
