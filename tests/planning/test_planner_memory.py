"""The planner's in-process memory is the core long-term memory behind a thin adapter.

What the planner reports through :class:`LayeredMemory` must land in the SQLite file the
``memory_server`` node would write, under the core's rules and its validation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.store import graph_to_json
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.planning.memory_interface import (
    ActionEffect,
    FullMemory,
    LayeredMemory,
    LongTermOnly,
)
from memory_nodes.planning.percept import Percept

FRIDGE, COUNTER, APPLE = "Fridge|1", "CounterTop|1", "Apple|1"


def _obs(object_id: str, xyz, size, stamp: float, **kw) -> ObjectObservation:
    centre = Vector3(*xyz)
    return ObjectObservation(
        object_id=object_id,
        object_type=object_id.split("|")[0],
        world_T_object=Pose(centre),
        box=Box(centre, Vector3(*size)),
        stamp=stamp,
        source=kw.pop("source", "gt_mask"),
        **kw,
    )


def _percept(stamp: float, *extra: ObjectObservation) -> Percept:
    kitchen = [
        _obs(FRIDGE, (2.0, 0.0, 0.9), (0.8, 0.8, 1.8), stamp),
        _obs(COUNTER, (0.0, 1.5, 0.45), (2.0, 0.6, 0.9), stamp),
        _obs(APPLE, (0.2, 1.5, 0.95), (0.08, 0.08, 0.08), stamp),
    ]
    return Percept(
        stamp=stamp, observations=[*kitchen, *extra], frame=None, map_T_agent=Pose(Vector3())
    )


def _seen_kitchen(memory: LayeredMemory) -> None:
    for frame in range(3):
        memory.observe(_percept(10.0 + frame))


def _put(receptacle: str, relation: str, xyz, stamp: float = 15.0) -> ActionEffect:
    return ActionEffect(
        object_id=APPLE,
        object_type="Apple",
        action="PutObject",
        stamp=stamp,
        states={"isPickedUp": "false"},
        receptacle_id=receptacle,
        receptacle_relation=relation,
        observation=_obs(APPLE, xyz, (0.08, 0.08, 0.08), stamp, source="action"),
    )


def test_the_long_term_layer_is_the_core_long_term_memory(tmp_path: Path) -> None:
    memory = FullMemory(tmp_path / "memory.sqlite")
    try:
        assert type(memory.long_term) is LongTermMemory
        assert memory.long_term.database == tmp_path / "memory.sqlite"
    finally:
        memory.close()


def test_a_put_into_a_known_fridge_is_an_inside_edge_in_the_servers_sqlite_file(
    tmp_path: Path,
) -> None:
    database = tmp_path / "memory.sqlite"
    memory = LongTermOnly(database)
    _seen_kitchen(memory)
    memory.report_action_effect(_put(FRIDGE, "inside", (2.0, 0.0, 0.9)))
    memory.close()

    # What a memory_server started on that file would answer.
    server = LongTermMemory(database)
    try:
        (apple,) = server.query(ObjectQuery(receptacle=FRIDGE), now=20.0)
        assert (apple.object_id, apple.receptacle_relation) == (APPLE, "inside")
        assert apple.states["isPickedUp"] == "false"
    finally:
        server.close()


def test_the_planner_asks_the_same_memory_it_reported_to(tmp_path: Path) -> None:
    memory = LongTermOnly(tmp_path / "memory.sqlite")
    try:
        _seen_kitchen(memory)
        memory.report_action_effect(_put(FRIDGE, "inside", (2.0, 0.0, 0.9)))
        (apple,) = memory.where_is("Apple")
        assert (apple.receptacle_id, apple.receptacle_relation) == (FRIDGE, "inside")
        assert [r.object_id for r in memory.contents_of(FRIDGE)] == [APPLE]
        assert memory.contents_of("Cabinet|7") == []  # unknown: no answer, no error
        assert len(memory.seen_places()) == 3
    finally:
        memory.close()


def test_a_put_into_an_unknown_receptacle_moves_the_object_without_a_relation() -> None:
    memory = LongTermOnly()  # no file: the core's in-memory store
    try:
        _seen_kitchen(memory)
        memory.report_action_effect(_put("Bowl|3", "inside", (0.9, 1.5, 0.95)))
        (apple,) = memory.where_is("Apple")
        assert apple.world_T_object.position == Vector3(0.9, 1.5, 0.95)
        assert apple.receptacle_id != "Bowl|3"
        assert apple.states["isPickedUp"] == "false"
    finally:
        memory.close()


def test_a_pickup_takes_the_object_off_its_receptacle() -> None:
    memory = LongTermOnly()
    try:
        _seen_kitchen(memory)
        assert memory.where_is("Apple")[0].receptacle_id == COUNTER
        memory.report_action_effect(
            ActionEffect(APPLE, "Apple", "PickupObject", 15.0, {"isPickedUp": "true"}, "", "")
        )
        (apple,) = memory.where_is("Apple")
        assert apple.receptacle_id == "" and apple.states["isPickedUp"] == "true"
    finally:
        memory.close()


def test_an_action_on_an_object_out_of_view_applies_its_states_where_memory_has_it() -> None:
    memory = LongTermOnly()
    try:
        _seen_kitchen(memory)
        memory.report_action_effect(
            ActionEffect(FRIDGE, "Fridge", "OpenObject", 15.0, {"isOpen": "true"})
        )
        (fridge,) = memory.where_is("Fridge")
        assert fridge.states["isOpen"] == "true"
        assert fridge.world_T_object.position == Vector3(2.0, 0.0, 0.9)
    finally:
        memory.close()


def test_invalid_input_is_refused_through_the_planners_memory_too(tmp_path: Path) -> None:
    memory = FullMemory(tmp_path / "memory.sqlite")
    try:
        _seen_kitchen(memory)
        before = graph_to_json(memory.long_term.graph)
        huge = _obs("Mug|1", (0.5, 1.5, 0.95), (80.0, 0.1, 0.1), 14.0)
        with pytest.raises(InvalidInputError, match="larger than"):
            memory.observe(_percept(14.0, huge))
        with pytest.raises(InvalidInputError, match="receptacle_relation"):
            memory.report_action_effect(_put(FRIDGE, "", (2.0, 0.0, 0.9)))
        assert graph_to_json(memory.long_term.graph) == before
    finally:
        memory.close()
