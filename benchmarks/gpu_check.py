"""Check vlmscope's predictions against the real model on a GPU: random bf16 weights, the real image
processor on a random image, the whole model's forward.

For each catalog model and image size it:
1. builds the model from its config with random bf16 weights on the GPU;
2. runs the model's real image processor on a random image (the catalog's preprocessor config, or the
   processor class's defaults when the model ships none, as vlmscope assumes);
3. runs the whole forward with vlmscope's predicted number of image tokens in ``input_ids`` (transformers
   refuses a mismatch and says how many features it got);
4. counts that forward's FLOPs with FlopCounterMode (eager attention, logits for the last position);
5. reads the KV bytes from the returned cache;
6. measures the prefill's peak memory above the weights (SDPA attention), and times prefill and decode;
7. measures the peak of the model's own ``get_image_features`` alone, against vlmscope's vision-side peak;
8. for a model with a video processor (``--video``, default a 10-second 720p clip at 2 fps on the video
   models), runs its real video processor on random frames and the model's own ``get_video_features``:
   the visual tokens it returns, its FLOPs and (on a GPU) its peak, against vlmscope's for that clip.

It prints predicted against measured with their ratios. Without CUDA it says so and exits 0 (CI has no GPU).

    python benchmarks/gpu_check.py [--model NAME ...] [--image-size WxH ...] [--text-tokens N] [--video CLIP ...]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from typing import Any

DEFAULT_MODELS = ("llava-1.5-7b-hf", "llava-v1.6-mistral-7b-hf", "idefics2-8b", "Mantis-8B-siglip-llama3",
                  "paligemma_vqav2", "gemma-3-4b-it-bf16", "MonoQwen2-VL-v0.1")
VIDEO_MODELS = ("Qwen2.5-VL-7B-Instruct", "Qwen3-VL-4B-Instruct", "llava-onevision-qwen2-7b-ov-hf")
DEFAULT_VIDEO = "10s@2:1280x720"


def _build(source: Any, attn: str, device: str = "cuda") -> Any:
    import torch

    from vlmscope.skeleton.build import make_config, model_class

    config = make_config(source)
    config._attn_implementation = attn
    for sub in ("text_config", "vision_config"):
        if getattr(config, sub, None) is not None:
            getattr(config, sub)._attn_implementation = attn
    cls = model_class(config, source)
    with torch.device(device):
        model = cls._from_config(config, torch_dtype=torch.bfloat16)
    return model.eval()


def _inputs(source: Any, model: Any, size: tuple[int, int], tokens: int, text: int,
            device: str = "cuda") -> dict[str, Any]:
    """The processor's tensors for one random image, and input_ids holding the predicted image tokens. The
    processor is the model's own image processor class with its preprocessor config (the catalog's), or the
    class's defaults where the model ships none, as vlmscope assumes."""
    import numpy as np
    import torch
    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    from vlmscope.tokens.settings import processor_class

    config = {k: v for k, v in (source.preprocessor or {}).items() if k != "image_processor_type"}
    processor = get_image_processor_class_from_name(processor_class(source)).from_dict(config)
    image = (np.random.rand(size[1], size[0], 3) * 255).astype("uint8")
    pixels = dict(processor(images=[image], return_tensors="pt"))
    image_token = getattr(model.config, "image_token_id", None) or model.config.image_token_index
    ids = torch.tensor([[1] + [image_token] * tokens + [2] * text], device=device)
    out: dict[str, Any] = {k: (v.to(device, torch.bfloat16) if v.is_floating_point() else v.to(device))
                           for k, v in pixels.items() if isinstance(v, torch.Tensor)}
    out["input_ids"] = ids
    out["attention_mask"] = torch.ones_like(ids)
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:  # Qwen2-VL family: 1 marks image tokens
        out["mm_token_type_ids"] = (ids == image_token).long()
    return out


