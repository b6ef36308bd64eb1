"""The collapsed module tree as text lines (repeated blocks shown once, with their count)."""

from __future__ import annotations

from vlmscope.data import TreeNode
from vlmscope.render.rows import printable


def tree_lines(node: TreeNode, depth: int | None = None) -> list[str]:
    """The module tree, repeated blocks collapsed ("24 × CLIPEncoderLayer"), with parameter counts."""
    lines = [node_label(node)]
    _walk(node, "", depth, lines)
    return lines


def node_label(node: TreeNode) -> str:
    """One node as text; module and class names come from model code, so control characters are escaped."""
    return printable(_label(node))


def _label(node: TreeNode) -> str:
    name = f"{node.name}: " if node.name else ""
    if node.repeat > 1:
        return f"{name}{node.repeat} × {node.class_name}  [{node.role}] {node.params:,} each"
    count = f" {node.params:,}" if node.params else ""
    return f"{name}{node.class_name}  [{node.role}]{count}"


def _walk(node: TreeNode, prefix: str, depth: int | None, lines: list[str]) -> None:
    if depth is not None and depth <= 0:
        return
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{node_label(child)}")
        _walk(child, prefix + ("    " if last else "│   "), None if depth is None else depth - 1, lines)
