"""Visual tokens per image: one dispatcher for every token strategy.

The generic rule follows the structure: patches (+ class token) → feature selection → connector (learned
queries, s×s merge, k×k pool). How a family's processor cuts an image into crops (AnyRes tiles, HD crops,
pixel-shuffle tiles, aspect-ratio tiles, dynamic resolution, flat patches) is in ``processors``. Both the
anatomy (tokens at the native size) and the cost sheet (tokens at the requested size) ask this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlmscope.data import ConnectorFacts, ImageTokens, VisionFacts
from vlmscope.errors import LimitError
from vlmscope.limits import MAX_VISUAL_TOKENS
from vlmscope.sources import ModelSource
from vlmscope.tokens import processors, slicing

NO_SIZE = "no vision encoder, or no image size: pass one (--image-size)"


@dataclass(frozen=True)
class Encoded:
    """What the vision encoder and connector do to one crop; read off the anatomy."""

    image_size: int
    patch_size: int
    class_token: bool
    latents: int | None  # learned queries per crop, if a resampler
    merge: int  # s for an s×s patch merge, else 1
    avg_pool: int = 1  # k for a k×k average pool, else 1
    dynamic: bool = False  # native-resolution encoder (no fixed image size) with a patch merger
    tiled: bool = False  # pixel-shuffle connector: images are split into encoder-sized tiles
    flat: bool = False  # no vision encoder: flattened patches of ``patch_size`` go straight into the LM
    processing: str | None = None  # a rebuilt skeleton's own processor geometry (e.g. the HD transform)
    variable_frames: bool = False  # the encoder takes frames of any size (patch mask): resized, split, padded
    any_size: bool = False  # the encoder takes each image at its own size (Pixtral): resized within the longest edge
    aspect_tiles: bool = False  # the encoder takes an image's tiles with their aspect ratio (Mllama)
    patch_grids: bool = False  # the encoder takes flattened patches with each frame's grid (SigLIP2)


def encoded(vision: VisionFacts | None, connector: ConnectorFacts) -> Encoded | None:
    """What the anatomy says about one crop; None when images have no way into the model."""
    if vision is None:
        return Encoded(0, connector.flat_patch, False, None, 1, flat=True) if connector.flat_patch else None
    return Encoded(vision.image_size or 0, vision.patch_size or 0, vision.class_token, connector.queries,
                   connector.merge, connector.avg_pool, dynamic=vision.native_resolution,
                   tiled=connector.merge_hint == "scale_factor", processing=connector.processing,
                   variable_frames=vision.variable_frames, any_size=vision.any_size,
                   aspect_tiles=vision.aspect_tiles, patch_grids=vision.patch_grids)


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


def fixed_sequence(pre: dict[str, Any]) -> tuple[int, tuple[int, int]] | None:
    """(tokens, (height, width)) where a processor resizes every image to one size and inserts a stated
    ``image_seq_length`` (Florence-2: the length its tower and projector return at that size); else None."""
    n, size = pre.get("image_seq_length"), pre.get("size")
    if type(n) is not int or not 0 < n <= 1 << 20 or not isinstance(size, dict):
        return None
    h, w = size.get("height"), size.get("width")
    return (n, (h, w)) if type(h) is int and type(w) is int and 0 < h <= 1 << 14 and 0 < w <= 1 << 14 else None


# The image a request is costed at when it names none and the model has no size of its own (native-resolution
# towers: Qwen2-VL and its kin): a 4:3 photo of about 0.8 megapixels, said in the sheet's assumptions.
ASSUMED_SIZE = (1024, 768)


def cost_size(enc: Encoded | None, source: ModelSource,
              size: tuple[int, int] | None) -> tuple[tuple[int, int] | None, bool]:
    """(the size a request is costed at, whether it is ASSUMED_SIZE): the request's, else the model's own
    (None), else ASSUMED_SIZE for a tower that takes images at any size and has no size of its own."""
    if size is not None or enc is None or not enc.patch_size:
        return size, False
    if default_size(enc, source.config, source.preprocessor) != (0, 0):
        return None, False
    return ASSUMED_SIZE, True


def default_size(enc: Encoded | None, config: dict[str, Any],
                 pre: dict[str, Any] | None = None) -> tuple[int, int]:
    """The image size a request without one is costed at: the encoder's native size, the config's image_size
    for flat patches, the processor's fixed size, or (0, 0) for encoders that take any size."""
    if enc is None:
        return 0, 0
    if enc.flat:
        return processors.config_size(config)
    if not enc.image_size and (fixed := fixed_sequence(pre or {})) is not None:
        return fixed[1][1], fixed[1][0]
    return (enc.image_size, enc.image_size) if enc.image_size and not enc.dynamic else (0, 0)


