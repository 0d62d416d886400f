"""A layered 3D scene graph: rooms, furniture, objects and the agent, with their history.

Layers and node ids follow Spark-DSG: a node id is a layer letter and a number (``R1``, ``F3``,
``O12``, ``A0``), and the API speaks Spark-DSG's vocabulary (``has_node`` / ``get_node`` raises
/ ``find_node`` returns None / ``add_node`` / ``remove_node`` / ``num_nodes``, the same for
edges). Edges point from the contained thing to its container:

* ``O12 -on-> F3`` (the mug rests on the counter top), ``O7 -inside-> F1`` (in the fridge),
* ``O12 -in_room-> R1`` and ``F3 -in_room-> R1``,
* ``O12 -near- O7`` (symmetric, stored once with the smaller id first).

The world frame is z-up (ROS REP 103). Confidence is a probability at the API and log-odds
inside, clamped as OctoMap clamps occupancy, so a long-seen object does not take forever to
forget and a new one cannot be certain after one glimpse.

Every mutation is recorded as a :class:`GraphChange` with a sequence number. A ROS node calls
:meth:`SceneGraph.pop_changes` to publish deltas, the store persists
:meth:`SceneGraph.changes_after`, and ``WhatChanged`` answers from
:meth:`SceneGraph.changes_since`. Every node also keeps a history of where it was and in which
state, so :meth:`SceneGraph.find_state_at` can say where the mug was at 10:00.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from memory_nodes.core.errors import InvalidInputError, NotFoundError
from memory_nodes.core.object_taxonomy import (
    HANGING_RECEPTACLES,
    ReceptacleKind,
    is_furniture,
    receptacle_kind,
)
from memory_nodes.core.spatial_index import FootprintIndex, PointIndex
from memory_nodes.core.types import Box, ObjectRecord, Pose, Vector3


class Layer(StrEnum):
    """Scene-graph layers; the value is the node-id prefix."""

    ROOM = "R"
    FURNITURE = "F"
    OBJECT = "O"
    AGENT = "A"


class EdgeType(StrEnum):
    IN_ROOM = "in_room"
    ON = "on"
    INSIDE = "inside"
    NEAR = "near"


class NodeStatus(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    """Not seen where memory had it despite looking: moved elsewhere or removed."""


class ChangeKind(StrEnum):
    NODE_ADDED = "node_added"
    NODE_UPDATED = "node_updated"
    NODE_REMOVED = "node_removed"
    EDGE_ADDED = "edge_added"
    EDGE_REMOVED = "edge_removed"


LOCATION_EDGES = (EdgeType.ON, EdgeType.INSIDE)
_LOCATION_KEYS = frozenset(e.value for e in LOCATION_EDGES)

# OctoMap's sensor model and clamping (probabilities).
DEFAULT_HIT_PROBABILITY = 0.7
DEFAULT_MISS_PROBABILITY = 0.4
CLAMP_MIN_PROBABILITY = 0.12
CLAMP_MAX_PROBABILITY = 0.97

_NODE_ID = re.compile(r"^([RFOA])(\d+)$")

#: Pose updates smaller than this (metres) are sensor jitter and log no change.
DEFAULT_POSE_CHANGE_MIN_DISTANCE_M = 0.02
#: Orientation updates smaller than this (radians, about 3 degrees) log no change.
DEFAULT_POSE_CHANGE_MIN_ANGLE_RAD = 0.05
#: History entries kept per node: a year of daily moves, not a week of every sighting.
DEFAULT_MAX_HISTORY = 400
#: An object re-observed within this distance (metres) of where its near edges were last
#: derived in full only re-checks its tight pairs (see SceneGraph._near_unchanged).
_NEAR_ANCHOR_M = 0.01
#: Pairs whose distance lies this close to the near radius are tight: three anchor radii (both
#: ends may drift one radius from their anchors, and the partner one more from where it stood
#: when the pair was judged), plus room for rounding.
_NEAR_TIGHT_M = 3.0 * _NEAR_ANCHOR_M + 1e-6
#: How much farther than the near radius a full refresh looks, to list the tight pairs.
_NEAR_TIGHT_BAND_M = _NEAR_TIGHT_M + 1e-6


def logit(probability: float) -> float:
    p = min(max(probability, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def probability(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-log_odds))


_LOG_ODDS_MIN = logit(CLAMP_MIN_PROBABILITY)
_LOG_ODDS_MAX = logit(CLAMP_MAX_PROBABILITY)


@dataclass(frozen=True, slots=True, order=True)
class NodeSymbol:
    """A typed node id, as Spark-DSG's ``NodeSymbol``: ``NodeSymbol("O", 12)`` is ``"O12"``."""

    category: str
    category_id: int

    def __str__(self) -> str:
        return f"{self.category}{self.category_id}"

    @classmethod
    def parse(cls, node_id: str) -> NodeSymbol:
        match = _NODE_ID.match(node_id) if isinstance(node_id, str) else None
        if match is None:
            raise InvalidInputError(
                f"node id must be a layer letter (R, F, O, A) and a number, got {node_id!r}"
            )
        return cls(match.group(1), int(match.group(2)))

    @property
    def layer(self) -> Layer:
        return Layer(self.category)


