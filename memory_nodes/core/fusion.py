"""Object fusion: turn per-frame observations into one scene-graph node per physical object.

Association runs per frame and per object type: a cost matrix of centroid distance (scaled by a
gate that grows with object size) minus box IoU between observations and known nodes plus
tentative candidates, solved with the Hungarian method (``scipy.optimize.linear_sum_assignment``)
so two mugs seen in one frame never both update the same node. The simulator's instance id
(``ObjectObservation.object_id``) is a strong hint: a matching external id wins outright and,
by default, two different ids never associate. A detector gives no ids and still works from
geometry alone.

Nothing is believed from a single frame (what a detector hallucinates once is gone the next
frame):

* a new object stays a tentative candidate until seen in ``confirm_frames`` distinct frames;
* a state change (``isOpen`` true -> false), a jump in position and a change of receptacle each
  need ``change_confirmations`` consistent observations from distinct frames (sensor frame id
  and stamp, :func:`~memory_nodes.core.types.frame_key`: a frame sent again counts once);
* a frame the caller trusts (the robot's own manipulation, which reaches memory on its own
  path) applies at once. Trust is the caller's decision: nothing an observation says about
  itself (its ``source``) makes it trusted.

A confirmed candidate of the same type as a node that change detection marked missing is that
node, moved: memory re-identifies it instead of keeping a stale copy and a new one.

Without ids (a detector, or the ``class_masks`` perception), furniture seen in parts can start
as two nodes: a part far along a counter top is out of the gate of the part seen first. When a
piece of furniture grows over another node of its type that is mostly inside it, that node was
a part of it and is absorbed (see :meth:`ObjectFusion._absorb_parts`). Nodes with ids never are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from memory_nodes.core.errors import InvalidInputError, clip_text
from memory_nodes.core.object_taxonomy import ReceptacleKind, receptacle_kind
from memory_nodes.core.scene_graph import (
    DEFAULT_HIT_PROBABILITY,
    EdgeType,
    Layer,
    NodeStatus,
    Provenance,
    SceneGraph,
    SceneNode,
    default_layer,
)
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3, frame_key

_INFEASIBLE = 1e6
_NO_FRAMES: frozenset[str] = frozenset()
# (observation, target) pairs costed at once: bounds the cost matrix's temporaries (~10 MB).
_PAIRS_PER_BLOCK = 100_000
# Up to this many pairs, costs are computed in plain floats (numpy's set-up costs more).
_PAIRS_IN_PLAIN_FLOATS = 48


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Association and confirmation parameters.

    Attributes
    ----------
    confirm_frames
        Distinct frames a new object must be seen in before it becomes a node.
    change_confirmations
        Consistent observations needed before a state, position jump or receptacle change is
        believed (a trusted frame skips this).
    gate_distance
        Smallest association gate in metres (centroid distance).
    gate_size_factor
        The gate is at least this many times the larger box extent, so a sofa's noisy centroid
        still associates.
    move_distance
        An associated observation farther than this from the fused estimate is a candidate
        move, not noise to average in.
    max_fusion_weight
        Cap of the running weight, so the estimate keeps following slow drift.
    candidate_timeout
        Seconds after which an unconfirmed candidate is forgotten.
    id_mismatch_blocks
        Two different non-empty object ids never associate (right for simulator ids; set False
        for tracker ids that may switch).
    furniture_overlap_margin
        A furniture observation whose box overlaps the fused box (each grown by this many
        metres) is a partial view of it: the fused box grows to the union instead of moving.
    part_inside_share
        An id-free furniture node with at least this share of its box (each box grown by
        ``furniture_overlap_margin``) inside a grown id-free node of its type is a part of it.
    """

    confirm_frames: int = 2
    change_confirmations: int = 2
    gate_distance: float = 0.5
    gate_size_factor: float = 1.0
    move_distance: float = 0.25
    max_fusion_weight: float = 20.0
    candidate_timeout: float = 30.0
    id_mismatch_blocks: bool = True
    furniture_overlap_margin: float = 0.05
    part_inside_share: float = 0.9

    def __post_init__(self) -> None:
        if self.confirm_frames < 1 or self.change_confirmations < 1:
            raise InvalidInputError("confirm_frames and change_confirmations must be >= 1")
        if self.gate_distance <= 0 or self.move_distance <= 0 or self.max_fusion_weight <= 0:
            raise InvalidInputError("gate_distance, move_distance, max_fusion_weight must be > 0")
        if not 0.0 < self.part_inside_share <= 1.0:
            raise InvalidInputError("part_inside_share must be in (0, 1]")