def request_tokens(enc: Encoded | None, source: ModelSource,
                   size: tuple[int, int] | None) -> tuple[tuple[int, int], ImageTokens]:
    """(image size, tokens) of one image of ``size`` (default: ``default_size``)."""
    pre = source.preprocessor or {}
    width, height = size or default_size(enc, source.config, pre)
    budget = "max_soft_tokens" in pre or fixed_sequence(pre) is not None
    countable = enc is not None and enc.patch_size and (enc.flat or enc.image_size or enc.dynamic or budget)
    if enc is None or not countable or not (width and height):
        return (width, height), ImageTokens(None, 0, NO_SIZE)
    found = image_tokens(enc, source, width, height)
    if found.tokens is not None and found.tokens > MAX_VISUAL_TOKENS:  # checked before anything runs over them
        raise LimitError(source.info.location or source.model_id, f"visual tokens of one {width}×{height} image",
                         found.tokens, MAX_VISUAL_TOKENS, found.rule[:80])
    return (width, height), found


def native_tokens(enc: Encoded | None, source: ModelSource) -> tuple[int | None, str]:
    """(tokens, rule) of one image at the model's own size, for the anatomy; None when it has none."""
    (width, height), found = request_tokens(enc, source, None)
    if enc is None or found.tokens is None:
        return None, "no fixed image size: pass an image size (show --image-size)"
    if enc.flat:
        return found.tokens, f"at the config's image_size {width}×{height}: {found.rule}"
    return found.tokens, found.rule


def image_tokens(enc: Encoded, source: ModelSource, width: int, height: int) -> ImageTokens:
    """Tokens for one ``width`` × ``height`` image, under the model's own processing rules."""
    config, pre = source.config, source.preprocessor or {}
    if enc.flat:
        return processors.flat_patch_tokens(enc.patch_size, pre, width, height)
    if not enc.image_size and (fixed := fixed_sequence(pre)) is not None:
        tokens, (h, w) = fixed
        return ImageTokens(tokens, 1, f"resized to {w}×{h}: the processor's image_seq_length, {tokens} (the same for "
                                      "any image size)", frame=(h, w))
    if "max_soft_tokens" in pre:
        return processors.soft_token_budget(enc.patch_size, pre, width, height)
    if enc.aspect_tiles:
        return processors.aspect_ratio_tiles(enc.image_size, enc.patch_size, enc.class_token, pre, config, width,
                                             height)
    if enc.patch_grids and ("scale_resolution" in pre or "insert_layer_id" in config):
        return slicing.slices(enc.patch_size, pre, config, width, height)
    if enc.patch_grids and "downsample_factor" in config:
        return processors.smart_tiles(enc.patch_size, pre, config, width, height)
    if enc.dynamic:
        from vlmscope.tokens.settings import processor_class  # it reads the video processors, which read this

        return processors.dynamic(enc.patch_size, enc.merge, pre, width, height, processor_class(source))
    base, rule = per_crop(enc, config)
    if enc.processing == processors.HD_TRANSFORM:
        return processors.hd_transform(enc.image_size, base, pre, width, height)
    if config.get("image_grid_pinpoints"):
        return processors.anyres(enc.image_size, enc.patch_size, base, config, width, height)
    if pre.get("crop_to_patches"):
        return processors.crop_to_patches(enc.image_size, base, pre, width, height)
    if enc.tiled:
        return processors.tiles(enc.image_size, base, pre, width, height)
    if enc.any_size:
        return processors.longest_edge(enc.image_size, enc.patch_size, enc.merge, pre, width, height)
    if enc.variable_frames:
        return processors.variable_frames(enc.image_size, base, rule, pre, width, height)
    return ImageTokens(base, 1, f"{rule} (the same for any image size)")
