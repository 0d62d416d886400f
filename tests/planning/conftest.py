"""Headless rendering and the scenes and set-up helpers the planning tests share."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


def small_sim(scene: str):
    """A scene at the evaluation's 160x120, with depth and instance masks."""
    from sim.household_sim import HouseholdSim

    return HouseholdSim(scene, width=160, height=120, seed=0, renderDepthImage=True,
                        renderInstanceSegmentation=True)  # fmt: skip


@pytest.fixture()
def floorplan1():
    sim = small_sim("FloorPlan1")
    yield sim
    sim.close()


@pytest.fixture()
def floorplan28():
    sim = small_sim("FloorPlan28")
    yield sim
    sim.close()


def ids_by_type(sim) -> dict[str, str]:
    """The first object id of every type in the scene."""
    meta, _ = sim.step({"action": "Pass"})
    return {o["objectType"]: o["objectId"] for o in reversed(meta["objects"])}


def force_actions(sim, steps: list[tuple[str, str]]) -> None:
    """Set a scene up with forced actions, each of which must succeed."""
    for action, target in steps:
        meta, _ = sim.step({"action": action, "objectId": target, "forceAction": True})
        assert meta["lastActionSuccess"], (action, meta["errorMessage"])


def grid_from_text(free: str):
    """A reachable grid from rows of '.' (free) and '#' (blocked): the character in row ``j``,
    column ``i`` is cell ``(i, j)``, at map point ``(x, y) = (j, -i) * 0.25``."""
    from memory_nodes.planning.navigation import ReachableGrid

    cells = [
        (j * 0.25, -i * 0.25)
        for j, row in enumerate(free.strip().splitlines())
        for i, ch in enumerate(row.strip())
        if ch == "."
    ]
    return ReachableGrid(cells, 0.25)
