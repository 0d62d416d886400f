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


def _record(**changes) -> ObjectRecord:
    fields = dict(
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
    return ObjectRecord(**(fields | changes))


def test_record_round_trip_is_identity() -> None:
    record = _record()
    assert conversions.record_from_msg(conversions.record_to_msg(record)) == record


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


def test_table_round_trip_is_identity_and_matches_the_records_answer() -> None:
    # Rows with no, one and several states and provenance entries: the flattened arrays must
    # hand each row back exactly its own.
    records = [
        _record(),
        _record(object_id="O4", states={}, provenance=(), receptacle_id="", room_id=""),
        _record(
            object_id="O5",
            object_type="Knife",
            states={"isSliced": "false", "temperature": "Cold", "isDirty": "false"},
            provenance=("node:O5",),
            memory_source=MemorySource.LONG_TERM,
            first_seen=1700000000.123456,
            last_seen=1700000001.5,
        ),
    ]
    table = conversions.records_to_table(records)
    assert list(table.object_ids) == ["O3", "O4", "O5"]
    assert list(table.num_states) == [1, 0, 3] and list(table.num_provenance) == [2, 0, 1]
    assert conversions.table_to_records(table) == records
    nested = [conversions.record_from_msg(conversions.record_to_msg(r)) for r in records]
    assert conversions.table_to_records(table) == nested
    assert conversions.table_to_records(conversions.records_to_table([])) == []


def test_table_with_arrays_of_different_lengths_is_rejected() -> None:
    table = conversions.records_to_table([_record(), _record(object_id="O4")])
    table.positions = table.positions[:-1]
    with pytest.raises(ValueError, match="positions"):
        conversions.table_to_records(table)
    table = conversions.records_to_table([_record()])
    table.num_states[0] = 2
    with pytest.raises(ValueError, match="state_keys"):
        conversions.table_to_records(table)


def test_record_message_cache_reuses_unchanged_and_rebuilds_changed_records() -> None:
    cache = conversions.RecordMessageCache(max_size=2)
    first = cache.to_msgs([_record()])[0]
    assert cache.to_msgs([_record()])[0] is first  # equal record: same message
    moved = cache.to_msgs([_record(confidence=0.9)])[0]
    assert moved is not first and conversions.record_from_msg(moved) == _record(confidence=0.9)
    cache.to_msgs([_record(object_id="O4"), _record(object_id="O5")])
    assert len(cache) <= 2


def test_query_answer_fills_records_or_table() -> None:
    from memory_interfaces.srv import QueryObjects

    records = [_record(), _record(object_id="O4")]
    nested, compact = QueryObjects.Response(), QueryObjects.Response()
    conversions.fill_query_answer(nested, records, compact=False)
    conversions.fill_query_answer(compact, records, compact=True)
    assert [conversions.record_from_msg(m) for m in nested.records] == records
    assert not nested.table.object_ids
    assert not compact.records and conversions.table_to_records(compact.table) == records
