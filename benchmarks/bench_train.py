"""Cold `vlmscope train` against a cold `vlmscope show` of the same model, from process start (no cache),
interleaved in one run. Target (issue 19): one 7–8B model's `train` within 2× its `show`. Also a `train` with
a GPU, which searches the largest micro-batch and sequence (about ten traced steps), and one in mixed
precision (the forward under the emulated autocast).

    python benchmarks/bench_train.py [--model NAME] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench_fit import _timed  # a cold process of the installed console script, no cache


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llava-1.5-7b-hf")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"show": [], "train": [], "train --precision mixed": [],
                                    "train --gc --method lora --gpu rtx-4090": []}
    for _ in range(args.rounds):
        runs["show"].append(_timed(["show", args.model, "--no-cache"]))
        runs["train"].append(_timed(["train", args.model]))
        runs["train --precision mixed"].append(_timed(["train", args.model, "--precision", "mixed"]))
        runs["train --gc --method lora --gpu rtx-4090"].append(
            _timed(["train", args.model, "--gc", "--method", "lora", "--gpu", "rtx-4090"]))
    show = statistics.median(runs["show"])
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:42} median {median:6.2f} s   ratio to show {median / show:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
