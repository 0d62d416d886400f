"""Long-term memory as one object: scene graph + fusion + change detection + SQLite store.

This is the only long-term memory: the ``memory_server`` node serves it over ROS, and the
planner's in-process memory (:class:`memory_nodes.planning.memory_interface.LayeredMemory`,
used by the task evaluation and the tests) drives the same object, so the frame loop (fuse,
then look for what should have been seen, then commit) and the rules for the robot's own
actions are written once. Every accepted change is committed to the SQLite file before the
call returns.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory_nodes.core import queries
from memory_nodes.core.change_detection import (
    CameraView,
    ChangeDetectionConfig,
    ChangeDetector,
    ChangeReport,
)
from memory_nodes.core.errors import (
    InvalidInputError,
    NotFoundError,
    StoreWriteError,
    clip_text,
)
from memory_nodes.core.fusion import FusionConfig, FusionResult, ObjectFusion
from memory_nodes.core.scene_graph import GraphChange, Layer, NodeStatus, SceneGraph, SceneNode
from memory_nodes.core.store import (
    SceneGraphStore,
    read_database,
    read_json,
    write_graphml,
    write_json,
)
from memory_nodes.core.types import (
    Box,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Vector3,
    is_type_name,
)

SAVE_FORMATS = (".json", ".graphml", ".sqlite", ".db")
#: Stamps further ahead of the clock than this are a broken sensor clock, not a fast robot.
MAX_FUTURE_S = 5.0
#: No household object is larger; a bigger box is a perception failure.
MAX_OBJECT_EXTENT_M = 50.0
#: Observations one frame may carry: association and the store's commit grow with it, and a
#: camera frame of a home holds a few dozen objects.
MAX_OBSERVATIONS_PER_FRAME = 1000
#: Coordinates farther than this from the map origin (metres) are a broken pose, not a home.
MAP_EXTENT_M = 1000.0
#: Earlier places nearer than this to a newer one are the same place seen again.
EARLIER_PLACE_MIN_DISTANCE_M = 0.25


def check_not_ahead(
    stamp: float, now: float, what: str, max_future_s: float = MAX_FUTURE_S
) -> None:
    """Refuse a fact stamped more than ``max_future_s`` after ``now`` (a broken sensor clock).

    The one rule both memories apply: a fact from the future would win over every true one.
    """
    if stamp > now + max_future_s:
        raise InvalidInputError(
            f"{what} is stamped {stamp - now:.3f} s in the future "
            f"(tolerance {max_future_s} s): check the sensor clock"
        )


def check_type_name(object_type: str, prefix: str = "") -> None:
    """Refuse a type that is not a type name (the rule both memories apply)."""
    if not is_type_name(object_type):
        raise InvalidInputError(
            f"{prefix}object type {clip_text(object_type)} is not a type name (letters, digits, "
            "spaces, '_' or '-', at most 64 characters)"
        )


def check_geometry(
    position: Vector3 | None,
    box: Box | None,
    extent: float = MAP_EXTENT_M,
    prefix: str = "",
) -> None:
    """Refuse a box larger than any household object, or a pose or box centre farther than
    ``extent`` from the map origin (a broken pose, not a home). The rule both memories apply;
    ``prefix`` names the item in the message."""
    if box is not None and max(box.size.x, box.size.y, box.size.z) > MAX_OBJECT_EXTENT_M:
        raise InvalidInputError(f"{prefix}box {box.size} is larger than {MAX_OBJECT_EXTENT_M} m")
    for what, point in (("pose", position), ("box centre", box.center if box else None)):
        if point is not None and max(abs(point.x), abs(point.y), abs(point.z)) > extent:
            raise InvalidInputError(
                f"{prefix}{what} ({point.x:.6g}, {point.y:.6g}, {point.z:.6g}) lies beyond the "
                f"map extent of {extent:g} m"
            )


def earlier_places(
    graph: SceneGraph, object_id: str, min_distance: float = EARLIER_PLACE_MIN_DISTANCE_M
) -> list[ObjectRecord]:
    """Where ``object_id`` rested before its newest place, newest first (its history).

    Things go back to their usual places (the egg the robot left in the sink is back in the
    fridge the next day), so when the newest place is seen empty these are worth a look each
    before a search. Places within ``min_distance`` of a newer one, and places with no
    receptacle or in the hand, are skipped. An object memory does not know has no history.
    """
    if not math.isfinite(min_distance) or min_distance < 0:
        raise InvalidInputError(f"min_distance must be finite and >= 0, got {min_distance}")
    node = graph.find_object_by_external_id(object_id)
    if node is None:
        return []
    record = graph.to_record(node.node_id)
    seen = [node.position.as_array()]
    out: list[ObjectRecord] = []
    for snapshot in reversed(node.history):
        if snapshot.status != NodeStatus.PRESENT or not snapshot.parent_id:
            continue
        if snapshot.states.get("isPickedUp") == "true":
            continue
        position = snapshot.position.as_array()
        if any(float(np.linalg.norm(position - q)) < min_distance for q in seen):
            continue
        seen.append(position)
        parent = graph.find_node(snapshot.parent_id)
        out.append(
            dataclasses.replace(
                record,
                world_T_object=Pose(snapshot.position, node.world_T_object.orientation),
                box=Box(snapshot.position, node.box.size),
                receptacle_id=(parent.external_id or parent.node_id) if parent else "",
                receptacle_relation=snapshot.relation,
            )
        )
    return out


def mark_reported_missing(graph: SceneGraph, object_id: str, stamp: float) -> tuple[bool, bool]:
    """The robot did not find ``object_id`` (node id or external id) where memory placed it.

    A present object or piece of furniture is marked missing at ``stamp``. Returns (known,
    marked): whether memory holds such a node, and whether this report changed it (it may
    have been missing already).
    """
    try:
        node = graph.resolve(object_id)
    except (NotFoundError, InvalidInputError):
        return False, False
    if node.layer not in (Layer.OBJECT, Layer.FURNITURE):
        return False, False
    if node.status != NodeStatus.PRESENT:
        return True, False
    graph.mark_missing(node.node_id, stamp)
    return True, True


@dataclass
class FrameUpdate:
    """What one frame did: fusion's result, change detection's report, rows committed.

    ``unknown_receptacles`` lists, for action effects, the receptacles memory did not know
    (object id -> receptacle id): those objects were moved without a relation.
    """

    fusion: FusionResult
    changes: ChangeReport | None = None
    committed: int = 0
    unknown_receptacles: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectQuery:
    """QueryObjects' filters; empty/None filters are ignored, the rest are combined with AND."""

    object_type: str = ""
    text: str = ""
    near: Vector3 | None = None
    radius: float = 0.0
    receptacle: str = ""
    room: str = ""
    max_age_s: float = 0.0
    max_results: int = 0
    include_missing: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def validate(self) -> None:
        if self.near is not None and (not math.isfinite(self.radius) or self.radius <= 0):
            raise InvalidInputError(f"a query near a point needs a radius > 0, got {self.radius}")
        if not math.isfinite(self.max_age_s) or self.max_age_s < 0:
            raise InvalidInputError(f"max_age_s must be >= 0, got {self.max_age_s}")
        if self.max_results < 0:
            raise InvalidInputError(f"max_results must be >= 0, got {self.max_results}")