@dataclass(slots=True)
class _Estimate:
    """Running weighted mean of a box (centre and size).

    Plain float triples with numpy's arithmetic, axis by axis (the same operations in the same
    order, so the same values to the last bit): arrays of three cost more to make than the
    sums they hold, several times an observation.
    """

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    weight: float

    @classmethod
    def of(cls, box: Box, weight: float) -> _Estimate:
        return cls(_xyz(box.center), _xyz(box.size), weight)

    def add(self, box: Box, weight: float, cap: float) -> None:
        total = self.weight + weight
        mine = self.weight
        (cx, cy, cz), (sx, sy, sz) = self.center, self.size
        (ox, oy, oz), (px, py, pz) = _xyz(box.center), _xyz(box.size)
        self.center = (
            (mine * cx + weight * ox) / total,
            (mine * cy + weight * oy) / total,
            (mine * cz + weight * oz) / total,
        )
        self.size = (
            (mine * sx + weight * px) / total,
            (mine * sy + weight * py) / total,
            (mine * sz + weight * pz) / total,
        )
        self.weight = min(total, cap)

    def grow(self, box: Box, cap: float) -> bool:
        """Become the union with ``box``; True if the box got larger."""
        other_lo, other_hi = _corners(box)
        center, size = self.center, self.size
        lo = [min(center[i] - size[i] / 2.0, other_lo[i]) for i in range(3)]
        hi = [max(center[i] + size[i] / 2.0, other_hi[i]) for i in range(3)]
        grew = any(hi[i] - lo[i] > size[i] + 1e-9 for i in range(3))
        self.center = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0)
        self.size = (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])
        self.weight = min(self.weight + 1.0, cap)
        return grew

    def box(self) -> Box:
        return Box(Vector3(*self.center), Vector3(*self.size))


