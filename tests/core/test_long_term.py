"""Long-term memory facade: frames in, committed graph out, survives restarts, saves and loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _obs(object_id: str, object_type: str, xyz, size, stamp: float, **kw) -> ObjectObservation:
    center = Vector3(*xyz)
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(center),
        box=Box(center, Vector3(*size)),
        stamp=stamp,
        source=kw.pop("source", "gt_mask"),
        **kw,
    )


def _kitchen(stamp: float) -> list[ObjectObservation]:
    return [
        _obs("Fridge|1", "Fridge", (2.0, 0.0, 0.9), (0.8, 0.8, 1.8), stamp),
        _obs("CounterTop|1", "CounterTop", (0.0, 1.5, 0.45), (2.0, 0.6, 0.9), stamp),
        _obs("Apple|1", "Apple", (0.2, 1.5, 0.95), (0.08, 0.08, 0.08), stamp),
        _obs("Knife|1", "Knife", (0.5, 1.4, 0.92), (0.25, 0.03, 0.02), stamp),
    ]


@pytest.fixture
def memory(tmp_path: Path) -> LongTermMemory:
    ltm = LongTermMemory(tmp_path / "memory.sqlite")
    for frame in range(3):
        ltm.integrate_frame(_kitchen(10.0 + frame))
    yield ltm
    ltm.close()


def test_objects_seen_in_consistent_frames_are_remembered_with_relations(memory) -> None:
    apples = memory.query(ObjectQuery(object_type="Apple"), now=20.0)
    assert [r.object_id for r in apples] == ["Apple|1"]
    assert apples[0].receptacle_id and apples[0].receptacle_relation == "on"
    on_counter = memory.query(ObjectQuery(receptacle="CounterTop|1"), now=20.0)
    assert {r.object_id for r in on_counter} >= {"Apple|1", "Knife|1"}


def test_a_restart_reloads_the_same_memory(memory, tmp_path: Path) -> None:
    before = {r.object_id for r in memory.query(ObjectQuery(), now=20.0)}
    memory.close()
    again = LongTermMemory(tmp_path / "memory.sqlite")
    assert {r.object_id for r in again.query(ObjectQuery(), now=20.0)} == before
    again.close()


def test_the_robots_own_put_is_believed_at_once(memory) -> None:
    moved = _obs(
        "Apple|1", "Apple", (2.0, 0.0, 0.7), (0.08, 0.08, 0.08), 15.0,
        source="action", receptacle_id="Fridge|1", receptacle_relation="inside",
    )  # fmt: skip
    memory.apply_action_effects([moved])
    inside = memory.query(ObjectQuery(receptacle="Fridge|1"), now=16.0)
    assert [r.object_id for r in inside] == ["Apple|1"]
    assert inside[0].receptacle_relation == "inside"


def test_filters_combine_and_age_limits_answers(memory) -> None:
    near = memory.query(ObjectQuery(near=Vector3(0.2, 1.5, 0.95), radius=0.5), now=20.0)
    assert "Fridge|1" not in {r.object_id for r in near}
    both = memory.query(
        ObjectQuery(object_type="Knife", near=Vector3(0.2, 1.5, 0.95), radius=0.5), now=20.0
    )
    assert [r.object_id for r in both] == ["Knife|1"]
    assert memory.query(ObjectQuery(object_type="Apple", max_age_s=1.0), now=100.0) == []
    with pytest.raises(InvalidInputError, match="radius"):
        memory.query(ObjectQuery(near=Vector3(0, 0, 0)), now=20.0)


@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_save_then_load_restores_memory_and_a_bad_file_loses_nothing(
    memory, tmp_path: Path, suffix: str
) -> None:
    saved = memory.save(tmp_path / f"saved{suffix}")
    count = len(memory.query(ObjectQuery(), now=20.0))
    memory.integrate_frame([_obs("Mug|9", "Mug", (0.9, 1.5, 0.95), (0.1, 0.1, 0.1), 30.0)] * 1)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError):
        memory.load(bad)
    assert len(memory.query(ObjectQuery(), now=40.0)) >= count
    assert memory.load(saved) == count
    assert len(memory.query(ObjectQuery(), now=40.0)) == count
    with pytest.raises(InvalidInputError, match="use one of"):
        memory.save(tmp_path / "memory.txt")


def test_graphml_export_is_written(memory, tmp_path: Path) -> None:
    path = memory.save(tmp_path / "memory.graphml")
    assert "<graphml" in path.read_text()


def test_a_put_reported_where_the_object_was_seen_lands_in_its_receptacle(memory) -> None:
    # The robot last saw the apple on the counter; its PutObject names the fridge.
    put = _obs(
        "Apple|1", "Apple", (0.2, 1.5, 0.95), (0.08, 0.08, 0.08), 15.0,
        source="action", receptacle_id="Fridge|1", receptacle_relation="inside",
    )  # fmt: skip
    memory.apply_action_effects([put])
    apple = memory.query(ObjectQuery(object_type="Apple"), now=16.0)[0]
    fridge = memory.query(ObjectQuery(object_type="Fridge"), now=16.0)[0]
    assert fridge.box.contains(apple.world_T_object.position)
    assert (apple.receptacle_id, apple.receptacle_relation) == ("Fridge|1", "inside")