def _check(ref: str, size: tuple[int, int], text: int, device: str = "cuda") -> list[tuple[str, float, float]]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import vlmscope
    from vlmscope.sources import resolve

    source = resolve(ref)
    predicted_tokens = None
    _, sheet = vlmscope.cost(ref, vlmscope.CostRequest(image_size=size, text_tokens=text + 1), use_cache=False)
    predicted_tokens = sheet.tokens.per_image
    rows: list[tuple[str, float, float]] = []
    model = _build(source, "eager", device).requires_grad_(False)  # inference: no autograd state to track
    inputs = _inputs(source, model, size, predicted_tokens or 0, text, device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(**inputs, logits_to_keep=1, use_cache=True)
    predicted_flops = (sheet.flops.vision or 0) + (sheet.flops.prefill or 0)
    rows.append(("FLOPs (vision + prefill)", predicted_flops, counter.get_total_flops()))
    cache = out.past_key_values
    kv = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    prompt = inputs["input_ids"].shape[1]
    _, at_prompt = vlmscope.cost(ref, vlmscope.CostRequest(image_size=size, text_tokens=text + 1, context=prompt),
                                 use_cache=False)
    rows.append(("KV bytes at the prompt", at_prompt.memory.kv_cache_bytes, kv))
    del model, out, cache
    if device != "cuda":  # a dry run of the harness on the CPU: no peak counter, no GPU to time
        return rows
    model = _sdpa_model(source)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        start = time.perf_counter()
        out = model(**inputs, logits_to_keep=1, use_cache=True)
        torch.cuda.synchronize()
        prefill_s = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() - base
    held = at_prompt.memory  # the largest phase: vision before the cache, the LM's prefill over the prompt's KV
    predicted_peak = float("nan") if held.peak_bytes is None else held.peak_bytes - held.weights_bytes
    rows.append(("prefill peak above weights", predicted_peak, peak))
    vision = _vision_peak(model, inputs)
    if vision is not None and at_prompt.memory.vision_peak_bytes is not None:
        rows.append(("vision side's peak (get_image_features)", at_prompt.memory.vision_peak_bytes, vision))
    step = {"input_ids": inputs["input_ids"][:, -1:], "past_key_values": out.past_key_values}
    with torch.no_grad():
        start = time.perf_counter()
        model(**step, use_cache=True)
        torch.cuda.synchronize()
        decode_s = time.perf_counter() - start
    gpu = "h200" if "H200" in torch.cuda.get_device_name() else "h100-sxm"
    _, timed = vlmscope.cost(ref, vlmscope.CostRequest(image_size=size, text_tokens=text + 1, context=prompt,
                                                        gpu=gpu), use_cache=False)
    assert timed.latency is not None
    rows.append((f"prefill s (lower bound, {gpu})", timed.latency.prefill_s_lower_bound or 0, prefill_s))
    rows.append(("decode s/token (lower bound)", timed.latency.decode_s_per_token_lower_bound, decode_s))
    del model, out
    torch.cuda.empty_cache()
    return rows


def _sdpa_model(source: Any) -> Any:
    """The model again, with SDPA attention (as served), on a GPU emptied of the last one's blocks."""
    import torch

    torch.cuda.empty_cache()
    return _build(source, "sdpa").requires_grad_(False)


def _vision_peak(model: Any, inputs: dict[str, Any]) -> int | None:
    """Peak bytes above what is allocated of the model's own image-feature path alone (encoder, then
    connector) over the processor's tensors; None where the model has no such method or it takes other
    inputs."""
    import torch

    pixels = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    try:
        with torch.no_grad():
            out = model.get_image_features(**pixels)
    except (TypeError, ValueError, AttributeError, RuntimeError):
        return None
    torch.cuda.synchronize()
    del out
    return int(torch.cuda.max_memory_allocated() - base)


def _video_check(ref: str, clip: str, device: str = "cuda") -> list[tuple[str, float, float]]:
    """The model's own video processor on random frames of ``clip``, then its ``get_video_features``: the visual
    tokens it returns, its FLOPs and (on a GPU) its peak, against vlmscope's figures for the clip alone."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoVideoProcessor

    import vlmscope
    from vlmscope.data import parse_video
    from vlmscope.sources import resolve

    source, video = resolve(ref), parse_video(clip)
    _, sheet = vlmscope.cost(ref, vlmscope.CostRequest(images=0, videos=(video,)), use_cache=False)
    predicted = sheet.tokens.videos[0]
    processor = AutoVideoProcessor.from_pretrained(source.code_location)
    frames = (np.random.rand(video.frames, video.height, video.width, 3) * 255).astype("uint8")
    meta = {} if video.fps is None else {"video_metadata": [{"fps": video.fps, "total_num_frames": video.frames,
                                                             "duration": video.frames / video.fps}]}
    pixels = processor(videos=[frames], return_tensors="pt", **meta)
    inputs = {k: (v.to(device, torch.bfloat16) if v.is_floating_point() else v.to(device))
              for k, v in pixels.items() if isinstance(v, torch.Tensor)}
    model = _build(source, "eager", device).requires_grad_(False)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.get_video_features(**inputs)
    found = getattr(out, "pooler_output", out)
    features = sum(t.shape[0] * (t.shape[1] if t.dim() == 3 else 1) for t in (
        found if isinstance(found, (list, tuple)) else [found]))
    rows = [("video features (tokens)", predicted.units * (predicted.unit.tokens or 0), features),
            ("video FLOPs (vision + connector)", sheet.flops.vision or 0, counter.get_total_flops())]
    del model, out
    if device == "cuda":
        model = _sdpa_model(source)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            model.get_video_features(**inputs)
        torch.cuda.synchronize()
        rows.append(("video side's peak", sheet.memory.vision_peak_bytes or float("nan"),
                     torch.cuda.max_memory_allocated() - base))
        del model
        torch.cuda.empty_cache()
    return rows


def _memory_line(torch: Any) -> None:
    """The card's total as the driver reports it, against the accelerator table, and what the CUDA context
    takes before any tensor: the measured part of fit's --reserve (whose default, 1 GiB, is an allowance)."""
    from vlmscope.costing.fit import DEFAULT_RESERVE
    from vlmscope.costing.latency import accelerators

    free, total = torch.cuda.mem_get_info()
    listed = [k for k, v in accelerators().items() if v["memory_mib"] * 2**20 == total]
    print(f"memory: driver total {total:,} bytes ({total // 2**20:,} MiB; in the table as {listed or 'no card'}); "
          f"taken before any tensor (CUDA context, other processes): {total - free:,} bytes; "
          f"fit's default reserve: {DEFAULT_RESERVE:,} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--image-size", action="append", default=None)
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--video", action="append", default=None, help=f"a clip (as vlmscope's --video) for the "
                        f"video models; default {DEFAULT_VIDEO} on {', '.join(VIDEO_MODELS)}")
    parser.add_argument("--video-model", action="append", default=None, help="models for the video case")
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the harness on small configs (FLOPs "
                                                         "and KV only)")
    args = parser.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: skipped, no CUDA device here (it checks predictions against a real GPU run)")
        return 0
    import transformers

    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu (dry run)"
    print(f"device: {name}, torch {torch.__version__}, transformers {transformers.__version__}")
    if args.device == "cuda":
        _memory_line(torch)
    sizes = [tuple(int(x) for x in s.lower().split("x")) for s in (args.image_size or ["1024x768"])]
    print(f"{'model':28} {'size':9} {'figure':34} {'predicted':>20} {'measured':>20} {'ratio':>7}")
    for ref in args.model or (DEFAULT_MODELS if args.video_model is None else ()):
        for size in sizes:
            try:
                rows = _check(ref, (size[0], size[1]), args.text_tokens, args.device)
            except Exception as exc:  # one model's failure must not hide the others
                print(f"{ref:28} {size[0]}x{size[1]:<5} failed: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            _print(f"{ref:28} {size[0]}x{size[1]:<5}", rows)
    _videos(args.video_model or (VIDEO_MODELS if args.model is None else ()), args.video or [DEFAULT_VIDEO],
            args.device)
    return 0


def _print(label: str, rows: list[tuple[str, float, float]]) -> None:
    for name, predicted, measured in rows:
        ratio = predicted / measured if measured else float("nan")
        print(f"{label} {name:34} {predicted:>20,.6g} {measured:>20,.6g} {ratio:7.3f}")


def _videos(models: tuple[str, ...] | list[str], clips: list[str], device: str) -> None:
    """The video case of each model and clip; a machine without torchvision (transformers' video processors
    need it) says so."""
    import importlib.util

    if models and importlib.util.find_spec("torchvision") is None:
        print("video: skipped, no torchvision here (transformers' video processors need it)")
        return
    for ref in models:
        for clip in clips:
            try:
                rows = _video_check(ref, clip, device)
            except Exception as exc:  # one model's failure must not hide the others
                print(f"{ref:28} {clip:9} failed: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            _print(f"{ref:28} {clip:9}", rows)


if __name__ == "__main__":
    sys.exit(main())