@dataclass(frozen=True, slots=True)
class Provenance:
    """One observation that supported a node: which, from what source, when."""

    observation_id: str
    source: str
    stamp: float


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Where a node was and in which state from ``stamp`` on (one history entry)."""

    stamp: float
    position: Vector3
    states: dict[str, str]
    parent_id: str
    relation: str
    room_id: str
    status: NodeStatus
    reason: str


@dataclass(slots=True)
class SceneNode:
    """Attributes of one node. Mutate it only through :class:`SceneGraph` methods."""

    node_id: str
    layer: Layer
    node_type: str
    world_T_object: Pose
    box: Box
    first_seen: float
    last_seen: float
    external_id: str = ""
    name: str = ""
    states: dict[str, str] = field(default_factory=dict)
    log_odds: float = 0.0
    num_observations: int = 0
    status: NodeStatus = NodeStatus.PRESENT
    consecutive_misses: int = 0
    provenance: list[Provenance] = field(default_factory=list)
    history: list[NodeSnapshot] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return probability(self.log_odds)

    @property
    def position(self) -> Vector3:
        return self.world_T_object.position


@dataclass(frozen=True, slots=True)
class SceneEdge:
    source: str
    target: str
    edge_type: EdgeType
    stamp: float
    origin: str = ""
    """Why the edge exists: ``"geometry"``, ``"action"``, ... ."""


@dataclass(frozen=True, slots=True)
class GraphChange:
    """One recorded mutation. Edge changes fill ``target_id`` and ``edge_type``."""

    sequence: int
    stamp: float
    kind: ChangeKind
    node_id: str
    target_id: str = ""
    edge_type: str = ""
    detail: str = ""


ChangeSink = Callable[[GraphChange], None]


class SceneGraph:
    """The long-term memory graph.

    Parameters
    ----------
    near_radius
        Centre distance in metres below which two objects get a ``near`` edge.
    history_min_distance
        A pose update moving less than this is noise and adds no history entry.
    pose_change_min_distance, pose_change_min_angle
        A pose or box update that leaves the node within this distance (metres, for its
        position, box centre and each box extent) and this rotation (radians) of where the
        change log last placed it is sensor jitter: the node takes the new pose and is written
        by the store, but no change is logged. Without this, 1 cm of jitter on a few dozen
        objects at 10 Hz logged 86,000 changes in 10 minutes. 0 logs every update.
    max_provenance
        Supporting observations kept per node (the newest win); enough to explain a belief
        without growing without bound on a robot that runs for weeks.
    max_history
        History entries kept per node (the newest win), for the same reason.
    change_log_limit
        Changes kept in memory for ``changes_since`` (the oldest are dropped a tenth of the
        limit at a time, so up to 10 % more may be held); the store keeps its own window.
    """

    def __init__(
        self,
        *,
        near_radius: float = 0.3,
        history_min_distance: float = 0.05,
        pose_change_min_distance: float = DEFAULT_POSE_CHANGE_MIN_DISTANCE_M,
        pose_change_min_angle: float = DEFAULT_POSE_CHANGE_MIN_ANGLE_RAD,
        max_provenance: int = 20,
        max_history: int = DEFAULT_MAX_HISTORY,
        change_log_limit: int = 100_000,
    ) -> None:
        if near_radius < 0 or history_min_distance < 0 or max_provenance < 1:
            raise InvalidInputError("near_radius, history_min_distance >= 0, max_provenance >= 1")
        if max_history < 1:
            raise InvalidInputError(f"max_history must be >= 1, got {max_history}")
        self.near_radius = near_radius
        self.history_min_distance = history_min_distance
        self.set_jitter_threshold(pose_change_min_distance, pose_change_min_angle)
        self.max_provenance = max_provenance
        self.max_history = max_history
        self.change_log_limit = change_log_limit
        # Nodes and edges in plain dicts: networkx's MultiDiGraph spent about 500 bytes on each
        # edge (a key dict and a data dict per pair), 10 KB an object once ``near`` edges were
        # counted. ``_succ[u][v]`` (and ``_pred[v][u]``) hold the edge u -> v, or a dict by edge
        # type when one pair has several; both iterate in insertion order as networkx did.
        self._nodes: dict[str, SceneNode] = {}
        # A ``near`` edge made by geometry is stored as its stamp alone (most edges are such,
        # about 15 an object in a dense home); :func:`_as_edge` turns it back into an edge.
        self._succ: dict[str, dict[str, _StoredEdge]] = {}
        self._pred: dict[str, dict[str, _StoredEdge]] = {}
        self._next_index: dict[str, int] = {layer.value: 0 for layer in Layer}
        self._by_external_id: dict[str, str] = {}
        self._sequence = 0
        self._change_log: list[GraphChange] = []
        self._pending: list[GraphChange] = []
        self._sinks: list[ChangeSink] = []
        # Nodes whose attributes changed without a recorded change (a hit raises confidence
        # and counts an observation every frame; logging each would drown the change log).
        self._touched: set[str] = set()
        # Furniture and objects whose confidence, stamps or status changed since the answer
        # order index of queries last looked (None until it first asks: see take_reranked).
        self._reranked: set[str] | None = None
        # Pose and box of each node when its last pose change was logged: jitter is measured
        # from there, so a slow drift is still logged once it adds up.
        self._logged_pose: dict[str, tuple[Pose, Box]] = {}
        self._order: dict[Layer | None, list[str]] | None = None
        self._by_type: dict[str, set[str]] = {}
        # Each node's ``on``/``inside`` and ``in_room`` edge, beside the graph: every record an
        # answer converts looks both up, and networkx's adjacency views cost about 3 us a call.
        self._location_of: dict[str, tuple[str, EdgeType]] = {}
        self._room_of: dict[str, str] = {}
        # Spatial indexes, kept current by add, update and remove, so that the work of one
        # observation depends on what is near it, not on the size of the map: furniture and
        # object centres (near edges, nodes_within), the same per type (association), holders
        # by footprint (derive_location) and rooms by footprint (derive_room).
        self._positions = PointIndex(cell_size=0.5)
        self._box_centres_by_type: dict[str, PointIndex] = {}
        self._holders = FootprintIndex(cell_size=1.0, margin=_HOLDER_MARGIN_M)
        self._hangers: set[str] = set()
        self._rooms = FootprintIndex(cell_size=2.0, margin=1e-6)
        # Largest box extent ever seen per type (an upper bound: it never shrinks), for gates.
        self._extent_of_type: dict[str, float] = {}
        # Largest distance ever seen between a node's position and its box centre (a bound).
        self._max_centre_offset = 0.0
        self._missing_by_type: dict[str, set[str]] = {}
        # Whether a type can hold things (receptacle or hanger), per type name.
        self._holds_things: dict[str, bool] = {}
        # Near-edge anchors (see _near_unchanged): where each object's last full refresh of
        # its near edges found it, its tight partners, objects that moved off their anchor
        # (or, never anchored, moved at all) without a refresh since, and the radius used.
        self._near_anchor: dict[str, Vector3] = {}
        self._near_tight: dict[str, tuple[str, ...]] = {}
        self._near_loose: set[str] = set()
        self._near_anchor_radius = near_radius
        self._near_internal = False

    def set_jitter_threshold(self, distance: float, angle: float) -> None:
        """Pose updates below ``distance`` metres and ``angle`` radians log no change."""
        for name, value in (("distance", distance), ("angle", angle)):
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"jitter {name} must be finite and >= 0, got {value}")
        self.pose_change_min_distance = float(distance)
        self.pose_change_min_angle = float(angle)

    def _beyond_jitter(self, before: tuple[Pose, Box], pose: Pose, box: Box) -> bool:
        limit = self.pose_change_min_distance
        old_pose, old_box = before
        if (
            old_pose.position.distance_to(pose.position) >= limit
            or old_box.center.distance_to(box.center) >= limit
            or abs(old_box.size.x - box.size.x) >= limit
            or abs(old_box.size.y - box.size.y) >= limit
            or abs(old_box.size.z - box.size.z) >= limit
        ):
            return True
        a, b = old_pose.orientation, pose.orientation
        dot = min(abs(a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w), 1.0)
        return 2.0 * math.acos(dot) >= self.pose_change_min_angle

    # ------------------------------------------------------------------ nodes

    def has_node(self, node_id: str | NodeSymbol) -> bool:
        return str(node_id) in self._nodes

    def get_node(self, node_id: str | NodeSymbol) -> SceneNode:
        node = self.find_node(node_id)
        if node is None:
            raise NotFoundError(f"no node {node_id!s} in the scene graph")
        return node

    def find_node(self, node_id: str | NodeSymbol) -> SceneNode | None:
        return self._nodes.get(str(node_id))

    def num_nodes(self, layer: Layer | None = None) -> int:
        if layer is None:
            return len(self._nodes)
        return len(self._ordered_ids(Layer(layer)))

    def nodes(self, layer: Layer | None = None) -> Iterator[SceneNode]:
        """Nodes in id order (layer letter, then number) so iteration is deterministic."""
        ids = self._ordered_ids() if layer is None else self._ordered_ids(Layer(layer))
        nodes = self._nodes
        for node_id in ids:
            yield nodes[node_id]

    def nodes_of_type(self, node_type: str) -> list[SceneNode]:
        """Nodes of one type in id order, from an index (queries by type stay O(answer))."""
        ids = self._by_type.get(node_type)
        if not ids:
            return []
        nodes = self._nodes
        return [nodes[i] for i in sorted(ids, key=_id_order)]

    def node_types(self) -> set[str]:
        """Types that have at least one node."""
        return {node_type for node_type, ids in self._by_type.items() if ids}

    def nodes_within(self, point: Vector3, radius: float) -> list[SceneNode]:
        """Furniture and objects of any status whose centre is within ``radius`` of ``point``.

        Inclusive, in no particular order; the cost is the grid cells the ball covers plus
        the hits, whatever the size of the map.
        """
        if not radius >= 0:
            raise InvalidInputError(f"radius must be >= 0, got {radius}")
        nodes = self._nodes
        found = self._positions.ids_within((point.x, point.y, point.z), radius)
        return [nodes[i] for i in found]  # type: ignore[index]

    def nodes_in_box(self, lo: Vector3, hi: Vector3) -> list[SceneNode]:
        """Furniture and objects of any status whose centre lies in the box [lo, hi]
        (inclusive), in no particular order; the cost is the cells covered plus the hits."""
        nodes = self._nodes
        found = self._positions.ids_in_box((lo.x, lo.y, lo.z), (hi.x, hi.y, hi.z))
        return [nodes[i] for i in found]  # type: ignore[index]

    def nodes_of_type_within(
        self, node_type: str, point: Vector3, radius: float
    ) -> list[SceneNode]:
        """Furniture and objects of ``node_type`` whose box centre is within ``radius`` of
        ``point``, in id order (association compares box centres)."""
        index = self._box_centres_by_type.get(node_type)
        if index is None or not radius >= 0:
            return []
        nodes = self._nodes
        found = index.ids_within((point.x, point.y, point.z), radius)
        return [nodes[i] for i in sorted(found, key=_id_order)]  # type: ignore[arg-type]

    def objects_over(self, lo: tuple[float, float], hi: tuple[float, float]) -> list[SceneNode]:
        """Objects (any status) whose centre lies over the x-y rectangle [lo, hi], in id order."""
        nodes = self._nodes
        found = self._positions.ids_in_box((lo[0], lo[1], -math.inf), (hi[0], hi[1], math.inf))
        return [
            nodes[i]  # type: ignore[index]
            for i in sorted(found, key=_id_order)  # type: ignore[arg-type]
            if nodes[i].layer == Layer.OBJECT  # type: ignore[index]
        ]

    def max_extent_of_type(self, node_type: str) -> float:
        """An upper bound of the largest box extent of any node of the type (0 if none)."""
        return self._extent_of_type.get(node_type, 0.0)

    def max_extent(self) -> float:
        """An upper bound of the largest box extent of any furniture or object node."""
        return max(self._extent_of_type.values(), default=0.0)

    def max_centre_offset(self) -> float:
        """An upper bound of the distance between any node's position and its box centre."""
        return self._max_centre_offset

    def missing_of_type(self, node_type: str) -> list[SceneNode]:
        """Nodes of the type marked missing, in id order."""
        ids = self._missing_by_type.get(node_type)
        if not ids:
            return []
        nodes = self._nodes
        return [nodes[i] for i in sorted(ids, key=_id_order)]

    def _ordered_ids(self, layer: Layer | None = None) -> list[str]:
        # Sorting every call cost 30 ms at 10,000 nodes; the order only changes when nodes
        # are added or removed, which invalidates this cache.
        if self._order is None:
            ordered = sorted(self._nodes, key=_id_order)
            self._order = {None: ordered}
            for member in Layer:
                self._order[member] = [i for i in ordered if i[0] == member.value]
        return self._order[layer]

    def _index_node(self, node: SceneNode) -> None:
        self._note_reranked(node.node_id)
        if self._order is not None:
            # Kept sorted in place: re-sorting after each of a frame's 1,000 new objects (every
            # new node derives its room through nodes()) took most of a minute.
            key = _id_order(node.node_id)
            for ids in (self._order[None], self._order[node.layer]):
                if not ids or _id_order(ids[-1]) < key:
                    ids.append(node.node_id)
                else:
                    bisect.insort(ids, node.node_id, key=_id_order)
        self._by_type.setdefault(node.node_type, set()).add(node.node_id)
        if node.status == NodeStatus.MISSING:
            self._missing_by_type.setdefault(node.node_type, set()).add(node.node_id)
        self._index_geometry(node)

    def _index_geometry(self, node: SceneNode) -> None:
        """Enter the node's current pose and box in the spatial indexes."""
        layer = node.layer
        if layer == Layer.ROOM:
            lo, hi = _footprint(node.box)
            self._rooms.insert(node.node_id, lo, hi)
            return
        if layer not in (Layer.FURNITURE, Layer.OBJECT):
            return
        position = node.world_T_object.position
        point = (position.x, position.y, position.z)
        if (
            layer == Layer.OBJECT
            and node.status == NodeStatus.PRESENT
            and node.node_id in self._positions
            and self._positions.point(node.node_id) != point
        ):
            anchor = self._near_anchor.get(node.node_id)
            if anchor is None or math.dist(point, _xyz(anchor)) > _NEAR_ANCHOR_M:
                self._near_loose.add(node.node_id)
        self._positions.insert(node.node_id, point)
        by_type = self._box_centres_by_type.get(node.node_type)
        if by_type is None:
            by_type = self._box_centres_by_type[node.node_type] = PointIndex(cell_size=1.0)
        centre = node.box.center
        by_type.insert(
            node.node_id, point if centre == position else (centre.x, centre.y, centre.z)
        )
        offset = math.dist(point, (centre.x, centre.y, centre.z))
        if not offset <= self._max_centre_offset:
            self._max_centre_offset = offset
        size = node.box.size
        extent = max(size.x, size.y, size.z)
        if not extent <= self._extent_of_type.get(node.node_type, 0.0):
            self._extent_of_type[node.node_type] = extent
        if self._holds(node.node_type):
            if node.node_type in HANGING_RECEPTACLES:
                self._hangers.add(node.node_id)
            else:
                lo, hi = _footprint(node.box)
                self._holders.insert(node.node_id, lo, hi)

    def _unindex_node(self, node: SceneNode) -> None:
        self._note_reranked(node.node_id)
        if self._order is not None:
            key = _id_order(node.node_id)
            for ids in (self._order[None], self._order[node.layer]):
                index = bisect.bisect_left(ids, key, key=_id_order)
                if index < len(ids) and ids[index] == node.node_id:
                    del ids[index]
        self._positions.remove(node.node_id)
        by_type = self._box_centres_by_type.get(node.node_type)
        if by_type is not None:
            by_type.remove(node.node_id)
            if not len(by_type):
                del self._box_centres_by_type[node.node_type]
        self._holders.remove(node.node_id)
        self._hangers.discard(node.node_id)
        self._rooms.remove(node.node_id)
        self._missing_by_type.get(node.node_type, set()).discard(node.node_id)
        ids = self._by_type.get(node.node_type)
        if ids is not None:
            ids.discard(node.node_id)
            if not ids:
                del self._by_type[node.node_type]

    def find_object_by_external_id(self, external_id: str) -> SceneNode | None:
        node_id = self._by_external_id.get(external_id) if external_id else None
        return None if node_id is None else self.find_node(node_id)

    def resolve(self, ref: str | NodeSymbol) -> SceneNode:
        """A node named by its node id or by its external id; raises NotFoundError."""
        ref = str(ref)
        node = self.find_node(ref) if _NODE_ID.match(ref) else None
        node = node or self.find_object_by_external_id(ref)
        if node is None:
            raise NotFoundError(f"no node with id or external id {ref!r}")
        return node

    def add_node(
        self,
        layer: Layer | str,
        node_type: str,
        *,
        world_T_object: Pose,
        box: Box,
        stamp: float,
        external_id: str = "",
        name: str = "",
        states: dict[str, str] | None = None,
        confidence: float = 0.5,
        provenance: Provenance | None = None,
    ) -> str:
        """Add a node and return its new id (``O12``); relations are derived at once."""
        layer = Layer(layer)
        if not node_type:
            raise InvalidInputError("node_type must not be empty")
        if not 0.0 < confidence < 1.0:
            raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}")
        if external_id and external_id in self._by_external_id:
            owner = self._by_external_id[external_id]
            raise InvalidInputError(f"external id {external_id!r} already belongs to {owner}")
        node_id = f"{layer.value}{self._next_index[layer.value]}"
        self._next_index[layer.value] += 1
        node = SceneNode(
            node_id=node_id,
            layer=layer,
            node_type=node_type,
            world_T_object=world_T_object,
            box=box,
            first_seen=stamp,
            last_seen=stamp,
            external_id=external_id,
            name=name,
            states=dict(states or {}),
            log_odds=_clamp(logit(confidence)),
            num_observations=1 if provenance else 0,
            provenance=[provenance] if provenance else [],
        )
        self._nodes[node_id] = node
        self._index_node(node)
        if external_id:
            self._by_external_id[external_id] = node_id
        self._record(stamp, ChangeKind.NODE_ADDED, node_id, detail=node_type)
        if layer in (Layer.OBJECT, Layer.FURNITURE):
            self.refresh_relations(node_id, stamp)
        self._snapshot(node, stamp, "added")
        return node_id

    def add_room(self, name: str, extent: Box, stamp: float, external_id: str = "") -> str:
        """A room whose extent (an axis-aligned box; only x-y is used) contains its objects."""
        return self.add_node(
            Layer.ROOM,
            "Room",
            world_T_object=Pose(extent.center),
            box=extent,
            stamp=stamp,
            external_id=external_id,
            name=name,
            confidence=CLAMP_MAX_PROBABILITY - 1e-6,
        )

    def set_agent_pose(self, world_T_agent: Pose, stamp: float) -> str:
        """Create or move the agent node ``A0``."""
        agent = next(self.nodes(Layer.AGENT), None)
        if agent is None:
            return self.add_node(
                Layer.AGENT,
                "Agent",
                world_T_object=world_T_agent,
                box=Box(world_T_agent.position),
                stamp=stamp,
                confidence=CLAMP_MAX_PROBABILITY - 1e-6,
            )
        agent.world_T_object = world_T_agent
        agent.box = Box(world_T_agent.position)
        agent.last_seen = max(agent.last_seen, stamp)
        self._record(stamp, ChangeKind.NODE_UPDATED, agent.node_id, detail="pose")
        return agent.node_id

    def remove_node(self, node_id: str | NodeSymbol, stamp: float) -> None:
        node = self.get_node(node_id)
        self._near_internal = True  # the pairs go with the node: nothing to re-derive
        try:
            for edge in list(self.edges_of(node.node_id)):
                self.remove_edge(edge.source, edge.target, edge.edge_type, stamp)
        finally:
            self._near_internal = False
        del self._nodes[node.node_id]
        self._unindex_node(node)
        self._forget_near_anchor(node.node_id)
        self._near_loose.discard(node.node_id)
        for other_id in self._near_tight.pop(node.node_id, ()):
            self._drop_tight_partner(other_id, node.node_id)
        self._logged_pose.pop(node.node_id, None)
        if node.external_id:
            self._by_external_id.pop(node.external_id, None)
        self._record(stamp, ChangeKind.NODE_REMOVED, node.node_id, detail=node.node_type)

    def update_node(
        self,
        node_id: str | NodeSymbol,
        stamp: float,
        *,
        world_T_object: Pose | None = None,
        box: Box | None = None,
        states: dict[str, str] | None = None,
        external_id: str | None = None,
        reason: str = "",
    ) -> bool:
        """Change pose, box or states (merged key by key); True if anything changed.

        A move beyond ``history_min_distance`` or any state change adds a history entry.
        """
        node = self.get_node(node_id)
        details: list[str] = []
        moved = False
        # Measured from the pose last logged (or first seen here): small steps add up.
        before = self._logged_pose.setdefault(node.node_id, (node.world_T_object, node.box))
        pose_changed = False
        if world_T_object is not None:
            moved = node.position.distance_to(world_T_object.position) >= self.history_min_distance
            if world_T_object != node.world_T_object:
                node.world_T_object = world_T_object
                pose_changed = True
        if box is not None and box != node.box:
            node.box = box
            pose_changed = True
        if pose_changed:
            self._index_geometry(node)
            if moved or self._beyond_jitter(before, node.world_T_object, node.box):
                details.append("moved" if moved else "pose")
                self._logged_pose[node.node_id] = (node.world_T_object, node.box)
            else:  # jitter: kept and written, not logged
                self._touched.add(node.node_id)
        changed_states = {
            k: v for k, v in (states or {}).items() if node.states.get(k) != v and v is not None
        }
        if changed_states:
            node.states.update(changed_states)
            details.append("state:" + ",".join(sorted(changed_states)))
        if external_id and external_id != node.external_id:
            owner = self._by_external_id.get(external_id)
            if owner is not None and owner != node.node_id:
                raise InvalidInputError(f"external id {external_id!r} already belongs to {owner}")
            if node.external_id:
                self._by_external_id.pop(node.external_id, None)
            node.external_id = external_id
            self._by_external_id[external_id] = node.node_id
            details.append("external_id")
        if not details:
            return False
        self._record(stamp, ChangeKind.NODE_UPDATED, node.node_id, detail=";".join(details))
        if moved or changed_states:
            self._snapshot(node, stamp, reason or ("moved" if moved else "state"))
        return True

    def record_hit(
        self,
        node_id: str | NodeSymbol,
        stamp: float,
        provenance: Provenance | None = None,
        hit_probability: float = DEFAULT_HIT_PROBABILITY,
    ) -> None:
        """The node was observed: raise confidence, count it, clear misses and 'missing'."""
        node = self.get_node(node_id)
        node.log_odds = _clamp(node.log_odds + logit(hit_probability))
        self._note_reranked(node.node_id)
        self._touched.add(node.node_id)
        node.num_observations += 1
        node.last_seen = max(node.last_seen, stamp)
        node.consecutive_misses = 0
        if provenance is not None:
            node.provenance.append(provenance)
            del node.provenance[: -self.max_provenance]
        if node.status == NodeStatus.MISSING:
            node.status = NodeStatus.PRESENT
            self._missing_by_type.get(node.node_type, set()).discard(node.node_id)
            self._record(stamp, ChangeKind.NODE_UPDATED, node.node_id, detail="reappeared")
            self.refresh_relations(node.node_id, stamp)
            self._snapshot(node, stamp, "reappeared")

    def record_miss(
        self,
        node_id: str | NodeSymbol,
        stamp: float,
        miss_probability: float = DEFAULT_MISS_PROBABILITY,
        misses_to_missing: int = 3,
    ) -> bool:
        """The node should have been seen and was not; True when it just became missing.

        A missing node loses its location edges (memory no longer claims the mug is in the
        fridge) but keeps its last pose and its history.
        """
        node = self.get_node(node_id)
        if node.status == NodeStatus.MISSING:
            return False
        node.log_odds = _clamp(node.log_odds + logit(miss_probability))
        self._note_reranked(node.node_id)
        node.consecutive_misses += 1
        if node.consecutive_misses < misses_to_missing:
            self._record(stamp, ChangeKind.NODE_UPDATED, node.node_id, detail="confidence")
            return False
        self.mark_missing(node.node_id, stamp)
        return True

    def mark_missing(self, node_id: str | NodeSymbol, stamp: float) -> None:
        node = self.get_node(node_id)
        node.status = NodeStatus.MISSING
        self._note_reranked(node.node_id)
        self._missing_by_type.setdefault(node.node_type, set()).add(node.node_id)
        # Its near pairs are no longer close (it is not present): its partners' edges stay
        # right; its own are derived in full when it reappears.
        self._forget_near_anchor(node.node_id)
        self._near_loose.discard(node.node_id)
        self._near_internal = True
        try:
            for edge in list(self.edges_of(node.node_id)):
                if edge.source == node.node_id or edge.edge_type == EdgeType.NEAR:
                    self.remove_edge(edge.source, edge.target, edge.edge_type, stamp)
        finally:
            self._near_internal = False
        self._record(stamp, ChangeKind.NODE_UPDATED, node.node_id, detail="missing")
        self._snapshot(node, stamp, "missing")

    # ------------------------------------------------------------------ edges

    def has_edge(
        self, source: str | NodeSymbol, target: str | NodeSymbol, edge_type: EdgeType | str
    ) -> bool:
        return self.find_edge(source, target, edge_type) is not None

    def get_edge(
        self, source: str | NodeSymbol, target: str | NodeSymbol, edge_type: EdgeType | str
    ) -> SceneEdge:
        edge = self.find_edge(source, target, edge_type)
        if edge is None:
            raise NotFoundError(f"no {edge_type} edge {source!s} -> {target!s}")
        return edge

    def find_edge(
        self, source: str | NodeSymbol, target: str | NodeSymbol, edge_type: EdgeType | str
    ) -> SceneEdge | None:
        source, target, edge_type = _edge_key(source, target, edge_type)
        return self._find_edge(source, target, edge_type)

    def _find_edge(self, source: str, target: str, edge_type: EdgeType) -> SceneEdge | None:
        """The edge by its stored key (a ``near`` edge from the lower id), or None."""
        found = self._succ.get(source, _NO_EDGES).get(target)
        if found is None:
            return None
        if isinstance(found, dict):
            return found.get(edge_type)
        edge = _as_edge(found, source, target)
        return edge if edge.edge_type == edge_type else None

    def _insert_edge(self, edge: SceneEdge) -> None:
        compact = (
            edge.edge_type == EdgeType.NEAR
            and edge.origin == "geometry"
            and type(edge.stamp) is float
        )
        value: _StoredEdge = edge.stamp if compact else edge
        for table, one, other in (
            (self._succ, edge.source, edge.target),
            (self._pred, edge.target, edge.source),
        ):
            row = table.get(one)
            if row is None:
                table[one] = {other: value}
                continue
            found = row.get(other)
            if found is None:
                row[other] = value
            elif isinstance(found, dict):
                found[edge.edge_type] = edge
            else:  # a second edge between the pair: both kept whole, by type
                first = _as_edge(found, edge.source, edge.target)
                row[other] = {first.edge_type: first, edge.edge_type: edge}
        self._index_edge(edge)

    def _delete_edge(self, edge: SceneEdge) -> None:
        for table, one, other in (
            (self._succ, edge.source, edge.target),
            (self._pred, edge.target, edge.source),
        ):
            row = table[one]
            found = row[other]
            if isinstance(found, dict):
                del found[edge.edge_type]
                if len(found) == 1:
                    row[other] = next(iter(found.values()))
            else:
                del row[other]
            if not row:
                del table[one]
        self._unindex_edge(edge)

    def add_edge(
        self,
        source: str | NodeSymbol,
        target: str | NodeSymbol,
        edge_type: EdgeType | str,
        stamp: float,
        origin: str = "geometry",
    ) -> SceneEdge:
        source, target, edge_type = _edge_key(source, target, edge_type)
        if source == target:
            raise InvalidInputError(f"an edge needs two nodes, got {source} twice")
        for node_id in (source, target):
            self.get_node(node_id)
        existing = self.find_edge(source, target, edge_type)
        if existing is not None:
            return existing
        edge = SceneEdge(source, target, edge_type, stamp, origin)
        self._insert_edge(edge)
        if edge_type == EdgeType.NEAR and not self._near_internal:
            self._forget_near_anchor(source)  # a near edge made by hand: derive both anew
            self._forget_near_anchor(target)
        self._record(stamp, ChangeKind.EDGE_ADDED, source, target, edge_type.value, origin)
        return edge

    def remove_edge(
        self,
        source: str | NodeSymbol,
        target: str | NodeSymbol,
        edge_type: EdgeType | str,
        stamp: float,
    ) -> None:
        edge = self.get_edge(source, target, edge_type)
        self._delete_edge(edge)
        if edge.edge_type == EdgeType.NEAR and not self._near_internal:
            self._forget_near_anchor(edge.source)
            self._forget_near_anchor(edge.target)
        self._record(stamp, ChangeKind.EDGE_REMOVED, edge.source, edge.target, edge.edge_type)

    def num_edges(self, edge_type: EdgeType | str | None = None) -> int:
        wanted = None if edge_type is None else EdgeType(edge_type)
        return sum(1 for edge in self._all_edges() if wanted is None or edge.edge_type == wanted)

    def _all_edges(self) -> Iterator[SceneEdge]:
        for source, row in self._succ.items():
            for target, found in row.items():
                if isinstance(found, dict):
                    yield from found.values()
                else:
                    yield _as_edge(found, source, target)

    def edges(self, edge_type: EdgeType | str | None = None) -> Iterator[SceneEdge]:
        """Edges sorted by (source, target, type) so iteration is deterministic."""
        wanted = None if edge_type is None else EdgeType(edge_type)
        found = [e for e in self._all_edges() if wanted is None or e.edge_type == wanted]
        yield from sorted(found, key=_edge_sort_key)

    def edges_of(self, node_id: str | NodeSymbol) -> Iterator[SceneEdge]:
        """The node's outgoing edges, then its incoming ones, each in the order added."""
        node_id = str(node_id)
        for table, outgoing in ((self._succ, True), (self._pred, False)):
            for other, found in list(table.get(node_id, _NO_EDGES).items()):
                if isinstance(found, dict):
                    yield from list(found.values())
                elif outgoing:
                    yield _as_edge(found, node_id, other)
                else:
                    yield _as_edge(found, other, node_id)

    def neighbours(self, node_id: str | NodeSymbol, edge_type: EdgeType | str) -> list[str]:
        """Ids joined to the node by an ``edge_type`` edge in either direction, in no order."""
        edge_type, node_id = EdgeType(edge_type), str(node_id)
        found: list[str] = []
        for table in (self._succ, self._pred):
            for other, edge in table.get(node_id, _NO_EDGES).items():
                if _holds_type(edge, edge_type):
                    found.append(other)
        return found

    def children(self, node_id: str | NodeSymbol, edge_type: EdgeType | str) -> list[str]:
        """Ids of nodes with an ``edge_type`` edge into ``node_id`` (what is in the fridge)."""
        edge_type = EdgeType(edge_type)
        node_id = str(node_id)
        found = [
            source
            for source, edge in self._pred.get(node_id, _NO_EDGES).items()
            if _holds_type(edge, edge_type)
        ]
        return sorted(found, key=_id_order)

    def find_location(self, node_id: str | NodeSymbol) -> tuple[str, EdgeType] | None:
        """The receptacle the node is ``on`` or ``inside``; None if on nothing (or unknown).

        A node has one such edge (``set_location`` replaces it); should ``add_edge`` have given
        it two, the first added that is still there.
        """
        return self._location_of.get(str(node_id))

    def find_room(self, node_id: str | NodeSymbol) -> str | None:
        """The room the node is ``in_room``; None if in none (or unknown)."""
        return self._room_of.get(str(node_id))

    def _index_edge(self, edge: SceneEdge) -> None:
        if edge.edge_type == EdgeType.IN_ROOM:
            self._room_of.setdefault(edge.source, edge.target)
        elif edge.edge_type.value in _LOCATION_KEYS:
            self._location_of.setdefault(edge.source, (edge.target, edge.edge_type))

    def _unindex_edge(self, edge: SceneEdge) -> None:
        source = edge.source
        if edge.edge_type == EdgeType.IN_ROOM:
            if self._room_of.get(source) != edge.target:
                return
            del self._room_of[source]
        elif edge.edge_type.value in _LOCATION_KEYS:
            if self._location_of.get(source) != (edge.target, edge.edge_type):
                return
            del self._location_of[source]
        else:
            return
        # A second edge of the kind (only add_edge makes one) takes over; rare, so a scan.
        remaining = [
            e
            for target, found in self._succ.get(source, _NO_EDGES).items()
            for e in (
                found.values() if isinstance(found, dict) else (_as_edge(found, source, target),)
            )
        ]
        for other in sorted(remaining, key=lambda e: e.stamp):
            self._index_edge(other)

    # ---------------------------------------------------------- relations

    def derive_location(
        self, box: Box, exclude: str = "", max_gap: float = 0.1
    ) -> tuple[str, EdgeType] | None:
        """The receptacle a box is on or inside, judged from geometry alone.

        ``inside``: the box centre lies within a container's box. ``on``: the centre lies over
        a receptacle's footprint and the box bottom is within ``max_gap`` of its top face (the
        support is that face), or the box stands in the receptacle's box (a shelf compartment,
        a thick counter top; the support is the box's floor). Containers holding the box beat
        surfaces (an apple in a bowl in the fridge is in the bowl; among containers the
        smallest wins); of surfaces the highest support wins (the knife is on the counter top,
        not on the drawer just below it; the laptop is on the table, not on the chair tucked
        under it whose back rises past the table top). Boxes reaching the floor that merely
        enclose the box come next (the tallest wins: the desk, not the chair under it), and
        hangers last. A container memory believes closed cannot hold what is being looked at,
        so for it only ``on`` is considered.
        """
        # Plain floats with numpy's arithmetic (c - s / 2 per axis, the same comparisons):
        # small arrays per holder cost most of a re-observation.
        (cx, cy, cz), (sx, sy, sz) = _xyz(box.center), _xyz(box.size)
        box_lo = (cx - sx / 2.0, cy - sy / 2.0, cz - sz / 2.0)
        box_hi = (cx + sx / 2.0, cy + sy / 2.0, cz + sz / 2.0)
        bottom = box_lo[2]
        volume = box.volume()
        present, furniture, objects = NodeStatus.PRESENT, Layer.FURNITURE, Layer.OBJECT
        # (rank, support height, volume, id, relation) of the best holder so far.
        best: tuple[int, float, float, str, EdgeType] | None = None
        for node in self._possible_holders(cx, cy):
            if node.node_id == exclude or (node.layer != furniture and node.layer != objects):
                continue
            held = node.box
            (hx, hy, hz), (hsx, hsy, hsz) = _xyz(held.center), _xyz(held.size)
            hanger = node.node_type in HANGING_RECEPTACLES
            # Cheap footprint test first (a little wider than the exact one below).
            if not hanger and (
                abs(cx - hx) > hsx / 2.0 + 0.021 or abs(cy - hy) > hsy / 2.0 + 0.021
            ):
                continue
            if node.status != present:
                continue
            kind = receptacle_kind(node.node_type)
            if kind == ReceptacleKind.NONE or (held.volume() <= volume and not hanger):
                continue
            lo = (hx - hsx / 2.0, hy - hsy / 2.0, hz - hsz / 2.0)
            hi = (hx + hsx / 2.0, hy + hsy / 2.0, hz + hsz / 2.0)
            if hanger:
                # A towel hangs from its holder: the boxes touch, the towel is the bigger one.
                # Last resort only: a soap bar on the counter may touch the rail above it.
                touches = all(box_lo[i] <= hi[i] + max_gap for i in range(3)) and all(
                    lo[i] <= box_hi[i] + max_gap for i in range(3)
                )
                if touches:
                    candidate = (3, hi[2], held.volume(), node.node_id, EdgeType.ON)
                    if best is None or _ranks_before(candidate, best):
                        best = candidate
                continue
            over = lo[0] - 0.02 <= cx <= hi[0] + 0.02 and lo[1] - 0.02 <= cy <= hi[1] + 0.02
            if not over:
                continue
            within = lo[2] - 0.02 <= cz <= hi[2] + 0.02
            closed = node.states.get("isOpen", "").lower() == "false"
            supported = abs(bottom - hi[2]) <= max_gap
            relation: EdgeType | None = None
            rank, support = 0, 0.0
            if kind == ReceptacleKind.CONTAINER and within and not closed:
                relation = EdgeType.INSIDE
            elif supported:
                relation, rank, support = EdgeType.ON, 1, hi[2]
            elif within and lo[2] - max_gap <= bottom <= hi[2] and lo[2] > max_gap:
                # Standing in a raised compartment of the receptacle: a shelf.
                relation, rank, support = EdgeType.ON, 1, lo[2]
            elif within and lo[2] - max_gap <= bottom <= hi[2]:
                # Enclosed by a box that reaches the floor (a desk with a hutch, a kitchen
                # island, a chair pushed under it): the tallest such piece holds it.
                relation, rank, support = EdgeType.ON, 2, hi[2]
            if relation is not None:
                candidate = (rank, support, held.volume(), node.node_id, relation)
                if best is None or _ranks_before(candidate, best):
                    best = candidate
        return None if best is None else (best[3], best[4])

    def _holds(self, node_type: str) -> bool:
        """Whether nodes of the type can hold things (receptacles and hangers)."""
        holds = self._holds_things.get(node_type)
        if holds is None:
            holds = (
                receptacle_kind(node_type) != ReceptacleKind.NONE
                or node_type in HANGING_RECEPTACLES
            )
            self._holds_things[node_type] = holds
        return holds

    def _possible_holders(self, x: float, y: float) -> Iterator[SceneNode]:
        """Holders whose footprint (grown by the margin of derive_location's footprint test)
        may contain (x, y), and every hanger (they hold by touch, not by footprint)."""
        nodes = self._nodes
        for node_id in self._holders.ids_at(x, y):
            yield nodes[node_id]  # type: ignore[index]
        for node_id in self._hangers:
            yield nodes[node_id]

    def derive_room(self, point: Vector3) -> str | None:
        """The smallest room whose footprint (x-y) contains the point."""
        best: tuple[float, str] | None = None
        px, py = point.x, point.y
        nodes = self._nodes
        for room_id in self._rooms.ids_at(px, py):
            node = nodes[room_id]  # type: ignore[index]
            center, size = node.box.center, node.box.size
            if (
                center.x - size.x / 2.0 <= px <= center.x + size.x / 2.0
                and center.y - size.y / 2.0 <= py <= center.y + size.y / 2.0
            ):
                area = size.x * size.y
                if best is None or (area, node.node_id) < best:
                    best = (area, node.node_id)
        return None if best is None else best[1]

    def set_location(
        self,
        node_id: str | NodeSymbol,
        location: tuple[str, EdgeType] | None,
        stamp: float,
        origin: str = "geometry",
    ) -> bool:
        """Replace the node's ``on``/``inside`` edge; True if it changed."""
        node = self.get_node(node_id)
        current = self.find_location(node.node_id)
        if location is not None:
            location = (str(location[0]), EdgeType(location[1]))
        if current == location:
            return False
        if current is not None:
            self.remove_edge(node.node_id, current[0], current[1], stamp)
        if location is not None:
            self.add_edge(node.node_id, location[0], location[1], stamp, origin)
        self._snapshot(node, stamp, "relation")
        return True

    def set_room(self, node_id: str | NodeSymbol, room_id: str | None, stamp: float) -> bool:
        node = self.get_node(node_id)
        current = self.find_room(node.node_id)
        if current == room_id:
            return False
        if current is not None:
            self.remove_edge(node.node_id, current, EdgeType.IN_ROOM, stamp)
        if room_id is not None:
            self.add_edge(node.node_id, room_id, EdgeType.IN_ROOM, stamp)
        return True

    def refresh_relations(
        self, node_id: str | NodeSymbol, stamp: float, *, location: bool = True
    ) -> None:
        """Re-derive room, ``near`` and (unless ``location`` is False) ``on``/``inside``."""
        node = self.get_node(node_id)
        if node.status != NodeStatus.PRESENT:
            return
        if location:
            self.set_location(node.node_id, self.derive_location(node.box, node.node_id), stamp)
        self.set_room(node.node_id, self.derive_room(node.position), stamp)
        if node.layer == Layer.OBJECT:
            self._refresh_near(node, stamp)

    def _refresh_near(self, node: SceneNode, stamp: float) -> None:
        """Add and remove the node's ``near`` edges so they match the distances now.

        Objects within the radius come from the position index (queried a little wider, so
        rounding cannot lose one; the exact test is the one it always was) and current
        neighbours are checked as they may have moved away. Only the pairs whose edge must
        change are touched, in id order, so the change log reads as it always did.

        A node re-observed where it was does not need all that: see :meth:`_near_unchanged`.
        """
        radius = self.near_radius
        node_id = node.node_id
        nodes = self._nodes
        position = node.position
        here = (position.x, position.y, position.z)
        present = NodeStatus.PRESENT
        exact = 0.0 < radius < math.inf
        if exact and self._near_anchor_radius != radius:
            self._reset_near_anchors(radius)
        if exact and self._near_unchanged(node_id, position, here, stamp):
            return

        def close(other: SceneNode) -> bool:
            where = other.world_T_object.position
            return (
                other.status == present and math.dist(here, (where.x, where.y, where.z)) <= radius
            )

        if not exact:
            candidates: list = self._ordered_ids(Layer.OBJECT)
        else:
            # Wider than the radius by the anchor band: the pairs near the radius's edge are
            # listed as tight on the way (see _near_unchanged).
            reach = radius + _NEAR_TIGHT_BAND_M
            candidates = self._positions.ids_within(here, reach * (1.0 + 1e-9) + 1e-9)
        current = set(self.neighbours(node_id, EdgeType.NEAR))
        wanted = {
            i
            for i in candidates
            if i != node_id and nodes[i].layer == Layer.OBJECT and close(nodes[i])
        }
        wanted.update(i for i in current if close(nodes[i]))
        self._near_internal = True
        try:
            for other_id in sorted(wanted.symmetric_difference(current), key=_id_order):
                if other_id in wanted:
                    self.add_edge(node_id, other_id, EdgeType.NEAR, stamp)
                else:
                    self.remove_edge(node_id, other_id, EdgeType.NEAR, stamp)
        finally:
            self._near_internal = False
        if exact:
            tight = []
            for other_id in candidates:
                other = nodes[other_id]
                if other_id == node_id or other.layer != Layer.OBJECT or other.status != present:
                    continue
                where = other.world_T_object.position
                if abs(math.dist(here, (where.x, where.y, where.z)) - radius) <= _NEAR_TIGHT_M:
                    tight.append(other_id)
            self._set_near_anchor(node_id, position, tight)

    def _near_unchanged(
        self, node_id: str, position: Vector3, here: tuple[float, float, float], stamp: float
    ) -> bool:
        """Bring the node's ``near`` edges up to date without a search, if that is exact.

        Every full refresh anchors the node where it stands and lists its *tight* partners:
        present objects whose distance lies within ``_NEAR_TIGHT_M`` (three anchor radii) of
        the near radius, entered in both nodes' lists. While no object stands more than
        ``_NEAR_ANCHOR_M`` from where it was last anchored or indexed (an object that does is
        *loose* until its own full refresh), the distance of a pair that is not tight cannot
        have crossed the radius since the pair was last judged, so its edge is still right,
        and only the tight partners need a look. The edges are then exactly those a full
        refresh makes, in the same order. Returns False (a full refresh is needed) when the
        node has no anchor, left it, or some object is loose.
        """
        anchor = self._near_anchor.get(node_id)
        if anchor is None or self._near_loose:
            return False
        if math.dist(here, (anchor.x, anchor.y, anchor.z)) > _NEAR_ANCHOR_M:
            return False
        partners = self._near_tight.get(node_id)
        if not partners:
            return True
        radius, present, nodes = self.near_radius, NodeStatus.PRESENT, self._nodes
        flips = []
        for other_id in partners:
            other = nodes[other_id]
            where = other.world_T_object.position
            close = (
                other.status == present and math.dist(here, (where.x, where.y, where.z)) <= radius
            )
            if close != (
                self._find_edge(*_near_pair(node_id, other_id), EdgeType.NEAR) is not None
            ):
                flips.append(other_id)
        if flips:
            self._near_internal = True
            try:
                for other_id in sorted(flips, key=_id_order):
                    if self.has_edge(node_id, other_id, EdgeType.NEAR):
                        self.remove_edge(node_id, other_id, EdgeType.NEAR, stamp)
                    else:
                        self.add_edge(node_id, other_id, EdgeType.NEAR, stamp)
            finally:
                self._near_internal = False
        return True

    def _set_near_anchor(self, node_id: str, position: Vector3, tight: list[str]) -> None:
        """Anchor the node at ``position`` with these tight partners (kept symmetric)."""
        old = set(self._near_tight.get(node_id, ()))
        new = set(tight)
        for other_id in old - new:
            self._drop_tight_partner(other_id, node_id)
        for other_id in new - old:
            self._near_tight[other_id] = (*self._near_tight.get(other_id, ()), node_id)
        if new:
            self._near_tight[node_id] = tuple(sorted(new, key=_id_order))
        else:
            self._near_tight.pop(node_id, None)
        self._near_anchor[node_id] = position
        self._near_loose.discard(node_id)

    def _drop_tight_partner(self, node_id: str, partner: str) -> None:
        partners = self._near_tight.get(node_id)
        if partners is None:
            return
        kept = tuple(p for p in partners if p != partner)
        if kept:
            self._near_tight[node_id] = kept
        else:
            del self._near_tight[node_id]

    def _forget_near_anchor(self, node_id: str) -> None:
        """The node's next refresh is a full one (its edges changed by other means). Its
        tight pairs stay listed: its partners must keep checking them meanwhile; a loose node
        stays loose until it is derived in full."""
        self._near_anchor.pop(node_id, None)

    def _reset_near_anchors(self, radius: float) -> None:
        """Forget every anchor: they were taken for another near radius."""
        self._near_anchor.clear()
        self._near_tight.clear()
        self._near_loose.clear()
        self._near_anchor_radius = radius

    # ------------------------------------------------------------ history

    def find_state_at(self, node_id: str | NodeSymbol, stamp: float) -> NodeSnapshot | None:
        """Where the node was and in which state at ``stamp``; None before it was first seen."""
        node = self.get_node(node_id)
        found: NodeSnapshot | None = None
        for entry in node.history:
            if entry.stamp <= stamp:
                found = entry
            else:
                break
        return found

    def _snapshot(self, node: SceneNode, stamp: float, reason: str) -> None:
        location = self.find_location(node.node_id)
        entry = NodeSnapshot(
            stamp=stamp,
            position=node.position,
            states=dict(node.states),
            parent_id=location[0] if location else "",
            relation=location[1].value if location else "",
            room_id=self.find_room(node.node_id) or "",
            status=node.status,
            reason=reason,
        )
        # History stays sorted by stamp; a second entry at the same stamp replaces the first.
        index = bisect.bisect_right([e.stamp for e in node.history], stamp)
        if index > 0 and node.history[index - 1].stamp == stamp:
            node.history[index - 1] = entry
        else:
            node.history.insert(index, entry)
            del node.history[: -self.max_history]

    # ------------------------------------------------------------ changes

    @property
    def sequence(self) -> int:
        """Sequence number of the newest change (0 for a graph that never changed)."""
        return self._sequence

    def add_change_sink(self, sink: ChangeSink) -> None:
        """Call ``sink`` with every change as it happens (for publishers or loggers)."""
        self._sinks.append(sink)

    def pop_changes(self) -> list[GraphChange]:
        """Changes since the previous call, oldest first, for publishing deltas."""
        pending, self._pending = self._pending, []
        return pending

    def touch(self, *node_ids: str) -> None:
        """Mark nodes as needing to be written again (a store whose write failed)."""
        self._touched.update(node_ids)

    def take_touched(self) -> set[str]:
        """Nodes changed without a logged change since the previous call (for the store)."""
        touched, self._touched = self._touched, set()
        return touched

    def take_reranked(self) -> set[str] | None:
        """Nodes added, removed, or whose confidence, stamps or status changed since the
        previous call; None on the first call (every node: tracking starts then). For the one
        answer order index of queries (``queries.most_confident``)."""
        reranked, self._reranked = self._reranked, set()
        return reranked

    def _note_reranked(self, node_id: str) -> None:
        if self._reranked is not None:
            self._reranked.add(node_id)

    def changes_since(self, stamp: float) -> list[GraphChange]:
        """Changes stamped at or after ``stamp`` (within the in-memory change log)."""
        return [c for c in self._change_log if c.stamp >= stamp]

    def changes_after(self, sequence: int) -> list[GraphChange]:
        """Changes with a sequence number above ``sequence``, for exact incremental sync."""
        log = self._change_log
        if log and sequence < log[0].sequence - 1:
            raise NotFoundError(f"changes after {sequence} were trimmed from the in-memory log")
        # Sequence numbers only grow along the log: the store's per-frame sync reads the tail
        # instead of scanning 100,000 entries.
        return log[bisect.bisect_right(log, sequence, key=_change_sequence) :]

    def _record(
        self,
        stamp: float,
        kind: ChangeKind,
        node_id: str,
        target_id: str = "",
        edge_type: str = "",
        detail: str = "",
    ) -> None:
        self._sequence += 1
        change = GraphChange(self._sequence, stamp, kind, node_id, target_id, edge_type, detail)
        self._change_log.append(change)
        excess = len(self._change_log) - self.change_log_limit
        # Trimmed in slices of a tenth of the limit: dropping one entry from the front of a
        # full log moved 100,000 pointers for every change recorded.
        if excess > self.change_log_limit // 10:
            del self._change_log[:excess]
        self._pending.append(change)
        for sink in self._sinks:
            sink(change)

    # ---------------------------------------------------------- records

    def to_record(self, node_id: str | NodeSymbol) -> ObjectRecord:
        """The node as an :class:`ObjectRecord`.

        ``object_id`` is the external id when there is one (what the simulator or the planner
        knows the object by), else the node id; ``provenance`` starts with ``node:<node id>``
        followed by the supporting observation ids.
        """
        node = self.get_node(node_id)
        location = self.find_location(node.node_id)
        receptacle_id, relation = "", ""
        if location is not None:
            parent = self.get_node(location[0])
            receptacle_id = parent.external_id or parent.node_id
            relation = location[1].value
        room_id = self.find_room(node.node_id) or ""
        return ObjectRecord(
            object_id=node.external_id or node.node_id,
            object_type=node.node_type,
            world_T_object=node.world_T_object,
            box=node.box,
            confidence=node.confidence,
            first_seen=node.first_seen,
            last_seen=max(node.last_seen, node.first_seen),
            num_observations=node.num_observations,
            states=dict(node.states),
            receptacle_id=receptacle_id,
            receptacle_relation=relation,
            room_id=room_id,
            provenance=(f"node:{node.node_id}", *(p.observation_id for p in node.provenance)),
        )

    # ---------------------------------------------------------- restore

    @classmethod
    def from_parts(
        cls,
        nodes: list[SceneNode],
        edges: list[SceneEdge],
        *,
        next_index: dict[str, int] | None = None,
        sequence: int = 0,
        changes: list[GraphChange] | None = None,
        **options: float,
    ) -> SceneGraph:
        """Rebuild a graph from stored parts without recording any change (used by the store).

        The parts are checked as a whole before the graph is built: node ids must be typed ids
        of their own layer and unique (external ids too), every edge must join two distinct
        known nodes once, and the counters and change sequence numbers must make sense.
        InvalidInputError names the first offending part.
        """
        _check_parts(nodes, edges, next_index, sequence, changes or [])
        graph = cls(**options)  # type: ignore[arg-type]
        for node in nodes:
            graph._nodes[node.node_id] = node
            graph._index_node(node)
            if node.external_id:
                graph._by_external_id[node.external_id] = node.node_id
            symbol = NodeSymbol.parse(node.node_id)
            graph._next_index[symbol.category] = max(
                graph._next_index[symbol.category], symbol.category_id + 1
            )
        for edge in edges:
            graph._insert_edge(edge)
        for layer, index in (next_index or {}).items():
            graph._next_index[layer] = max(graph._next_index[layer], index)
        graph._change_log = list(changes or [])[-graph.change_log_limit :]
        graph._sequence = max(sequence, graph._change_log[-1].sequence if graph._change_log else 0)
        return graph

    @property
    def next_index(self) -> dict[str, int]:
        return dict(self._next_index)


