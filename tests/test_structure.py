"""The shape of the package, held by tests so that it stays drawn as docs/architecture.md draws
it: no SQL written as text, no import circle, adapters that import no service above them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).parent
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|COPY|ALTER|DROP|FROM|WHERE|JOIN|"
                       r"ATTACH|PRAGMA|WITH|SET|BEGIN)\b|\b(min|max|count|sum|read_parquet)\(")
# Adapters and the ground below them: they may import each other, never what stands above.
LOWER = ("query", "store", "delivery", "memberships", "errors", "settings", "clock", "files",
         "ids", "imports", "days", "freshness", "home", "users", "secrets", "run_states")
UPPER = ("audiences", "exports", "processing", "app", "cli", "ui", "scheduler", "serve")


def modules() -> dict[str, ast.Module]:
    return {".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            .removesuffix(".__init__"): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def sql_as_text(tree: ast.Module) -> list[int]:
    """Lines where SQL is composed by string formatting: f-strings, % and str.format."""
    lines = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format" and isinstance(node.func.value, ast.Constant)):
            text = str(node.func.value.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) \
                and isinstance(node.left, ast.Constant):
            text = str(node.left.value)
        if text and SQL_WORDS.search(text):
            lines.append(node.lineno)
    return lines


def imports(name: str, tree: ast.Module) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it (inside functions and
    under TYPE_CHECKING too: a circle is a circle whenever it is walked)."""
    package = name.split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + _is_package(name)] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module.startswith("workbench"):
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("workbench"))
    return found


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: {m for m in imports(name, tree) if m in found and m != name}
            for name, tree in found.items()}


def test_no_sql_is_written_as_text():
    """Statements are SQLGlot trees; values are bound or made literals by SQLGlot."""
    found = [f"{name}:{line}" for name, tree in modules().items() for line in sql_as_text(tree)]
    assert found == []
    assert sql_as_text(ast.parse('f"SELECT {x} FROM t"'))  # the guard finds what it looks for


def test_no_import_circle():
    edges = graph()
    # A package's __init__ that hands names on is not a step of a circle through it.
    edges = {a: {b for b in bs if not (a.startswith(b + ".") or b.startswith(a + "."))}
             for a, bs in edges.items()}
    circles = []
    for start in edges:
        seen, stack = set(), [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert circles == []


def test_adapters_import_nothing_above_them():
    def part(module: str) -> str:
        return module.split(".")[1] if "." in module else ""

    upward = [f"{a} -> {b}" for a, bs in graph().items() for b in bs
              if part(a) in LOWER and part(b) in UPPER]
    assert upward == []
