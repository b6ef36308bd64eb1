"""Rebuilt skeletons for models whose code exists only as remote code on the Hub.

Each module here rebuilds one architecture from transformers' own building blocks, with the same module
names, shapes and parameter count as the published model. No Hub code is executed. A rebuilt model whose
processor cuts images its own way names that way in a ``vlmscope_processing`` class attribute, which the
anatomy records and the token rules dispatch on. This is the one place where model types are named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def _phi3_v(config: dict[str, Any]) -> nn.Module:
    from vlmscope.skeleton.rebuilt.phi3_v import build

    return build(config)


REBUILT: dict[str, Callable[[dict[str, Any]], nn.Module]] = {"phi3_v": _phi3_v}
