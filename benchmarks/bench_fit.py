"""`vlmscope fit` against `vlmscope compare`, both cold (no cache) from process start, for the nine seed models,
interleaved in one run. Target: fit within 2× of compare. Also prints what the activation trace costs: one
cost sheet with it against the sheet's FLOPs alone (the trace switched off), per model, in one process.

    python benchmarks/bench_fit.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("vlmscope"))


def _timed(args: list[str]) -> float:
    env = {**os.environ, "VLMSCOPE_NO_CACHE": "1", "COLUMNS": "200"}
    start = time.perf_counter()
    subprocess.run([EXE, *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def _trace_share() -> None:
    import vlmscope
    from vlmscope.costing import memory

    real = memory.activation_peak
    print("activation trace per model (median of 3, after a warm-up; ratio = sheet with trace / without):")
    for ref in vlmscope.SEED_MODELS:
        vlmscope.cost(ref, use_cache=False)
        with_trace, without = [], []
        for _ in range(3):
            t = time.perf_counter()
            vlmscope.cost(ref, use_cache=False)
            with_trace.append(time.perf_counter() - t)
            memory.activation_peak = lambda *a, **k: (0, "off")  # type: ignore[assignment]
            t = time.perf_counter()
            vlmscope.cost(ref, use_cache=False)
            without.append(time.perf_counter() - t)
            memory.activation_peak = real
        a, b = statistics.median(with_trace), statistics.median(without)
        print(f"  {ref:45} {a:5.2f} s vs {b:5.2f} s   ratio {a / b:4.2f}×")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fit, compare = [], []
    for _ in range(args.rounds):
        compare.append(_timed(["compare"]))
        fit.append(_timed(["fit", "--gpu", "rtx-4090"]))
    a, b = statistics.median(fit), statistics.median(compare)
    print(f"cold, the nine seed models, {args.rounds} rounds interleaved, medians:")
    print(f"  vlmscope compare            {b:6.2f} s")
    print(f"  vlmscope fit --gpu rtx-4090 {a:6.2f} s   ratio {a / b:.2f}×   target ≤ 2×")
    _trace_share()
    return 0


if __name__ == "__main__":
    sys.exit(main())
