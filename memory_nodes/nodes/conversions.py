"""Converters between the core's plain types and ROS messages (the only place that knows both)."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Vector3 as Vector3Msg
from memory_interfaces.msg import KeyValue
from memory_interfaces.msg import ObjectObservation as ObservationMsg
from memory_interfaces.msg import ObjectRecord as RecordMsg
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


def stamp_to_msg(seconds: float) -> Time:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"stamp must be a finite non-negative number of seconds, got {seconds}")
    sec = math.floor(seconds)
    nanosec = round((seconds - sec) * 1e9)
    if nanosec >= 1_000_000_000:  # rounding can carry into the next second
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=int(sec), nanosec=int(nanosec))


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
    msg = RecordMsg()
    msg.object_id = record.object_id
    msg.object_type = record.object_type
    msg.pose = pose_to_msg(record.world_T_object)
    msg.box_center, msg.box_size = box_to_msgs(record.box)
    msg.states = states_to_msg(record.states)
    msg.receptacle_id = record.receptacle_id
    msg.receptacle_relation = record.receptacle_relation
    msg.room_id = record.room_id
    msg.confidence = float(record.confidence)
    msg.first_seen = stamp_to_msg(record.first_seen)
    msg.last_seen = stamp_to_msg(record.last_seen)
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
        num_points=0,
        receptacle_id=entry.receptacle_id,
        receptacle_relation=entry.receptacle_relation,
    )
