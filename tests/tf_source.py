"""Run selected functions of a transformers source file without importing the module.

Some image-processing modules import torchvision at the top, which this project does not install. The
arithmetic we test against lives in plain functions and methods; this loads just those from the installed
file (transformers' own code, not a copy) into a namespace with ``math``.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path
from typing import Any


def load(module: str, names: tuple[str, ...], methods: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    spec = importlib.util.find_spec("transformers")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    keep: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            keep.append(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):
            keep.append(node)
        elif isinstance(node, ast.ClassDef) and methods and node.name in methods:
            keep.extend(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name in methods[node.name])
    for fn in keep:
        if isinstance(fn, ast.FunctionDef):
            fn.decorator_list = []
            fn.returns = None
            for arg in [*fn.args.args, *fn.args.kwonlyargs]:
                arg.annotation = None
    namespace: dict[str, Any] = {"math": math}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), namespace)
    return namespace
