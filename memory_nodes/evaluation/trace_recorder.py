"""Record the planner's memory traffic as a short-term memory access trace.

:class:`TraceRecorder` wraps any :class:`TaskMemory`, passes every call through unchanged and
logs, in the trace format of ``bench/README_stm.md``, every write (each observation perception
feeds to memory, and each action effect the robot saw) and every read (each ``where_is``, one
event per object asked about). ``bench/stm_policies.py`` replays such traces under every
replacement policy.

Whether an answer is stale needs the truth, which memory never sees: :class:`TruthVersions`
keeps a per-object version counter from the simulator's ground truth, bumped whenever an
object's true position, states or receptacle change (or it disappears). It is written into
the trace only; nothing of it reaches the wrapped memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memory_nodes.adapters.ai2thor_perception import observable_states, unity_to_map
from memory_nodes.core.types import ObjectRecord
from memory_nodes.planning.memory_interface import ActionEffect, TaskMemory
from memory_nodes.planning.percept import Percept

if TYPE_CHECKING:
    from sim.household_sim import HouseholdSim

#: Metres an object must move for the move to count as a change (below: simulator jitter).
MOVE_TOLERANCE = 0.05


def _rounded(values: Any, digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


@dataclass
class _TruthState:
    object_type: str
    version: int
    position: list[float]
    held: bool
    states: dict[str, str]
    receptacles: tuple[str, ...]
    present: bool = True


class TruthVersions:
    """Per-object version counters from the simulator's ground truth.

    A version goes up when the object moves by more than :data:`MOVE_TOLERANCE` while not held,
    is picked up or put down, changes an observable state or receptacle, or leaves the scene.
    Call :meth:`refresh` whenever the world may have changed; it reads ``sim.world`` anew each
    time, because the simulator builds a fresh world on every reset.

    Parameters
    ----------
    sim
        The simulator whose ``world.objects`` hold the truth (AI2-THOR metadata per object).
    """

    def __init__(self, sim: HouseholdSim) -> None:
        self.sim = sim
        self._truth: dict[str, _TruthState] = {}

    def refresh(self) -> None:
        """Compare the world with the last refresh and bump the versions of changed objects."""
        world = self.sim.world
        objects = {} if world is None else world.objects
        for object_id, obj in objects.items():
            if obj.hidden:
                continue
            meta = obj.meta
            position = _rounded(unity_to_map(meta["axisAlignedBoundingBox"]["center"]))
            held = bool(meta.get("isPickedUp"))
            states = {k: v for k, v in observable_states(meta).items() if k != "isPickedUp"}
            receptacles = tuple(meta.get("parentReceptacles") or ())
            known = self._truth.get(object_id)
            if known is None:
                self._truth[object_id] = _TruthState(
                    obj.object_type, 0, position, held, states, receptacles
                )
                continue
            moved = not held and math.dist(position, known.position) > MOVE_TOLERANCE
            if (
                moved
                or not known.present
                or held != known.held
                or states != known.states
                or (not held and receptacles != known.receptacles)
            ):
                known.version += 1
                known.position, known.held = position, held
                known.states, known.receptacles, known.present = states, receptacles, True
        for object_id, known in self._truth.items():
            obj = objects.get(object_id)
            if known.present and (obj is None or obj.hidden):
                known.version += 1
                known.present = False

    def version(self, object_id: str) -> int:
        """The object's current version (0 for an object never seen in the truth)."""
        known = self._truth.get(object_id)
        return known.version if known is not None else 0

    def position(self, object_id: str) -> list[float] | None:
        """The object's true position (map frame) at the last refresh, None if unknown."""
        known = self._truth.get(object_id)
        return known.position if known is not None else None

    def present_of_type(self, object_type: str) -> list[str]:
        """Ids of the objects of ``object_type`` in the scene now."""
        return [
            object_id
            for object_id, known in self._truth.items()
            if known.present and known.object_type == object_type
        ]


