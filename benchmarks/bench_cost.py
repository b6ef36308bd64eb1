"""One model's cost sheet (visual tokens, FLOPs from real forwards on meta tensors, memory, KV cache),
timed after `import torch, transformers, vlmscope`. Target: ≤ 2 s.

Each round runs in a fresh process, so the first model also pays for importing its transformers modeling
code; a second model of the same process is timed too. The floor `import torch, transformers` is timed in
the same interleaved rounds.

    python benchmarks/bench_cost.py [--rounds N] [--model NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = """
import json, os, sys, time
os.environ["VLMSCOPE_NO_CACHE"] = "1"
t0 = time.perf_counter()
import torch, transformers, vlmscope
t1 = time.perf_counter()
vlmscope.cost(sys.argv[1], vlmscope.CostRequest(image_size=(1024, 768), context=8192))
t2 = time.perf_counter()
vlmscope.cost(sys.argv[2], vlmscope.CostRequest(image_size=(1024, 768), context=8192))
t3 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="llava-v1.6-mistral-7b-hf")
    parser.add_argument("--second", default="llava-1.5-7b-hf")
    args = parser.parse_args()
    imports, first, second = [], [], []
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, "-c", PROBE, args.model, args.second], check=True,
                             capture_output=True, text=True).stdout
        a, b, c = json.loads(out.strip().splitlines()[-1])
        imports.append(a)
        first.append(b)
        second.append(c)
    print(f"{args.rounds} rounds, medians:")
    print(f"  import torch, transformers, vlmscope      {statistics.median(imports):5.2f} s")
    print(f"  cost sheet of {args.model:28} {statistics.median(first):5.2f} s  (first: with its modeling imports)")
    print(f"  cost sheet of {args.second:28} {statistics.median(second):5.2f} s  (second model)   target ≤ 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
