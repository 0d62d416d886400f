"""Bad input never half-changes long-term memory: a clear error, and the graph as it was.

"As it was" is checked byte for byte on the JSON export, which covers nodes, edges, states,
history and the change sequence number.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.errors import InvalidInputError, NotFoundError
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.store import graph_to_json
from memory_nodes.core.types import Box, CameraIntrinsics, ObjectObservation, Pose, Vector3

NOW = 1_000.0


def _obs(object_id: str, object_type: str, xyz, size=(0.1, 0.1, 0.1), stamp=NOW, **kw):
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(Vector3(*xyz)),
        box=Box(Vector3(*xyz), Vector3(*size)),
        stamp=stamp,
        source="gt_mask",
        source_frame_id=f"cam@{stamp}",
        **kw,
    )


def _kitchen(stamp: float) -> list[ObjectObservation]:
    return [
        _obs("CounterTop|1", "CounterTop", (0.0, 0.0, 0.45), (2.0, 0.6, 0.9), stamp),
        _obs("Apple|1", "Apple", (0.2, 0.0, 0.95), stamp=stamp, states={"isSliced": "false"}),
    ]


@pytest.fixture
def memory(tmp_path: Path) -> LongTermMemory:
    ltm = LongTermMemory(tmp_path / "memory.sqlite", clock=lambda: NOW)
    ltm.integrate_frame(_kitchen(NOW - 2.0))
    ltm.integrate_frame(_kitchen(NOW - 1.0))
    assert ltm.graph.num_nodes() == 2
    yield ltm
    ltm.close()


def _unchanged(memory: LongTermMemory, before: str) -> None:
    assert graph_to_json(memory.graph) == before
    assert memory.fusion.num_candidates == 0
    again = LongTermMemory(memory.database)  # what a restarted process would load
    try:
        assert graph_to_json(again.graph) == before
    finally:
        again.close()


def _view(stamp: float) -> CameraView:
    k = CameraIntrinsics(8, 6, 4.0, 4.0, 4.0, 3.0)
    return CameraView(k, Pose(Vector3(-2.0, 0.0, 1.0)), np.full((6, 8), 3.0), stamp)


def test_future_stamps_beyond_tolerance_are_rejected_and_change_nothing(
    memory: LongTermMemory,
) -> None:
    before = graph_to_json(memory.graph)
    late = [*_kitchen(NOW), _obs("Mug|1", "Mug", (0.5, 0.0, 0.95), stamp=NOW + 60.0)]
    with pytest.raises(InvalidInputError, match="in the future"):
        memory.integrate_frame(late)
    with pytest.raises(InvalidInputError, match=r"camera view.*future"):
        memory.integrate_frame(_kitchen(NOW), _view(NOW + 3600.0))
    with pytest.raises(InvalidInputError, match="future"):
        memory.apply_action_effects([_obs("Apple|1", "Apple", (0, 0, 1), stamp=NOW + 6.0)])
    with pytest.raises(InvalidInputError, match="future"):
        memory.consolidate([_obs("Apple|1", "Apple", (0, 0, 1), stamp=NOW + 1e9)])
    _unchanged(memory, before)
    # Within the tolerance (clocks of two machines drift) is fine.
    memory.integrate_frame(_kitchen(NOW + memory.max_future_s - 0.5))


def test_without_a_clock_stamps_are_trusted(tmp_path: Path) -> None:
    ltm = LongTermMemory(tmp_path / "sim.sqlite")
    try:
        ltm.integrate_frame(_kitchen(1e6))
        ltm.integrate_frame(_kitchen(1e6 + 1))
        assert ltm.graph.num_nodes() == 2
    finally:
        ltm.close()


@pytest.mark.parametrize("bad_type", [" ", "Apple|1", "x" * 65, "Mug\n", "-Mug"])
def test_malformed_type_names_are_rejected_and_change_nothing(
    memory: LongTermMemory, bad_type: str
) -> None:
    before = graph_to_json(memory.graph)
    frame = [*_kitchen(NOW), _obs("X|1", bad_type, (0.5, 0.0, 0.95))]
    with pytest.raises(InvalidInputError, match="not a type name"):
        memory.integrate_frame(frame)
    _unchanged(memory, before)


def test_unknown_type_names_are_remembered_as_movable_objects(memory: LongTermMemory) -> None:
    """A detector's class names ("cell phone") are not in the taxonomy: memory degrades."""
    memory.integrate_frame([*_kitchen(NOW), _obs("", "cell phone", (0.5, 0.0, 0.95))])
    memory.integrate_frame(
        [*_kitchen(NOW + 0.5), _obs("", "cell phone", (0.5, 0.0, 0.95), stamp=NOW + 0.5)]
    )
    found = memory.query(ObjectQuery(object_type="cell phone"), now=NOW + 1)
    assert len(found) == 1 and found[0].object_id.startswith("O")


