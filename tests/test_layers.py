"""The import-layer contract: every module of sim/ imports only its own layer or the layers below it, the
import graph has no cycle, and importing the engine or the core's data modules does not load Mesa, pandas or
matplotlib (what a Dask worker or the command line's start-up pays for)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim"

# Lowest first. A module may import modules of its own layer or of any layer listed before it.
LAYERS = ("base", "core", "outputs", "engine", "experiments", "viz", "cli")
BASE_MODULES = {"sim", "sim.errors", "sim.files", "sim.files.atomic", "sim.files.folders", "sim.files.reading"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in BASE_MODULES or module == "sim.__main__":
        return "base" if module != "sim.__main__" else "cli"
    second = module.split(".")[1]
    return "cli" if second == "cli" else second


def sim_imports(path: Path) -> set[str]:
    """Every sim module this file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "sim")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sim":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*candidate.split(".")) / "__init__.py"
                ).exists()
                found.add(candidate if is_module else node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    # `sim/__init__` loads its public names lazily, by string, so it has no static edges to check.
    return {name: sim_imports(path) - {name} for name, path in modules.items()}


def test_every_module_has_a_known_layer() -> None:
    unknown = sorted(name for name in graph() if layer_of(name) not in LAYERS)
    assert not unknown, f"modules outside the layers {LAYERS}: {unknown}"


def test_no_module_imports_upwards() -> None:
    upward = [
        f"{importer} ({layer_of(importer)}) imports {imported} ({layer_of(imported)})"
        for importer, imported_set in graph().items()
        for imported in sorted(imported_set)
        if LAYERS.index(layer_of(imported)) > LAYERS.index(layer_of(importer))
    ]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle() -> None:
    edges = {name: {target for target in targets if target in graph_nodes} for name, targets in GRAPH.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycle.extend([*path[path.index(target) :], target] if target in path else [node, target])
                return True
            if target not in state and visit(target, [*path, target]):
                return True
        state[node] = 2
        return False

    for node in sorted(edges):
        if node not in state and visit(node, [node]):
            break
    assert not cycle, " -> ".join(cycle)


GRAPH = graph()
graph_nodes = set(GRAPH)


@pytest.mark.parametrize("module", ["sim", "sim.engine.sweep", "sim.core.config", "sim.core.levels", "sim.cli"])
def test_light_modules_do_not_load_heavy_libraries(module: str) -> None:
    code = (
        f"import sys, {module}; heavy = [m for m in ('mesa', 'pandas', 'matplotlib') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"import {module} loads {loaded}"