class LongTermMemory:
    """The robot's long-term memory of its home, persisted in one SQLite file.

    Parameters
    ----------
    database
        SQLite file; created if missing, reloaded if present (so a restart resumes). None
        keeps the store in an in-memory SQLite database, gone at :meth:`close` (tests, and
        runs that keep nothing).
    fusion_config, change_config
        Settings of association and of negative evidence.
    max_observations_per_frame
        A frame (or batch of effects or entries) with more observations is refused whole.
    map_extent_m
        An observation whose pose or box centre has a coordinate beyond this many metres from
        the map origin is refused.
    clock
        Seconds since the epoch on the sensors' clock (a ROS node passes its clock). With a
        clock, stamps more than ``max_future_s`` ahead of it are rejected: one bad stamp would
        otherwise make an object "seen" for years and break every age query. Without one,
        stamps are trusted (simulations run on their own time line).

    Every writing call validates its whole input first and raises
    :class:`~memory_nodes.core.errors.InvalidInputError` before changing anything, so a bad
    frame leaves memory exactly as it was.

    The robot's own actions (:meth:`apply_action_effects`) follow two rules, here only:

    * a put names its relation (``"on"`` or ``"inside"``): only the one acting knows whether
      the apple went into the bowl or onto it, so memory does not guess;
    * a put into a receptacle memory does not know (not yet confirmed by perception) still
      moves the object and applies its states, without a relation: memory cannot point at a
      node it lacks, but what the hand did is certain and a later sighting of the receptacle
      gives the relation by geometry.
    """

    def __init__(
        self,
        database: str | Path | None,
        fusion_config: FusionConfig | None = None,
        change_config: ChangeDetectionConfig | None = None,
        *,
        clock: Callable[[], float] | None = None,
        max_future_s: float = MAX_FUTURE_S,
        max_observations_per_frame: int = MAX_OBSERVATIONS_PER_FRAME,
        map_extent_m: float = MAP_EXTENT_M,
    ) -> None:
        if not math.isfinite(max_future_s) or max_future_s < 0:
            raise InvalidInputError(f"max_future_s must be finite and >= 0, got {max_future_s}")
        if (
            isinstance(max_observations_per_frame, bool)
            or not isinstance(max_observations_per_frame, int)
            or max_observations_per_frame < 1
        ):
            raise InvalidInputError(
                "max_observations_per_frame must be an int >= 1, got "
                f"{clip_text(max_observations_per_frame)}"
            )
        if not math.isfinite(map_extent_m) or map_extent_m <= 0:
            raise InvalidInputError(f"map_extent_m must be finite and > 0, got {map_extent_m}")
        self.max_observations_per_frame = max_observations_per_frame
        self.map_extent_m = float(map_extent_m)
        self.clock = clock
        self.max_future_s = max_future_s
        self.database = Path(database) if database is not None else None
        if self.database is not None:
            self.database.parent.mkdir(parents=True, exist_ok=True)
        self.fusion_config = fusion_config or FusionConfig()
        self.change_config = change_config or ChangeDetectionConfig()
        self.store = SceneGraphStore(self.database if self.database is not None else ":memory:")
        self._attach(self.store.load())

    def _attach(self, graph: SceneGraph) -> None:
        self.graph = graph
        self.fusion = ObjectFusion(graph, self.fusion_config)
        self.detector = ChangeDetector(graph, self.change_config)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------------------ writing
    def integrate_frame(
        self,
        observations: Sequence[ObjectObservation],
        view: CameraView | None = None,
        *,
        source: str = "perception",
        checkpoint: Callable[[], None] | None = None,
    ) -> FrameUpdate:
        """Fuse one frame's observations; with its depth view, also apply negative evidence.

        ``source`` is where the frame came from (the topic, for a node): memory records it as
        every observation's source and ignores what the observations claim, so a frame never
        skips confirmation by calling itself an action. ``checkpoint`` is passed to fusion
        (called after each observation has been applied).
        """
        self._validate(observations, view)
        observations = _with_source(observations, source)
        fused = self.fusion.integrate_frame(observations, trusted=False, checkpoint=checkpoint)
        update = FrameUpdate(fused)
        if view is not None:
            update.changes = self.detector.process_frame(view, update.fusion.observed)
        update.committed = self.store.sync(self.graph)
        return update

    def apply_action_effects(
        self,
        effects: Sequence[ObjectObservation],
        *,
        checkpoint: Callable[[], None] | None = None,
    ) -> FrameUpdate:
        """What the robot's own actions did: believed at once (fusion is told to trust them).

        Only this path is trusted, and a node calls it only for the action-effects topic; every
        effect is recorded with source ``"action"`` whatever it claims.

        Each effect is the object as it is after the action: its pose, box and the states the
        action set. ``receptacle_id`` with ``receptacle_relation`` says where it was put; an
        empty ``receptacle_id`` with ``isPickedUp`` ``"true"`` says it is in the hand. A put
        without a relation is rejected (InvalidInputError, before anything changes); a put
        into a receptacle memory does not know moves the object without a relation and is
        listed in :attr:`FrameUpdate.unknown_receptacles` (see the class notes).
        """
        self._validate(effects, None)
        for index, effect in enumerate(effects):
            if effect.receptacle_id and not effect.receptacle_relation:
                raise InvalidInputError(
                    f"action effect {index} ({clip_text(effect.object_id)}) puts it in/on "
                    f"{clip_text(effect.receptacle_id)} without saying which: pass "
                    "receptacle_relation 'on' or 'inside'"
                )
        batch = {e.object_id for e in effects if e.object_id}
        unknown = {
            e.object_id: e.receptacle_id
            for e in effects
            if e.receptacle_id
            and e.receptacle_id not in batch
            and self._find(e.receptacle_id) is None
        }
        effects = [self._at_receptacle(effect) for effect in _with_source(effects, "action")]
        fused = self.fusion.integrate_frame(effects, trusted=True, checkpoint=checkpoint)
        update = FrameUpdate(fused, unknown_receptacles=unknown)
        for effect in effects:
            if self.graph.find_object_by_external_id(effect.object_id) is None:
                continue
            if effect.receptacle_id and effect.object_id not in unknown:
                self.fusion.record_interaction(
                    effect.object_id,
                    effect.receptacle_id,
                    effect.receptacle_relation,
                    effect.stamp,
                    source="action",
                )
            elif not effect.receptacle_id and effect.states.get("isPickedUp") == "true":
                self.fusion.record_interaction(effect.object_id, None, None, effect.stamp)
        update.committed = self.store.sync(self.graph)
        return update

    def report_missing(self, object_id: str, stamp: float) -> tuple[bool, bool]:
        """The robot looked where memory placed ``object_id`` and did not find it.

        Marks a present object or piece of furniture missing at ``stamp`` and commits.
        Returns (known, marked) as :func:`mark_reported_missing`. An object memory does not
        know is no error: there is nothing to correct.
        """
        self._validate(
            [], None, extra_stamps=[(stamp, f"missing report of {clip_text(object_id)}")]
        )
        known, marked = mark_reported_missing(self.graph, object_id, stamp)
        if marked:
            self.store.sync(self.graph)
        return known, marked

    def consolidate(
        self,
        entries: Sequence[ObjectObservation],
        *,
        source: str = "consolidation",
        checkpoint: Callable[[], None] | None = None,
    ) -> FrameUpdate:
        """Short-term entries leaving the cache, through the same fusion rules as frames.

        Entries are never trusted, whatever source they claim: the robot's own actions reach
        memory on their own path (:meth:`apply_action_effects`). An entry no newer than what
        memory already holds about its object adds nothing (the frame it came from was fused
        already) and is skipped.
        """
        self._validate(entries, None)
        fresh = []
        for entry in entries:
            node = self.graph.find_object_by_external_id(entry.object_id)
            if node is None or entry.stamp > node.last_seen:
                fresh.append(entry)
        if not fresh:
            return FrameUpdate(FusionResult())
        return self.integrate_frame(fresh, source=source, checkpoint=checkpoint)

    def _at_receptacle(self, effect: ObjectObservation) -> ObjectObservation:
        """A put reported where the object was last seen (in the hand's path) lands in/on its
        receptacle: without this, memory would keep it at its old place and later, seeing that
        place empty, call it missing.

        A put that is already there is kept as reported: inside, the object's centre lies in
        the receptacle's box; on, the middle of its underside does (it rests on the top face,
        wherever along a long counter it was set down).
        """
        holder = self._find(effect.receptacle_id) if effect.receptacle_id else None
        if holder is None:
            return effect
        resting = effect.box.center.as_array()
        if effect.receptacle_relation != "inside":
            resting[2] -= effect.box.size.z / 2.0
        if holder.box.contains(Vector3.from_array(resting), margin=0.05):
            return effect
        center, size = holder.box.center.as_array(), effect.box.size.as_array()
        if effect.receptacle_relation != "inside":  # on its top face
            center[2] = holder.box.max_corner[2] + size[2] / 2.0
        position = Vector3.from_array(center)
        return dataclasses.replace(
            effect,
            world_T_object=Pose(position, effect.world_T_object.orientation),
            box=Box(position, effect.box.size),
        )

    def _find(self, ref: str) -> object | None:
        try:
            return self.graph.resolve(ref)
        except (NotFoundError, InvalidInputError):
            return None

    def _validate(
        self,
        observations: Sequence[ObjectObservation],
        view: CameraView | None,
        extra_stamps: Sequence[tuple[float, str]] = (),
    ) -> None:
        """Raise InvalidInputError for anything memory must not take in; changes nothing."""
        if len(observations) > self.max_observations_per_frame:
            raise InvalidInputError(
                f"{len(observations)} observations in one batch, more than the limit of "
                f"{self.max_observations_per_frame} (max_observations_per_frame): refused whole"
            )
        extent = self.map_extent_m
        for index, obs in enumerate(observations):
            if not isinstance(obs, ObjectObservation):
                raise InvalidInputError(
                    f"item {index} is a {type(obs).__name__}, not an observation"
                )
            check_type_name(obs.object_type, f"observation {index}: ")
            check_geometry(
                obs.world_T_object.position,
                obs.box,
                extent,
                f"observation {index} ({clip_text(obs.object_type)}): ",
            )
            bad_states = {
                k: v
                for k, v in obs.states.items()
                if not isinstance(k, str) or not isinstance(v, str)
            }
            if bad_states:
                raise InvalidInputError(
                    f"observation {index} ({clip_text(obs.object_type)}): states must map text to "
                    f"text, got {clip_text(bad_states)}"
                )
        stamps = [
            (o.stamp, f"observation of {clip_text(o.object_id or o.object_type)}")
            for o in observations
        ]
        for stamp, what in extra_stamps:
            if not math.isfinite(stamp):
                raise InvalidInputError(f"{what}: stamp must be finite, got {stamp}")
            stamps.append((stamp, what))
        if view is not None:
            stamps.append((view.stamp, "camera view"))
            if not math.isfinite(view.stamp):
                raise InvalidInputError(f"camera view stamp must be finite, got {view.stamp}")
        if self.clock is not None:
            now = self.clock()
            for stamp, what in stamps:
                check_not_ahead(stamp, now, what, self.max_future_s)

    def add_room(self, name: str, extent: Box, stamp: float) -> str:
        node_id = self.graph.add_room(name, extent, stamp)
        self.store.sync(self.graph)
        return node_id

    # ------------------------------------------------------------------------------ reading
    def query(self, query: ObjectQuery, now: float) -> list[ObjectRecord]:
        """Records matching every filter, most confident first (text: most similar first).

        The filters are tested on nodes, starting from the one expected to match least (see
        :class:`queries.NodeFilter`), and only the answer kept (``max_results``) becomes
        records. A near query's ties keep the nearest first. Free text keeps its own order and
        its best ``max(max_results, 5)`` before the other filters apply.
        """
        query.validate()
        graph, missing = self.graph, query.include_missing
        limit = query.max_results or None
        by_text: list[SceneNode] | None = None
        if query.text:
            matches = queries.text_matches(
                graph, query.text, top_k=max(query.max_results, 5), include_missing=missing
            )
            by_text = [node for node, _ in matches]
        filters: list[queries.NodeFilter] = []
        if query.object_type:
            filters.append(queries.type_filter(graph, query.object_type))
        if query.receptacle:
            filters.append(queries.receptacle_filter(graph, query.receptacle))
        if query.room:
            filters.append(queries.room_filter(graph, query.room))
        if query.near is not None:
            filters.append(queries.near_filter(graph, query.near, query.radius))
        fresh: Callable[[SceneNode], bool] | None = None
        if query.max_age_s > 0:
            max_age_s = query.max_age_s

            def fresh(node: SceneNode) -> bool:  # ObjectRecord.age of the node's record
                return max(0.0, now - max(node.last_seen, node.first_seen)) <= max_age_s

        if by_text is not None:
            tests = [f.holds for f in filters] + ([fresh] if fresh is not None else [])
            kept = [node for node in by_text if all(test(node) for test in tests)][:limit]
        elif limit is not None and fresh is None and len(filters) == bool(query.object_type):
            # No filter or the type alone, "the N most confident (mugs)": from the graph's
            # answer order index, not a scan.
            kept = queries.most_confident(
                graph, limit, include_missing=missing, node_type=query.object_type or None
            )
        else:
            found = queries.matching_nodes(graph, filters, include_missing=missing, extra=fresh)
            if len(filters) == 1 and query.near is not None:
                nearest = queries.nearest_order(query.near)

                def order(node: SceneNode) -> tuple:
                    # The record's confidence and last_seen, then nearest first.
                    seen = max(node.last_seen, node.first_seen)
                    return -node.confidence, -seen, nearest(node)

                kept = queries.best(found, order, limit)
            else:
                kept = queries.ranked_nodes(found, limit, record_stamps=True)
        return [graph.to_record(node.node_id) for node in kept]

    def warm_up(self) -> bool:
        """Load the free-text model and embed the types in memory now (several seconds).

        A server calls this when it starts, so no query pays for the load. Returns False when
        the model package is not installed: free-text queries then raise
        DependencyNotInstalledError and every other query works.
        """
        return queries.warm_up_text(self.graph)

    def earlier_places(
        self, object_id: str, min_distance: float = EARLIER_PLACE_MIN_DISTANCE_M
    ) -> list[ObjectRecord]:
        """Where ``object_id`` rested before its newest place, newest first (see
        :func:`earlier_places`)."""
        return earlier_places(self.graph, object_id, min_distance)

    def _all_objects(self, include_missing: bool) -> list[ObjectRecord]:
        return queries.all_objects(self.graph, include_missing=include_missing)

    def changes_since(self, stamp: float) -> list[GraphChange]:
        """Committed changes at or after ``stamp`` (from the file: survives restarts)."""
        return self.store.changes_since(stamp)

    # ------------------------------------------------------------------------ save and load
    def save(self, path: str | Path) -> Path:
        """Write memory to ``path``: .json (documented export), .graphml, or .sqlite copy."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in SAVE_FORMATS:
            raise InvalidInputError(f"cannot save to {path.name}: use one of {SAVE_FORMATS}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".json":
            write_json(self.graph, path)
        elif suffix == ".graphml":
            write_graphml(self.graph, path)
        else:
            self.store.backup_to(path)
        return path

    def load(self, path: str | Path) -> int:
        """Replace memory with what ``path`` holds (.json or .sqlite); returns object count.

        The whole file is read and checked before anything changes (a .sqlite file from a
        copy, never opened for writing), so a bad file raises InvalidInputError (or
        SchemaVersionError) naming the file and the problem, and memory stays as it was.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            graph = read_json(path)
        elif suffix in (".sqlite", ".db"):
            graph = read_database(path)
        elif suffix == ".graphml":
            raise InvalidInputError(
                f"cannot load {path.name}: GraphML is an export for viewers; load the .json "
                "or .sqlite memory instead"
            )
        else:
            raise InvalidInputError(f"cannot load {path.name}: use .json or .sqlite")
        try:
            self.store.rewrite(graph)  # one transaction: rolled back whole if it fails
        except sqlite3.Error as error:
            raise StoreWriteError(
                f"could not write {path.name} into {self.store.path.name}: {error}"
            ) from error
        self._attach(graph)
        return len(self._all_objects(include_missing=True))


def _with_source(observations: Sequence[ObjectObservation], source: str) -> list[ObjectObservation]:
    """The observations as coming from ``source``: memory, not the sender, names the source."""
    if not isinstance(source, str) or not source:
        raise InvalidInputError(f"source must be a non-empty string, got {clip_text(source)}")
    return [
        o if o.source == source else dataclasses.replace(o, source=source) for o in observations
    ]
