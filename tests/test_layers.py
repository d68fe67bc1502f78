"""The code's layers: engine < bodies < garments < scenes < atelier (the app).

Imports point one way (a package may import the ones left of it, never the ones right of it), and
no set of Atelier modules imports itself round in a circle, lazy imports inside functions
included. Both are read from the source with :mod:`ast`, so nothing is imported to check them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("engine", "bodies", "garments", "scenes", "atelier")
RANK = {name: i for i, name in enumerate(LAYERS)}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """Atelier modules that ``name`` imports anywhere in its file, with the line of each."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            # the longest known module that the dotted name starts with ("garments.dress.drape_pattern" -> garments.dress)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno))
    return found


def _graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, int]]]]:
    sources = _sources()
    known = set(sources)
    return sources, {name: _imports(name, path, known) for name, path in sources.items()}


def test_no_layer_imports_a_higher_one():
    sources, graph = _graph()
    wrong = []
    for name, targets in graph.items():
        for target, line in targets:
            if RANK[target.split(".")[0]] > RANK[name.split(".")[0]]:
                wrong.append(f"{sources[name].relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "a lower layer imports a higher one (engine < bodies < garments < scenes < atelier):\n" + "\n".join(wrong)


def _cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    edges = {n: sorted({t for t, _ in ts if not _is_package_of(t, n)}) for n, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return comps


def _is_package_of(target: str, name: str) -> bool:
    """``garments`` (the package's __init__) as seen from ``garments.drape``: importing a submodule
    runs its package first, which is not a cycle of the code's own making."""
    return name.startswith(target + ".")


def test_no_import_cycles():
    _, graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other round in a circle:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checks_see_a_wrong_import(tmp_path):
    """The graph reader resolves relative, lazy and dotted imports (so the tests above can fail)."""
    src = "def f():\n    from ..scenes import jobs\n    import atelier.cli\nfrom .drape import MAX_FRAMES\n"
    path = ROOT / "garments" / "dress.py"
    known = {"garments.drape", "scenes.jobs", "atelier.cli", "garments.dress"}
    tree_file = tmp_path / "dress.py"
    tree_file.write_text(src)
    # resolve as if the file were garments/dress.py
    found = {t for t, _ in _imports("garments.dress", tree_file, known)}
    assert found == {"scenes.jobs", "atelier.cli", "garments.drape"}
    assert _cycles({"a": [("b", 1)], "b": [("a", 2)], "c": [("a", 3)]}) == [["a", "b"]]
    assert path.exists()
