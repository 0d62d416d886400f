"""Core types survive the trip through their ROS messages unchanged."""

from __future__ import annotations

import math

import pytest

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
from memory_nodes.nodes import conversions


def _pose() -> Pose:
    return Pose(Vector3(1.25, -0.5, 0.9), Quaternion.from_yaw(math.radians(30)))


def _box() -> Box:
    return Box(Vector3(1.25, -0.5, 0.95), Vector3(0.1, 0.12, 0.1))


def test_observation_round_trip_is_identity() -> None:
    observation = ObjectObservation(
        object_id="Apple|+01.00|+00.90|-00.50",
        object_type="Apple",
        world_T_object=_pose(),
        box=_box(),
        stamp=1700000000.123456,
        confidence=0.75,
        states={"isSliced": "false", "temperature": "RoomTemp"},
        source="gt_mask",
        source_frame_id="camera",
        num_points=412,
    )
    back = conversions.observation_from_msg(conversions.observation_to_msg(observation))
    assert back.object_id == observation.object_id
    assert back.states == observation.states
    assert back.stamp == pytest.approx(observation.stamp, abs=1e-9)
    assert back.world_T_object.position == observation.world_T_object.position
    assert back.world_T_object.orientation.yaw() == pytest.approx(math.radians(30))
    assert back.box == observation.box
    assert back.confidence == pytest.approx(0.75)
    assert (back.source, back.num_points) == ("gt_mask", 412)


def test_record_round_trip_is_identity() -> None:
    record = ObjectRecord(
        object_id="O3",
        object_type="Mug",
        world_T_object=_pose(),
        box=_box(),
        confidence=0.5,
        first_seen=10.0,
        last_seen=12.5,
        num_observations=4,
        states={"isDirty": "true"},
        receptacle_id="F1",
        receptacle_relation="inside",
        room_id="R0",
        provenance=("gt_mask:frame12", "action:PutObject"),
        memory_source=MemorySource.SHORT_TERM,
    )
    back = conversions.record_from_msg(conversions.record_to_msg(record))
    assert back == record


def test_camera_info_round_trip_is_identity() -> None:
    intrinsics = CameraIntrinsics.from_fov(640, 480, 90.0)
    assert conversions.intrinsics_from_msg(conversions.intrinsics_to_msg(intrinsics)) == intrinsics


def test_stamp_carry_and_bad_stamps() -> None:
    assert conversions.stamp_to_msg(1.9999999999).sec == 2
    with pytest.raises(ValueError, match="stamp"):
        conversions.stamp_to_msg(float("nan"))


def test_malformed_observation_message_is_rejected_with_field_name() -> None:
    msg = conversions.observation_to_msg(
        ObjectObservation("a", "Apple", _pose(), _box(), stamp=1.0)
    )
    msg.object_type = ""
    with pytest.raises(ValueError, match="object_type"):
        conversions.observation_from_msg(msg)
    msg.object_type = "Apple"
    msg.pose.orientation.w = 0.0
    msg.pose.orientation.z = 0.0
    with pytest.raises(ValueError, match="zero quaternion"):
        conversions.observation_from_msg(msg)
