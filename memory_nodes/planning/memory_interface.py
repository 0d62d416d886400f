"""What the planner asks of memory, and the in-process memories it can ask.

The planner needs three things from any memory, whether it lives in this process or behind ROS
services: *where is an object of this type* (records with the memory they came from), *that
object is not where you said* (negative evidence the robot gathered on purpose), and *this is
what my action did* (the fridge is open, the apple is inside it). Perception feeds memory too;
in process that is :meth:`TaskMemory.observe`, over ROS the perception node publishes to the
memory nodes directly and ``observe`` does nothing.

Implementations here, from nothing to everything:

``NoMemory``
    Knows nothing; the robot explores for every object (the lower bound).
``ShortTermOnly``
    The bounded :class:`ObjectStateCache` fed by perception; forgotten between sessions.
``LongTermOnly``
    The robot's long-term memory, :class:`memory_nodes.core.long_term.LongTermMemory` (the
    one the ``memory_server`` node runs), persisted in SQLite.
``FullMemory``
    Short-term first (newest facts), then long-term.

The last three are :class:`LayeredMemory`, a thin adapter from the planner's questions to the
core classes, as :class:`memory_nodes.nodes.planner_ros_adapters.RosMemory` is to their ROS
services: what memory believes is decided in those classes, not here. Elsewhere:
``memory_nodes.evaluation.oracle_memory.OracleMemory`` reads the simulator's ground truth (the
upper bound), and ``RosMemory`` asks the memory nodes over ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.errors import NotFoundError
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.policies import ReplacementPolicy, TypeKnowledge, make_policy
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.types import MemorySource, ObjectObservation, ObjectRecord, Pose
from memory_nodes.planning.percept import Percept


@dataclass(frozen=True)
class ActionEffect:
    """What one successful action did to one object.

    ``receptacle_id`` is ``""`` when the object left every receptacle (picked up), an id when
    it was put on/in that receptacle, None when its location did not change. A put names its
    ``receptacle_relation`` (``"on"`` or ``"inside"``): the executor knows which, memory does
    not guess. ``observation`` is the object as seen right after the action, when it was in
    view (or where the robot knows it set it down).
    """

    object_id: str
    object_type: str
    action: str
    stamp: float
    states: dict[str, str] = field(default_factory=dict)
    receptacle_id: str | None = None
    receptacle_relation: str = ""
    observation: ObjectObservation | None = None


@runtime_checkable
class TaskMemory(Protocol):
    """The planner's view of memory. A ROS-backed memory implements it with service calls:
    ``where_is`` -> a query service, ``report_missing``/``report_action_effect`` -> topics or
    services, ``observe`` -> nothing (perception talks to memory itself).

    A memory with a history may also offer ``earlier_places(object_id) -> list[ObjectRecord]``
    (where the object rested before, newest first); the executor looks there before it
    searches."""

    name: str
    num_queries: int

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        """Remembered objects of ``object_type`` (receptacles too), most trustworthy first."""
        ...

    def report_missing(self, object_id: str, stamp: float) -> None:
        """The robot looked where memory said and the object was not there."""
        ...

    def report_action_effect(self, effect: ActionEffect) -> None:
        """The robot's own action changed an object (certain knowledge)."""
        ...

    def observe(self, percept: Percept) -> None:
        """One step's perception."""
        ...


class NoMemory:
    """Remembers nothing: every object is searched for (the no-memory baseline)."""

    name = "no_memory"

    def __init__(self) -> None:
        self.num_queries = 0

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        self.num_queries += 1
        return []

    def report_missing(self, object_id: str, stamp: float) -> None:
        return None

    def report_action_effect(self, effect: ActionEffect) -> None:
        return None

    def observe(self, percept: Percept) -> None:
        return None