class TraceRecorder:
    """A :class:`TaskMemory` that forwards to ``memory`` and logs its traffic as trace events.

    Writes mirror what the short-term cache of a :class:`LayeredMemory` receives: every
    observation of a percept except the held object's, and every action effect the robot saw.
    A ``where_is(object_type)`` logs one read per object asked about: every object of that type
    in the scene (from ``truth``) and every object the memory answered with (``answered`` says
    which memory: ``short_term``, ``long_term`` or None). ``report_missing`` logs a
    ``missing`` event. Reads carry the clock of the last percept. ``robot_position`` is logged
    on the first event after the robot moved.

    Parameters
    ----------
    memory
        The memory the planner really uses.
    truth
        Ground-truth versions for ``truth_version``; None writes version 0 everywhere (no stale
        answers can then be counted).
    """

    def __init__(self, memory: TaskMemory, truth: TruthVersions | None = None) -> None:
        self.memory = memory
        self.truth = truth
        self.name = memory.name
        self.events: list[dict[str, Any]] = []
        self._stamp = 0.0
        self._robot: list[float] | None = None
        self._robot_logged: list[float] | None = None

    @property
    def num_queries(self) -> int:  # type: ignore[override]
        return self.memory.num_queries

    # ---------------------------------------------------------------------------- TaskMemory

    def observe(self, percept: Percept) -> None:
        self._stamp = percept.stamp
        self._robot = _rounded(percept.map_T_agent.position.as_array())
        self._refresh_truth()
        for obs in percept.observations:
            if obs.object_id == percept.held_object_id:
                continue
            self._log_write(
                obs.object_id, obs.object_type, obs.world_T_object.position.as_array(),
                obs.states, percept.stamp,
            )  # fmt: skip
        self.memory.observe(percept)

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        records = self.memory.where_is(object_type)
        self._refresh_truth()
        answered = {r.object_id: r for r in records if r.object_type == object_type}
        asked = list(self.truth.present_of_type(object_type)) if self.truth is not None else []
        asked += [object_id for object_id in answered if object_id not in asked]
        for object_id in asked:
            record = answered.get(object_id)
            position = self.truth.position(object_id) if self.truth is not None else None
            if position is None and record is not None:
                position = _rounded(record.world_T_object.position.as_array())
            event = {
                "t": self._stamp,
                "op": "read",
                "object_id": object_id,
                "object_type": object_type,
                "position": position or [0.0, 0.0, 0.0],
                "truth_version": self._version(object_id),
                "answered": record.memory_source.value if record is not None else None,
            }
            self._append(event)
        return records

    def report_missing(self, object_id: str, stamp: float) -> None:
        self.events.append(
            {
                "t": self._stamp,
                "op": "missing",
                "object_id": object_id,
                "object_type": object_id.split("|", 1)[0],
            }
        )
        self.memory.report_missing(object_id, stamp)

    def report_action_effect(self, effect: ActionEffect) -> None:
        self.memory.report_action_effect(effect)
        if effect.observation is not None:
            self._refresh_truth()
            self._log_write(
                effect.object_id, effect.object_type,
                effect.observation.world_T_object.position.as_array(),
                {**effect.observation.states, **effect.states}, self._stamp, source="action",
            )  # fmt: skip

    # -------------------------------------------------------------------------------- helpers

    def _refresh_truth(self) -> None:
        if self.truth is not None:
            self.truth.refresh()

    def _version(self, object_id: str) -> int:
        return self.truth.version(object_id) if self.truth is not None else 0

    def _log_write(
        self,
        object_id: str,
        object_type: str,
        position: Any,
        states: dict[str, str],
        stamp: float,
        source: str = "perception",
    ) -> None:
        event: dict[str, Any] = {
            "t": stamp,
            "op": "write",
            "object_id": object_id,
            "object_type": object_type,
            "position": _rounded(position),
            "truth_version": self._version(object_id),
        }
        if states:
            event["states"] = dict(states)
        if source != "perception":
            event["source"] = source
        self._append(event)

    def _append(self, event: dict[str, Any]) -> None:
        # The robot's position only when it moved: replays keep the last one (and it keeps
        # recorded traces small).
        if self._robot is not None and self._robot != self._robot_logged:
            event["robot_position"] = self._robot
            self._robot_logged = self._robot
        self.events.append(event)

    # ------------------------------------------------------- pass-through for saving/closing

    def save(self) -> None:
        save = getattr(self.memory, "save", None)
        if save is not None:
            save()

    def close(self) -> None:
        close = getattr(self.memory, "close", None)
        if close is not None:
            close()
