"""The layout reads like the pipeline: each package is a stage, and a lower stage never imports a higher one
(imports inside functions included). Modules and functions stay small; model types are named in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "vlmscope"

# Lowest first. A module may import its own stage and the stages below it.
STAGES: tuple[tuple[str, ...], ...] = (
    ("vlmscope.errors", "vlmscope.quiet", "vlmscope.limits", "vlmscope.files", "vlmscope.pool"),
    ("vlmscope.data",),
    ("vlmscope.records", "vlmscope.cache"),
    ("vlmscope.sources",),
    ("vlmscope.skeleton",),
    ("vlmscope.tokens",),
    ("vlmscope.anatomy",),
    ("vlmscope.costing",),
    ("vlmscope.training",),
    ("vlmscope.diff",),
    ("vlmscope.render",),
    ("vlmscope.api",),
    ("vlmscope", "vlmscope.cli", "vlmscope.__main__"),
)
# The notebook hooks of the data model render themselves: the one allowed reach upwards.
ALLOWED_UPWARD = {(module, hook, "vlmscope.render") for module in ("vlmscope.data.facts", "vlmscope.data.cost")
                  for hook in ("_repr_html_", "to_pandas")}
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 45


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stage(module: str) -> int:
    """The stage of a vlmscope module: the longest stage prefix that names it."""
    best, depth = -1, -1
    for level, names in enumerate(STAGES):
        for name in names:
            if (module == name or module.startswith(name + ".")) and name.count(".") > depth:
                best, depth = level, name.count(".")
    assert best >= 0, f"{module} belongs to no stage: add it to STAGES"
    return best


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(tree: ast.AST) -> list[tuple[str, str]]:
    """(imported vlmscope module, enclosing function or "") for every import, function-level ones too."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((a.name, function) for a in child.names if a.name.startswith("vlmscope"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("vlmscope"):
                for alias in child.names:  # "from vlmscope import cache" imports the module vlmscope.cache
                    sub = f"{child.module}.{alias.name}"
                    found.append((sub if _is_module(sub) else child.module, function))
            visit(child, name)

    visit(tree, "")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_lower_stage_imports_a_higher_one(path: Path) -> None:
    module = _module_name(path)
    here = _stage(module)
    for imported, function in _imports(ast.parse(path.read_text())):
        if _stage(imported) <= here:
            continue
        upward = next((t for m, f, t in ALLOWED_UPWARD if m == module and f == function
                       and imported.startswith(t)), None)
        where = function or "module"
        assert upward, f"{module} (stage {here}) imports {imported} (stage {_stage(imported)}) in {where}"


def test_the_checker_sees_function_level_imports() -> None:
    tree = ast.parse("def f():\n    from vlmscope.render import html\n\nimport vlmscope.api\n")
    assert _imports(tree) == [("vlmscope.render.html", "f"), ("vlmscope.api", "")]
    assert _stage("vlmscope.costing.echo") > _stage("vlmscope.anatomy.index") > _stage("vlmscope.data")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_modules_and_functions_are_small(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The body only: a CLI command's option list is its signature.
            length = (node.end_lineno or node.lineno) - node.body[0].lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name}() has {length} lines"


def _model_types() -> set[str]:
    from vlmscope.skeleton.rebuilt import REBUILT
    from vlmscope.sources import zoo

    return set(zoo.model_types()) | set(REBUILT)


def test_model_types_are_named_only_beside_the_rebuilt_skeletons() -> None:
    """Family-specific code lives in one named place (skeleton/rebuilt); everything else finds roles, names
    and token rules from the structure. Scans every source file, for the zoo's and the rebuilt keys."""
    types = _model_types()
    assert "phi3_v" in types and "llava" in types
    rebuilt = PACKAGE / "skeleton" / "rebuilt"
    for path in MODULES:
        if rebuilt in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in types, f"{path.relative_to(SRC)}:{node.lineno} names {node.value!r}"
