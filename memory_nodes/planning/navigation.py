"""Grid navigation: A* over reachable cells, and where to stand to act.

The robot moves one cell (``grid_size``, 0.25 m) ahead at a time and turns in 90° steps
(:class:`~memory_nodes.planning.skills.RobotSkills`), so A* searches over (cell, heading)
states and its cost is the number of skills, turns included: the plan that is shortest in
metres is not always the one with the fewest actions.

Everything is in the memory's ``map`` frame (x forward, y left, z up). Cell ``(i, j)`` is the
floor point ``(x, y) = (j, -i) * grid_size``, and heading ``h`` faces map yaw ``-90° * h``
(0 faces +x, 1 faces -y, ...; a right turn adds one). That indexing is the order the grid
had when it was kept in the simulator's coordinates: A* breaks ties between equally cheap
plans by comparing states, so it keeps the plans (and what the robot sees on the way) as
they were.

A standing pose for interacting with an object keeps the camera within reach (1.5 m, measured
to the nearest point of the object's box, as AI2-THOR's ``visibilityDistance``), faces it
(heading rounded to 90°) and tilts the camera towards it (30° steps).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from memory_nodes.core.errors import InvalidInputError, NoPathError
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import Skill, SkillResult

__all__ = ["NoPathError"]  # with the names below; raised here, defined with the others

#: Camera height above the floor by default (AI2-THOR's agent: its y plus the camera offset).
CAMERA_HEIGHT = 0.9009992 + 0.675
#: Heading index -> (di, dj) per move ahead: 0 faces +x (j grows), 1 faces -y (i grows), ...
HEADING_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0))
HORIZONS = (-30.0, 0.0, 30.0, 60.0)
DEFAULT_REACH = 1.5


def reach_distance(
    point: Sequence[float] | np.ndarray,
    box_min: Sequence[float] | np.ndarray,
    box_max: Sequence[float] | np.ndarray,
    up_axis: int,
) -> float:
    """Distance from the vertical axis through ``point`` to a box, as AI2-THOR measures reach
    (a cylinder around the agent: height does not count). ``up_axis`` is 2 in the map frame
    (z up)."""
    point = np.asarray(point, dtype=float)
    nearest = np.clip(point, np.asarray(box_min, float), np.asarray(box_max, float))
    flat = np.delete(nearest - point, up_axis)
    return float(np.hypot(flat[0], flat[1]))


Cell = tuple[int, int]
State = tuple[int, int, int]  # i, j, heading index


@dataclass(frozen=True)
class StandingPose:
    """Where to stand and how to look: cell, heading index, camera horizon (degrees down)."""

    cell: Cell
    heading: int
    horizon: float
    distance: float  # camera to the nearest point of the target box, metres


class ReachableGrid:
    """The cells a robot can stand on (:meth:`RobotSkills.floor_map`).

    Parameters
    ----------
    positions
        (x, y) floor positions in the map frame, metres.
    grid_size
        Cell edge in metres.
    camera_height
        Height of the robot's camera above the floor, metres (for reach and camera tilt).
    """

    def __init__(
        self, positions: Iterable, grid_size: float = 0.25, camera_height: float = CAMERA_HEIGHT
    ) -> None:
        if grid_size <= 0:
            raise InvalidInputError(f"grid_size must be positive, got {grid_size}")
        self.grid_size = float(grid_size)
        self.camera_height = float(camera_height)
        cells: set[Cell] = set()
        for x, y in positions:
            cells.add(self.cell_of(float(x), float(y)))
        self.cells = cells
        self.blocked: set[Cell] = set()  # cells a move into failed (an object moved there)

    def cell_of(self, x: float, y: float) -> Cell:
        """The cell of map point (x, y)."""
        return round(-y / self.grid_size), round(x / self.grid_size)

    def position_of(self, cell: Cell) -> tuple[float, float]:
        """The map point (x, y) of a cell."""
        return round(cell[1] * self.grid_size, 4), -round(cell[0] * self.grid_size, 4)

    def is_free(self, cell: Cell) -> bool:
        return cell in self.cells and cell not in self.blocked

    def __len__(self) -> int:
        return len(self.cells)

    def __contains__(self, cell: object) -> bool:
        return cell in self.cells


def heading_of(yaw_deg: float) -> int:
    """Map yaw (degrees, counter-clockwise from +x) -> heading index, rounded to 90°."""
    return round(((-yaw_deg) % 360.0) / 90.0) % 4


def yaw_of(heading: int) -> float:
    """Heading index -> map yaw in degrees."""
    return -90.0 * (heading % 4)


def astar(
    grid: ReachableGrid,
    start: State,
    goals: Iterable[State] | Iterable[Cell],
    max_expansions: int = 200_000,
) -> list[Skill]:
    """Fewest skills (move ahead, turn left, turn right) from ``start`` to any goal.

    Goals are (i, j, heading) states, or (i, j) cells reached with any heading. Returns the
    skills; raises :class:`NoPathError` when no goal is reachable.
    """
    goal_states: set[State] = set()
    goal_cells: set[Cell] = set()
    for g in goals:
        if len(g) == 3:
            goal_states.add(tuple(g))  # type: ignore[arg-type]
        else:
            goal_cells.add(tuple(g))  # type: ignore[arg-type]
    targets = [(s[0], s[1]) for s in goal_states] + list(goal_cells)
    if not targets:
        raise NoPathError("no goal given")
    target_arr = np.array(targets, dtype=float)

    def is_goal(s: State) -> bool:
        return s in goal_states or (s[0], s[1]) in goal_cells

    def heuristic(s: State) -> float:
        # Manhattan distance to the nearest goal cell: each cell step costs one move ahead.
        return float(np.min(np.abs(target_arr[:, 0] - s[0]) + np.abs(target_arr[:, 1] - s[1])))

    start = (int(start[0]), int(start[1]), int(start[2]) % 4)
    frontier: list[tuple[float, int, State]] = [(heuristic(start), 0, start)]
    cost: dict[State, int] = {start: 0}
    parent: dict[State, tuple[State, Skill]] = {}
    expansions = 0
    while frontier and expansions < max_expansions:
        _, g, state = heapq.heappop(frontier)
        if g > cost.get(state, math.inf):
            continue
        if is_goal(state):
            actions = []
            while state in parent:
                state, action = parent[state]
                actions.append(action)
            return actions[::-1]
        expansions += 1
        i, j, h = state
        di, dj = HEADING_STEPS[h]
        successors = [
            ((i, j, (h - 1) % 4), Skill.TURN_LEFT),
            ((i, j, (h + 1) % 4), Skill.TURN_RIGHT),
        ]
        if grid.is_free((i + di, j + dj)):
            successors.append(((i + di, j + dj, h), Skill.MOVE_AHEAD))
        for nxt, action in successors:
            if g + 1 < cost.get(nxt, math.inf):
                cost[nxt] = g + 1
                parent[nxt] = (state, action)
                heapq.heappush(frontier, (g + 1 + heuristic(nxt), g + 1, nxt))
    raise NoPathError(f"no path from {start} to {len(targets)} goal cells")


def path_costs(grid: ReachableGrid, start: State) -> dict[Cell, int]:
    """Fewest actions from ``start`` to every reachable cell (any final heading): Dijkstra."""
    start = (int(start[0]), int(start[1]), int(start[2]) % 4)
    best: dict[State, int] = {start: 0}
    queue: list[tuple[int, State]] = [(0, start)]
    while queue:
        g, (i, j, h) = heapq.heappop(queue)
        if g > best.get((i, j, h), math.inf):
            continue
        di, dj = HEADING_STEPS[h]
        successors = [(i, j, (h - 1) % 4), (i, j, (h + 1) % 4)]
        if grid.is_free((i + di, j + dj)):
            successors.append((i + di, j + dj, h))
        for nxt in successors:
            if g + 1 < best.get(nxt, math.inf):
                best[nxt] = g + 1
                heapq.heappush(queue, (g + 1, nxt))
    out: dict[Cell, int] = {}
    for (i, j, _), g in best.items():
        out[(i, j)] = min(out.get((i, j), g), g)
    return out


def standing_poses(
    grid: ReachableGrid,
    box_min: Sequence[float],
    box_max: Sequence[float],
    reach: float = DEFAULT_REACH,
    margin: float = 0.1,
) -> list[StandingPose]:
    """Poses from which an object with this map-frame box is within ``reach`` and faced.

    Sorted nearest to a comfortable 0.6-1.0 m first (too close and the object fills the view
    or sits under the camera).
    """
    lo, hi = np.asarray(box_min, float), np.asarray(box_max, float)
    centre = (lo + hi) / 2
    poses = []
    for cell in grid.cells:
        if cell in grid.blocked:
            continue
        x, y = grid.position_of(cell)
        distance = reach_distance((x, y, grid.camera_height), lo, hi, up_axis=2)
        if distance > reach - margin:
            continue
        dx, dy = centre[0] - x, centre[1] - y
        flat = math.hypot(dy, dx)
        if flat < 0.15:
            continue  # standing over it: no heading faces it
        heading = heading_of(math.degrees(math.atan2(dy, dx)))
        drop = math.degrees(math.atan2(grid.camera_height - centre[2], flat))
        horizon = min(HORIZONS, key=lambda h: abs(h - drop))
        poses.append(StandingPose(cell, heading, horizon, distance))
    poses.sort(key=lambda p: (abs(p.distance - 0.8), p.cell))
    return poses


def actions_to_horizon(current: float, wanted: float, step: float = 30.0) -> list[Skill]:
    """Look-down/look-up skills tilting the camera from ``current`` to ``wanted`` degrees
    below the horizontal."""
    n = round((wanted - current) / step)
    return [Skill.LOOK_DOWN] * n if n > 0 else [Skill.LOOK_UP] * (-n)


@dataclass
class NavigationResult:
    """How a navigation went: reached or not, actions sent, metres moved."""

    reached: bool
    actions: int = 0
    path_length: float = 0.0
    message: str = ""


ActFn = Callable[[Skill], SkillResult]


class Navigator:
    """Drives a robot along A* plans through an ``act`` callable that runs one skill.

    ``act(skill) -> SkillResult`` runs one skill (the executor counts and perceives);
    ``latest_percept()`` is the percept after the newest one, whose pose says where the robot
    is. Failed moves block the cell they tried to enter and trigger a re-plan.
    """

    def __init__(
        self,
        grid: ReachableGrid,
        act: ActFn,
        latest_percept: Callable[[], Percept],
        max_replans: int = 3,
    ) -> None:
        self.grid = grid
        self.act = act
        self.latest_percept = latest_percept
        self.max_replans = max_replans

    def state(self) -> tuple[State, float]:
        """The robot's (cell, heading) and camera tilt, from the newest percept."""
        percept = self.latest_percept()
        pose = percept.map_T_agent
        cell = self.grid.cell_of(pose.position.x, pose.position.y)
        heading = heading_of(math.degrees(pose.orientation.yaw()))
        return (cell[0], cell[1], heading), float(percept.camera_tilt_deg)

    def go_to(self, goals: Sequence[State], horizon: float | None, budget: int) -> NavigationResult:
        """Walk to any of ``goals`` (fewest actions), then tilt the camera to ``horizon``."""
        result = NavigationResult(False)
        for _ in range(self.max_replans + 1):
            start, _ = self.state()
            try:
                plan = astar(self.grid, start, goals)
            except NoPathError as error:
                result.message = str(error)
                return result
            failed = False
            for skill in plan:
                if result.actions >= budget:
                    result.message = "navigation step budget exhausted"
                    return result
                outcome = self.act(skill)
                result.actions += 1
                if skill == Skill.MOVE_AHEAD:
                    if outcome.success:
                        result.path_length += self.grid.grid_size
                    else:
                        i, j, h = self.state()[0]
                        di, dj = HEADING_STEPS[h]
                        self.grid.blocked.add((i + di, j + dj))
                        failed = True
                        break
            if not failed:
                break
        else:
            result.message = "moves kept failing"
            return result
        if horizon is not None:
            result.actions += self.tilt(horizon)
        result.reached = True
        return result

    def go_to_pose(
        self,
        poses: Sequence[StandingPose],
        budget: int,
        default_horizon: float | None = None,
    ) -> tuple[NavigationResult, StandingPose | None]:
        """Walk to any of ``poses``, then tilt the camera to the horizon of the one reached
        (``default_horizon`` when the walk ended elsewhere); that pose, None if not reached."""
        goals = [(p.cell[0], p.cell[1], p.heading) for p in poses]
        result = self.go_to(goals, None, budget)
        if not result.reached:
            return result, None
        (i, j, h), _ = self.state()
        pose = next((p for p in poses if p.cell == (i, j) and p.heading == h), None)
        wanted = pose.horizon if pose is not None else default_horizon
        if wanted is not None:
            result.actions += self.tilt(wanted)
        return result, pose

    def tilt(self, wanted: float) -> int:
        """Turn the camera to ``wanted`` degrees below the horizontal; the skills run."""
        _, current = self.state()
        skills = actions_to_horizon(current, wanted)
        for skill in skills:
            self.act(skill)
        return len(skills)
