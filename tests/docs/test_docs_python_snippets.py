"""Every Python snippet in README.md and docs/ imports what it uses: each import resolves, and every class-like
name (CamelCase) it uses is imported or defined in the snippet."""

import ast
import builtins
import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [(doc.relative_to(ROOT).as_posix(), i, textwrap.dedent(block)) for doc in DOCS  # blocks inside list items
            for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S))]  # fmt: skip


@pytest.mark.parametrize(("doc", "index", "code"), SNIPPETS, ids=[f"{d}#{i}" for d, i, _ in SNIPPETS])
def test_snippet_imports_resolve_and_cover_its_names(doc, index, code, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))  # docs/serve.md imports the example loop by its module name
    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{doc} snippet {index}: {node.module} has no {alias.name}"
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    unbound = sorted(n for n in used - bound if n[:1].isupper() and not n.isupper())  # KEY-style placeholders allowed
    assert not unbound, f"{doc} snippet {index} uses {unbound} without importing them"
    sys.modules.pop("robot_loop", None)
