"""One pass over the module tree: paths, parameter counts (shared tensors once), subtree queries; and the one
walk over a model's config and its sub-configs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch import nn


def parent_of(path: str) -> str:
    return path.rpartition(".")[0]


def ancestors(path: str) -> Iterator[str]:
    """``a.b.c`` → ``a.b.c``, ``a.b``, ``a``, ``""`` (the root)."""
    while path:
        yield path
        path = parent_of(path)
    yield ""


def under(path: str, root: str) -> bool:
    """Whether ``path`` lies in the subtree rooted at ``root`` (the root itself included)."""
    return root == "" or path == root or path.startswith(root + ".")


@dataclass
class ModuleIndex:
    """Flat records of a model's modules and parameters, built once."""

    model: nn.Module
    modules: dict[str, nn.Module] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)  # first name of each distinct tensor → numel
    _subtree: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modules = dict(self.model.named_modules())
        # named_parameters() yields each tensor once, under its first name: tied/shared weights count once.
        self.params = {name: p.numel() for name, p in self.model.named_parameters()}
        sums: dict[str, int] = defaultdict(int)
        for name, n in self.params.items():
            for anc in ancestors(parent_of(name)):
                sums[anc] += n
        self._subtree = dict(sums)

    @property
    def total(self) -> int:
        return sum(self.params.values())

    def count(self, path: str) -> int:
        """Parameters in the subtree at ``path`` (each shared tensor where it is first named)."""
        return self._subtree.get(path, 0)

    def path_of(self, module: nn.Module | None) -> str | None:
        if module is None:
            return None
        return next((p for p, m in self.modules.items() if m is module), None)

    def contains(self, path: str, module: nn.Module) -> bool:
        """Whether ``module`` is reachable below ``path``, also through a shared reference."""
        return any(m is module for m in self.modules[path].modules())

    def children(self, path: str) -> list[str]:
        prefix = f"{path}." if path else ""
        names = (f"{prefix}{name}" for name, _ in self.modules[path].named_children())
        return [name for name in names if name in self.modules]

    def stacks(self) -> list[str]:
        """ModuleLists of two or more blocks with parameters: the repeated layers of an encoder or decoder
        (classes may mix, as in decoders that interleave cross-attention layers)."""
        return [path for path, module in self.modules.items()
                if isinstance(module, nn.ModuleList) and len(module) >= 2 and self.count(path) > 0]

    def first(self, root: str, kind: type | tuple[type, ...]) -> str | None:
        return next((p for p, m in self.modules.items() if under(p, root) and isinstance(m, kind)), None)


def config_values(config: Any, key: str) -> list[Any]:
    """Every non-null value of ``key`` in a config and its sub-configs (found at any depth)."""
    found: list[Any] = []
    stack: list[Any] = [config.to_dict() if hasattr(config, "to_dict") else {}]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == key and v is not None:
                    found.append(v)
                else:
                    stack.append(v)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def config_ints(config: Any, key: str) -> set[int]:
    """Every integer value of ``key`` in a config and its sub-configs (lists flattened)."""
    found: set[int] = set()
    for value in config_values(config, key):
        items = value if isinstance(value, (list, tuple)) else [value]
        found.update(x for x in items if isinstance(x, int) and not isinstance(x, bool))
    return found
