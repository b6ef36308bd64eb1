"""Check ``vlmscope train`` against one real training step on a GPU: random bf16 weights, the real image
processor on a random image, the model's own forward with labels, backward, AdamW step.

For each catalog model and recipe it:
1. builds the model from its config with random bf16 weights on the GPU (SDPA attention);
2. prepares the recipe: every weight trained (full), the vision tower and connector frozen (frozen), or
   vlmscope's LoRA adapters (rank 16 on every Linear of the language model; the tests hold them to peft's,
   byte for byte), with transformers' activation checkpointing where the case says so; for QLoRA, bitsandbytes'
   own nf4 layers (``Linear4bit``, the random weights quantized as they move to the device) in place of every
   Linear it packs, and peft's LoRA over them (rank 16, all-linear, the tower and connector excluded:
   vlmscope's default), with checkpointing; a machine without bitsandbytes says it skipped; the ``mixed`` cases
   turn the weights to fp32 and run each forward under torch's own bf16 autocast (``--precision mixed``, which
   vlmscope emulates on meta tensors with CUDA's operation lists);
3. runs two steps (forward with labels over one image and 64 text tokens, backward, AdamW, zero_grad) and
   measures the second one's peak with ``torch.cuda.max_memory_allocated()``: the optimizer states exist by
   then, as in every step after the first, which is what vlmscope predicts;
4. prints predicted against measured peak (both above nothing: weights included), with the ratio.

The goal (issue 19): within ±10%, never more than 5% under. Without CUDA it says so and exits 0.

    python benchmarks/gpu_check_train.py [--model NAME ...] [--case CASE ...]

(cases: full, frozen, lora, lora-gc, qlora, mixed-lora, mixed-gc)
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gpu_check import _build, _inputs

DEFAULT_MODELS = ("llava-1.5-7b-hf", "MonoQwen2-VL-v0.1", "idefics2-8b", "paligemma_vqav2", "gemma-3-4b-it-bf16")
CASES = {"full": ({"method": "full"}, False), "frozen": ({"freeze": ("vision", "connector")}, False),
         "lora": ({"method": "lora"}, False), "lora-gc": ({"method": "lora"}, True),
         "qlora": ({"method": "qlora"}, True), "mixed-lora": ({"method": "lora", "precision": "mixed"}, False),
         "mixed-gc": ({"precision": "mixed"}, True)}


def _measured(ref: str, case: str, size: tuple[int, int], text: int, tokens: int, device: str = "cuda") -> int:
    """The second step's peak on the GPU (``device="cpu"``: the same two steps run on the CPU, a dry run of this
    harness on small configs; it returns 0, as the CPU has no peak counter)."""
    import torch

    from vlmscope.anatomy import read
    from vlmscope.data.training import TrainRecipe
    from vlmscope.sources import resolve
    from vlmscope.training import adapters, step

    source = resolve(ref)
    recipe = TrainRecipe(**CASES[case][0])  # type: ignore[arg-type]
    model = _build(source, "sdpa", device).train()
    mixed = recipe.precision == "mixed"
    if mixed:  # fp32 weights, the forward under torch's own bf16 autocast (as transformers' Trainer runs it)
        model.float()
    reading = read(model)
    inputs = _inputs(source, model, size, tokens, text, device)
    inputs["labels"] = inputs["input_ids"].clone()
    adapted = _qlora(reading, device) if case == "qlora" else adapters.adapted(reading.index, reading.roles, recipe)
    with adapted as trained, step._training(model, CASES[case][1]):
        optimizer = torch.optim.AdamW(trained, foreach=True)
        cuda = device == "cuda"
        for n in range(2):
            if n == 1 and cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            with torch.autocast(device, dtype=torch.bfloat16, enabled=mixed):
                loss = model(**inputs).loss
            loss.backward()
            del loss
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        peak = torch.cuda.max_memory_allocated() if cuda else 0
    del model, optimizer, trained
    if cuda:
        torch.cuda.empty_cache()
    return int(peak)


@contextmanager
def _qlora(reading: Any, device: str) -> Iterator[list[Any]]:
    """bitsandbytes' nf4 layers in place of the Linears it packs (as ``costing.quant`` counts them), peft's LoRA
    over them: the real QLoRA model, its trainable adapters yielded."""
    import bitsandbytes as bnb
    import torch
    from peft import LoraConfig, get_peft_model

    from vlmscope.costing.quant import packed_linears
    from vlmscope.data.training import QLORA_BASE

    index, roles = reading.index, reading.roles
    for name in packed_linears(index, roles, QLORA_BASE):
        parent, _, attr = name.rpartition(".")
        linear = index.modules[name]
        packed = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                   compute_dtype=torch.bfloat16, quant_type="nf4", compress_statistics=True,
                                   device="meta")
        packed.weight = bnb.nn.Params4bit(linear.weight.data.cpu(), requires_grad=False, quant_type="nf4",
                                          compress_statistics=True)
        if linear.bias is not None:
            packed.bias = torch.nn.Parameter(linear.bias.data, requires_grad=False)
        setattr(index.modules[parent], attr, packed.to(device))
    for p in index.model.parameters():
        p.requires_grad_(False)
    tower = [p for p in (roles.vision, *roles.connector) if p]
    excluded = rf"({'|'.join(map(re.escape, tower))})(\..*)?" if tower else None
    peft = get_peft_model(index.model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                                  exclude_modules=excluded))
    yield [p for p in peft.parameters() if p.requires_grad]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--case", action="append", choices=list(CASES))
    parser.add_argument("--image-size", default="1024x768")
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the harness (small configs; no peak)")
    args = parser.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check_train: skipped, no CUDA device here (it checks predictions against a real GPU step)")
        return 0
    import vlmscope
    from vlmscope.data.training import TrainRecipe, TrainShape

    size = tuple(int(x) for x in args.image_size.lower().split("x"))
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu (dry run: no peak is measured)"
    print(f"device: {name}, torch {torch.__version__}")
    print(f"{'model':24} {'case':8} {'predicted peak':>18} {'measured peak':>18} {'ratio':>7}")
    for ref in args.model or DEFAULT_MODELS:
        _, sheet = vlmscope.cost(ref, vlmscope.CostRequest(image_size=(size[0], size[1])), use_cache=False)
        tokens = sheet.tokens.per_image or 0
        for case in args.case or list(CASES):
            if case == "qlora" and not all(importlib.util.find_spec(m) for m in ("bitsandbytes", "peft")):
                print(f"{ref:24} {case:8} skipped: no bitsandbytes or peft here (QLoRA's layers are theirs)")
                continue
            try:
                shape = TrainShape(seq_len=tokens + args.text_tokens + 1, image_size=(size[0], size[1]),
                                   checkpointing=CASES[case][1])
                _, predicted = vlmscope.train(ref, TrainRecipe(**CASES[case][0]), shape)  # type: ignore[arg-type]
                measured = _measured(ref, case, (size[0], size[1]), args.text_tokens, tokens, args.device)
            except Exception as exc:  # one case's failure must not hide the others
                print(f"{ref:24} {case:8} failed: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            peak = predicted.memory.peak_bytes
            ratio = f"{peak / measured:7.3f}" if measured else "      —"
            print(f"{ref:24} {case:8} {peak:>18,} {measured:>18,} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