class LayeredMemory:
    """Short-term cache and/or long-term memory behind one :class:`TaskMemory`.

    Both layers see every percept (they are updated in parallel); questions go to short-term
    memory first because it holds the newest facts, then to long-term memory. Objects reported
    missing leave the cache at once and are marked missing in long-term memory.

    The long-term layer is the core :class:`~memory_nodes.core.long_term.LongTermMemory`
    itself: this class only turns the planner's calls into its calls (a percept into
    ``integrate_frame``, an :class:`ActionEffect` into ``apply_action_effects``, ...), so its
    validation and its rules for the robot's actions apply here as on the robot, and a
    persistent memory is the same SQLite file the ``memory_server`` node would write.
    """

    def __init__(
        self,
        name: str,
        short_term: ObjectStateCache | None = None,
        long_term: LongTermMemory | None = None,
    ) -> None:
        self.name = name
        self.short_term = short_term
        self.long_term = long_term
        self.num_queries = 0
        self.answers_by_source: dict[str, int] = {s.value: 0 for s in MemorySource}
        self._stamp = 0.0  # the newest percept's clock: "now" for long-term queries

    def observe(self, percept: Percept) -> None:
        self._stamp = max(self._stamp, percept.stamp)
        if self.short_term is not None:
            held = percept.held_object_id
            for obs in percept.observations:
                if obs.object_id != held:
                    self.short_term.put(obs, now=percept.stamp)
        if self.long_term is not None:
            frame = percept.frame
            view = (
                None
                if frame is None
                else CameraView(
                    frame.intrinsics,
                    Pose.from_matrix(frame.world_T_camera),
                    frame.depth,
                    percept.stamp,
                )
            )
            if view is not None or percept.observations:
                self.long_term.integrate_frame(percept.observations, view)

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        self.num_queries += 1
        records: list[ObjectRecord] = []
        seen: set[str] = set()
        if self.short_term is not None:
            now = max((e.last_written for e in self.short_term.entries()), default=0.0)
            for entry in self.short_term.query(now=now, object_type=object_type):
                records.append(entry.to_record())
                seen.add(entry.object_id)
        if self.long_term is not None:
            query = ObjectQuery(object_type=object_type)
            for record in self.long_term.query(query, now=self._stamp):
                if record.object_id not in seen:
                    records.append(record)
                    seen.add(record.object_id)
        for record in records:
            self.answers_by_source[record.memory_source.value] += 1
        return records

    def contents_of(self, receptacle_id: str) -> list[ObjectRecord]:
        """What memory places on or in ``receptacle_id``: the short-term cache's newest facts
        (the robot's own puts among them), then long-term memory's relations; long-term
        memory adds nothing for a receptacle it does not know."""
        records = []
        if self.short_term is not None:
            for entry in self.short_term.entries():
                if (record := entry.to_record()).receptacle_id == receptacle_id:
                    records.append(record)
        known = {r.object_id for r in records}
        if self.long_term is not None and receptacle_id:
            try:
                held = self.long_term.query(ObjectQuery(receptacle=receptacle_id), self._stamp)
            except NotFoundError:
                held = []
            records += [r for r in held if r.object_id not in known]
        return records

    def seen_places(self) -> np.ndarray:
        """Map positions (N x 3) of every object and piece of furniture long-term memory holds.

        Where the robot has looked: a search for something memory does not know looks
        elsewhere first. Empty without long-term memory.
        """
        if self.long_term is None:
            return np.zeros((0, 3))
        records = self.long_term.query(ObjectQuery(), now=self._stamp)
        points = [r.world_T_object.position.as_array() for r in records]
        return np.asarray(points, dtype=float).reshape(-1, 3)

    def earlier_places(self, object_id: str) -> list[ObjectRecord]:
        """Earlier resting places of an object, newest first (long-term memory's history)."""
        if self.long_term is None:
            return []
        return self.long_term.earlier_places(object_id)

    def report_missing(self, object_id: str, stamp: float) -> None:
        if self.short_term is not None:
            self.short_term.remove(object_id)
        if self.long_term is not None:
            self.long_term.report_missing(object_id, stamp)

    def report_action_effect(self, effect: ActionEffect) -> None:
        if self.short_term is not None:
            entry = self.short_term.find_entry(effect.object_id)
            obs = effect.observation
            pose = obs.world_T_object if obs is not None else None
            if entry is not None or pose is not None:
                stamp = max(effect.stamp, entry.last_written if entry is not None else 0.0)
                self.short_term.record_action_effect(
                    effect.object_id,
                    now=stamp,
                    states=dict(effect.states) or None,
                    receptacle_id=effect.receptacle_id,
                    receptacle_relation=effect.receptacle_relation or None,
                    world_T_object=pose,
                    box=obs.box if obs is not None else None,
                    object_type=effect.object_type,
                    # The executor marks where it guessed it set something down "action".
                    place_seen=obs is None or obs.source != "action",
                )
        if self.long_term is not None:
            observation = _effect_observation(effect, self.long_term)
            if observation is not None:
                self.long_term.apply_action_effects([observation])

    def close(self) -> None:
        """Close long-term memory's store (everything is committed already)."""
        if self.long_term is not None:
            self.long_term.close()


