"""No import cycles among the modules of `memory_nodes` and `sim`.

Imports are read from the source with `ast`, so every import counts: at module level, inside
functions and under `if TYPE_CHECKING:` alike (a cycle hidden in a function or a type check is
still a knot a reader has to untie). Importing a submodule does not count as importing its
parent package's `__init__`; naming the package itself does.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from tests.module_sources import parsed_modules


def _imported_names(
    tree: ast.Module, module: str, is_package: bool, modules: Collection[str]
) -> set[str]:
    """Absolute names of what each `import` or `from ... import` anywhere in the tree imports.

    `from pkg import name` imports the submodule `pkg.name` when ``modules`` has one, else
    the package `pkg` itself (the name is then an attribute of its `__init__`).
    """
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in modules else base)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the checked modules it imports."""
    modules = parsed_modules()
    graph: dict[str, set[str]] = {}
    for module, (path, tree) in modules.items():
        imported = _imported_names(tree, module, path.name == "__init__.py", modules.keys())
        graph[module] = {name for name in imported if name in modules and name != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return paths[node] + [start]
                if target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_cycle_finder_reports_a_cycle_and_ignores_a_chain() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_sees_imports_inside_functions_and_type_checks() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sim.household_sim import HouseholdSim\n"
        "def f():\n    from . import houses\n"
    )
    modules = {"sim", "sim.household_sim", "sim.houses", "sim.scene_catalog"}
    names = _imported_names(tree, "sim.scene_catalog", is_package=False, modules=modules)
    assert names == {"typing", "sim.household_sim", "sim.houses"}


def test_memory_nodes_and_sim_have_no_import_cycles() -> None:
    graph = import_graph()
    assert "memory_nodes.core.scene_graph" in graph and "sim.household_sim" in graph
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
