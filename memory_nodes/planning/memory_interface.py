"""What the planner asks of memory, and the in-process memories it can ask.

The planner needs three things from any memory, whether it lives in this process or behind ROS
services: *where is an object of this type* (records with the memory they came from), *that
object is not where you said* (negative evidence the robot gathered on purpose), and *this is
what my action did* (the fridge is open, the apple is inside it). Perception feeds memory too;
in process that is :meth:`TaskMemory.observe`, over ROS the perception node publishes to the
memory nodes directly and ``observe`` does nothing.

Implementations, from nothing to everything:

``NoMemory``
    Knows nothing; the robot explores for every object (the lower bound).
``OracleMemory``
    Reads the simulator's ground truth (the upper bound; no perception needed).
``ShortTermOnly``
    The bounded :class:`ObjectStateCache` fed by perception; forgotten between sessions.
``LongTermOnly``
    The scene graph built by fusion with negative evidence, persisted in SQLite.
``FullMemory``
    Short-term first (newest facts), then long-term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from memory_nodes.core.change_detection import CameraView, ChangeDetector
from memory_nodes.core.errors import NotFoundError
from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.long_term import (
    EARLIER_PLACE_MIN_DISTANCE_M,
    earlier_places,
    mark_reported_missing,
)
from memory_nodes.core.policies import ReplacementPolicy, TypeKnowledge, make_policy
from memory_nodes.core.queries import objects_by_type, objects_in_receptacle
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.store import SceneGraphStore
from memory_nodes.core.types import (
    Box,
    MemorySource,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Vector3,
)
from memory_nodes.adapters.ai2thor_perception import Percept, observable_states, unity_to_map

if TYPE_CHECKING:
    from sim.household_sim import HouseholdSim


@dataclass(frozen=True)
class ActionEffect:
    """What one successful action did to one object.

    ``receptacle_id`` is ``""`` when the object left every receptacle (picked up), an id when
    it was put on/in that receptacle, None when its location did not change. ``observation``
    is the object as seen right after the action, when it was in view.
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


def _record_from_metadata(obj: dict[str, Any], stamp: float) -> ObjectRecord:
    box = obj["axisAlignedBoundingBox"]
    centre = unity_to_map(box["center"])
    size = unity_to_map(box["size"])
    parents = obj.get("parentReceptacles") or []
    return ObjectRecord(
        object_id=obj["objectId"],
        object_type=obj["objectType"],
        world_T_object=Pose(Vector3.from_array(centre)),
        box=Box(Vector3.from_array(centre), Vector3.from_array(abs(size))),
        confidence=1.0,
        first_seen=stamp,
        last_seen=stamp,
        states=observable_states(obj),
        receptacle_id=parents[0] if parents else "",
        receptacle_relation="inside" if parents else "",
        provenance=("oracle",),
        memory_source=MemorySource.LONG_TERM,
    )


class OracleMemory:
    """Ground truth from the simulator's world: the upper bound a perfect memory reaches."""

    name = "oracle"

    def __init__(self, sim: HouseholdSim) -> None:
        self.sim = sim
        self.num_queries = 0

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        self.num_queries += 1
        return [
            _record_from_metadata(o.meta, 0.0)
            for o in self.sim.world.objects.values()
            if o.object_type == object_type and not o.hidden
        ]

    def report_missing(self, object_id: str, stamp: float) -> None:
        return None

    def report_action_effect(self, effect: ActionEffect) -> None:
        return None

    def observe(self, percept: Percept) -> None:
        return None


