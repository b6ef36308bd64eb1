"""The checks that config files are what they claim to be, within the bounds of ``vlmscope.limits``.

Config files are untrusted (anyone can publish one on the Hub), so before anything is built or looped
over, each is checked here: its size, nesting and number of items; every layer count, width, size and
crop count against a named limit; the types and domains of the keys vlmscope and transformers read.
A value past a limit raises LimitError, a wrong one ConfigError, each one line that names the key and the
value. No legitimate model comes near a limit (the tests run the whole catalog and zoo through them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, TypeGuard

from vlmscope.errors import ConfigError, LimitError, shown
from vlmscope.limits import MAX_CONFIG_DEPTH, MAX_CONFIG_ITEMS, MAX_CROPS, MAX_DIMENSION, MAX_LAYERS

# Keys whose value is a count of layers (a negative or huge count is refused; layer indices are not counts).
_COUNT_NAMES = ("num_hidden_layers", "num_layers", "n_layers", "n_layer", "encoder_layers", "decoder_layers",
                   "depth", "depths")
# Keys whose value is a width, size or count that must be a positive integer (or a list of them).
_POSITIVE = ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
             "vocab_size", "num_channels", "patch_size", "image_size", "max_position_embeddings", "d_model",
             "spatial_merge_size", "temporal_patch_size", "num_heads")
_CROP_KEYS = ("num_crops", "max_patches", "min_patches", "max_num_patches", "max_image_tiles")
# Counts of visual tokens or queries, which a rule divides by or a model makes a tensor of.
_TOKEN_COUNTS = ("mm_tokens_per_image", "num_query_tokens", "image_seq_length", "num_image_tokens")
_FACTORS = ("factor", "low_freq_factor", "high_freq_factor")  # RoPE scaling: positive numbers
_FLAGS = ("load_in_4bit", "load_in_8bit", "bnb_4bit_use_double_quant", "tie_word_embeddings")
_MODULE_LISTS = ("modules_to_not_convert", "llm_int8_skip_modules")
# torch dtypes by the names transformers reads from ``dtype`` / ``torch_dtype`` ("auto": the checkpoint's)
_DTYPES = ("auto", "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int8", "uint8",
           "int16", "int32", "int64", "bool", "float8_e4m3fn", "float8_e5m2")


def _walk(data: Any, where: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(key, value, owning object) of every key at any depth; bounds depth and item count as it goes."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    items = 0
    while stack:
        item, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise LimitError(where, "nesting depth", depth, MAX_CONFIG_DEPTH, "objects and lists inside each other")
        children = list(item.items()) if isinstance(item, dict) else list(enumerate(item)) \
            if isinstance(item, list) else []
        items += len(children)
        if items > MAX_CONFIG_ITEMS:
            raise LimitError(where, "number of keys and list items", items, MAX_CONFIG_ITEMS, "in one file")
        for key, value in children:
            if isinstance(item, dict):
                yield str(key), value, item
            if isinstance(value, (dict, list)):
                stack.append((value, depth + 1))


def _ints(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_positive(where: str, key: str, value: Any, limit: int, what: str, minimum: int = 1) -> None:
    for v in _ints(value):
        if not _is_int(v) or v < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
            raise ConfigError(where, f"{key} = {shown(v)} is not {kind} ({what})")
        if v > limit:
            raise LimitError(where, key, v, limit, what)


def check_config(config: dict[str, Any], where: str) -> None:
    """Refuse a config.json whose values are out of their domain or past a limit (see the module doc)."""
    arch = config.get("architectures")
    if arch is not None and (not isinstance(arch, list) or not all(isinstance(a, str) for a in arch)):
        raise ConfigError(where, f"architectures = {shown(arch)} is not a list of class names")
    for key, value, owner in _walk(config, where):
        _check_key(where, key, value)
        if key == "num_key_value_heads":  # the heads it must divide are beside it
            _check_heads(where, owner)
        if key == "patch_size":
            _check_patch(where, owner)
        if key == "pad_token_id":
            _check_pad(where, value, owner.get("vocab_size"))
        if key == "low_freq_factor" and owner.get("high_freq_factor") == value:
            raise ConfigError(where, f"low_freq_factor = high_freq_factor = {shown(value)}: llama3 RoPE scaling "
                                     "divides by their difference; use two different numbers")
    _check_tiles(where, config)


def _check_key(where: str, key: str, value: Any) -> None:
    if value is None:
        return
    if _is_count(key):
        for v in _ints(value):
            if not _is_int(v) or v < 0:
                raise ConfigError(where, f"{key} = {shown(v)} is not a number of layers (an integer ≥ 0)")
            if v > MAX_LAYERS:
                raise LimitError(where, key, v, MAX_LAYERS, "layers in one stack")
    elif key == "head_dim":  # 0 in some defaults: "derive it from the width"
        _check_positive(where, key, value, MAX_DIMENSION, "a width", minimum=0)
    elif key in _POSITIVE:
        _check_positive(where, key, value, MAX_DIMENSION, "a width, size or count")
    elif key in _CROP_KEYS:
        _check_positive(where, key, value, MAX_CROPS, "crops per image")
    elif key == "image_grid_pinpoints":
        _check_pinpoints(where, value)
    else:
        _check_typed(where, key, value)


def _check_typed(where: str, key: str, value: Any) -> None:
    """Keys whose type or domain a build or a rule relies on: token counts, RoPE factors, flags, module
    lists of a quantization config, dtypes, the sliding window."""
    if key in _TOKEN_COUNTS:
        _check_positive(where, key, value, MAX_DIMENSION, "a number of visual tokens or queries")
    elif key == "sliding_window":
        _check_positive(where, key, value, MAX_DIMENSION, "a window of tokens", minimum=0)
    elif key in _FACTORS and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and math.isfinite(value) and value > 0):
        raise ConfigError(where, f"{key} = {shown(value)} is not a positive number (a RoPE scaling factor)")
    elif key in _FLAGS and not isinstance(value, bool):
        raise ConfigError(where, f"{key} = {shown(value)} is not true or false")
    elif key in _MODULE_LISTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(where, f"{key} = {shown(value)} is not a list of module names (strings)")
    elif key in ("dtype", "torch_dtype") and value not in _DTYPES:
        raise ConfigError(where, f"{key} = {shown(value)} is not a torch dtype: use one of {', '.join(_DTYPES)}")


def _check_pad(where: str, pad: Any, vocab: Any) -> None:
    if _is_int(pad) and _is_int(vocab) and not -vocab <= pad < vocab:
        raise ConfigError(where, f"pad_token_id = {pad} is outside the vocabulary (vocab_size = {vocab})")


def _check_tiles(where: str, config: dict[str, Any]) -> None:
    """LLaVA-NeXT's pinpoints are resolutions of whole tiles: none may be smaller than the encoder's tile."""
    vision, pinpoints = config.get("vision_config"), config.get("image_grid_pinpoints")
    tile = vision.get("image_size") if isinstance(vision, dict) else None
    if not _is_int(tile) or not isinstance(pinpoints, list):
        return
    for pair in pinpoints:
        if isinstance(pair, list) and any(_is_int(side) and side < tile for side in pair):
            raise ConfigError(where, f"image_grid_pinpoints entry {shown(pair)} is smaller than the vision "
                                     f"encoder's tile ({tile}×{tile}): each pinpoint is a grid of whole tiles")


def _is_count(key: str) -> bool:
    """A key that counts layers: one of the count names, whole or after a prefix (``text_num_layers``)."""
    return any(key == name or key.endswith("_" + name) for name in _COUNT_NAMES)


def _check_heads(where: str, sub: dict[str, Any]) -> None:
    """The key/value heads divide the query heads (grouped-query attention shares each among a group).
    Heads need not divide the width: several published configs set head_dim apart from it."""
    heads, kv = sub.get("num_attention_heads"), sub.get("num_key_value_heads")
    if _is_int(kv) and _is_int(heads) and heads % kv:
        raise ConfigError(where, f"num_attention_heads = {heads} is not divisible by num_key_value_heads = {kv}")


def _check_patch(where: str, sub: dict[str, Any]) -> None:
    patch, size = sub.get("patch_size"), sub.get("image_size")
    if _is_int(patch) and _is_int(size) and patch > size:
        raise ConfigError(where, f"patch_size = {patch} is larger than image_size = {size}")


def _check_pinpoints(where: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > MAX_CROPS:
        raise ConfigError(where, f"image_grid_pinpoints = {shown(value)} is not a list of [height, width] pairs")
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(where, f"image_grid_pinpoints entry {shown(pair)} is not a [height, width] pair")
        _check_positive(where, "image_grid_pinpoints", pair, MAX_DIMENSION, "a resolution in pixels")


def check_preprocessor(pre: dict[str, Any], where: str) -> None:
    """Refuse a preprocessor config whose sizes, pixel budgets or crop counts are out of their domain."""
    for key, value, _ in _walk(pre, where):
        if value is None:
            continue
        if key in _CROP_KEYS:
            _check_positive(where, key, value, MAX_CROPS, "crops per image")
        elif key in ("min_pixels", "max_pixels"):
            _check_positive(where, key, value, MAX_DIMENSION**2, "pixels")
        elif key == "size" and not (isinstance(value, dict) or _is_int(value)):
            raise ConfigError(where, f"size = {shown(value)} is not an object of sizes (e.g. {{'height': 336}})")
        elif key in ("height", "width", "shortest_edge", "longest_edge") or (key == "size" and _is_int(value)):
            _check_positive(where, key, value, MAX_DIMENSION, "a size in pixels")
        elif key == "image_grid_pinpoints":
            _check_pinpoints(where, value)


def size_setting(pre: dict[str, Any], key: str) -> dict[str, Any]:
    """A processor setting that must be an object of sizes (``{"longest_edge": 980}``); absent: empty. A bare
    number or anything else is refused: which side it would mean differs between processors."""
    value = pre.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("preprocessor_config.json", f"{key} = {shown(value)} is not an object of sizes: this "
                                                      "processor reads e.g. {\"longest_edge\": 980} or "
                                                      "{\"height\": 384, \"width\": 384}")
    return value