def _corners(box: Box) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``box.min_corner`` and ``box.max_corner`` as float triples (the same values)."""
    (cx, cy, cz), (sx, sy, sz) = _xyz(box.center), _xyz(box.size)
    return (
        (cx - sx / 2.0, cy - sy / 2.0, cz - sz / 2.0),
        (cx + sx / 2.0, cy + sy / 2.0, cz + sz / 2.0),
    )


def _overlaps(a: Box, b: Box, margin: float) -> bool:
    """The boxes overlap on every axis once each is grown by ``margin``."""
    a_lo, a_hi = _corners(a)
    b_lo, b_hi = _corners(b)
    return all(a_lo[i] <= b_hi[i] + margin for i in range(3)) and all(
        b_lo[i] <= a_hi[i] + margin for i in range(3)
    )


@dataclass(slots=True)
class _Candidate:
    key: int
    object_type: str
    external_id: str
    estimate: _Estimate
    frames: set[str]
    last_seen: float
    observations: list[tuple[str, ObjectObservation]] = field(default_factory=list)

    @property
    def box(self) -> Box:
        return self.estimate.box()


@dataclass(slots=True)
class _Track:
    """Fusion state of one node that the graph does not need to store."""

    estimate: _Estimate
    # Pending changes count distinct frames (sensor + stamp), so a frame sent again, however
    # often, is one frame of evidence.
    pending_move: _Estimate | None = None
    # Shared and empty until a move is pending (an empty set per node cost 216 bytes).
    pending_move_frames: AbstractSet[str] = _NO_FRAMES
    pending_states: dict[str, tuple[str, set[str]]] = field(default_factory=dict)
    # Stamp of the newest evidence for each held state value: frames older than it arrive
    # late (queued in perception) and must not roll back what the robot just did.
    state_stamps: dict[str, float] = field(default_factory=dict)
    pending_location: tuple[tuple[str, EdgeType] | None, set[str]] | None = None


@dataclass(slots=True)
class FusionResult:
    """What one frame did to memory."""

    observed: dict[str, str] = field(default_factory=dict)
    """Node id -> id of the observation that matched it (feed this to change detection)."""
    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    state_changes: list[tuple[str, str, str]] = field(default_factory=list)
    """(node id, state key, new value)."""
    relation_changes: list[str] = field(default_factory=list)
    absorbed: dict[str, str] = field(default_factory=dict)
    """Node id -> the node it was a part of (id-free furniture seen in parts), now removed."""
    tentative: int = 0
    """Candidates still waiting for confirmation after this frame."""


def observation_id(observation: ObjectObservation, index: int) -> str:
    """A stable id for provenance: source, frame and instance."""
    instance = observation.object_id or str(index)
    return f"{observation.source or 'obs'}:{frame_key(observation)}:{instance}"


class ObjectFusion:
    """Associates observations with scene-graph nodes and updates them.

    Fusion state (running weights, pending changes, candidates) lives here; after a restart it
    is rebuilt lazily from the nodes, so only confirmations in flight are lost.
    """

    def __init__(self, graph: SceneGraph, config: FusionConfig | None = None) -> None:
        self.graph = graph
        self.config = config or FusionConfig()
        self._tracks: dict[str, _Track] = {}
        self._candidates: dict[int, _Candidate] = {}
        self._next_candidate = 0

    @property
    def num_candidates(self) -> int:
        return len(self._candidates)

    def integrate_frame(
        self,
        observations: Sequence[ObjectObservation],
        *,
        trusted: bool = False,
        checkpoint: Callable[[], None] | None = None,
    ) -> FusionResult:
        """Fuse all observations of one frame; returns what changed.

        ``trusted`` (the caller's decision, never the observations'): apply every observation
        at once, as the robot's own action results are. ``checkpoint``, if given, is called
        after each observation has been applied (the graph is consistent then), so a server
        can answer queries in the middle of a long frame.
        """
        result = FusionResult()
        if not observations:
            return result
        now = max(o.stamp for o in observations)
        self._expire_candidates(now)
        entries = [(observation_id(obs, index), obs) for index, obs in enumerate(observations)]
        if trusted:
            for obs_id, obs in entries:
                self._apply_trusted(obs_id, obs, result)
                if checkpoint is not None:
                    checkpoint()
        else:
            by_type: dict[str, list[tuple[str, ObjectObservation]]] = defaultdict(list)
            for entry in entries:
                by_type[entry[1].object_type].append(entry)
            for object_type in sorted(by_type):
                self._associate_type(object_type, by_type[object_type], result, checkpoint)
        self._promote_candidates(result, checkpoint)
        result.tentative = len(self._candidates)
        return result

    def record_interaction(
        self,
        object_ref: str,
        receptacle_ref: str | None,
        relation: EdgeType | str | None,
        stamp: float,
        source: str = "action",
    ) -> None:
        """The robot put ``object_ref`` on/in ``receptacle_ref`` (None: picked it up).

        Believed at once: the robot knows what its own hand did.
        """
        node = self.graph.resolve(object_ref)
        location = None
        if receptacle_ref is not None:
            if relation is None:
                raise InvalidInputError("a receptacle needs a relation ('on' or 'inside')")
            relation = EdgeType(relation)
            if relation not in (EdgeType.ON, EdgeType.INSIDE):
                raise InvalidInputError(
                    f"relation must be 'on' or 'inside', got {clip_text(relation)}"
                )
            location = (self.graph.resolve(receptacle_ref).node_id, relation)
        self.graph.set_location(node.node_id, location, stamp, origin=source)
        track = self._track(node)
        track.pending_location = None
        self.graph.record_hit(
            node.node_id, stamp, Provenance(f"{source}:{stamp:.6f}:{node.node_id}", source, stamp)
        )

    # ---------------------------------------------------------- association

    def _associate_type(
        self,
        object_type: str,
        entries: list[tuple[str, ObjectObservation]],
        result: FusionResult,
        checkpoint: Callable[[], None] | None = None,
    ) -> None:
        nodes = self._gated_nodes(object_type, [obs for _, obs in entries], result.observed)
        candidates = [c for c in self._candidates.values() if c.object_type == object_type]
        targets: list[SceneNode | _Candidate] = [*nodes, *candidates]
        matched: dict[int, SceneNode | _Candidate] = {}
        if targets:
            cost = self._cost_matrix([obs for _, obs in entries], targets)
            rows, cols = linear_sum_assignment(cost)
            matched = {
                int(r): targets[int(c)] for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e5
            }
        for row, (obs_id, obs) in enumerate(entries):
            target = matched.get(row)
            if isinstance(target, SceneNode) and target.node_id in result.absorbed:
                # Absorbed earlier in this frame: the observation is of the whole.
                target = self.graph.find_node(_absorber(result.absorbed, target.node_id))
            if isinstance(target, SceneNode):
                self._update_node(target, obs_id, obs, result)
            elif isinstance(target, _Candidate):
                self._update_candidate(target, obs_id, obs)
            else:
                self._new_candidate(obs_id, obs)
            if checkpoint is not None:
                checkpoint()

    def _gate_radius(self, obs: ObjectObservation, object_type: str) -> float:
        """Centre distance beyond which no node of the type can be a feasible match for
        ``obs`` (unless their ids match).

        A pair is feasible when the distance is within the gate, max(gate_distance,
        gate_size_factor * larger extent), or when the boxes overlap, which needs a distance
        below sqrt(3) * the larger extent. The type's largest extent bounds the node's.
        """
        size = obs.box.size
        extent = max(size.x, size.y, size.z, self.graph.max_extent_of_type(object_type))
        radius = max(
            self.config.gate_distance, max(self.config.gate_size_factor, math.sqrt(3.0)) * extent
        )
        return radius * (1.0 + 1e-9) + 1e-9  # rounding must not lose a pair on the edge

    def _gated_nodes(
        self,
        object_type: str,
        observations: Sequence[ObjectObservation],
        excluded: dict[str, str] | set[str],
    ) -> list[SceneNode]:
        """Nodes of the type (in its default layer, not in ``excluded``) that may be a
        feasible match for any of ``observations``, in id order.

        Every other node costs at least ``_INFEASIBLE`` against all of them, so leaving it out
        of the cost matrix leaves the assignment as it was, and the work of a frame depends on
        what is near it instead of on how many nodes of the type memory holds.
        """
        layer = default_layer(object_type)
        found: dict[str, SceneNode] = {}
        for obs in observations:
            radius = self._gate_radius(obs, object_type)
            for node in self.graph.nodes_of_type_within(object_type, obs.box.center, radius):
                found[node.node_id] = node
            if obs.object_id:  # a matching id wins however far away the node is
                node = self.graph.find_object_by_external_id(obs.object_id)
                if node is not None and node.node_type == object_type:
                    found[node.node_id] = node
        nodes = [n for n in found.values() if n.layer == layer and n.node_id not in excluded]
        nodes.sort(key=lambda n: _node_order(n.node_id))
        return nodes

    def _cost_matrix(
        self, observations: Sequence[ObjectObservation], targets: Sequence[SceneNode | _Candidate]
    ) -> np.ndarray:
        """:meth:`_cost` of every (observation, target) pair, computed in one go with numpy.

        A frame of a thousand mugs against a thousand known ones must not cost a million
        Python calls; a few pairs (most frames: an object or two of a type) cost less in plain
        floats, with the same arithmetic (:meth:`_cost_pairs`).
        """
        if len(observations) * len(targets) <= _PAIRS_IN_PLAIN_FLOATS:
            return self._cost_pairs(observations, targets)
        obs_center = np.array([_xyz(o.box.center) for o in observations], dtype=np.float64)
        obs_size = np.array([_xyz(o.box.size) for o in observations], dtype=np.float64)
        codes: dict[str, int] = {}
        obs_ids = np.array([codes.setdefault(o.object_id, len(codes)) if o.object_id else -1
                            for o in observations], dtype=np.int64)  # fmt: skip
        tgt_ids = np.array([codes.setdefault(t.external_id, len(codes)) if t.external_id else -1
                            for t in targets], dtype=np.int64)  # fmt: skip
        tgt_center = np.empty((len(targets), 3), dtype=np.float64)
        tgt_size = np.empty((len(targets), 3), dtype=np.float64)
        for index, target in enumerate(targets):
            if isinstance(target, _Candidate):
                tgt_center[index], tgt_size[index] = target.estimate.center, target.estimate.size
            else:
                tgt_center[index] = _xyz(target.box.center)
                tgt_size[index] = _xyz(target.box.size)
        cost = np.empty((len(observations), len(targets)), dtype=np.float64)
        # Rows in blocks, so the temporaries stay a few MB however many targets there are.
        block = max(1, _PAIRS_PER_BLOCK // max(len(targets), 1))
        for start in range(0, len(observations), block):
            rows = slice(start, start + block)
            cost[rows] = self._cost_block(
                (obs_center[rows], obs_size[rows], obs_ids[rows]), (tgt_center, tgt_size, tgt_ids)
            )
        return cost

    def _cost_block(
        self,
        observations: tuple[np.ndarray, np.ndarray, np.ndarray],
        targets: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """Costs of (centres, sizes, id codes) of observations against those of targets."""
        obs_center, obs_size, obs_ids = observations
        tgt_center, tgt_size, tgt_ids = targets
        # Centre distance and the size-dependent gate.
        delta = obs_center[:, None, :] - tgt_center[None, :, :]
        dx, dy, dz = delta[..., 0], delta[..., 1], delta[..., 2]
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)  # summed as _cost_pairs sums
        extent = np.maximum(obs_size.max(axis=1)[:, None], tgt_size.max(axis=1)[None, :])
        gate = np.maximum(self.config.gate_distance, self.config.gate_size_factor * extent)
        # Box IoU, with the same arithmetic as Box.iou.
        obs_lo, obs_hi = obs_center - obs_size / 2.0, obs_center + obs_size / 2.0
        tgt_lo, tgt_hi = tgt_center - tgt_size / 2.0, tgt_center + tgt_size / 2.0
        overlap = np.minimum(obs_hi[:, None, :], tgt_hi[None, :, :]) - np.maximum(
            obs_lo[:, None, :], tgt_lo[None, :, :]
        )
        np.clip(overlap, 0.0, None, out=overlap)
        inter = overlap[..., 0] * overlap[..., 1] * overlap[..., 2]
        obs_volume = obs_size[:, 0] * obs_size[:, 1] * obs_size[:, 2]
        tgt_volume = tgt_size[:, 0] * tgt_size[:, 1] * tgt_size[:, 2]
        union = obs_volume[:, None] + tgt_volume[None, :] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        cost = distance / gate - iou
        cost[(distance > gate) & (iou <= 0.0)] = _INFEASIBLE
        # External ids: a match wins outright; two different ids never associate (by default).
        both = (obs_ids[:, None] >= 0) & (tgt_ids[None, :] >= 0)
        same = both & (obs_ids[:, None] == tgt_ids[None, :])
        if self.config.id_mismatch_blocks:
            cost[both & ~same] = _INFEASIBLE
        cost[same] = -1.0
        return cost

    def _cost_pairs(
        self, observations: Sequence[ObjectObservation], targets: Sequence[SceneNode | _Candidate]
    ) -> np.ndarray:
        """:meth:`_cost_block`'s costs pair by pair in plain floats: the same operations in the
        same order, so the same values to the last bit (a test compares them)."""
        gate_distance, size_factor = self.config.gate_distance, self.config.gate_size_factor
        blocks = self.config.id_mismatch_blocks
        prepared = []
        for target in targets:
            if isinstance(target, _Candidate):
                centre, size = target.estimate.center, target.estimate.size
            else:
                centre, size = _xyz(target.box.center), _xyz(target.box.size)
            prepared.append((*_box_terms(centre, size), target.external_id))
        rows = []
        for obs in observations:
            o_centre, o_lo, o_hi, o_volume, o_extent = _box_terms(
                _xyz(obs.box.center), _xyz(obs.box.size)
            )
            o_id = obs.object_id
            row = []
            for t_centre, t_lo, t_hi, t_volume, t_extent, t_id in prepared:
                dx = o_centre[0] - t_centre[0]
                dy = o_centre[1] - t_centre[1]
                dz = o_centre[2] - t_centre[2]
                distance = math.sqrt(dx * dx + dy * dy + dz * dz)
                gate = max(gate_distance, size_factor * max(o_extent, t_extent))
                ox = min(o_hi[0], t_hi[0]) - max(o_lo[0], t_lo[0])
                oy = min(o_hi[1], t_hi[1]) - max(o_lo[1], t_lo[1])
                oz = min(o_hi[2], t_hi[2]) - max(o_lo[2], t_lo[2])
                inter = (ox if ox > 0.0 else 0.0) * (oy if oy > 0.0 else 0.0)
                inter *= oz if oz > 0.0 else 0.0
                union = o_volume + t_volume - inter
                iou = inter / union if union > 0 else 0.0
                cost = distance / gate - iou
                if distance > gate and iou <= 0.0:
                    cost = _INFEASIBLE
                if o_id and t_id:
                    if o_id == t_id:
                        cost = -1.0
                    elif blocks:
                        cost = _INFEASIBLE
                row.append(cost)
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(observations), len(targets))

    def _cost(self, obs: ObjectObservation, target: SceneNode | _Candidate) -> float:
        external_id = target.external_id
        if obs.object_id and external_id:
            if obs.object_id == external_id:
                return -1.0
            if self.config.id_mismatch_blocks:
                return _INFEASIBLE
        target_box = target.box
        distance = obs.box.center.distance_to(target_box.center)
        extent = max(*_extents(obs.box), *_extents(target_box))
        gate = max(self.config.gate_distance, self.config.gate_size_factor * extent)
        iou = obs.box.iou(target_box)
        if distance > gate and iou <= 0.0:
            return _INFEASIBLE
        return distance / gate - iou

    # ---------------------------------------------------------- nodes

    def _track(self, node: SceneNode) -> _Track:
        track = self._tracks.get(node.node_id)
        if track is None:
            weight = float(min(max(node.num_observations, 1), self.config.max_fusion_weight))
            track = _Track(_Estimate.of(node.box, weight))
            self._tracks[node.node_id] = track
        return track

    def _update_node(
        self, node: SceneNode, obs_id: str, obs: ObjectObservation, result: FusionResult
    ) -> None:
        cfg = self.config
        track = self._track(node)
        frame = frame_key(obs)
        result.observed[node.node_id] = obs_id
        provenance = Provenance(obs_id, obs.source, obs.stamp)
        was_missing = node.status == NodeStatus.MISSING
        distance = obs.box.center.distance_to(node.box.center)
        moved = False
        grew = False
        if (
            node.layer == Layer.FURNITURE
            and not was_missing
            and _overlaps(obs.box, track.estimate.box(), cfg.furniture_overlap_margin)
        ):
            # Furniture is seen in parts (a 3 m counter top never fits one frame): an
            # overlapping box is another part of the same piece, not a move, so the estimate
            # becomes the union of the parts seen.
            track.pending_move, track.pending_move_frames = None, _NO_FRAMES
            grew = track.estimate.grow(obs.box, cfg.max_fusion_weight)
        elif distance > cfg.move_distance:
            # A jump: believe it after K consistent sightings, or at once if memory already
            # found the object gone from its old place.
            pending = track.pending_move
            if pending is not None and obs.box.center.distance_to(pending.box().center) <= (
                cfg.move_distance
            ):
                if frame not in track.pending_move_frames:
                    pending.add(obs.box, obs.confidence, cfg.max_fusion_weight)
                    track.pending_move_frames = {*track.pending_move_frames, frame}
            else:
                track.pending_move = _Estimate.of(obs.box, obs.confidence)
                track.pending_move_frames = {frame}
            if was_missing or len(track.pending_move_frames) >= cfg.change_confirmations:
                track.estimate = track.pending_move
                track.pending_move, track.pending_move_frames = None, _NO_FRAMES
                moved = True
        else:
            track.pending_move, track.pending_move_frames = None, _NO_FRAMES
            track.estimate.add(obs.box, max(obs.confidence, 1e-3), cfg.max_fusion_weight)
        if track.pending_move is None:
            fused = track.estimate.box()
            self.graph.update_node(
                node.node_id,
                obs.stamp,
                world_T_object=Pose(fused.center, obs.world_T_object.orientation),
                box=fused,
                reason="moved" if moved else "",
            )
        if moved:
            result.moved.append(node.node_id)
        if grew and not node.external_id:
            self._absorb_parts(node, obs.stamp, result)
        if grew and receptacle_kind(node.node_type) != ReceptacleKind.NONE:
            self._place_unplaced_over(node, obs.stamp)
        self._update_states(node, track, obs, result, trusted=False)
        self._adopt_external_id(node, obs.object_id, obs.stamp)
        self.graph.record_hit(node.node_id, obs.stamp, provenance, _hit_probability(obs))
        self._update_location(node, track, obs.stamp, frame, result, immediate=moved or was_missing)

    def _absorb_parts(self, whole: SceneNode, stamp: float, result: FusionResult) -> None:
        """Remove id-free nodes of ``whole``'s type that are mostly inside it: parts of it.

        A counter top seen first at one end and then from the other becomes two nodes (the
        second part is beyond the gate); once the second has grown along the counter over the
        first, the first is a part of it, and two nodes for one counter top would be a
        duplicate. Objects that rested on the part are placed again.
        """
        margin = self.config.furniture_overlap_margin
        size = whole.box.size
        # A part mostly inside has its centre within the whole's half diagonal plus its own.
        radius = 0.5 * math.sqrt(size.x * size.x + size.y * size.y + size.z * size.z)
        radius += math.sqrt(3.0) * self.graph.max_extent_of_type(whole.node_type) + margin
        near = self.graph.nodes_of_type_within(whole.node_type, whole.box.center, radius)
        for part in near:
            if (
                part.node_id == whole.node_id
                or part.node_type != whole.node_type
                or part.layer != whole.layer
                or part.external_id
                or part.status != NodeStatus.PRESENT
                or _share_inside(part.box, whole.box, margin) < self.config.part_inside_share
            ):
                continue
            held = [
                child
                for edge_type in (EdgeType.ON, EdgeType.INSIDE)
                for child in self.graph.children(part.node_id, edge_type)
            ]
            self.graph.remove_node(part.node_id, stamp)
            self._tracks.pop(part.node_id, None)
            # What this frame reported of the part is now of the whole.
            result.absorbed[part.node_id] = whole.node_id
            observed = result.observed.pop(part.node_id, None)
            if observed is not None:
                result.observed.setdefault(whole.node_id, observed)
            for listed in (result.created, result.moved, result.relation_changes):
                listed[:] = [n for n in listed if n != part.node_id]
            result.state_changes[:] = [c for c in result.state_changes if c[0] != part.node_id]
            for child_id in held:
                child = self.graph.find_node(child_id)
                if child is not None and child.status == NodeStatus.PRESENT:
                    derived = self.graph.derive_location(child.box, exclude=child_id)
                    self.graph.set_location(child_id, derived, stamp)

    def _place_unplaced_over(self, holder: SceneNode, stamp: float) -> None:
        """Objects with no receptacle yet that now lie over a grown receptacle get one.

        An apple confirmed before the far end of its counter top was seen had nothing to rest
        on; without this it would stay unplaced until it is observed again.
        """
        lo, hi = holder.box.min_corner - 0.02, holder.box.max_corner + 0.02
        over = self.graph.objects_over((float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1])))
        for other in over:
            if other.status != NodeStatus.PRESENT or other.node_id == holder.node_id:
                continue
            if self.graph.find_location(other.node_id) is not None:
                continue
            derived = self.graph.derive_location(other.box, exclude=other.node_id)
            if derived is not None:
                self.graph.set_location(other.node_id, derived, stamp)

    def _update_states(
        self,
        node: SceneNode,
        track: _Track,
        obs: ObjectObservation,
        result: FusionResult,
        trusted: bool,
    ) -> None:
        accepted: dict[str, str] = {}
        frame = frame_key(obs)
        for key, value in sorted(obs.states.items()):
            current = node.states.get(key)
            if not trusted and obs.stamp < track.state_stamps.get(key, -math.inf):
                continue
            if current == value:
                track.pending_states.pop(key, None)
                track.state_stamps[key] = max(obs.stamp, track.state_stamps.get(key, obs.stamp))
                continue
            if current is None or trusted:  # nothing to contradict, or the robot did it
                accepted[key] = value
                continue
            pending_value, frames = track.pending_states.get(key, (value, set()))
            frames = frames | {frame} if pending_value == value else {frame}
            if len(frames) >= self.config.change_confirmations:
                accepted[key] = value
                track.pending_states.pop(key, None)
            else:
                track.pending_states[key] = (value, frames)
        if accepted:
            self.graph.update_node(node.node_id, obs.stamp, states=accepted, reason="state")
            for key, value in accepted.items():
                track.pending_states.pop(key, None)
                track.state_stamps[key] = obs.stamp
                result.state_changes.append((node.node_id, key, value))

    def _update_location(
        self,
        node: SceneNode,
        track: _Track,
        stamp: float,
        frame: str,
        result: FusionResult,
        immediate: bool,
    ) -> None:
        derived = self.graph.derive_location(node.box, exclude=node.node_id)
        current = self.graph.find_location(node.node_id)
        if derived == current:
            track.pending_location = None
        else:
            pending = track.pending_location
            same = pending is not None and pending[0] == derived
            frames = pending[1] | {frame} if same else {frame}  # type: ignore[index]
            # No known location yet means nothing to contradict: take the derived one at once.
            if immediate or current is None or len(frames) >= self.config.change_confirmations:
                self.graph.set_location(node.node_id, derived, stamp)
                track.pending_location = None
                result.relation_changes.append(node.node_id)
            else:
                track.pending_location = (derived, frames)
        self.graph.refresh_relations(node.node_id, stamp, location=False)

    def _apply_trusted(self, obs_id: str, obs: ObjectObservation, result: FusionResult) -> None:
        node = self.graph.find_object_by_external_id(obs.object_id) if obs.object_id else None
        if node is None:
            same_type = self._gated_nodes(obs.object_type, [obs], set())
            costs = [(self._cost(obs, n), n.node_id) for n in same_type]
            feasible = [c for c in costs if c[0] < 1e5]
            node = self.graph.get_node(min(feasible)[1]) if feasible else None
        if node is None:
            node_id = self._add_node(obs.object_type, obs.box, [(obs_id, obs)], obs.object_id)
            result.created.append(node_id)
            result.observed[node_id] = obs_id
            return
        track = self._track(node)
        track.estimate = _Estimate.of(obs.box, self.config.max_fusion_weight / 2)
        track.pending_move, track.pending_move_frames = None, _NO_FRAMES
        self.graph.update_node(
            node.node_id, obs.stamp, world_T_object=obs.world_T_object, box=obs.box
        )
        self._update_states(node, track, obs, result, trusted=True)
        self.graph.record_hit(
            node.node_id, obs.stamp, Provenance(obs_id, obs.source, obs.stamp), 0.9
        )
        self._update_location(node, track, obs.stamp, frame_key(obs), result, immediate=True)
        result.observed[node.node_id] = obs_id

    # ---------------------------------------------------------- candidates

    def _new_candidate(self, obs_id: str, obs: ObjectObservation) -> None:
        key = self._next_candidate
        self._next_candidate += 1
        self._candidates[key] = _Candidate(
            key=key,
            object_type=obs.object_type,
            external_id=obs.object_id,
            estimate=_Estimate.of(obs.box, max(obs.confidence, 1e-3)),
            frames={frame_key(obs)},
            last_seen=obs.stamp,
            observations=[(obs_id, obs)],
        )

    def _update_candidate(self, candidate: _Candidate, obs_id: str, obs: ObjectObservation) -> None:
        candidate.estimate.add(obs.box, max(obs.confidence, 1e-3), self.config.max_fusion_weight)
        candidate.frames.add(frame_key(obs))
        candidate.last_seen = max(candidate.last_seen, obs.stamp)
        candidate.observations.append((obs_id, obs))
        if obs.object_id and not candidate.external_id:
            candidate.external_id = obs.object_id

    def _expire_candidates(self, now: float) -> None:
        timeout = self.config.candidate_timeout
        for key in [k for k, c in self._candidates.items() if now - c.last_seen > timeout]:
            del self._candidates[key]

    def _promote_candidates(
        self, result: FusionResult, checkpoint: Callable[[], None] | None = None
    ) -> None:
        # Furniture first, so objects confirmed in the same frame find their receptacles.
        order = sorted(
            self._candidates.values(),
            key=lambda c: (default_layer(c.object_type) != Layer.FURNITURE, c.key),
        )
        # Missing nodes by type, listed once per frame (not once per candidate: a frame of a
        # thousand new mugs must not scan the graph a thousand times).
        missing_by_type: dict[str, list[SceneNode]] = {}
        for candidate in order:
            key = candidate.key
            if len(candidate.frames) < self.config.confirm_frames:
                continue
            del self._candidates[key]
            object_type = candidate.object_type
            if object_type not in missing_by_type:
                layer = default_layer(object_type)
                missing_by_type[object_type] = [
                    n for n in self.graph.missing_of_type(object_type) if n.layer == layer
                ]
            missing = self._find_missing_match(candidate, missing_by_type[object_type])
            if missing is None:
                node_id = self._add_node(
                    candidate.object_type,
                    candidate.box,
                    candidate.observations,
                    candidate.external_id,
                    estimate=candidate.estimate,
                )
                result.created.append(node_id)
            else:
                node_id = missing.node_id
                missing_by_type[object_type] = [
                    n for n in missing_by_type[object_type] if n.node_id != node_id
                ]
                self._reidentify(missing, candidate)
                result.moved.append(node_id)
            result.observed[node_id] = candidate.observations[-1][0]
            if checkpoint is not None:
                checkpoint()

    def _find_missing_match(
        self, candidate: _Candidate, missing: list[SceneNode]
    ) -> SceneNode | None:
        """The node of ``missing`` (missing nodes of the candidate's type) this candidate most
        likely is (moved), if any."""
        best: tuple[float, str] | None = None
        for node in missing:
            ids = (candidate.external_id, node.external_id)
            if all(ids) and ids[0] != ids[1] and self.config.id_mismatch_blocks:
                continue
            distance = node.box.center.distance_to(candidate.box.center)
            if best is None or (distance, node.node_id) < best:
                best = (distance, node.node_id)
        return None if best is None else self.graph.get_node(best[1])

    def _reidentify(self, node: SceneNode, candidate: _Candidate) -> None:
        last_obs = candidate.observations[-1][1]
        box = candidate.box
        self._tracks[node.node_id] = _Track(candidate.estimate)
        self.graph.update_node(
            node.node_id,
            candidate.last_seen,
            world_T_object=Pose(box.center, last_obs.world_T_object.orientation),
            box=box,
            states=dict(last_obs.states),
            reason="moved",
        )
        self._adopt_external_id(node, candidate.external_id, candidate.last_seen)
        for obs_id, obs in candidate.observations:
            self.graph.record_hit(
                node.node_id, obs.stamp, Provenance(obs_id, obs.source, obs.stamp)
            )
        self.graph.refresh_relations(node.node_id, candidate.last_seen)

    def _adopt_external_id(self, node: SceneNode, external_id: str, stamp: float) -> None:
        """Give an id-less node the observation's id, unless another node already has it."""
        free = external_id and self.graph.find_object_by_external_id(external_id) is None
        if free and not node.external_id:
            self.graph.update_node(node.node_id, stamp, external_id=external_id)

    def _add_node(
        self,
        object_type: str,
        box: Box,
        observations: list[tuple[str, ObjectObservation]],
        external_id: str,
        estimate: _Estimate | None = None,
    ) -> str:
        first, last = observations[0][1], observations[-1][1]
        if external_id and self.graph.find_object_by_external_id(external_id) is not None:
            external_id = ""  # the id is taken by another node: keep geometry, drop the hint
        states: dict[str, str] = {}
        for _, obs in observations:
            states.update(obs.states)
        node_id = self.graph.add_node(
            default_layer(object_type),
            object_type,
            world_T_object=Pose(box.center, last.world_T_object.orientation),
            box=box,
            stamp=first.stamp,
            external_id=external_id,
            states=states,
            confidence=0.5,
        )
        for obs_id, obs in observations:
            self.graph.record_hit(
                node_id, obs.stamp, Provenance(obs_id, obs.source, obs.stamp), _hit_probability(obs)
            )
        self._tracks[node_id] = _Track(estimate or _Estimate.of(box, 1.0))
        return node_id


def _box_terms(
    centre: tuple[float, float, float], size: tuple[float, float, float]
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], float, float]:
    """Centre, min and max corner, volume and largest extent, as _cost_block computes them."""
    (cx, cy, cz), (sx, sy, sz) = centre, size
    lo = (cx - sx / 2.0, cy - sy / 2.0, cz - sz / 2.0)
    hi = (cx + sx / 2.0, cy + sy / 2.0, cz + sz / 2.0)
    return centre, lo, hi, sx * sy * sz, max(sx, sy, sz)


