"""The Python API: ``inspect`` one model, ``compare`` several."""

from __future__ import annotations

from collections.abc import Iterable

from vlmscope.schema import Anatomy, Comparison

SEED_MODELS: tuple[str, ...] = (
    "HuggingFaceM4/idefics2-8b-base",
    "HuggingFaceM4/idefics2-8b",
    "HuggingFaceM4/idefics2-8b-chatty",
    "llava-hf/llava-v1.6-mistral-7b-hf",
    "llava-hf/llava-v1.6-vicuna-7b-hf",
    "TIGER-Lab/Mantis-8B-clip-llama3",
    "TIGER-Lab/Mantis-8B-siglip-llama3",
    "microsoft/Phi-3-vision-128k-instruct",
    "llava-hf/llava-1.5-7b-hf",
)


def inspect(ref: str) -> Anatomy:
    """Build ``ref`` (catalog name, folder or config.json) on the meta device and return its anatomy."""
    from vlmscope.anatomy import analyze
    from vlmscope.skeleton import build
    from vlmscope.sources import resolve

    source = resolve(ref)
    return analyze(build(source), source)


def compare(refs: Iterable[str] = SEED_MODELS) -> Comparison:
    """Anatomies of several models, in the order given (default: the nine seed models)."""
    return Comparison(tuple(inspect(ref) for ref in refs))
