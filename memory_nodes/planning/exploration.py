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

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.object_taxonomy import (
    is_storage_container,
    is_tall_container,
    receptacle_statistics,
    storage_prior,
)
from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.planning.navigation import (
    DEFAULT_REACH,
    HEADING_STEPS,
    Cell,
    Navigator,
    ReachableGrid,
    StandingPose,
    path_costs,
    reach_distance,
    standing_poses,
)
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import Skill, SkillResult

#: Containers taller than this (metres) get a second look from another heading.
TALL_CONTAINER_M = 1.2
#: Tall containers are opened from at most this far (metres) in front, when a pose is free.
TALL_FRONT_MAX_M = 1.0
LOOK_HORIZON = 30.0
#: A viewpoint with ``SEEN_SATURATION`` remembered things within ``SEEN_RADIUS`` metres counts
#: as looked at; looking there again for something memory does not know costs as much as
#: ``SEEN_PENALTY`` more actions of walking elsewhere.
SEEN_RADIUS = 2.0
SEEN_SATURATION = 8
SEEN_PENALTY = 15.0


_LOG = logging.getLogger(__name__)


def receptacle_priors(object_types: Sequence[str], stats: dict | None = None) -> dict[str, float]:
    """Receptacle type -> probability that an object of these types is there (procthor data)."""
    if stats is None:
        stats = receptacle_statistics()
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
        ``act(skill, object_id=None)`` runs one skill (the executor counts and perceives).
    latest_percept
        The percept of the newest step.
    spacing
        Metres between viewpoints.
    """

    def __init__(
        self,
        grid: ReachableGrid,
        navigator: Navigator,
        act: Callable[..., SkillResult],
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

    def _look_around(self, types, exclude, result, budget) -> None:
        _, horizon = self.navigator.state()
        while horizon < LOOK_HORIZON and result.actions < budget:
            self.act(Skill.LOOK_DOWN)
            result.actions += 1
            _, horizon = self.navigator.state()
        for _ in range(3):
            if self._match(types, exclude) is not None or result.actions >= budget:
                break
            self.act(Skill.TURN_RIGHT)
            result.actions += 1

    def search(
        self,
        types: Sequence[str],
        budget: int,
        likely: Sequence[tuple[np.ndarray, float]] = (),
        containers: Sequence[ObjectRecord] = (),
        exclude: set[str] | None = None,
        seen: np.ndarray | None = None,
    ) -> SearchResult:
        """Look for any object of ``types`` within ``budget`` actions.

        ``likely`` holds (map-frame point, weight) of receptacles where such objects usually
        are; ``containers`` are remembered closed containers worth opening; ``seen`` are map
        points of what memory holds, where the robot has looked without finding ``types``.
        """
        exclude = exclude or set()
        result = SearchResult(None)
        seen_containers: dict[str, ObjectObservation | ObjectRecord] = {
            r.object_id: r for r in containers
        }
        result.found = self._match(types, exclude)
        if result.found is not None:
            return result
        self._look_around(types, exclude, result, budget)
        result.found = self._match(types, exclude)
        remaining = list(self.viewpoints)
        likely_xy = [(np.asarray(p, dtype=float)[:2], w) for p, w in likely]
        looked = self._looked_fraction(seen)
        while result.found is None and remaining and result.actions < budget:
            state, _ = self.navigator.state()
            costs = path_costs(self.grid, state)
            remaining = [c for c in remaining if c in costs and costs[c] > 1]
            if not remaining:
                break

            def score(
                cell: Cell, costs: dict[Cell, int] = costs, likely: list = likely_xy
            ) -> float:
                x, y = self.grid.position_of(cell)
                # The likeliest place near the cell counts, not how many there are: ten
                # kitchen counters must not outweigh the one bathroom counter a candle is on.
                near = [w * math.exp(-((y - p[1]) ** 2 + (x - p[0]) ** 2) / 2) for p, w in likely]
                bonus = max(near, default=0.0)
                return costs[cell] - 10.0 * bonus + SEEN_PENALTY * looked.get(cell, 0.0)

            target = min(remaining, key=lambda c: (score(c), c))
            remaining.remove(target)
            _LOG.debug("viewpoint %s: %d actions away", target, costs[target])
            goals = [(target[0], target[1], h) for h in range(len(HEADING_STEPS))]
            nav = self.navigator.go_to(goals, LOOK_HORIZON, budget - result.actions)
            result.actions += nav.actions
            result.path_length += nav.path_length
            self._note_containers(seen_containers)
            if (found := self._match(types, exclude)) is not None:
                result.found = found
                break
            if not nav.reached:
                continue
            result.viewpoints_visited += 1
            self._look_around(types, exclude, result, budget)
            self._note_containers(seen_containers)
            result.found = self._match(types, exclude)
        if result.found is None:
            self._open_containers(types, exclude, seen_containers, result, budget)
        if result.found is None:
            result.message = f"no {'/'.join(types)} found in {result.actions} actions"
        return result

    def _looked_fraction(self, seen: np.ndarray | None) -> dict[Cell, float]:
        """Per viewpoint, how much of its surroundings memory has seen (0..1): the share of
        ``SEEN_SATURATION`` remembered things within ``SEEN_RADIUS`` metres."""
        if seen is None or len(seen) == 0:
            return {}
        points = np.asarray(seen, dtype=float)[:, :2]
        out = {}
        for cell in self.viewpoints:
            x, y = self.grid.position_of(cell)
            near = np.hypot(points[:, 1] - y, points[:, 0] - x) < SEEN_RADIUS
            out[cell] = min(1.0, int(np.count_nonzero(near)) / SEEN_SATURATION)
        return out

    def _note_containers(self, seen: dict) -> None:
        for obs in self.latest_percept().observations:
            if is_storage_container(obs.object_type) and obs.states.get("isOpen") != "true":
                seen[obs.object_id] = obs

    def _open_containers(self, types, exclude, seen, result, budget) -> None:
        """Open closed containers, likeliest first and nearest within a likelihood tier.

        Receptacle statistics rarely list cabinets and drawers (they record where things are
        left out, not put away), yet that is where plates, knives and spoons live: a small
        floor prior keeps them ahead of fridges and boxes. Containers within reach of where
        the agent stands are opened before it walks on (a stack of drawers costs one walk).
        """
        priors = receptacle_priors(types)

        def tier(item) -> int:
            p = max(priors.get(item.object_type, 0.0), storage_prior(item.object_type))
            return 0 if p >= 0.1 else 1 if p > 0.0 else 2

        pending = dict(seen)
        opened: set[str] = set()
        while pending and result.found is None and result.actions < budget:
            state, _ = self.navigator.state()
            costs = path_costs(self.grid, state)
            best = None
            for container in pending.values():
                poses = self.container_poses(container, costs)
                if poses:
                    cost = min(costs[p.cell] for p in poses[:12])
                    key = (tier(container), cost, container.object_id)
                    if best is None or key < best[0]:
                        best = (key, container, poses)
            if best is None:
                break
            _, container, poses = best
            del pending[container.object_id]
            nav, _ = self.navigator.go_to_pose(poses[:12], budget - result.actions)
            result.actions += nav.actions
            result.path_length += nav.path_length
            if not nav.reached:
                continue
            # A tall container (a fridge) may show only its side or door from one heading:
            # its inside gets a second look from a pose facing another way.
            (_, _, heading), _ = self.navigator.state()
            tall = is_tall(container)
            other = [p for p in poses if p.heading != heading][:12] if tall else []
            self._open_and_look(container.object_id, types, exclude, result, other, budget, tall)
            opened.add(container.object_id)
            # Neighbours in reach from here (the drawer below, the next cabinet door).
            for other in self._closed_in_reach(opened):
                if result.found is not None or result.actions >= budget:
                    break
                pending.pop(other, None)
                opened.add(other)
                self._open_and_look(other, types, exclude, result)

    def container_poses(
        self, container: ObjectObservation | ObjectRecord, costs: dict[Cell, int]
    ) -> list[StandingPose]:
        """Standing poses to open ``container`` from and look in: a short one's cheapest
        first, a tall one's squarely in front and close (see :func:`is_tall`)."""
        lo, hi = container.box.min_corner, container.box.max_corner
        poses = standing_poses(self.grid, lo, hi)
        poses = [p for p in poses if p.cell in costs]
        if not is_tall(container):
            poses.sort(key=lambda p: (costs[p.cell], abs(p.distance - 0.8), p.cell))
            return poses
        # From a corner, a fridge shows its side panel, not its shelves: stand squarely in
        # front of a face when any such pose is free.

        def square(p) -> bool:
            x, y = self.grid.position_of(p.cell)
            # Facing along map x (headings 0 and 2) the face spans y, else x.
            across = y if p.heading in (0, 2) else x
            axis = 1 if p.heading in (0, 2) else 0
            return bool(lo[axis] <= across <= hi[axis])

        in_front = [p for p in poses if square(p)]
        # Far back, the door and the shelf edges hide what stands on the upper shelves.
        close = [p for p in in_front if p.distance <= TALL_FRONT_MAX_M]
        return close or in_front or poses

    def _closed_in_reach(self, opened: set[str]) -> list[str]:
        """Closed containers in view whose nearest point is within reach of the camera."""
        percept = self.latest_percept()
        if percept.frame is None:
            return []
        camera = percept.frame.camera_position
        out = []
        for obs in percept.observations:
            if not is_storage_container(obs.object_type) or obs.object_id in opened:
                continue
            if obs.states.get("isOpen") == "true":
                continue
            reach = reach_distance(camera, obs.box.min_corner, obs.box.max_corner, up_axis=2)
            if reach <= DEFAULT_REACH - 0.1:
                out.append(obs.object_id)
        return out

    def _open_and_look(
        self,
        object_id: str,
        types,
        exclude,
        result,
        other_poses=(),
        budget: int = 0,
        tall: bool = False,
    ) -> None:
        opened = self.act(Skill.OPEN, object_id)
        result.actions += 1
        if not opened.success:
            return
        result.containers_opened.append(object_id)
        _LOG.debug("opened %s", object_id)
        if (found := self._match(types, exclude)) is not None:
            result.found = found
            return
        if tall and result.actions < budget:
            # Shelves above and below the one in view: tilt the camera once before walking.
            _, horizon = self.navigator.state()
            result.actions += self.navigator.tilt(0.0 if horizon > 0.0 else 30.0)
            if (found := self._match(types, exclude)) is not None:
                result.found = found
                return
        if other_poses and result.actions < budget:
            nav, pose = self.navigator.go_to_pose(other_poses, budget - result.actions)
            result.actions += nav.actions
            result.path_length += nav.path_length
            for wanted in (pose.horizon, 0.0) if pose is not None else ():
                result.actions += self.navigator.tilt(wanted)
                if (found := self._match(types, exclude)) is not None:
                    result.found = found
                    return
        self.act(Skill.CLOSE, object_id)
        result.actions += 1


def is_tall(container: ObjectObservation | ObjectRecord) -> bool:
    """Tall containers are opened squarely from the front and looked into twice."""
    return (
        is_tall_container(container.object_type)
        or float(container.box.size.as_array().max()) > TALL_CONTAINER_M
    )
