"""Which node executables exist and where their code lives.

The launcher validates configs against this table, setup.py's console scripts must match it
(a test checks), and every launch file may only name executables listed here.
"""

from __future__ import annotations

import importlib

# executable name -> module defining NODE_CLASS and main()
NODE_MODULES: dict[str, str] = {
    "memory_server": "memory_nodes.nodes.memory_server",
    "octree_node": "memory_nodes.nodes.octree_node",
    "perception_node": "memory_nodes.nodes.perception_node",
    "planner_node": "memory_nodes.nodes.planner_node",
    "short_term_memory_node": "memory_nodes.nodes.short_term_memory_node",
    "sim_bridge_node": "memory_nodes.nodes.sim_bridge_node",
}


def known_executables() -> list[str]:
    return sorted(NODE_MODULES)


def node_module(executable: str) -> str:
    """Module path of ``executable``; KeyError naming the known ones if it is not a node."""
    try:
        return NODE_MODULES[executable]
    except KeyError:
        raise KeyError(
            f"unknown node executable {executable!r}; known: {', '.join(known_executables())}"
        ) from None


def node_class(executable: str) -> type:
    """The rclpy Node subclass behind ``executable`` (imports rclpy)."""
    return importlib.import_module(node_module(executable)).NODE_CLASS