def _check_parts(
    nodes: list[SceneNode],
    edges: list[SceneEdge],
    next_index: dict[str, int] | None,
    sequence: int,
    changes: list[GraphChange],
) -> None:
    """InvalidInputError unless the parts of :meth:`SceneGraph.from_parts` form one graph."""
    known: set[str] = set()
    external: dict[str, str] = {}
    for node in nodes:
        if not isinstance(node, SceneNode):
            raise InvalidInputError(f"expected scene nodes, got a {type(node).__name__}")
        symbol = NodeSymbol.parse(node.node_id)
        if symbol.layer != node.layer:
            raise InvalidInputError(
                f"node {node.node_id} is in layer {node.layer.value}, its id says {symbol.category}"
            )
        if node.node_id in known:
            raise InvalidInputError(f"node id {node.node_id} appears twice")
        known.add(node.node_id)
        if node.external_id:
            if node.external_id in external:
                raise InvalidInputError(
                    f"external id {node.external_id[:80]!r} belongs to both "
                    f"{external[node.external_id]} and {node.node_id}"
                )
            external[node.external_id] = node.node_id
    keys: set[tuple[str, str, EdgeType]] = set()
    for edge in edges:
        if not isinstance(edge, SceneEdge):
            raise InvalidInputError(f"expected scene edges, got a {type(edge).__name__}")
        what = f"edge {edge.source[:40]} -{edge.edge_type}-> {edge.target[:40]}"
        for end in (edge.source, edge.target):
            if end not in known:
                raise InvalidInputError(
                    f"{what} names node {end[:40]!r}, which is not in the graph"
                )
        if edge.source == edge.target:
            raise InvalidInputError(f"{what} joins a node to itself")
        key = _edge_key(edge.source, edge.target, edge.edge_type)
        if key != (edge.source, edge.target, edge.edge_type):
            raise InvalidInputError(f"{what}: a near edge runs from the lower id to the higher")
        if key in keys:
            raise InvalidInputError(f"{what} appears twice")
        keys.add(key)
    for layer, index in (next_index or {}).items():
        if layer not in _LAYER_LETTERS:
            raise InvalidInputError(f"next_index names layer {str(layer)[:40]!r}, not R, F, O or A")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidInputError(f"next_index of layer {layer} must be >= 0, got {index!r:.40}")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise InvalidInputError(f"sequence must be a whole number >= 0, got {sequence!r:.40}")
    previous = 0
    for change in changes:
        if not isinstance(change, GraphChange) or change.sequence <= previous:
            raise InvalidInputError(
                f"change log out of order at sequence {getattr(change, 'sequence', change)!r:.40}"
            )
        previous = change.sequence


