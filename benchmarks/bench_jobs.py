"""`vlmscope compare --jobs 2` against `--jobs 1`, cold: the whole catalog, the nine seed models, two models.

Runs are interleaved (jobs 1, jobs 2, jobs 1, ...) so machine noise hits both alike; the ratios of the
medians are what to read. Targets (2 cores): the whole catalog at least 1.3× faster with `--jobs 2`, and
two models never slower.

    python benchmarks/bench_jobs.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("vlmscope"))
    listing = subprocess.run([exe, "list"], check=True, capture_output=True, text=True).stdout.splitlines()[1:]
    catalog = [line.split()[0] for line in listing]
    env = {**os.environ, "VLMSCOPE_NO_CACHE": "1"}
    sets = {f"whole catalog ({len(catalog)} models)": catalog, "the nine seed models": [], "two models": catalog[:2]}
    times: dict[tuple[str, int], list[float]] = {(name, j): [] for name in sets for j in (1, 2)}
    for _ in range(args.rounds):
        for name, refs in sets.items():
            for jobs in (1, 2):
                times[(name, jobs)].append(_timed([exe, "compare", *refs, "--jobs", str(jobs)], env))
    print(f"{args.rounds} interleaved rounds, cold, medians:")
    for name in sets:
        one, two = (statistics.median(times[(name, j)]) for j in (1, 2))
        print(f"  {name:28} --jobs 1 {one:6.2f} s   --jobs 2 {two:6.2f} s   speed-up {one / two:4.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
