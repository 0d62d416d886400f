"""The layers of the package import only downwards (read from the source with `ast`).

Every import counts: at module level, inside functions and under `if TYPE_CHECKING:`. The core
is memory without ROS; the planner stands on the core and on nothing that knows a simulator,
a message type or a robot driver; the simulator's adapters, the ROS nodes and the evaluation
tooling sit above both.
"""

from __future__ import annotations

import ast

import pytest

from tests.module_sources import parsed_modules

#: Layer -> the top-level names and `memory_nodes` subpackages it may import from the project.
ALLOWED = {
    "memory_nodes.core": {"memory_nodes.core"},
    "memory_nodes.perception": {"memory_nodes.core", "memory_nodes.perception"},
    "memory_nodes.planning": {
        "memory_nodes.core",
        "memory_nodes.perception",
        "memory_nodes.planning",
    },
}
#: Packages no module of these layers may import (ROS and the simulator).
FORBIDDEN_ROOTS = ("sim", "rclpy", "memory_interfaces", "builtin_interfaces", "launch")


def _imports(tree: ast.Module, package: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


def _violations(layer: str) -> list[str]:
    allowed = ALLOWED[layer]
    found = []
    for module, (path, tree) in parsed_modules().items():
        if not (module == layer or module.startswith(layer + ".")):
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in sorted(_imports(tree, package)):
            root = name.split(".")[0]
            if root in FORBIDDEN_ROOTS or root.endswith(("_msgs", "_srvs")):
                found.append(f"{module} imports {name}")
            elif root == "memory_nodes" and name != "memory_nodes":
                sub = ".".join(name.split(".")[:2])
                if sub not in allowed:
                    found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_the_layers_below_it(layer: str) -> None:
    assert _violations(layer) == []


def test_the_check_sees_an_import_of_the_simulator_inside_a_function() -> None:
    tree = ast.parse("def f():\n    from sim.household_sim import HouseholdSim\n")
    assert "sim.household_sim" in _imports(tree, "memory_nodes.planning")