_LAYER_LETTERS = frozenset(layer.value for layer in Layer)


def _clamp(log_odds: float) -> float:
    return min(max(log_odds, _LOG_ODDS_MIN), _LOG_ODDS_MAX)


def _edge_key(
    source: str | NodeSymbol, target: str | NodeSymbol, edge_type: EdgeType | str
) -> tuple[str, str, EdgeType]:
    source, target, edge_type = str(source), str(target), EdgeType(edge_type)
    if edge_type == EdgeType.NEAR and NodeSymbol.parse(target) < NodeSymbol.parse(source):
        source, target = target, source
    return source, target, edge_type


def _near_pair(one: str, other: str) -> tuple[str, str]:
    """The stored (source, target) of a ``near`` edge: the lower id first."""
    return (one, other) if _id_order(one) < _id_order(other) else (other, one)


def _edge_sort_key(edge: SceneEdge) -> tuple[tuple[str, int], tuple[str, int], str]:
    return _id_order(edge.source), _id_order(edge.target), edge.edge_type.value


def _change_sequence(change: GraphChange) -> int:
    return change.sequence


def _id_order(node_id: str) -> tuple[str, int]:
    """Sort key of a stored node id: the order of its :class:`NodeSymbol`, without the regex."""
    return node_id[0], int(node_id[1:])


