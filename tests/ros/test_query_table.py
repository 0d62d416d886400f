"""QueryObjects' compact table answer, across processes, equals the nested records answer."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import QueryObjects

from memory_nodes.core.types import ObjectRecord
from memory_nodes.nodes import conversions
from tests.ros.conftest import call_service, spin_until
from tests.ros.test_memory_server import KITCHEN, _frame

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

SERVICES = ("/short_term_memory/query_objects", "/memory_server/query_objects")


def _stack(tmp_path: Path) -> Path:
    """Short-term and long-term memory, each in its own process, on a fresh database."""
    (tmp_path / "memory_server.yaml").write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {tmp_path / 'memory.sqlite'}\n"
        "    change_detection: false\n"
    )
    (tmp_path / "short_term.yaml").write_text(
        "short_term_memory:\n  ros__parameters:\n    capacity: 32\n"
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack:\n  composed: false\n  nodes:\n"
        "    - executable: short_term_memory_node\n      name: short_term_memory\n"
        "      parameters: short_term.yaml\n"
        "    - executable: memory_server\n      name: memory_server\n"
        "      parameters: memory_server.yaml\n"
    )
    return stack


def _same_records(table: list[ObjectRecord], nested: list[ObjectRecord]) -> bool:
    """Equal, except that nested records carry stamps rounded to the nanosecond."""
    if len(table) != len(nested):
        return False
    for a, b in zip(table, nested, strict=True):
        if abs(a.first_seen - b.first_seen) > 1e-6 or abs(a.last_seen - b.last_seen) > 1e-6:
            return False
        if a != dataclasses.replace(b, first_seen=a.first_seen, last_seen=a.last_seen):
            return False
    return True


def test_compact_answer_of_both_memories_equals_their_records_answer(
    ros_node, start_stack, tmp_path: Path
) -> None:
    stack = start_stack(_stack(tmp_path))
    observations = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    clients = {name: ros_node.create_client(QueryObjects, name) for name in SERVICES}
    for client in clients.values():
        assert spin_until(ros_node, client.service_is_ready, 20.0), stack.output
    assert spin_until(ros_node, lambda: observations.get_subscription_count() >= 2, 10.0)

    start = time.time()
    for frame in range(3):
        observations.publish(_frame(start + frame * 0.1, states={"isDirty": "false"}))
        spin_until(ros_node, lambda: False, 0.1)

    def _ask(service: str, **fields) -> QueryObjects.Response:
        answer = call_service(ros_node, clients[service], QueryObjects.Request(**fields))
        assert answer.success, answer.message
        return answer

    for service in SERVICES:
        assert spin_until(ros_node, lambda s=service: len(_ask(s).records) == len(KITCHEN), 10.0), (
            f"{service} never held the kitchen"
        )

    queries = [
        {},
        {"object_type": "Apple"},
        {"receptacle_id": "CounterTop|1"},
        {"use_near": True, "near": conversions.Point(x=0.3, y=1.5, z=0.9), "radius": 0.5},
        {"max_results": 2},
        {"object_type": "NoSuchType"},
    ]
    for service in SERVICES:
        for fields in queries:
            nested = _ask(service, **fields)
            compact = _ask(service, compact=True, **fields)
            assert not compact.records, (service, fields)
            assert not nested.table.object_ids, (service, fields)
            from_table = conversions.table_to_records(compact.table)
            from_records = [conversions.record_from_msg(m) for m in nested.records]
            assert _same_records(from_table, from_records), (service, fields)
        everything = conversions.table_to_records(_ask(service, compact=True).table)
        assert {r.object_id for r in everything} == {item[0] for item in KITCHEN}
        assert all(r.states == {"isDirty": "false"} for r in everything)
        assert all(r.provenance for r in everything)


def test_bad_compact_query_fails_like_a_records_query(ros_node, start_stack, tmp_path) -> None:
    start_stack(_stack(tmp_path))
    client = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    answer = call_service(
        ros_node, client, QueryObjects.Request(compact=True, use_near=True, radius=-1.0)
    )
    assert not answer.success and answer.message
    assert not answer.table.object_ids
