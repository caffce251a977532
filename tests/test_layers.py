"""The import graph of moscale_cli follows the layers of docs/internals.md: an import (lazy ones inside
functions included) points to the same layer or lower, and no two packages import each other."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "moscale_cli"
LAYER = {
    "cli": 6, "__main__": 6,
    "pipeline": 5,
    "sampling": 4, "training": 4, "evaluation": 4, "bench": 4,
    "models": 3, "data": 3, "text": 3, "io": 3, "model_dir": 3, "checkpoint": 3,
    "motion": 2,
    "config": 1, "errors": 1, "utils": 1, "__init__": 1,
}


def _edges() -> set[tuple[str, str, str]]:
    """(importing package, imported package, where) for every moscale_cli import between top-level parts."""
    out = set()
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG)
        src = rel.parts[0].removesuffix(".py")
        pkg_parts = rel.with_suffix("").parts[:-1] if rel.name != "__init__.py" else rel.parts[:-1]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import: resolve against the module's package
                    base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                    names = [".".join(["moscale_cli", *base, *([node.module] if node.module else [])])]
                elif node.module:
                    names = [node.module]
            for name in names:
                p = name.split(".")
                if p[0] == "moscale_cli" and len(p) > 1 and p[1] != src:
                    out.add((src, p[1], f"{rel}:{node.lineno}"))
    return out


def test_every_part_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in PKG.iterdir() if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert parts <= set(LAYER), f"give these a layer: {sorted(parts - set(LAYER))}"


def test_no_import_runs_up_the_layers() -> None:
    bad = sorted(f"{where}: {a} -> {b}" for a, b, where in _edges() if LAYER[a] < LAYER[b])
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_no_two_packages_import_each_other() -> None:
    graph: dict[str, set[str]] = {}
    for a, b, _ in _edges():
        graph.setdefault(a, set()).add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(a for a in graph if a in reach(a))
    assert not cycles, f"package cycles through: {cycles}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path) -> None:
    """The parser finds imports inside functions (lazy) too: the CLI's lazy import of the pipeline is one."""
    edges = _edges()
    assert any(a == "cli" and b == "pipeline" for a, b, _ in edges)
    assert any(a == "pipeline" and b == "sampling" for a, b, _ in edges)
