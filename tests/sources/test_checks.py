"""The config checks and limits: every real model passes them, and each limit is named when it is hit."""

from __future__ import annotations

import pytest

from vlmscope import limits
from vlmscope.errors import ConfigError, LimitError
from vlmscope.sources import catalog, resolve, zoo
from vlmscope.sources.checks import check_config, check_preprocessor


@pytest.mark.parametrize("entry", catalog.entries(), ids=lambda e: e.short_name)
def test_every_catalog_model_passes_the_checks(entry: catalog.CatalogEntry) -> None:
    source = resolve(entry.model_id)  # ModelSource checks its files on construction
    check_config(source.config, "catalog")
    if source.preprocessor is not None:
        check_preprocessor(source.preprocessor, "catalog")


@pytest.mark.parametrize("model_type", zoo.model_types())
def test_every_zoo_default_config_passes_the_checks(model_type: str) -> None:
    assert zoo.default_source(model_type).config["model_type"] == model_type


def test_a_limit_names_the_key_the_value_and_the_limit() -> None:
    with pytest.raises(LimitError, match=r"x: num_layers = 1001 is over vlmscope's limit of 1000") as caught:
        check_config({"model_type": "m", "sub": {"num_layers": limits.MAX_LAYERS + 1}}, "x")
    assert (caught.value.key, caught.value.value, caught.value.limit) == ("num_layers", 1001, 1000)


def test_layer_indices_and_flags_are_not_counts() -> None:
    check_config({"model_type": "m", "vision_feature_layer": -2, "spatial_vision_layer": -1,
                  "freeze_vision_layers": True, "vision_feature_layers": [-2, -5, -8]}, "x")


def test_head_dim_zero_means_derived_but_heads_must_be_positive() -> None:
    check_config({"model_type": "m", "head_dim": 0, "num_attention_heads": 8}, "x")
    with pytest.raises(ConfigError, match="num_attention_heads = 0"):
        check_config({"model_type": "m", "num_attention_heads": 0}, "x")


@pytest.mark.parametrize("pre, message", [
    ({"num_crops": 0}, "num_crops = 0 is not a positive integer"),
    ({"size": {"height": -1}}, "height = -1"),
    ({"max_pixels": "lots"}, "max_pixels = 'lots'"),
    ({"image_grid_pinpoints": [[336]]}, "not a \\[height, width\\] pair"),
])
def test_bad_preprocessor_values(pre: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_preprocessor(pre, "x")


def test_depth_and_item_counts_are_bounded() -> None:
    deep: dict[str, object] = {"model_type": "m"}
    node = deep
    for _ in range(limits.MAX_CONFIG_DEPTH + 2):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(LimitError, match="nesting depth"):
        check_config(deep, "x")
    with pytest.raises(LimitError, match="number of keys and list items"):
        check_config({"model_type": "m", "x": [0] * (limits.MAX_CONFIG_ITEMS + 1)}, "x")