class LongTermMemory:
    """Scene graph + fusion + change detection, optionally persisted to a SQLite file.

    Parameters
    ----------
    path
        SQLite file; loaded at construction, written by :meth:`save`. None keeps it in memory.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.store = SceneGraphStore(path) if path is not None else None
        self.graph = self.store.load() if self.store is not None else SceneGraph()
        self.fusion = ObjectFusion(self.graph)
        self.detector = ChangeDetector(self.graph)

    def observe(self, percept: Percept) -> None:
        if percept.frame is None:
            return
        result = self.fusion.integrate_frame(percept.observations)
        frame = percept.frame
        view = CameraView(
            frame.intrinsics, Pose.from_matrix(frame.world_T_camera), frame.depth, percept.stamp
        )
        self.detector.process_frame(view, result.observed)

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        return objects_by_type(self.graph, object_type)

    def contents_of(self, receptacle_id: str) -> list[ObjectRecord]:
        """What memory places on or in ``receptacle_id`` (empty when it does not know it)."""
        try:
            return objects_in_receptacle(self.graph, receptacle_id)
        except NotFoundError:
            return []

    def seen_places(self) -> np.ndarray:
        """Map positions (N x 3) of every object and piece of furniture memory holds.

        Where the robot has looked: a search for something memory does not know looks
        elsewhere first.
        """
        points = [
            n.position.as_array()
            for n in self.graph.nodes()
            if n.layer in (Layer.OBJECT, Layer.FURNITURE) and n.status == NodeStatus.PRESENT
        ]
        return np.asarray(points, dtype=float).reshape(-1, 3)

    def earlier_places(
        self, object_id: str, min_distance: float = EARLIER_PLACE_MIN_DISTANCE_M
    ) -> list[ObjectRecord]:
        """Where ``object_id`` rested before its newest place, newest first (see
        :func:`memory_nodes.core.long_term.earlier_places`, which the memory server uses too)."""
        return earlier_places(self.graph, object_id, min_distance)

    def report_missing(self, object_id: str, stamp: float) -> None:
        mark_reported_missing(self.graph, object_id, stamp)

    def report_action_effect(self, effect: ActionEffect) -> None:
        if effect.observation is not None:
            trusted = ObjectObservation(
                object_id=effect.object_id,
                object_type=effect.object_type,
                world_T_object=effect.observation.world_T_object,
                box=effect.observation.box,
                stamp=effect.stamp,
                states=dict(effect.states),
                source="action",
            )
            self.fusion.integrate_frame([trusted])
        node = self.graph.find_object_by_external_id(effect.object_id)
        if node is None:
            return
        if effect.states:
            self.graph.update_node(node.node_id, effect.stamp, states=dict(effect.states))
        if effect.receptacle_id is None:
            return
        receptacle = (
            self.graph.find_object_by_external_id(effect.receptacle_id)
            if effect.receptacle_id
            else None
        )
        if effect.receptacle_id and receptacle is None:
            return
        self.fusion.record_interaction(
            node.node_id,
            receptacle.node_id if receptacle is not None else None,
            EdgeType(effect.receptacle_relation or "inside") if receptacle is not None else None,
            effect.stamp,
        )

    def save(self) -> None:
        if self.store is not None:
            self.store.sync(self.graph)

    def close(self) -> None:
        if self.store is not None:
            self.save()
            self.store.close()
            self.store = None


class LayeredMemory:
    """Short-term cache and/or long-term scene graph behind one :class:`TaskMemory`.

    Both layers see every percept (they are updated in parallel); questions go to short-term
    memory first because it holds the newest facts, then to long-term memory. Objects reported
    missing leave the cache at once and are marked missing in the graph.
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

    def observe(self, percept: Percept) -> None:
        if self.short_term is not None:
            held = percept.held_object_id
            for obs in percept.observations:
                if obs.object_id != held:
                    self.short_term.put(obs, now=percept.stamp)
        if self.long_term is not None:
            self.long_term.observe(percept)

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
            for record in self.long_term.where_is(object_type):
                if record.object_id not in seen:
                    records.append(record)
                    seen.add(record.object_id)
        for record in records:
            self.answers_by_source[record.memory_source.value] += 1
        return records

    def contents_of(self, receptacle_id: str) -> list[ObjectRecord]:
        """What memory places on or in ``receptacle_id``: the short-term cache's newest facts
        (the robot's own puts among them), then long-term memory's relations."""
        records = []
        if self.short_term is not None:
            for entry in self.short_term.entries():
                if (record := entry.to_record()).receptacle_id == receptacle_id:
                    records.append(record)
        known = {r.object_id for r in records}
        if self.long_term is not None:
            records += [
                r for r in self.long_term.contents_of(receptacle_id) if r.object_id not in known
            ]
        return records

    def seen_places(self) -> np.ndarray:
        """Map positions of what long-term memory holds (see :meth:`LongTermMemory.seen_places`)."""
        if self.long_term is None:
            return np.zeros((0, 3))
        return self.long_term.seen_places()

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
                )
        if self.long_term is not None:
            self.long_term.report_action_effect(effect)

    def save(self) -> None:
        if self.long_term is not None:
            self.long_term.save()

    def close(self) -> None:
        if self.long_term is not None:
            self.long_term.close()


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
    """Perception into the persistent scene graph only."""
    return LayeredMemory("long_term", long_term=LongTermMemory(path))


def FullMemory(
    path: str | Path | None = None,
    capacity: int = 128,
    policy: str | ReplacementPolicy = "household",
    *,
    knowledge: TypeKnowledge | None = None,
) -> LayeredMemory:
    """Short-term cache first, then the persistent scene graph.

    ``knowledge`` as for :func:`ShortTermOnly`: the long-term graph persists in ``path``, the
    type knowledge in whatever instance the caller keeps.
    """
    return LayeredMemory(
        "memory",
        short_term=_cache(capacity, policy, knowledge),
        long_term=LongTermMemory(path),
    )
