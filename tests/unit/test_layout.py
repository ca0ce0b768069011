"""The package layout keeps its promises: no import cycles, the trainer layer never reaches up into the
sweep layer, and private Ray internals are used in one marked place only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sweep", "trainers", "cluster", "search_spaces")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules ``path`` imports anywhere (lazy imports in functions too), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
        for node in ast.walk(guard)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        for child in sorted(graph[node]):
            if child in stack:
                cycles.append(" -> ".join([*stack[stack.index(child) :], child]))
            elif child not in done:
                visit(child, [*stack, child], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert not cycles, cycles


@pytest.mark.parametrize("layer", ["trainers", "cluster"])
def test_lower_layers_never_import_the_sweep_layer(layer: str) -> None:
    graph = _graph()
    upward = {name: sorted(m for m in deps if m.split(".")[0] == "sweep") for name, deps in graph.items()}
    assert {name: deps for name, deps in upward.items() if name.split(".")[0] == layer and deps} == {}


def test_private_ray_internals_live_in_one_marked_module() -> None:
    users = []
    for name, path in _modules().items():
        text = path.read_text()
        if "ray._private" in text or "._local_tuner" in text:
            users.append(name)
    assert users == ["cluster.ray_compat"]