def _xyz(vector: Vector3) -> tuple[float, float, float]:
    return vector.x, vector.y, vector.z


def _ranks_before(
    candidate: tuple[int, float, float, str, EdgeType],
    best: tuple[int, float, float, str, EdgeType],
) -> bool:
    """Whether a holder ranks before the best so far: (rank, the support height rounded to
    the centimetre, highest first, volume, id). Rounded only when two holders are compared:
    most boxes have one."""
    if candidate[0] != best[0]:
        return candidate[0] < best[0]
    return (-_round2(candidate[1]), candidate[2], candidate[3]) < (
        -_round2(best[1]),
        best[2],
        best[3],
    )


def _round2(value: float) -> float:
    """``value`` rounded to 2 decimals as numpy rounds a float64 (not as ``round`` rounds a
    float: the two differ in the last digit for some values, and the order of holders must
    not change)."""
    return round(np.float64(value), 2)


def _footprint(box: Box) -> tuple[tuple[float, float], tuple[float, float]]:
    """The x-y corners of a box, as the footprint tests compute them."""
    center, size = box.center, box.size
    return (
        (center.x - size.x / 2.0, center.y - size.y / 2.0),
        (center.x + size.x / 2.0, center.y + size.y / 2.0),
    )


# How an edge is stored: whole, as its stamp (a geometric ``near`` edge), or by type when a
# pair of nodes has several.
_StoredEdge = SceneEdge | float | dict[EdgeType, SceneEdge]
_NO_EDGES: dict[str, _StoredEdge] = {}


def _as_edge(stored: SceneEdge | float, source: str, target: str) -> SceneEdge:
    """The edge stored between ``source`` and ``target`` (in its stored direction)."""
    if isinstance(stored, SceneEdge):
        return stored
    return SceneEdge(source, target, EdgeType.NEAR, stored, "geometry")


def _holds_type(stored: _StoredEdge, edge_type: EdgeType) -> bool:
    if isinstance(stored, dict):
        return edge_type in stored
    if isinstance(stored, SceneEdge):
        return stored.edge_type == edge_type
    return edge_type == EdgeType.NEAR


# Holders are indexed by their footprint grown by a little more than derive_location's
# widest footprint test (2.1 cm), so rounding never hides one.
_HOLDER_MARGIN_M = 0.021 + 1e-6


def default_layer(object_type: str) -> Layer:
    """``F`` for furniture and fixtures, ``O`` for everything that can be picked up."""
    return Layer.FURNITURE if is_furniture(object_type) else Layer.OBJECT
