"""Test helper: visual tokens per crop read off real forwards on meta tensors (used to confirm the rules)."""

from __future__ import annotations

from typing import Any


def forward_tokens_per_crop(reading: Any, source: Any, anatomy: Any) -> int | None:
    """Visual tokens one crop becomes, read off real forwards on meta tensors: the vision tower's output
    length, the model's feature selection, then the connector's output length. None when the connector
    reshapes features outside its modules (merges, HD crops) or its forward needs data."""
    import torch
    from torch import nn

    from vlmscope.costing.counting import first_that_runs
    from vlmscope.costing.vision import vision_module

    index, roles, v = reading.index, reading.roles, anatomy.vision
    if v is None or not v.image_size or not v.patch_size or roles.vision is None:
        return None
    tower = vision_module(index.modules[roles.vision])
    with torch.device("meta"):
        hidden, _ = first_that_runs(("tower", lambda: tower(pixel_values=torch.randn(1, 3, v.image_size,
                                                                                      v.image_size)).last_hidden_state))
    if hidden is None:  # a tower that cannot run on meta tensors
        return None
    tokens, width = int(hidden.shape[1]), int(hidden.shape[2])
    strategy = source.config.get("vision_feature_select_strategy")
    if strategy == "default" or (strategy is None and v.class_token):
        tokens -= 1  # transformers keeps [:, 1:]
    x: Any = torch.randn(1, tokens, width, device="meta")
    for path in roles.connector:
        module = index.modules.get(path)
        first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None) if module is not None else None
        if module is None or first is None:
            continue
        if first.in_features != x.shape[-1]:
            return None  # features are reshaped between tower and connector: nothing to confirm here
        with torch.device("meta"):
            x, _ = first_that_runs(("connector", lambda m=module, inp=x: m(inp)))
        if x is None:
            return None
    return int(x.shape[1])
