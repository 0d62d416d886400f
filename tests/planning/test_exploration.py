"""The search's viewpoint tour: a look-around shows its open surroundings, so neighbouring
viewpoints wait for a second pass that runs only when the first finds nothing."""

from __future__ import annotations

import logging
import math

from memory_nodes.core.types import Pose
from memory_nodes.planning.exploration import SHOWN_RADIUS_M, Explorer
from memory_nodes.planning.navigation import HEADING_STEPS, Navigator, ReachableGrid
from memory_nodes.planning.sim_perception import Percept
from tests.planning.conftest import grid_from_text


class _GridWorld:
    """Moves an agent on the grid the way the simulator's navigation actions do."""

    def __init__(self, grid: ReachableGrid, cell: tuple[int, int]) -> None:
        self.grid, self.cell, self.heading, self.horizon = grid, cell, 0, 0.0
        self.looked_from: list[tuple[int, int]] = []  # cells turned round at (3 right turns)
        self._rights = 0

    def act(self, action: dict) -> dict:
        name = action["action"]
        ok = True
        if name == "MoveAhead":
            di, dj = HEADING_STEPS[self.heading]
            ahead = (self.cell[0] + di, self.cell[1] + dj)
            ok = ahead in self.grid.cells
            self.cell = ahead if ok else self.cell
        elif name in ("RotateRight", "RotateLeft"):
            self.heading = (self.heading + (1 if name == "RotateRight" else -1)) % 4
        elif name in ("LookDown", "LookUp"):
            self.horizon += 30.0 if name == "LookDown" else -30.0
        self._rights = self._rights + 1 if name == "RotateRight" else 0
        if self._rights == 3:  # navigation turns at most twice in a row
            self.looked_from.append(self.cell)
        x, z = self.grid.position_of(self.cell)
        return {
            "lastActionSuccess": ok,
            "agent": {
                "position": {"x": x, "y": 0.9, "z": z},
                "rotation": {"y": 90.0 * self.heading},
                "cameraHorizon": self.horizon,
            },
        }


def _explorer(grid: ReachableGrid, world: _GridWorld) -> Explorer:
    nothing = Percept(0.0, [], None, Pose())
    return Explorer(grid, Navigator(grid, world.act), world.act, lambda: nothing)


TWO_ROOMS = """
..........#.........
..........#.........
..........#.........
....................
..........#.........
..........#.........
..........#.........
..........#.........
"""


def test_a_look_around_shows_near_viewpoints_in_the_open_but_not_behind_a_wall():
    grid = grid_from_text(TWO_ROOMS)
    explorer = _explorer(grid, _GridWorld(grid, (8, 0)))
    remaining = [(4, 0), (12, 0), (8, 4), (0, 7)]
    shown: list[tuple[int, int]] = []
    explorer._drop_shown((8, 0), remaining, shown)
    # (12, 0) is as near as (4, 0), but on the far side of the wall at x = 10.
    assert shown == [(4, 0), (8, 4)]
    assert remaining == [(12, 0), (0, 7)]


def test_a_fruitless_search_visits_far_viewpoints_first_and_every_viewpoint_in_the_end(caplog):
    grid = grid_from_text(TWO_ROOMS)
    world = _GridWorld(grid, (0, 0))
    explorer = _explorer(grid, world)
    at_second_pass: list[int] = []

    class _Mark(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("second pass"):
                at_second_pass.append(len(world.looked_from))

    logger = logging.getLogger("memory_nodes.planning.exploration")
    mark = _Mark(logging.DEBUG)
    logger.addHandler(mark)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        result, _ = explorer.search(world.act({"action": "Pass"}), ("Apple",), budget=2000)
    finally:
        logger.removeHandler(mark)
        logger.setLevel(level)
    assert result.found is None
    visited = world.looked_from[1:]  # the first turn round is where the search started
    assert result.viewpoints_visited == len(visited)
    # In the end every viewpoint more than a step away is looked around at ...
    far = {c for c in explorer.viewpoints if math.dist(c, (0, 0)) > 1}
    assert set(visited) >= far
    # ... but the first pass leaves out the ones a look-around nearby has shown.
    (first_pass,) = at_second_pass
    first = world.looked_from[:first_pass]
    radius = SHOWN_RADIUS_M / grid.grid_size
    assert 2 <= len(first) - 1 < len(visited)
    for k, cell in enumerate(first):
        for earlier in first[:k]:
            assert math.dist(cell, earlier) > radius or not explorer._open_between(earlier, cell)