def _effect_observation(effect: ActionEffect, memory: LongTermMemory) -> ObjectObservation | None:
    """``effect`` as the observation :meth:`LongTermMemory.apply_action_effects` takes.

    The object is where the robot saw it after the action or, out of view, where memory has
    it; None for an object out of view that memory does not know (nowhere to put it).
    """
    if effect.observation is not None:
        pose, box = effect.observation.world_T_object, effect.observation.box
    else:
        node = memory.graph.find_object_by_external_id(effect.object_id)
        if node is None:
            return None
        pose, box = node.world_T_object, node.box
    states = dict(effect.states)
    if effect.receptacle_id == "":
        # Out of every receptacle means in the hand, which is how memory hears it.
        states.setdefault("isPickedUp", "true")
    return ObjectObservation(
        object_id=effect.object_id,
        object_type=effect.object_type,
        world_T_object=pose,
        box=box,
        stamp=effect.stamp,
        states=states,
        source="action",
        receptacle_id=effect.receptacle_id or "",
        receptacle_relation=effect.receptacle_relation if effect.receptacle_id else "",
    )


def _cache(
    capacity: int, policy: str | ReplacementPolicy, knowledge: TypeKnowledge | None
) -> ObjectStateCache:
    # A household policy learns what it knows about object types into ``knowledge``; share one
    # instance across tasks, sessions and restarts, as the short-term memory node does.
    if policy == "household" and knowledge is not None:
        policy = make_policy("household", knowledge=knowledge)
    return ObjectStateCache(capacity, policy)


def ShortTermOnly(
    capacity: int = 128,
    policy: str | ReplacementPolicy = "household",
    *,
    knowledge: TypeKnowledge | None = None,
) -> LayeredMemory:
    """Perception into the bounded cache only (nothing survives a restart).

    ``knowledge``: what the robot learned about object types, for the ``household`` policy;
    pass one instance to every memory of one robot so a restart keeps it. A fresh one if None.
    """
    return LayeredMemory("short_term", short_term=_cache(capacity, policy, knowledge))


def LongTermOnly(path: str | Path | None = None) -> LayeredMemory:
    """Perception into long-term memory only; ``path`` is its SQLite file (None: in memory)."""
    return LayeredMemory("long_term", long_term=LongTermMemory(path))


def FullMemory(
    path: str | Path | None = None,
    capacity: int = 128,
    policy: str | ReplacementPolicy = "household",
    *,
    knowledge: TypeKnowledge | None = None,
) -> LayeredMemory:
    """Short-term cache first, then long-term memory.

    ``knowledge`` as for :func:`ShortTermOnly`: long-term memory persists in the SQLite file
    ``path`` (None: in memory, forgotten at :meth:`LayeredMemory.close`), the type knowledge in
    whatever instance the caller keeps.
    """
    return LayeredMemory(
        "memory",
        short_term=_cache(capacity, policy, knowledge),
        long_term=LongTermMemory(path),
    )
