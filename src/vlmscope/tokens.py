"""Visual tokens per image at the vision encoder's native resolution (image_size × image_size).

The generic rule follows the structure: patches (+ class token) → feature selection → connector
(learned queries or s×s merge). Processing rules that only a family's processor knows (tiling, HD crops)
live in one named function each, cited to the transformers or published code they follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmscope.sources import ModelSource


@dataclass(frozen=True)
class Encoded:
    """What the vision encoder and connector do to one crop; read off the anatomy."""

    image_size: int
    patch_size: int
    class_token: bool
    latents: int | None  # learned queries per crop, if a resampler
    merge: int  # s for an s×s patch merge, else 1
    avg_pool: int = 1  # k for a k×k average pool, else 1


def per_crop(enc: Encoded, config: dict[str, Any]) -> tuple[int, str]:
    """Tokens one crop becomes, with the rule written out."""
    side = enc.image_size // enc.patch_size
    n = side * side
    rule = f"{side}×{side} patches"
    if enc.class_token:
        n += 1
        rule += " + class token"
    strategy = config.get("vision_feature_select_strategy")
    if strategy == "default" or (strategy is None and enc.class_token):
        n -= 1  # transformers drops the first token: [:, 1:]
        rule += ", first token dropped"
    if enc.latents is not None:
        return enc.latents, f"{rule} → {enc.latents} resampler latents"
    for k, what in ((enc.avg_pool, "average pool"), (enc.merge, "merge")):
        if k > 1:
            n //= k * k
            rule += f" → {k}×{k} {what}"
    return n, f"{rule} = {n}"


@dataclass(frozen=True)
class ImageTokens:
    """Visual tokens one image of ``width`` × ``height`` becomes, and how many encoder passes it takes."""

    tokens: int | None
    crops: int  # vision-encoder passes at the native resolution (tiles, crops, global view)
    rule: str


def native_tokens(enc: Encoded, source: ModelSource) -> tuple[int, str]:
    """Tokens for one image of image_size × image_size, under the model's own processing rules."""
    found = image_tokens(enc, source, enc.image_size, enc.image_size)
    assert found.tokens is not None
    return found.tokens, found.rule


def image_tokens(enc: Encoded, source: ModelSource, width: int, height: int) -> ImageTokens:
    """Tokens for one ``width`` × ``height`` image, under the model's own processing rules."""
    config = source.config
    if config.get("model_type") == "phi3_v":
        from vlmscope.skeletons.phi3_v import hd_crops, visual_tokens

        n = visual_tokens(width, height, config, source.preprocessor)
        return ImageTokens(n, hd_crops(width, height, source.preprocessor) + 1,
                           f"Phi-3-vision HD transform of {width}×{height} (crops + global, newlines, separator) = {n}")
    base, rule = per_crop(enc, config)
    if config.get("image_grid_pinpoints"):
        return _anyres(enc, base, config, rule, width, height)
    if (source.preprocessor or {}).get("do_image_splitting"):
        n = base * 5
        return ImageTokens(n, 5, f"{rule}; image splitting: 4 crops + 1 global × {base} = {n}")
    return ImageTokens(base, 1, f"{rule} (the same for any image size)")


def _anyres(enc: Encoded, base: int, config: dict[str, Any], rule: str, width: int, height: int) -> ImageTokens:
    """LLaVA-NeXT AnyRes, as LlavaNextProcessor._get_number_of_features counts it: the base image plus the
    best-fitting tile grid, unpadded to the image's aspect ratio, plus one newline token per feature row."""
    from transformers.image_processing_utils import select_best_resolution

    size, side = enc.image_size, enc.image_size // enc.patch_size
    best_h, best_w = select_best_resolution((height, width), config["image_grid_pinpoints"])
    cur_h, cur_w = side * (best_h // size), side * (best_w // size)
    if width / height > cur_w / cur_h:  # the image is wider than the grid: crop the padded height
        new_h = int(round(height * (cur_w / width), 7))
        cur_h -= ((cur_h - new_h) // 2) * 2
    else:
        new_w = int(round(width * (cur_h / height), 7))
        cur_w -= ((cur_w - new_w) // 2) * 2
    tiles, newlines = cur_h * cur_w, cur_h
    n = base + tiles + newlines
    grid = f"grid {best_w}×{best_h} px unpadded to {cur_h}×{cur_w} features"
    crops = 1 + (best_h // size) * (best_w // size)
    return ImageTokens(n, crops, f"AnyRes: base {base} + {grid} = {tiles} + {newlines} newlines = {n}")
