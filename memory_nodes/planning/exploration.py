"""Looking for an object memory cannot place: viewpoints, a look-around at each, then containers.

Viewpoints cover the reachable cells (one per ``spacing`` metres). They are visited cheapest
first, where the cost of a viewpoint is its path cost in actions minus a bonus for being near
receptacles where objects of the wanted type usually are: procthor's receptacle statistics say
apples are on counter tops and in fridges, and memory (when there is one) says where those
receptacles are. At each viewpoint the camera tilts down 30° and the agent turns round in 90°
steps. When every viewpoint has been seen, closed containers (fridge, cabinets, drawers, ...)
are opened, most likely first. Every loop stops at its action budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.planning.navigation import (
    HEADING_STEPS,
    Cell,
    Navigator,
    ReachableGrid,
    actions_to_horizon,
    path_costs,
    standing_poses,
)
from memory_nodes.planning.sim_perception import Percept, map_to_unity

#: Receptacles with doors whose insides exploration may open.
CONTAINER_TYPES = ("Fridge", "Microwave", "Cabinet", "Drawer", "Box", "Safe")
LOOK_HORIZON = 30.0


def receptacle_priors(object_types: Sequence[str], stats: dict | None = None) -> dict[str, float]:
    """Receptacle type -> probability that an object of these types is there (procthor data)."""
    if stats is None:
        try:
            from sim.scene_catalog import receptacle_statistics

            stats = receptacle_statistics()
        except (ImportError, ModuleNotFoundError, OSError):
            stats = {}
    out: dict[str, float] = {}
    for receptacle, contents in stats.items():
        p = max((contents.get(t, {}).get("p", 0.0) for t in object_types), default=0.0)
        if p > 0:
            out[receptacle] = p
    return out


def cover_viewpoints(grid: ReachableGrid, spacing: float = 1.0) -> list[Cell]:
    """Cells such that every reachable cell is within about ``spacing`` of one of them."""
    step = max(1, round(spacing / grid.grid_size))
    chosen: list[Cell] = []
    for cell in sorted(grid.cells):
        if all(max(abs(cell[0] - c[0]), abs(cell[1] - c[1])) >= step for c in chosen):
            chosen.append(cell)
    return chosen


@dataclass
class SearchResult:
    """What a search found (None: nothing) and what it cost."""

    found: ObjectObservation | None
    actions: int = 0
    path_length: float = 0.0
    viewpoints_visited: int = 0
    containers_opened: list[str] = field(default_factory=list)
    message: str = ""


class Explorer:
    """Searches for objects of given types by moving and looking.

    Parameters
    ----------
    grid, navigator
        Where the agent can stand and how it gets there.
    act
        Sends one action and returns metadata (the executor counts and perceives).
    latest_percept
        The percept of the newest step.
    spacing
        Metres between viewpoints.
    """

    def __init__(
        self,
        grid: ReachableGrid,
        navigator: Navigator,
        act: Callable[[dict], dict],
        latest_percept: Callable[[], Percept],
        spacing: float = 1.0,
    ) -> None:
        self.grid = grid
        self.navigator = navigator
        self.act = act
        self.latest_percept = latest_percept
        self.viewpoints = cover_viewpoints(grid, spacing)

    def _match(self, types: Sequence[str], exclude: set[str]) -> ObjectObservation | None:
        percept = self.latest_percept()
        found = [
            o for o in percept.observed(tuple(types)) if o.object_id not in exclude and o.object_id
        ]
        if not found:
            return None
        camera = percept.frame.camera_position if percept.frame is not None else np.zeros(3)
        return min(
            found, key=lambda o: np.linalg.norm(o.world_T_object.position.as_array() - camera)
        )

    def _look_around(self, metadata: dict, types, exclude, result, budget) -> dict:
        _, horizon = self.navigator.state(metadata)
        while horizon < LOOK_HORIZON and result.actions < budget:
            metadata = self.act({"action": "LookDown"})
            result.actions += 1
            horizon = float(metadata["agent"]["cameraHorizon"])
        for _ in range(3):
            if self._match(types, exclude) is not None or result.actions >= budget:
                break
            metadata = self.act({"action": "RotateRight"})
            result.actions += 1
        return metadata

    def search(
        self,
        metadata: dict,
        types: Sequence[str],
        budget: int,
        likely: Sequence[tuple[np.ndarray, float]] = (),
        containers: Sequence[ObjectRecord] = (),
        exclude: set[str] | None = None,
    ) -> tuple[SearchResult, dict]:
        """Look for any object of ``types`` within ``budget`` actions.

        ``likely`` holds (map-frame point, weight) of receptacles where such objects usually
        are; ``containers`` are remembered closed containers worth opening.
        """
        exclude = exclude or set()
        result = SearchResult(None)
        seen_containers: dict[str, ObjectObservation | ObjectRecord] = {
            r.object_id: r for r in containers
        }
        result.found = self._match(types, exclude)
        if result.found is not None:
            return result, metadata
        metadata = self._look_around(metadata, types, exclude, result, budget)
        result.found = self._match(types, exclude)
        remaining = list(self.viewpoints)
        likely_xz = [(map_to_unity(p)[[0, 2]], w) for p, w in likely]
        while result.found is None and remaining and result.actions < budget:
            state, _ = self.navigator.state(metadata)
            costs = path_costs(self.grid, state)
            remaining = [c for c in remaining if c in costs and costs[c] > 1]
            if not remaining:
                break

            def score(cell: Cell, costs: dict[Cell, int] = costs) -> float:
                x, z = self.grid.position_of(cell)
                bonus = sum(
                    w * math.exp(-((x - p[0]) ** 2 + (z - p[1]) ** 2) / 2.0) for p, w in likely_xz
                )
                return costs[cell] - 10.0 * bonus

            target = min(remaining, key=lambda c: (score(c), c))
            remaining.remove(target)
            goals = [(target[0], target[1], h) for h in range(len(HEADING_STEPS))]
            nav, metadata = self.navigator.go_to(
                metadata, goals, LOOK_HORIZON, budget - result.actions
            )
            result.actions += nav.actions
            result.path_length += nav.path_length
            self._note_containers(seen_containers)
            if (found := self._match(types, exclude)) is not None:
                result.found = found
                break
            if not nav.reached:
                continue
            result.viewpoints_visited += 1
            metadata = self._look_around(metadata, types, exclude, result, budget)
            self._note_containers(seen_containers)
            result.found = self._match(types, exclude)
        if result.found is None:
            metadata = self._open_containers(
                metadata, types, exclude, seen_containers, result, budget
            )
        if result.found is None:
            result.message = f"no {'/'.join(types)} found in {result.actions} actions"
        return result, metadata

    def _note_containers(self, seen: dict) -> None:
        for obs in self.latest_percept().observations:
            if obs.object_type in CONTAINER_TYPES and obs.states.get("isOpen") != "true":
                seen[obs.object_id] = obs

    def _open_containers(self, metadata, types, exclude, seen, result, budget) -> dict:
        priors = receptacle_priors(types)
        state, _ = self.navigator.state(metadata)
        costs = path_costs(self.grid, state)

        def rank(item) -> tuple:
            c = map_to_unity(item.world_T_object.position)
            cell = self.grid.cell_of(c[0], c[2])
            near = min(
                (v for k, v in costs.items() if abs(k[0] - cell[0]) + abs(k[1] - cell[1]) <= 6),
                default=1e6,
            )
            return (-priors.get(item.object_type, 0.0), near, item.object_id)

        for container in sorted(seen.values(), key=rank):
            if result.actions >= budget or priors.get(container.object_type, 0.0) <= 0.0:
                break
            box = container.box
            lo = map_to_unity(box.min_corner)
            hi = map_to_unity(box.max_corner)
            poses = standing_poses(self.grid, np.minimum(lo, hi), np.maximum(lo, hi))
            if not poses:
                continue
            goals = [(p.cell[0], p.cell[1], p.heading) for p in poses[:12]]
            nav, metadata = self.navigator.go_to(metadata, goals, None, budget - result.actions)
            result.actions += nav.actions
            result.path_length += nav.path_length
            if not nav.reached:
                continue
            pose = next(
                (p for p in poses if (p.cell, p.heading) == self._cell_heading(metadata)), None
            )
            if pose is not None:
                _, horizon = self.navigator.state(metadata)
                for action in actions_to_horizon(horizon, pose.horizon):
                    metadata = self.act({"action": action})
                    result.actions += 1
            metadata = self.act({"action": "OpenObject", "objectId": container.object_id})
            result.actions += 1
            if not metadata["lastActionSuccess"]:
                continue
            result.containers_opened.append(container.object_id)
            if (found := self._match(types, exclude)) is not None:
                result.found = found
                break
            metadata = self.act({"action": "CloseObject", "objectId": container.object_id})
            result.actions += 1
        return metadata

    def _cell_heading(self, metadata: dict) -> tuple[Cell, int]:
        (i, j, h), _ = self.navigator.state(metadata)
        return (i, j), h