def test_nan_boxes_and_poses_cannot_even_be_built() -> None:
    """NaN never reaches memory: the data types refuse it, naming the field."""
    with pytest.raises(InvalidInputError, match="Vector3 must be finite"):
        _obs("Apple|1", "Apple", (math.nan, 0.0, 1.0))
    with pytest.raises(InvalidInputError, match="Vector3 must be finite"):
        _obs("Apple|1", "Apple", (0.0, 0.0, 1.0), size=(0.1, math.inf, 0.1))
    with pytest.raises(InvalidInputError, match="non-negative"):
        _obs("Apple|1", "Apple", (0.0, 0.0, 1.0), size=(0.1, -0.1, 0.1))
    with pytest.raises(InvalidInputError, match="stamp must be finite"):
        _obs("Apple|1", "Apple", (0.0, 0.0, 1.0), stamp=math.nan)


def test_absurd_boxes_and_non_text_states_are_rejected_and_change_nothing(
    memory: LongTermMemory,
) -> None:
    before = graph_to_json(memory.graph)
    huge = _obs("Apple|1", "Apple", (0.0, 0.0, 1.0), size=(1e4, 0.1, 0.1))
    with pytest.raises(InvalidInputError, match="larger than"):
        memory.integrate_frame([*_kitchen(NOW), huge])
    states = _obs("Apple|1", "Apple", (0.2, 0.0, 0.95), states={"isSliced": True})
    with pytest.raises(InvalidInputError, match="states must map text to text"):
        memory.integrate_frame([*_kitchen(NOW), states])
    with pytest.raises(InvalidInputError, match="not an observation"):
        memory.integrate_frame([*_kitchen(NOW), {"object_type": "Apple"}])  # type: ignore[list-item]
    _unchanged(memory, before)


def test_a_put_that_does_not_say_on_or_inside_is_rejected_and_changes_nothing(
    memory: LongTermMemory,
) -> None:
    """Memory does not guess the relation: only the one acting knows bowl-in from bowl-on."""
    before = graph_to_json(memory.graph)
    put = dataclasses.replace(
        _obs("Apple|1", "Apple", (0.0, 0.0, 1.0), receptacle_id="CounterTop|1"), source="action"
    )
    with pytest.raises(InvalidInputError, match="receptacle_relation"):
        memory.apply_action_effects([put])
    _unchanged(memory, before)


def test_a_put_into_an_unknown_receptacle_moves_the_object_without_a_relation(
    memory: LongTermMemory,
) -> None:
    """What the hand did is certain; the receptacle perception has not confirmed is not."""
    put = dataclasses.replace(
        _obs(
            "Apple|1", "Apple", (3.0, 0.0, 1.0), states={"isPickedUp": "false"},
            receptacle_id="Fridge|9", receptacle_relation="inside",
        ),
        source="action",
    )  # fmt: skip
    update = memory.apply_action_effects([put])
    assert update.unknown_receptacles == {"Apple|1": "Fridge|9"}
    (apple,) = memory.query(ObjectQuery(object_type="Apple"), now=NOW)
    assert apple.world_T_object.position == Vector3(3.0, 0.0, 1.0)
    assert apple.states["isPickedUp"] == "false"
    assert apple.receptacle_id != "Fridge|9"
    assert memory.graph.find_object_by_external_id("Fridge|9") is None


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        (ObjectQuery(near=Vector3(0, 0, 0), radius=0.0), InvalidInputError, "radius > 0"),
        (ObjectQuery(near=Vector3(0, 0, 0), radius=math.nan), InvalidInputError, "radius"),
        (ObjectQuery(max_age_s=-1.0), InvalidInputError, "max_age_s"),
        (ObjectQuery(max_age_s=math.inf), InvalidInputError, "max_age_s"),
        (ObjectQuery(max_results=-3), InvalidInputError, "max_results"),
        (ObjectQuery(room="attic"), NotFoundError, "no room named 'attic'"),
        (ObjectQuery(receptacle="Fridge|9"), NotFoundError, "no receptacle"),
    ],
)
def test_malformed_queries_raise_clear_errors_and_change_nothing(
    memory: LongTermMemory, query: ObjectQuery, error: type, match: str
) -> None:
    before = graph_to_json(memory.graph)
    with pytest.raises(error, match=match):
        memory.query(query, now=NOW)
    _unchanged(memory, before)
