"""Work that grows with what has to be computed, not with the input's size: CPU seconds of one cost sheet,
measured side by side in one process (no cache), each case against its ordinary counterpart.

- Qwen2.5-VL-7B at 4000×3000 (its window/full-attention encoder echoed by kind) against 1024×768;
- LLaVA-1.5 with a quantization_config listing 240,000 modules_to_not_convert against one listing none;
- Gemma 3 with 1,000 mixed sliding-window / full layers (MAX_LAYERS) against its own 34;
- Qwen2.5-VL-7B with a raised max_pixels, one image of 1,000,000 visual tokens (MAX_VISUAL_TOKENS), against
  1024×768;
- Qwen2.5-VL-7B and LFM2.5-VL with 10,000 images (MAX_IMAGES) against one.

    python benchmarks/bench_bounded.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _variant(folder: Path, ref: str, name: str, change: Callable[[dict[str, Any]], object]) -> str:
    """A copy of a catalog model's folder with its config changed."""
    from vlmscope.sources import catalog

    entry = catalog.find(ref)
    assert entry is not None
    target = folder / name
    shutil.copytree(entry.folder, target)
    config = json.loads((target / "config.json").read_text())
    change(config)
    (target / "config.json").write_text(json.dumps(config))
    return str(target)


def _quantized(folder: Path, skip: int) -> str:
    return _variant(folder, "llava-1.5-7b-hf", f"skip{skip}", lambda c: c.update(quantization_config={
        "quant_method": "awq", "bits": 4, "group_size": 128, "modules_to_not_convert": [f"x{i}" for i in range(skip)]}))


def _deep(folder: Path, layers: int) -> str:
    def deeper(config: dict[str, Any]) -> None:
        config["text_config"]["num_hidden_layers"] = layers
        config["text_config"].pop("layer_types", None)  # derived again: 5 sliding-window layers to 1 full

    return _variant(folder, "gemma-3-4b-it", f"gemma{layers}", deeper)


def _pixels(folder: Path, max_pixels: int) -> str:
    """Qwen2.5-VL-7B with its processor's pixel budget raised."""
    target = Path(_variant(folder, "Qwen2.5-VL-7B-Instruct", f"pixels{max_pixels}", lambda c: None))
    pre = json.loads((target / "preprocessor_config.json").read_text())
    pre["max_pixels"] = max_pixels
    (target / "preprocessor_config.json").write_text(json.dumps(pre))
    return str(target)


def _cpu(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["VLMSCOPE_NO_CACHE"] = "1"
    import vlmscope
    from vlmscope.data import CostRequest

    with tempfile.TemporaryDirectory() as tmp:
        plain, listed = _quantized(Path(tmp), 0), _quantized(Path(tmp), 240_000)
        deep, shallow = _deep(Path(tmp), 1000), _deep(Path(tmp), 34)
        budget = _pixels(Path(tmp), 28_000 * 28_000)

        def images(ref: str, n: int) -> Callable[[], object]:
            return lambda: vlmscope.cost(ref, CostRequest(image_size=(1024, 768), images=n, context=10**8),
                                         use_cache=False)

        cases = {
            "Qwen2.5-VL-7B 4000×3000 / 1024×768": (
                lambda: vlmscope.cost("Qwen2.5-VL-7B-Instruct", CostRequest(image_size=(4000, 3000)), use_cache=False),
                lambda: vlmscope.cost("Qwen2.5-VL-7B-Instruct", CostRequest(image_size=(1024, 768)), use_cache=False)),
            "Gemma 3 with 1,000 mixed layers / its 34": (
                lambda: vlmscope.cost(deep, use_cache=False), lambda: vlmscope.cost(shallow, use_cache=False)),
            "240,000 modules_to_not_convert / none": (
                lambda: vlmscope.cost(listed, use_cache=False), lambda: vlmscope.cost(plain, use_cache=False)),
            "Qwen2.5-VL-7B 28,000² with max_pixels raised (10⁶ visual tokens) / 1024×768": (
                lambda: vlmscope.cost(budget, CostRequest(image_size=(28_000, 28_000)), use_cache=False),
                lambda: vlmscope.cost(budget, CostRequest(image_size=(1024, 768)), use_cache=False)),
            "Qwen2.5-VL-7B 10,000 images / 1": (images("Qwen2.5-VL-7B-Instruct", 10_000),
                                                 images("Qwen2.5-VL-7B-Instruct", 1)),
            "LFM2.5-VL 10,000 images / 1": (images("LFM2.5-VL-1.6B", 10_000), images("LFM2.5-VL-1.6B", 1)),
        }
        for _, (_, ordinary) in cases.items():
            ordinary()  # imports and first builds paid before timing
        for name, (big, ordinary) in cases.items():
            ratios, bigs = [], []
            for _ in range(args.rounds):
                b, o = _cpu(big), _cpu(ordinary)
                bigs.append(b)
                ratios.append(b / o)
            print(f"{name}: {statistics.median(ratios):.2f}× (the large case {statistics.median(bigs):.1f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
