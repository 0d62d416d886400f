"""Converters between the core's plain types and ROS messages (the only place that knows both)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Vector3 as Vector3Msg
from memory_interfaces.msg import KeyValue, ObjectTable
from memory_interfaces.msg import ObjectObservation as ObservationMsg
from memory_interfaces.msg import ObjectRecord as RecordMsg
from memory_interfaces.srv import QueryObjects
from sensor_msgs.msg import CameraInfo

from memory_nodes.core.short_term import CacheEntry
from memory_nodes.core.types import (
    Box,
    CameraIntrinsics,
    MemorySource,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Quaternion,
    Vector3,
)

WORLD_FRAME = "map"


def stamp_parts(seconds: float) -> tuple[int, int]:
    """``(sec, nanosec)`` of a stamp in seconds, rounded to the nanosecond."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"stamp must be a finite non-negative number of seconds, got {seconds}")
    sec = math.floor(seconds)
    nanosec = round((seconds - sec) * 1e9)
    if nanosec >= 1_000_000_000:  # rounding can carry into the next second
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return int(sec), int(nanosec)


def report_missing_error(object_id: str, stamp: float, latest: float = math.inf) -> str:
    """Why a ReportMissing request is refused ('' when it is well formed); ``latest`` is the
    newest stamp the node accepts."""
    if not object_id:
        return "object_id must not be empty"
    if not math.isfinite(stamp) or stamp < 0:
        return f"stamp must be a finite number of seconds >= 0, got {stamp}"
    if stamp > latest:
        return f"stamp {stamp:.3f} is ahead of memory's clock: check the clock"
    return ""


def stamp_to_msg(seconds: float) -> Time:
    sec, nanosec = stamp_parts(seconds)
    return Time(sec=sec, nanosec=nanosec)


