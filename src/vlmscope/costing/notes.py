"""What a cost sheet assumed where the request or the model's files said nothing, and what makes a request
questionable. Each is a sentence, so a reader sees where a number comes from."""

from __future__ import annotations

from typing import Any

from vlmscope.costing import quant
from vlmscope.data import Anatomy, CostRequest, Flops, ImageTokens, Quant, VideoTokens
from vlmscope.sources import ModelSource


def processor_defaults(anatomy: Anatomy, source: ModelSource, request: CostRequest) -> bool:
    """Whether the request's images are cut by assumed processor defaults: the model takes images (a vision
    tower or flat patches) and ships no preprocessor config."""
    takes_images = anatomy.vision is not None or anatomy.connector.flat_patch > 0
    return bool(request.images) and takes_images and source.preprocessor is None


def assumptions(anatomy: Anatomy, source: ModelSource, request: CostRequest, size: tuple[int, int],
                img: ImageTokens, assumed: bool = False, videos: tuple[VideoTokens, ...] = ()) -> tuple[str, ...]:
    """Sentences naming every default the sheet used."""
    found: list[str] = []
    if request.images and assumed:
        found.append(f"images of {size[0]}×{size[1]}, assumed: the model takes any size and has none of its own "
                     "(pass --image-size)")
    elif request.images and request.image_size is None and img.tokens is not None:
        found.append(f"images at the model's own size, {size[0]}×{size[1]} (no --image-size given)")
    if processor_defaults(anatomy, source, request):
        found.append("no preprocessor_config.json is bundled or found with this config: processor defaults "
                     "assumed (images cut only as config.json says, with the processor defaults of its family: "
                     "no image splitting or tiling of the processor's own, default pixel budgets); the "
                     "published processor may cut them otherwise")
    if request.processor:
        found.append("processor settings from the request, over the model's own: " + ", ".join(
            f"{key}={value}" for key, value in request.processor))
    said = {(clip.processor, clip.assumed) for clip in videos if clip.assumed}
    found += [f"videos: {name}'s own defaults where the model's files set nothing (transformers' class "
              f"defaults): {', '.join(keys)}" for name, keys in sorted(said)]
    found += [f"video {clip.video}: the text its processor writes beside its tokens "
              f"({len(clip.text) or clip.timestamps:,} strings: timestamps, frame labels, ids or newlines) is not in "
              f"the prefill tokens: {_uncounted_text(clip, source)}" for clip in videos
              if (clip.timestamps or clip.text) and clip.text_tokens is None]
    found += [f"video {clip.video}: {clip.processor} drops the tokens of patches that barely change from the frame "
              f"before (use_token_compression): counted at most, as if every patch changed ({clip.tokens:,}); a "
              f"still clip is {clip.fewest:,}" for clip in videos if clip.fewest is not None]
    return tuple(found)


def _uncounted_text(clip: VideoTokens, source: ModelSource) -> str:
    """Why the text a video processor writes was not counted."""
    if not clip.text:
        return f"vlmscope does not write {clip.processor}'s text out yet, or not for so many frames"
    if source.tokenizer is None:
        return ("no tokenizer of the model's is at hand to count them (a model folder's or Hub repo's "
                "tokenizer.json counts them)")
    return f"{source.tokenizer.name} cannot count some of their characters"


def other_recipes(videos: tuple[VideoTokens, ...], others: tuple[tuple[VideoTokens, ...], ...]) -> tuple[str, ...]:
    """For each video, what each other recipe of the model's processor gives where it samples or sizes the
    frames to another count (the sheet's own recipe is the request's)."""
    found = []
    for clip, alternatives in zip(videos, others, strict=True):
        for other in alternatives:
            if clip.tokens and clip.recipe != other.recipe and other.tokens != clip.tokens:
                found.append(f"video {clip.video}: {other.rule} ({other.tokens / clip.tokens:.2f}× this sheet's "
                             f"{clip.tokens:,}; --video-recipe {other.recipe})")
    return tuple(found)


def warnings(anatomy: Anatomy, request: CostRequest, prefill_tokens: int | None,
             window: int | None, config: dict[str, Any] | None = None, how: Quant | None = None,
             counted: Flops | None = None) -> tuple[str, ...]:
    """Sentences naming what the model was not made for: a context or prompt beyond its positions, a prompt
    longer than the context, a sliding window that caps the cache; and each FLOP figure that could not be
    counted, with why."""
    found: list[str] = list(_uncounted(counted)) if counted is not None else []
    limit = anatomy.language.max_position_embeddings
    if limit and request.context > limit:
        found.append(f"context {request.context:,} is beyond the language model's max_position_embeddings "
                     f"({limit:,})")
    if prefill_tokens and limit and prefill_tokens > limit:
        found.append(f"the prompt's {prefill_tokens:,} tokens are beyond max_position_embeddings ({limit:,})")
    if prefill_tokens and prefill_tokens > request.context:
        found.append(f"the prompt ({prefill_tokens:,} tokens) is longer than the context ({request.context:,})")
    if window and request.context > window:
        found.append(f"sliding window {window:,}: layers with sliding-window attention keep the last "
                     f"{window - 1:,} tokens in their KV cache, not the whole context of {request.context:,}")
    q = quant.config_of(config or {})
    if q is not None and how is not None and how.source == "--dtype":
        found.append(f"the config's quantization_config (quant_method {str(q.get('quant_method'))[:40]!r}) is not "
                     f"a method vlmscope models: weights counted at {how.method}; pass --quant to choose one")
    return tuple(found)


def _uncounted(counted: Flops) -> list[str]:
    """One sentence per FLOP figure that is missing, with the reason its method recorded."""
    reasons = {part.split(":", 1)[0].strip(): part.split(":", 1)[1].strip()
               for part in counted.method.split("; ") if ":" in part}
    said = []
    for figure, value, parts in (("vision", counted.vision, ("vision",)),
                                 ("prefill", counted.prefill, ("prefill", "language")),
                                 ("decode", counted.decode_per_token, ("language",))):
        if value is None:
            why = next((reasons[p] for p in parts if p in reasons), None) or \
                "no image size, or no way into the model for images"
            said.append(f"{figure} FLOPs not counted: {why}")
    return said
