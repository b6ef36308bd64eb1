"""transformers' own video processors over synthetic frames, run apart from the test process: the reference
the video token rules are checked against (tests/tokens/test_video.py runs it once, cases on stdin, JSON out).

Apart, because transformers' video processors import torchvision, and PyPI's torchvision wheel is a CUDA
build whose C extension does not load beside the CPU torch these machines pin: its import fails on the first
operator it registers a fake kernel for ('operator torchvision::nms does not exist'). Installed beside
vlmscope it would break every transformers import that looks for torchvision. So .ci/run installs it into
a folder of its own (``pip install --target .venv/torchvision``), which only this process puts on its path,
and here the two operators' schemas are declared (as torchvision's C++ declares them) before the import:
the transforms the processors use are plain torch, and nothing here calls the detection operators.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import warnings
from typing import Any

import numpy as np


def _torchvision(folder: str) -> None:
    sys.path.insert(0, folder)
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
        import torch

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        for op in ("nms", "qnms"):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision  # noqa: F401


def _loaded(case: dict[str, Any], frames: int, width: int, height: int, fps: float) -> tuple[Any, dict[str, Any]]:
    """The clip as qwen-vl-utils' own fetch_video gives it (its torchvision reader, with only the decoding
    replaced by frames of zeros): its sampling and resize, run for real."""
    import types

    import torch

    sys.modules.setdefault("requests", types.ModuleType("requests"))  # it fetches URLs with it; none here
    from qwen_vl_utils import vision_process as qv

    qv.FORCE_QWENVL_VIDEO_READER = "torchvision"
    qv.get_video_reader_backend.cache_clear()
    clip = torch.zeros(1, 3, height, width, dtype=torch.uint8).expand(frames, 3, height, width)
    qv.io.read_video = lambda *args, **kwargs: (clip, None, {"video_fps": fps})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video, metadata = qv.fetch_video({"video": "clip.mp4"}, image_patch_size=case["patch"],
                                         return_video_metadata=True)
    metadata["frames_indices"] = [int(i) for i in metadata["frames_indices"]]
    return video, {"video_metadata": [metadata], "do_sample_frames": False, "do_resize": False}


def _sglang(case: dict[str, Any], frames: int, width: int, height: int,
            fps: float) -> tuple[Any, dict[str, Any]]:
    """The clip as SGLang's own Qwen-VL preprocessing gives it to the model's processor: its module's constants
    and functions (smart_nframes, smart_resize, preprocess_video) read from the pinned wheel's source and run
    for real, with only the decoder replaced by frames of zeros; then the processor's call as
    QwenVLImageProcessor makes it (Qwen3-VL: the clip's metadata, do_sample_frames=False)."""
    import asyncio
    import logging
    import math
    import os
    import time
    from pathlib import Path

    import torch
    import torchvision
    from torchvision.transforms import InterpolationMode

    source = Path(case["sglang"]) / "sglang" / "srt" / "multimodal" / "processors" / "qwen_vl.py"
    space = {"math": math, "os": os, "time": time, "np": np, "torch": torch, "torchvision": torchvision,
             "InterpolationMode": InterpolationMode, "logger": logging.getLogger("sglang"), "MAX_PIXELS": 0,
             "VideoDecoderWrapper": _Decoded, "is_cpu": lambda: True}
    _defs(source, {"IMAGE_FACTOR", "MIN_PIXELS", "MAX_RATIO", "VIDEO_TOTAL_PIXELS", "VIDEO_MIN_PIXELS",
                   "VIDEO_MAX_PIXELS", "FRAME_FACTOR", "FPS", "FPS_MIN_FRAMES", "FPS_MAX_FRAMES", "smart_resize",
                   "round_by_factor", "ceil_by_factor", "floor_by_factor", "smart_nframes", "preprocess_video"}, space)
    video, metadata = asyncio.run(space["preprocess_video"](_Decoded(frames, width, height, fps), video_config={}))
    metadata["frames_indices"] = [int(i) for i in metadata["frames_indices"]]
    if case["processor"] == "Qwen3VLProcessor":
        return video, {"video_metadata": [metadata], "do_sample_frames": False}
    return video, {}


def _defs(path: Any, names: set[str], space: dict[str, Any], within: str | None = None) -> dict[str, Any]:
    """The top-level functions, classes and assignments ``names`` of a module's source (or the methods of its
    class ``within``), run for real in ``space``: SGLang's wheel is read, never imported."""
    import ast

    tree = ast.parse(path.read_text())
    body = tree.body if within is None else next(n.body for n in tree.body if getattr(n, "name", None) == within)
    kept = [n for n in body if getattr(n, "name", None) in names or (
        isinstance(n, ast.Assign) and any(getattr(t, "id", None) in names for t in n.targets))]
    assert {getattr(n, "name", None) for n in kept} | {t.id for n in kept if isinstance(n, ast.Assign)
                                                      for t in n.targets} >= names, (path, names)
    exec(compile(ast.Module(body=kept, type_ignores=[]), str(path), "exec"), space)
    return space


def _sglang_glm(case: dict[str, Any], vp: Any, frames: int, width: int, height: int,
                fps: float) -> tuple[Any, dict[str, Any]]:
    """The clip as SGLang's GLM processor (glm4v.py) hands it to the model's processor: its own
    glm_processor_video_config and _hf_sample_frame_indices run on that video processor (the frame indices of
    its own sampler, where nothing asks for max_frames or a pre-resize), then the call with the clip's metadata
    and do_sample_frames=False."""
    from pathlib import Path

    root = Path(case["sglang"]) / "sglang" / "srt"
    space = _defs(root / "utils" / "common.py", {"GLM_MEDIA_CONFIG_KEYS"}, {})
    _defs(root / "multimodal" / "processors" / "glm4v.py", {
        "GLM_VIDEO_PATCH_SIZE", "GLM_VIDEO_MERGE_SIZE", "glm_processor_video_config", "_glm_processor_resize_budget",
        "_hf_sample_frame_indices"}, space)
    config = space["glm_processor_video_config"](vp)
    assert not {"max_frames", "max_tokens_per_frame", "_presize_budget"} & config.keys(), config
    indices = space["_hf_sample_frame_indices"](vp, frames, fps, frames / fps, config)
    metadata = {"total_num_frames": frames, "fps": fps, "duration": frames / fps, "video_backend": "sglang",
                "frames_indices": [int(i) for i in indices]}
    video = np.zeros((len(indices), height, width, 3), dtype=np.uint8)
    return video, {"video_metadata": [metadata], "do_sample_frames": False}


class _Decoded:
    """SGLang's VideoDecoderWrapper as its processors read it: frames of zeros, NHWC (numpy; as tensors for
    get_frames_as_tensor), at the clip's rate."""

    def __init__(self, frames: int, width: int, height: int, fps: float | None = None) -> None:
        self.frames, self.shape, self.avg_fps = frames, (height, width, 3), fps

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < self.frames:
            raise IndexError(index)
        return np.zeros(self.shape, dtype=np.uint8)

    def get_frames_at(self, indices: list[int]) -> Any:
        return np.zeros((len(indices), *self.shape), dtype=np.uint8)

    def get_frames_as_tensor(self, indices: list[int]) -> Any:
        import torch

        return torch.from_numpy(self.get_frames_at(indices))


def _sglang_gemma4(case: dict[str, Any], vp: Any, frames: int, width: int, height: int) -> tuple[Any, dict[str, Any]]:
    """The clip as SGLang's Gemma 4 processor hands it over: its own _video_decoder_to_tensor (the video
    processor's num_frames by torch.arange) run on the decoder's frames, then the call with do_sample_frames=False
    and no metadata."""
    import types
    from pathlib import Path

    import torch

    path = Path(case["sglang"]) / "sglang" / "srt" / "multimodal" / "processors" / "gemma4.py"
    space = _defs(path, {"_video_decoder_to_tensor"}, {"torch": torch, "VideoDecoderWrapper": _Decoded},
                  within="Gemma4SGLangProcessor")
    me = types.SimpleNamespace(_processor=types.SimpleNamespace(video_processor=vp))
    return space["_video_decoder_to_tensor"](me, _Decoded(frames, width, height)), {"do_sample_frames": False}


def _sglang_minicpm(case: dict[str, Any]) -> dict[str, Any]:
    """A clip through SGLang's MiniCPM-V 4.6 processor (minicpmv4_6.py), which has its own image processor and
    prompt expansion: every frame the decoder gives (list() over it), each cut by its MiniCPMV4_6ImageProcessor
    as the processor builds it (max_slice_nums 9, the config's patch and downsample mode), and the video's
    expansion as _expand_media writes it; its pad placeholder and marks renamed as the other cases'."""
    import math
    import types
    import typing
    from pathlib import Path

    import torch
    import torchvision.transforms.functional as F
    from PIL import Image

    frames, width, height, _ = case["video"]
    path = Path(case["sglang"]) / "sglang" / "srt" / "multimodal" / "processors" / "minicpmv4_6.py"
    space = _defs(path, {"IMAGENET_STANDARD_MEAN", "IMAGENET_STANDARD_STD", "_PAD_PLACEHOLDER", "_ensure_divide",
                         "_to_chw_tensor", "_resize", "_divide_to_patches", "_reshape_by_patch",
                         "MiniCPMV4_6ImageProcessor"},
                  {"torch": torch, "F": F, "Image": Image, "math": math, **vars(typing)})
    _defs(path, {"_expand_frame", "_expand_media"}, space, within="MiniCPMV4_6MultimodalProcessor")
    ip = space["MiniCPMV4_6ImageProcessor"](max_slice_nums=9, scale_resolution=448, patch_size=case["patch"],
                                             slice_mode=True, downsample_mode=case["downsample_mode"],
                                             use_image_id=True)
    out = ip.preprocess(list(_Decoded(frames, width, height)))
    me = types.SimpleNamespace(image_start_token="<S>", image_end_token="<E>", slice_start_token="<S>",
                               slice_end_token="<E>", image_id_start_token="<I>", image_id_end_token="</I>")
    me._expand_frame = lambda *a: space["_expand_frame"](me, *a)
    media = list(zip(out["tgt_sizes"], out["grids"], strict=True))
    text = space["_expand_media"](me, case["index"], media, ip.pad_divisor, True)
    text = text.replace(space["_PAD_PLACEHOLDER"], "<V>")
    return {"processor": case["name"], "grid": None, "frames": len(out["grids"]), "text": text}


def _case(case: dict[str, Any]) -> dict[str, Any]:
    """One video through its processor (from a model folder with settings, or a class's defaults; its frames
    as given, or as a loader such as qwen-vl-utils hands them over) and the text the model's processor writes
    for it."""
    import transformers
    from transformers.models.smolvlm import processing_smolvlm

    if case.get("recipe") == "sglang-minicpm":  # SGLang's own image processor: no transformers processor runs
        found = _sglang_minicpm(case)
        return _counted(found, found.pop("text"))
    assert processing_smolvlm.num2words is not None, "num2words: .ci/run installs it beside torchvision"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.get("folder"):
            vp = transformers.AutoVideoProcessor.from_pretrained(case["folder"], **case.get("settings", {}))
        else:
            vp = getattr(transformers, case["class"])(**case.get("settings", {}))
        frames, width, height, fps = case["video"]
        kwargs: dict[str, Any] = {}
        if fps is not None:  # every frame's index, as a decoder that keeps every frame gives it, or a loader's
            total = case.get("total", frames)
            kwargs["video_metadata"] = [{"fps": fps, "total_num_frames": total, "duration": total / fps,
                                         "frames_indices": case.get("indices", list(range(frames)))}]
        video: Any = np.zeros((frames, height, width, 3), dtype=np.uint8)
        if case.get("noise"):  # every pixel changing from frame to frame (VideoLLaMA3's compression keeps them all)
            video = np.random.default_rng(0).integers(0, 256, video.shape, dtype=np.uint8)
        if case.get("tensor"):  # as a decoder hands it over: numpy would take a one-frame index tensor as a scalar
            import torch

            video = torch.from_numpy(video)
        if case.get("recipe") == "qwen-vl-utils":
            video, kwargs = _loaded(case, frames, width, height, fps)
        elif case.get("recipe") == "sglang":
            video, kwargs = _sglang(case, frames, width, height, fps)
        elif case.get("recipe") == "sglang-glm":
            video, kwargs = _sglang_glm(case, vp, frames, width, height, fps)
        elif case.get("recipe") == "sglang-gemma4":
            video, kwargs = _sglang_gemma4(case, vp, frames, width, height)
        try:
            out = vp(videos=[video], return_tensors="pt", return_metadata=True, **kwargs, **case.get("call", {}))
        except (ValueError, RuntimeError) as exc:  # RuntimeError: MiniMax-M3-VL's reshape of unresized frames
            return {"error": str(exc)}
    if case.get("query_tokens"):  # InstructBLIP-Video: its processor's own call, with a tokenizer of a few words
        return {**_queries(out["pixel_values"], case["query_tokens"]), "processor": type(vp).__name__}
    proc = object.__new__(getattr(transformers, case["processor"]))
    proc.video_processor = vp
    proc.video_token, proc.vision_start_token, proc.vision_end_token, proc.image_token = "<V>", "<S>", "<E>", "<V>"
    proc.boi_token, proc.eoi_token = "<S>", "<E>"  # Gemma 4's begin and end of image
    proc.num_image_tokens, proc.patch_size = case.get("image_tokens", 0), case.get("patch", 0)
    for key, value in case.get("attrs", {}).items():  # InternVL's and SmolVLM's image marks and tokens per frame
        setattr(proc, key, value)
    grid = out.get("video_grid_thw")
    pixels = out["pixel_values_videos" if "pixel_values_videos" in out else "pixel_values"]  # SmolVLM's
    found = {"processor": type(vp).__name__, "grid": None if grid is None else [int(x) for x in grid[0]],
             "grids": None if grid is None else [[int(x) for x in g] for g in grid],
             "frames": int(pixels.shape[1]) if pixels.dim() == 5 else None,
             "frame": [int(x) for x in pixels.shape[-2:]] if pixels.dim() == 5 else None}
    if "video_grids" in out:  # Molmo2's: frames, pooled rows and columns
        found["grids"] = [[int(x) for x in g] for g in out["video_grids"]]
    try:
        text = str(proc.replace_video_token(out, 0, **case.get("replace", {})))
        for mark, ours in case.get("rename", {}).items():  # a processor's own marks, as the ones counted here
            text = text.replace(mark, ours)
        if case.get("local_ids"):  # MiniCPM's '<image_id>0</image_id>', which its __call__ puts before the video
            proc.image_id_start_token, proc.image_id_end_token = "<I>", "</I>"
            (text,) = proc._prepend_local_ids([proc.video_token], [text], proc.video_token)
    except (AttributeError, ValueError) as exc:  # Qwen3-VL's timestamps need sampled indices: not without sampling
        return {**found, "text_error": f"{type(exc).__name__}: {exc}"}
    return _counted(found, text)


def _counted(found: dict[str, Any], text: str) -> dict[str, Any]:
    """A video's prompt text read back: its placeholders, its marks, its timestamps, and the text between them."""
    marks = ("<S>", "<E>", "<G>", "<|begin_of_image|>", "<|end_of_image|>",  # around a frame or a patch
             "<|media_begin|>", "<|media_content|>", "<|media_end|>",  # Kimi-K2.5's, around a chunk
             "<I>", "</I>")  # MiniCPM's around a video's id
    stamps = (r"<[\d.]+ seconds>", r"<\|end_of_image\|>\d+", r"\d\d:\d\d <S>",  # Qwen3-VL, GLM-4.1V, Gemma 4
              r"Frame\d+: <S>", r"Frame from \d\d:\d\d:",  # InternVL's frame labels, SmolVLM's timestamps
              r"\d\d:\d\d:\d\d\.\d{3}<\|media_begin\|>video",  # Kimi-K2.5's start time, and 'video'
              r"Time: [\d.]+s", r"Time [\d.]+s:",  # MuseGlimmer's (its default format), VideoLLaMA3's
              r"(?<![\d:])\d+\.\d <S>",  # Molmo2's, before its frame start
              r"Frame \d+",  # Nemotron-H-Omni's label of a tubelet
              r"\]<\][\d.]+ seconds\[>\[")  # MiniMax-M3-VL's
    pieces = [p for p in re.split("|".join(re.escape(m) for m in ("<V>", *marks)), text) if p]
    return {**found, "video": text.count("<V>"), "separators": sum(text.count(m) for m in marks),
            "timestamps": len(re.findall("|".join(stamps), text)), "pieces": pieces}


def _queries(pixels: Any, queries: int) -> dict[str, Any]:
    """InstructBlipVideoProcessor's own __call__ (it writes its placeholders there, not in a replace_video_token,
    and calls its video processor without the clip's metadata or settings: here one at its defaults, over the
    frames the model's kept), its tokenizers a word-level one made here."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "describe": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    proc = transformers.InstructBlipVideoProcessor(transformers.InstructBlipVideoVideoProcessor(), tokenizer,
                                                   tokenizer, num_query_tokens=queries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids = proc(images=[pixels[0]], text="describe")["input_ids"][0]
    return {"grid": None, "frames": int(pixels.shape[1]), "frame": [int(x) for x in pixels.shape[-2:]],
            "video": list(ids).count(tokenizer.convert_tokens_to_ids("<video>")), "separators": 0, "timestamps": 0,
            "pieces": []}


def _tables(names: list[str], images: list[str]) -> dict[str, Any]:
    """transformers' model_type → video processor table, each named class's defaults and keywords, and the
    keywords of each named image processor class (those with only a torchvision backend: importable here)."""
    import transformers
    from transformers.models.auto import video_processing_auto

    mapping = {k: v.get("torchvision") if isinstance(v, dict) else v
               for k, v in video_processing_auto.VIDEO_PROCESSOR_MAPPING_NAMES.items()}
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    without = {}  # model_types with a video processor whose processor class takes none
    passed = {}  # the video settings a model_type's processor class passes on every call, but the returns asked
    for kind in mapping:
        cls = getattr(transformers, PROCESSOR_MAPPING_NAMES.get(kind) or "", None)
        if cls is not None and "video_processor" not in inspect.signature(cls.__init__).parameters:
            without[kind] = cls.__name__
        given = {**(getattr(cls, "videos_kwargs", None) or {}),
                 **getattr(getattr(cls, "valid_processor_kwargs", None), "_defaults", {}).get("videos_kwargs", {})}
        given = {k: v for k, v in given.items() if k not in ("return_metadata", "return_tensors")}
        if given:
            passed[kind] = given
    classes = {}
    for name in names:
        cls = getattr(transformers, name)
        keys = set(cls.valid_kwargs.__annotations__) | set(inspect.signature(cls.__init__).parameters)
        attrs = {k: getattr(cls, k, None) for k in ("patch_size", "temporal_patch_size", "merge_size", "min_frames",
                                                   "max_frames", "do_sample_frames", "fps", "num_frames",
                                                   "max_video_tokens", "cap_pixels_per_frame", "max_duration",
                                                   "max_soft_tokens", "pooling_kernel_size", "initial_shift",
                                                   "max_num_frames", "stack_frames", "max_slice_nums",
                                                   "scale_resolution", "slice_mode", "downsample_mode",
                                                   "patch_expand_factor", "max_patches", "min_image_tokens",
                                                   "max_image_tokens", "max_video_frame_tokens",
                                                   "frame_timestamp_format", "use_token_compression", "max_fps",
                                                   "pooling_size", "downsample_ratio", "video_target_num_patches",
                                                   "video_maintain_aspect_ratio", "min_pixels", "max_pixels",
                                                   "do_resize", "vision_segment_max_frames")}
        attrs["size"] = dict(cls.size) if getattr(cls, "size", None) is not None else None  # MiniCPM-V's has none
        for key in ("crop_size", "do_center_crop", "max_image_size"):
            value = getattr(cls, key, None)
            attrs[key] = dict(value) if isinstance(value, dict) else value
        classes[name] = {"accepted": sorted(keys - {"self", "args", "kwargs"}), "attributes": attrs}
    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    taken = {}
    for name in images:
        cls = get_image_processor_class_from_name(name)
        keys = set(cls.valid_kwargs.__annotations__) | set(inspect.signature(cls.__init__).parameters)
        taken[name] = sorted(keys - {"self", "args", "kwargs"})
    return {"model_types": mapping, "without_video": without, "classes": classes, "images": taken,
            "processor_kwargs": passed}


def main() -> None:
    job = json.load(sys.stdin)
    _torchvision(job["torchvision"])
    from num2words import num2words  # SmolVLM's processor spells a clip's frame count with it

    print(json.dumps({"cases": [_case(c) for c in job["cases"]], "tables": _tables(job["classes"], job["images"]),
                      "words": {n: num2words(n) for n in job["words"]}}))


if __name__ == "__main__":
    main()
