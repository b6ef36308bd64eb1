"""Several image sizes of one model: one skeleton for all of them (``cost_many``, what ``show --image-size A
--image-size B ...`` does) against one build per size (``cost`` per size), no cache, interleaved in one process.

    python benchmarks/bench_sizes.py [--rounds N] [--model NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

SIZES = ((336, 336), (672, 672), (1024, 768), (800, 600))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="llava-v1.6-mistral-7b-hf")
    args = parser.parse_args()
    os.environ["VLMSCOPE_NO_CACHE"] = "1"
    import vlmscope

    requests = [vlmscope.CostRequest(image_size=s) for s in SIZES]
    vlmscope.cost(args.model, use_cache=False)  # modeling imports paid before timing
    apart, together = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        for r in requests:
            vlmscope.cost(args.model, r, use_cache=False)
        apart.append(time.perf_counter() - t)
        t = time.perf_counter()
        vlmscope.cost_many(args.model, requests, use_cache=False)
        together.append(time.perf_counter() - t)
    a, b = statistics.median(apart), statistics.median(together)
    print(f"{args.model}, {len(SIZES)} sizes, {args.rounds} rounds, medians:")
    print(f"  one build per size  {a:5.2f} s")
    print(f"  one skeleton        {b:5.2f} s   ratio {a / b:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
