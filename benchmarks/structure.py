"""The package's shape in figures, for comparing two trees (issue 19's outcomes table).

    .venv/bin/python benchmarks/structure.py [PACKAGE_DIR ...]   (default: workbench)

For each tree: source lines (all, and code alone: no docstrings, comments or blank lines), the
number of functions of 50 lines or more and the five longest. Import circles and SQL written as
text are held at zero by tests/test_structure.py; `farm-studio look` draws the floors.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENDMARKER}


def code_lines(source: str) -> int:
    """Lines holding code: not blank, not only a comment, not a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIP:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def measure(package: Path) -> dict:
    physical = code = 0
    functions = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        physical += len(source.splitlines())
        code += code_lines(source)
        functions += [(node.end_lineno - node.lineno + 1,
                       f"{path.relative_to(package.parent)}:{node.lineno} {node.name}")
                      for node in ast.walk(ast.parse(source))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    functions.sort(reverse=True)
    return {"lines": physical, "code lines": code,
            "functions of 50 lines or more": sum(1 for n, _ in functions if n >= 50),
            "longest": functions[:5]}


if __name__ == "__main__":
    for folder in sys.argv[1:] or ["workbench"]:
        figures = measure(Path(folder).resolve())
        print(folder)
        for key, value in figures.items():
            print(f"  {key}: {value}")