def stamp_from_msg(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def pose_to_msg(pose: Pose) -> PoseMsg:
    msg = PoseMsg()
    msg.position = Point(x=pose.position.x, y=pose.position.y, z=pose.position.z)
    q = pose.orientation
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = q.x, q.y, q.z, q.w
    return msg


def pose_from_msg(msg: PoseMsg) -> Pose:
    o = msg.orientation
    if o.x == o.y == o.z == o.w == 0.0:
        raise ValueError("pose orientation is the zero quaternion")
    norm = math.sqrt(o.x**2 + o.y**2 + o.z**2 + o.w**2)
    return Pose(
        Vector3(msg.position.x, msg.position.y, msg.position.z),
        Quaternion(o.x / norm, o.y / norm, o.z / norm, o.w / norm),
    )


def point_to_vector(point: Point) -> Vector3:
    return Vector3(point.x, point.y, point.z)


def box_to_msgs(box: Box) -> tuple[Point, Vector3Msg]:
    return (
        Point(x=box.center.x, y=box.center.y, z=box.center.z),
        Vector3Msg(x=box.size.x, y=box.size.y, z=box.size.z),
    )


def box_from_msgs(center: Point, size: Vector3Msg) -> Box:
    return Box(Vector3(center.x, center.y, center.z), Vector3(size.x, size.y, size.z))


def states_to_msg(states: dict[str, str]) -> list[KeyValue]:
    return [KeyValue(key=key, value=str(value)) for key, value in sorted(states.items())]


def states_from_msg(items: list[KeyValue]) -> dict[str, str]:
    return {item.key: item.value for item in items}


def observation_to_msg(
    observation: ObjectObservation, frame_id: str = WORLD_FRAME
) -> ObservationMsg:
    msg = ObservationMsg()
    msg.header.stamp = stamp_to_msg(observation.stamp)
    msg.header.frame_id = frame_id
    msg.object_id = observation.object_id
    msg.object_type = observation.object_type
    msg.pose = pose_to_msg(observation.world_T_object)
    msg.box_center, msg.box_size = box_to_msgs(observation.box)
    msg.states = states_to_msg(observation.states)
    msg.confidence = float(observation.confidence)
    msg.source = observation.source
    msg.source_frame_id = observation.source_frame_id
    msg.num_points = int(observation.num_points)
    msg.receptacle_id = observation.receptacle_id
    msg.receptacle_relation = observation.receptacle_relation
    return msg


def observation_from_msg(msg: ObservationMsg) -> ObjectObservation:
    """Raises ValueError (InvalidInputError) with the offending field when the message is bad."""
    return ObjectObservation(
        object_id=msg.object_id,
        object_type=msg.object_type,
        world_T_object=pose_from_msg(msg.pose),
        box=box_from_msgs(msg.box_center, msg.box_size),
        stamp=stamp_from_msg(msg.header.stamp),
        confidence=float(msg.confidence),
        states=states_from_msg(msg.states),
        source=msg.source,
        source_frame_id=msg.source_frame_id,
        num_points=int(msg.num_points),
        receptacle_id=msg.receptacle_id,
        receptacle_relation=msg.receptacle_relation,
    )


def record_to_msg(record: ObjectRecord) -> RecordMsg:
    # Fills the nested messages the constructor already made: building fresh Pose, Point and
    # Time messages instead doubled the cost of large QueryObjects answers.
    msg = RecordMsg()
    msg.object_id = record.object_id
    msg.object_type = record.object_type
    position, orientation = record.world_T_object.position, record.world_T_object.orientation
    out = msg.pose.position
    out.x, out.y, out.z = position.x, position.y, position.z
    out = msg.pose.orientation
    out.x, out.y, out.z, out.w = orientation.x, orientation.y, orientation.z, orientation.w
    center, size = record.box.center, record.box.size
    out = msg.box_center
    out.x, out.y, out.z = center.x, center.y, center.z
    out = msg.box_size
    out.x, out.y, out.z = size.x, size.y, size.z
    if record.states:
        msg.states = states_to_msg(record.states)
    msg.receptacle_id = record.receptacle_id
    msg.receptacle_relation = record.receptacle_relation
    msg.room_id = record.room_id
    msg.confidence = float(record.confidence)
    msg.first_seen.sec, msg.first_seen.nanosec = stamp_parts(record.first_seen)
    msg.last_seen.sec, msg.last_seen.nanosec = stamp_parts(record.last_seen)
    msg.num_observations = int(record.num_observations)
    msg.provenance = list(record.provenance)
    msg.memory_source = str(record.memory_source)
    return msg


def record_from_msg(msg: RecordMsg) -> ObjectRecord:
    return ObjectRecord(
        object_id=msg.object_id,
        object_type=msg.object_type,
        world_T_object=pose_from_msg(msg.pose),
        box=box_from_msgs(msg.box_center, msg.box_size),
        confidence=float(msg.confidence),
        first_seen=stamp_from_msg(msg.first_seen),
        last_seen=stamp_from_msg(msg.last_seen),
        num_observations=int(msg.num_observations),
        states=states_from_msg(msg.states),
        receptacle_id=msg.receptacle_id,
        receptacle_relation=msg.receptacle_relation,
        room_id=msg.room_id,
        provenance=tuple(msg.provenance),
        memory_source=MemorySource(msg.memory_source or MemorySource.LONG_TERM),
    )


def records_to_table(records: Sequence[ObjectRecord]) -> ObjectTable:
    """Records as one :class:`ObjectTable` (parallel arrays, row i is ``records[i]``)."""
    table = ObjectTable()
    positions: list[float] = []
    orientations: list[float] = []
    centers: list[float] = []
    sizes: list[float] = []
    num_states: list[int] = []
    state_keys: list[str] = []
    state_values: list[str] = []
    num_provenance: list[int] = []
    provenance: list[str] = []
    for record in records:
        position, q = record.world_T_object.position, record.world_T_object.orientation
        positions += (position.x, position.y, position.z)
        orientations += (q.x, q.y, q.z, q.w)
        center, size = record.box.center, record.box.size
        centers += (center.x, center.y, center.z)
        sizes += (size.x, size.y, size.z)
        states = sorted(record.states.items())
        num_states.append(len(states))
        state_keys.extend(key for key, _ in states)
        state_values.extend(str(value) for _, value in states)
        num_provenance.append(len(record.provenance))
        provenance.extend(record.provenance)
    table.object_ids = [r.object_id for r in records]
    table.object_types = [r.object_type for r in records]
    table.positions = array("d", positions)
    table.orientations = array("d", orientations)
    table.box_centers = array("d", centers)
    table.box_sizes = array("d", sizes)
    table.confidences = array("f", [r.confidence for r in records])
    table.first_seen = array("d", [r.first_seen for r in records])
    table.last_seen = array("d", [r.last_seen for r in records])
    table.num_observations = array("I", [r.num_observations for r in records])
    table.receptacle_ids = [r.receptacle_id for r in records]
    table.receptacle_relations = [r.receptacle_relation for r in records]
    table.room_ids = [r.room_id for r in records]
    table.memory_sources = [str(r.memory_source) for r in records]
    table.num_states = array("I", num_states)
    table.state_keys, table.state_values = state_keys, state_values
    table.num_provenance = array("I", num_provenance)
    table.provenance = provenance
    return table


def table_to_records(table: ObjectTable) -> list[ObjectRecord]:
    """The records of an :class:`ObjectTable`; ValueError if its arrays disagree in length."""
    rows = len(table.object_ids)
    expected = {
        "object_types": rows,
        "positions": 3 * rows,
        "orientations": 4 * rows,
        "box_centers": 3 * rows,
        "box_sizes": 3 * rows,
        "confidences": rows,
        "first_seen": rows,
        "last_seen": rows,
        "num_observations": rows,
        "receptacle_ids": rows,
        "receptacle_relations": rows,
        "room_ids": rows,
        "memory_sources": rows,
        "num_states": rows,
        "num_provenance": rows,
        "state_keys": sum(table.num_states),
        "state_values": sum(table.num_states),
        "provenance": sum(table.num_provenance),
    }
    for name, length in expected.items():
        if len(getattr(table, name)) != length:
            raise ValueError(
                f"ObjectTable.{name} has {len(getattr(table, name))} entries, expected {length} "
                f"for {rows} rows"
            )
    records = []
    next_state, next_provenance = 0, 0
    for i in range(rows):
        p, o = 3 * i, 4 * i
        xyz, q, c, s = table.positions, table.orientations, table.box_centers, table.box_sizes
        end_state = next_state + table.num_states[i]
        end_provenance = next_provenance + table.num_provenance[i]
        records.append(
            ObjectRecord(
                object_id=table.object_ids[i],
                object_type=table.object_types[i],
                world_T_object=Pose(
                    Vector3(xyz[p], xyz[p + 1], xyz[p + 2]),
                    Quaternion(q[o], q[o + 1], q[o + 2], q[o + 3]),
                ),
                box=Box(Vector3(c[p], c[p + 1], c[p + 2]), Vector3(s[p], s[p + 1], s[p + 2])),
                confidence=float(table.confidences[i]),
                first_seen=table.first_seen[i],
                last_seen=table.last_seen[i],
                num_observations=int(table.num_observations[i]),
                states=dict(
                    zip(
                        table.state_keys[next_state:end_state],
                        table.state_values[next_state:end_state],
                        strict=True,
                    )
                ),
                receptacle_id=table.receptacle_ids[i],
                receptacle_relation=table.receptacle_relations[i],
                room_id=table.room_ids[i],
                provenance=tuple(table.provenance[next_provenance:end_provenance]),
                memory_source=MemorySource(table.memory_sources[i] or MemorySource.LONG_TERM),
            )
        )
        next_state, next_provenance = end_state, end_provenance
    return records


class RecordMessageCache:
    """One ObjectRecord message per object, rebuilt only when the object's record changes.

    Large QueryObjects answers ask again and again for the same objects; comparing a record
    with the one a message was built from costs a small fraction of building the message.
    Messages handed out are shared between answers and must not be modified.
    """

    def __init__(self, max_size: int = 20_000) -> None:
        self.max_size = max_size
        self._built: dict[str, tuple[ObjectRecord, RecordMsg]] = {}

    def __len__(self) -> int:
        return len(self._built)

    def to_msgs(self, records: Iterable[ObjectRecord]) -> list[RecordMsg]:
        msgs = []
        for record in records:
            built = self._built.get(record.object_id)
            if built is None or built[0] != record:
                if built is None and len(self._built) >= self.max_size:
                    self._built.clear()  # objects come and go; a rare rebuild beats bookkeeping
                built = (record, record_to_msg(record))
                self._built[record.object_id] = built
            msgs.append(built[1])
        return msgs


def fill_query_answer(
    response: QueryObjects.Response,
    records: Sequence[ObjectRecord],
    compact: bool,
    cache: RecordMessageCache | None = None,
) -> None:
    """Put ``records`` in ``response.table`` when ``compact`` was asked for, else in ``records``."""
    if compact:
        response.table = records_to_table(records)
    elif cache is not None:
        response.records = cache.to_msgs(records)
    else:
        response.records = [record_to_msg(r) for r in records]


def intrinsics_to_msg(intrinsics: CameraIntrinsics, frame_id: str = "camera") -> CameraInfo:
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    msg.width, msg.height = intrinsics.width, intrinsics.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in intrinsics.as_matrix().ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def intrinsics_from_msg(msg: CameraInfo) -> CameraIntrinsics:
    k = list(msg.k)
    return CameraIntrinsics(int(msg.width), int(msg.height), k[0], k[4], k[2], k[5])


def entry_to_observation(entry: CacheEntry, source: str) -> ObjectObservation:
    """A short-term cache entry as an observation for long-term memory to fuse."""
    return ObjectObservation(
        object_id=entry.object_id,
        object_type=entry.object_type,
        world_T_object=entry.world_T_object,
        box=entry.box,
        stamp=entry.last_written,
        confidence=entry.confidence,
        states=dict(entry.states),
        source=source,
        source_frame_id=entry.source_frame_id,  # with the stamp: the frame behind the fact
        num_points=0,
        receptacle_id=entry.receptacle_id,
        receptacle_relation=entry.receptacle_relation,
    )
