"""The whole transformers VLM zoo: wall time and peak memory of `vlmscope zoo --format json --no-cache`.

Targets: ≤ 60 s and ≤ 2 GB peak on this project's 2-core machine. Runs are interleaved with the floor
`python -c "import torch, transformers"` so the ratio is measured side by side.

    python benchmarks/bench_zoo.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _child_run(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one child process, measured by a fresh helper process."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout\n"
        "dt = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([dt, rss, out]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    seconds, rss, out = json.loads(result.stdout)
    return seconds, rss, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("vlmscope"))
    floor, zoo, peaks = [], [], []
    ok = total = 0
    for _ in range(args.rounds):
        floor.append(_child_run([sys.executable, "-c", "import torch, transformers"])[0])
        seconds, rss, out = _child_run([exe, "zoo", "--format", "json", "--no-cache"])
        zoo.append(seconds)
        peaks.append(rss)
        entries = json.loads(out)
        ok, total = sum(e["status"] == "ok" for e in entries), len(entries)
    f, z = statistics.median(floor), statistics.median(zoo)
    print(f"{args.rounds} interleaved rounds, medians ({time.strftime('%Y-%m-%d')}):")
    print(f"  floor (import torch, transformers)  {f:6.2f} s")
    print(f"  vlmscope zoo (no cache)             {z:6.2f} s   {z / f:5.2f}× floor   target ≤ 60 s")
    print(f"  peak memory of the zoo run          {max(peaks):6.0f} MB            target ≤ 2048 MB")
    print(f"  model_types read: {ok} of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
