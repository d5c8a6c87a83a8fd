"""The package's imports point down the data flow of DESIGN.md, with no cycles and no private names across modules.

Every ``import dexego...`` / ``from dexego... import`` in ``src/dexego`` is read with ``ast`` (those inside
functions too: a deferred import is still a dependency). Packages sit in the layers below, lowest first; a package
may import its own modules and packages of lower layers only (so packages of one layer never import each other).
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "dexego"

# DESIGN.md's flow: geometry <- hands <- actions <- data <- sources/annotate; tokenizers -> models <- train;
# checkpoints -> evaluate / serve / retarget; evaluate -> sim -> retarget. "dexego" is the package root (__version__).
LAYERS = [
    {"dexego", "errors"},
    {"utils", "config", "configs"},  # configs: the stage configs shipped in the package
    {"geometry"},
    {"hands"},
    {"actions"},
    {"data"},
    {"drawing"},
    {"sim", "tokenizers", "annotate"},
    {"retarget", "models"},
    {"sources", "train", "serve"},
    {"evaluate"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
# Pairs the layers allow but DESIGN.md rules out: models never import sim (a policy reaches the simulator
# through evaluate/ or serve/ only).
FORBIDDEN = {("models", "sim")}
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def imports() -> dict[str, list[tuple[str, str, int]]]:
    """module -> [(imported module, imported name or "", line)], every dexego import anywhere in the module."""
    found = defaultdict(list)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "dexego":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in MODULES:  # "from dexego.models import pretrained" imports the submodule
                        found[module].append((sub, "", node.lineno))
                    else:
                        found[module].append((node.module, alias.name, node.lineno))
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                found[module].append(("<relative>", "", node.lineno))
            elif isinstance(node, ast.Import):
                found[module] += [
                    (alias.name, "", node.lineno) for alias in node.names if alias.name.split(".")[0] == "dexego"
                ]
    return found


def layer_violations(found: dict) -> list[str]:
    bad = []
    for module, targets in found.items():
        source = package_of(module)
        for target, _, line in targets:
            if target == "<relative>":
                bad.append(f"{module}:{line}: a relative import (use absolute dexego imports)")
                continue
            dest = package_of(target)
            if dest != source and (RANK[dest] >= RANK[source] or (source, dest) in FORBIDDEN):
                bad.append(f"{module}:{line}: {source} -> {dest} ({target})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself): Tarjan's algorithm."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for module in graph:
        if module not in index:
            visit(module)
    return found


def private_violations(found: dict) -> list[str]:
    """A private name (``_x``) imported from another module, or a private module (``pkg._m``) imported from
    outside its package ``pkg``."""
    bad = []
    for module, targets in found.items():
        for target, name, line in targets:
            parts = target.split(".")
            private_module = next(
                (i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")), None
            )
            if private_module is not None and not module.startswith(".".join(parts[:private_module]) + "."):
                bad.append(f"{module}:{line}: private module {target}")
            elif name.startswith("_") and not name.startswith("__"):
                bad.append(f"{module}:{line}: private name {target}.{name}")
    return bad


def test_every_package_has_a_layer():
    packages = {package_of(m) for m in MODULES}
    assert packages - set(RANK) == set(), "add the new package to LAYERS (its place in DESIGN.md's flow)"
    assert set(RANK) - packages == set(), "a package in LAYERS no longer exists"


def test_imports_point_down_the_layers():
    bad = layer_violations(imports())
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {module: {t for t, _, _ in targets if t in MODULES} for module, targets in imports().items()}
    assert not cycles(graph), f"import cycles: {cycles(graph)}"


def test_no_private_names_imported_across_modules():
    bad = private_violations(imports())
    assert not bad, "private names imported from another module:\n" + "\n".join(bad)


def test_the_checks_catch_what_they_are_meant_to():
    found = {
        "dexego.serve.loading": [("dexego.train.checkpoints", "STATE_FILE", 1), ("dexego.models.policy", "Policy", 2)],
        "dexego.models.policy": [("dexego.sim.env", "SimEnv", 3), ("dexego.models.pretrained", "", 4)],
        "dexego.geometry.rotations": [("dexego.geometry._dispatch", "dispatch", 5)],
        "dexego.sim.expert": [("dexego.geometry._dispatch", "dispatch", 6), ("dexego.sim.tasks.cans", "_step", 7)],
    }
    assert layer_violations(found) == [
        "dexego.serve.loading:1: serve -> train (dexego.train.checkpoints)",
        "dexego.models.policy:3: models -> sim (dexego.sim.env)",
    ]
    assert private_violations(found) == [
        "dexego.sim.expert:6: private module dexego.geometry._dispatch",
        "dexego.sim.expert:7: private name dexego.sim.tasks.cans._step",
    ]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
