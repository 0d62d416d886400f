"""Getting an object within reach and in view: standing poses, doors in the way, containers
that hide it, and checking that a remembered place is empty.

Part of :class:`~memory_nodes.planning.executor.TaskExecutor`; builds on the object search (a
place that turns out empty means a re-plan) and the memory reports.
"""

from __future__ import annotations

import logging

import numpy as np

from memory_nodes.core.errors import SubgoalFailedError
from memory_nodes.core.object_taxonomy import (
    OPENABLE_RECEPTACLE_TYPES,
    is_fixture,
    is_storage_container,
    opens,
)
from memory_nodes.core.types import ObjectObservation, ObjectRecord, Vector3
from memory_nodes.planning.exploration import is_tall
from memory_nodes.planning.memory_reports import MemoryReports
from memory_nodes.planning.navigation import (
    DEFAULT_REACH,
    HORIZONS,
    StandingPose,
    path_costs,
    reach_distance,
    standing_poses,
)
from memory_nodes.planning.skills import Skill
from memory_nodes.planning.task_runner import FailureReason, pieces_of

_LOG = logging.getLogger(__name__)


class Approach(MemoryReports):
    """Walks to objects and opens the doors in front of them."""

    def in_reach(self, object_id: str, reach: float = DEFAULT_REACH) -> bool:
        """Seen in the newest frame with the nearest seen point within reach of the camera."""
        if object_id == self.held:
            return True
        obs = self.percept.find(object_id)
        if obs is None or self.percept.frame is None:
            return False
        camera = self.percept.frame.camera_position
        distance = reach_distance(camera, obs.box.min_corner, obs.box.max_corner, up_axis=2)
        return distance <= reach

    def navigate(self, types: tuple[str, ...]) -> str:
        """Get the bound object within reach and in view, re-planning when it is not there."""
        object_id = self.bound.get(types) or self.find(types)
        # Behind a shut door: walking round the object cannot show it, opening the door can.
        door = self._shut_door_before(object_id)
        if door is not None and not self.in_reach(object_id):
            self._open_door(door)
        for _ in range(self.max_replans + 1):
            if self.approach(object_id):
                return object_id
            if self._open_hiding_container(object_id):
                return object_id
            # Hidden from where we stood (a shelf above it, a counter in front): more poses;
            # seen empty, or an old memory of something that moves: search at once.
            fresh = object_id not in self._seen_empty and not self._old_news(object_id)
            if fresh and self.approach(object_id, max_poses=4):
                return object_id
            object_id = self._refind(types, object_id, f"{object_id} not where remembered")
        # Memory kept sending the robot to places where the object could not be reached: look
        # for one as a robot without memory would, once, before giving up.
        held = {self.held} if self.held else set()
        object_id = self._search(types, types + pieces_of(types), self.excluded | held)
        if self.approach(object_id) or self._open_hiding_container(object_id):
            return object_id
        raise SubgoalFailedError(FailureReason.NOT_VISIBLE, f"could not get {types} in view")

    def _shut_door_before(self, object_id: str) -> str | None:
        """The container ``object_id`` was put or remembered in (directly or on something in
        it), when the robot closed it or memory knows it is closed; else None."""
        container = next(
            (c for c in self._holders_of(object_id) if is_storage_container(c.split("|")[0])), None
        )
        if container is None:
            return None
        item = self._remembered(container)
        if item is not None:
            self.known.setdefault(container, item)  # to walk to it
        if container in self._shut or (item is not None and item.states.get("isOpen") == "false"):
            return container
        return None

    def _holders_of(self, object_id: str) -> list[str]:
        """What ``object_id`` rests on or in, then what that rests in (an egg on a plate in the
        fridge): where this task put each, else where memory last placed it."""
        item = self.known.get(object_id)
        first = self.inside.get(object_id) or (
            item.receptacle_id if isinstance(item, ObjectRecord) else ""
        )
        if not first:
            return []
        holder = self.inside.get(first)
        carried = not is_fixture(self._type_of(first))  # a counter is never carried anywhere
        if not holder and carried and (record := self._remembered(first, ask=True)) is not None:
            holder = record.receptacle_id if isinstance(record, ObjectRecord) else ""
        return [first, holder] if holder and holder not in (first, object_id) else [first]

    def _open_door(self, container: str) -> bool:
        """Stand where the inside of ``container`` shows and open it unless it is seen open;
        False when it cannot be faced or refuses to open."""
        if not self._face(container):
            _LOG.debug("step %d: cannot face %s", self.result.actions, container)
            return False
        if self.percept.object_states.get(container, {}).get("isOpen") == "true":
            return True
        opened = self.act(Skill.OPEN, container)
        _LOG.debug("step %d: open %s: %s", self.result.actions, container, opened.message or "ok")
        if opened.success:
            self._report(container, Skill.OPEN, {"isOpen": "true"})
        return opened.success

    def approach(
        self, object_id: str, max_poses: int = 3, reach: float = DEFAULT_REACH, move: bool = False
    ) -> bool:
        """Walk to standing poses of the object until it is in reach; False if none works.

        Stops after the first look that sees the remembered place empty (``_seen_empty``):
        a stale memory costs one look, then a search.
        """
        if not move and self.in_reach(object_id, reach):
            self._tried_cells.pop(object_id, None)
            return True
        item = self.known.get(object_id)
        if item is None:
            return False
        lo, hi = item.box.min_corner, item.box.max_corner
        # Low objects far from any cell (a plunger by the wall, keys on a low table) are
        # only within reach at the limit itself.
        poses = standing_poses(self.grid, lo, hi, reach) or standing_poses(
            self.grid, lo, hi, reach, margin=0.0
        )
        tried = self._tried_cells.setdefault(object_id, set())
        if move:  # where the robot stands did not do: somewhere else
            tried.add(self.navigator.state()[0][:2])
        for _ in range(max_poses):
            options = [p for p in poses if p.cell not in tried][:24]
            if not options:
                break
            nav, pose = self.navigator.go_to_pose(options, self.budget_left, default_horizon=30.0)
            (i, j, h), _ = self.navigator.state()
            tried.add((i, j))
            if not nav.reached:
                if nav.message.startswith("no path"):
                    break
                continue
            wanted = pose.horizon if pose is not None else 30.0
            if self.in_reach(object_id, reach):
                self._tried_cells.pop(object_id, None)
                return True
            _LOG.debug(
                "step %d: %s not in reach from %s at %.0f° (%s)",
                self.result.actions, object_id, (i, j, h), wanted,
                "seen" if self.percept.find(object_id) is not None else "not seen",
            )  # fmt: skip
            if self._place_seen_empty(item):
                _LOG.debug("step %d: %s seen empty", self.result.actions, object_id)
                self._seen_empty.add(object_id)
                return False
            for other in sorted(HORIZONS, key=lambda v: abs(v - wanted))[1:3]:
                self.navigator.tilt(other)
                if self.in_reach(object_id, reach):
                    self._tried_cells.pop(object_id, None)
                    return True
        return False

    def _place_seen_empty(
        self, item: ObjectObservation | ObjectRecord, margin: float = 0.02, min_pixels: int = 16
    ) -> bool:
        """The newest frame sees the remembered centre of ``item``, unoccluded, without it.

        Only when the object would cover at least ``min_pixels`` there: a watch across the
        room is too small to be missed for sure, so its absence proves nothing.
        """
        frame = self.percept.frame
        if frame is None or self.percept.find(item.object_id) is not None:
            return False
        if isinstance(item, ObjectObservation) and item.source == "action":
            return False  # where the robot guessed it set the object down: no proof either way
        world_T_camera = np.asarray(frame.world_T_camera, dtype=float)
        in_camera = world_T_camera[:3, :3].T @ (self._position(item) - world_T_camera[:3, 3])
        depth_expected = float(in_camera[2])
        if not 0.1 < depth_expected <= DEFAULT_REACH:
            return False
        k = frame.intrinsics
        u = k.fx * in_camera[0] / depth_expected + k.cx
        v = k.fy * in_camera[1] / depth_expected + k.cy
        if not (0 <= u < k.width and 0 <= v < k.height):
            return False
        dims = np.sort(item.box.size.as_array())[1:]  # the two largest extents
        if k.fx * k.fy * dims[0] * dims[1] / depth_expected**2 < min_pixels:
            return False
        depth_seen = float(frame.depth[int(v), int(u)])
        return bool(np.isfinite(depth_seen) and depth_seen >= depth_expected - margin)

    def _hiding_container(self, object_id: str) -> str | None:
        """The openable container ``object_id`` is in, directly or on something carried in
        (an apple on a plate in the fridge)."""
        for container in self._holders_of(object_id):
            if opens(container.split("|")[0]):
                return container
        if (item := self.known.get(object_id)) is not None:
            return self._closed_container_around(item.world_T_object.position)
        return None

    def _open_hiding_container(self, object_id: str) -> bool:
        """The object may be behind a closed door memory knows of: open it and look."""
        container = self._hiding_container(object_id)
        if container is None:
            return False
        if container not in self.known and (record := self._remembered(container)) is not None:
            self.known[container] = record
        if not self._open_door(container):
            return False
        if self.in_reach(object_id):
            return True
        # Inside, the object may rest far from where memory placed it (on the container's
        # floor, behind the door): look in at other tilts before walking anywhere.
        for wanted in (30.0, 60.0, 0.0):
            self.navigator.tilt(wanted)
            if (seen := self.percept.find(object_id)) is not None:
                self.known[object_id] = seen
                self._seen_empty.discard(object_id)
                self._tried_cells.pop(object_id, None)
                return self.in_reach(object_id) or self.approach(object_id, max_poses=2)
        _LOG.debug("step %d: %s not seen inside %s", self.result.actions, object_id, container)
        return self.approach(object_id, max_poses=1)

    def _face(self, container: str) -> bool:
        """Stand where the inside of ``container`` shows: a tall one (a fridge) squarely in
        front and close, as a search opens it; others anywhere within reach."""
        item = self.known.get(container)
        if item is None or not is_tall(item):
            return self.approach(container)
        state, _ = self.navigator.state()
        poses = self.explorer.container_poses(item, path_costs(self.grid, state))[:12]
        if not poses:
            return self.approach(container)
        nav, _ = self.navigator.go_to_pose(poses, self.budget_left, default_horizon=30.0)
        if not nav.reached:
            return self.approach(container)
        return self.in_reach(container) or self.approach(container)

    def _closed_container_around(self, point: Vector3, margin: float = 0.05) -> str | None:
        """The smallest closed container memory knows whose box holds ``point``, if any."""
        around = [
            r
            for r in self._remembered_containers(sorted(OPENABLE_RECEPTACLE_TYPES))
            if r.box.contains(point, margin)
        ]
        if not around:
            return None
        best = min(around, key=lambda r: float(np.prod(r.box.size.as_array())))
        self.known.setdefault(best.object_id, best)
        return best.object_id

    def _back_to(self, pose: StandingPose, object_id: str) -> bool:
        """Stand at ``pose`` again, where ``object_id`` was in reach (a plate low in the open
        fridge shows from few places); elsewhere only if it is not in reach from there."""
        if self.in_reach(object_id):
            return True
        self.navigator.go_to_pose([pose], self.budget_left)
        return self.in_reach(object_id) or self.approach(object_id)