def _absorber(absorbed: dict[str, str], node_id: str) -> str:
    """The node that finally holds ``node_id`` (a whole may itself be absorbed later)."""
    while node_id in absorbed:
        node_id = absorbed[node_id]
    return node_id


def _share_inside(part: Box, whole: Box, margin: float) -> float:
    """Share of ``part``'s volume inside ``whole``, each grown by ``margin`` (thin boxes, such
    as a counter top's, would otherwise share nothing for a millimetre of height)."""
    p_lo, p_hi = _corners(part)
    w_lo, w_hi = _corners(whole)
    inside, volume = 1.0, 1.0
    for axis in range(3):
        low, high = p_lo[axis] - margin, p_hi[axis] + margin
        overlap = min(high, w_hi[axis] + margin) - max(low, w_lo[axis] - margin)
        inside *= max(overlap, 0.0)
        volume *= high - low
    return inside / volume


def _node_order(node_id: str) -> tuple[str, int]:
    """Id order of node ids (layer letter, then number), as the graph iterates them."""
    return node_id[0], int(node_id[1:])


def _xyz(vector: Vector3) -> tuple[float, float, float]:
    return vector.x, vector.y, vector.z


def _extents(box: Box) -> tuple[float, float, float]:
    return box.size.x, box.size.y, box.size.z


def _hit_probability(obs: ObjectObservation) -> float:
    """A confident detection is a stronger hit; a 0-confidence one is no evidence."""
    return 0.5 + (DEFAULT_HIT_PROBABILITY - 0.5) * obs.confidence
