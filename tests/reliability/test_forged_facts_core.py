"""Forged facts against the memory core (no ROS): a sender cannot make memory believe it.

Long-term memory decides an observation's source and trust itself (never from the message),
a frame sent again counts once, a single unconfirmed contradiction never replaces a confirmed
place in either memory, absurd coordinates and oversized frames are refused, and error
messages stay short whatever the sender wrote.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from memory_nodes.core.fusion import FusionConfig, ObjectFusion, _Candidate, _Estimate
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.scene_graph import Layer, SceneGraph, SceneNode
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _obs(
    object_id: str,
    xyz: tuple[float, float, float],
    stamp: float,
    *,
    object_type: str = "Mug",
    size: tuple[float, float, float] = (0.1, 0.1, 0.1),
    states: dict[str, str] | None = None,
    source: str = "gt_mask",
    frame: str = "camera",
) -> ObjectObservation:
    centre = Vector3(*xyz)
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(centre),
        box=Box(centre, Vector3(*size)),
        stamp=stamp,
        states=dict(states or {}),
        source=source,
        source_frame_id=frame,
    )


# ------------------------------------------------------------------------- association cost


@pytest.mark.parametrize("id_mismatch_blocks", [True, False])
def test_vectorised_cost_matrix_equals_the_per_pair_cost(id_mismatch_blocks: bool) -> None:
    rng = np.random.default_rng(7)
    graph = SceneGraph()
    fusion = ObjectFusion(graph, FusionConfig(id_mismatch_blocks=id_mismatch_blocks))

    def box() -> Box:
        return Box(Vector3(*rng.uniform(-1.5, 1.5, 3)), Vector3(*rng.uniform(0.0, 1.2, 3)))

    def external_id(index: int) -> str:
        return f"Mug|{index}" if index % 3 else ""

    targets: list = []
    for index in range(40):
        b = box()
        if index % 2:
            node_id = graph.add_node(
                Layer.OBJECT, "Mug", world_T_object=Pose(b.center), box=b, stamp=0.0,
                external_id=external_id(index),
            )  # fmt: skip
            targets.append(graph.get_node(node_id))
        else:
            estimate = _Estimate.of(b, 1.0)
            targets.append(_Candidate(index, "Mug", external_id(index), estimate, set(), 0.0))
    observations = []
    for index in range(60):
        b = box()
        observations.append(ObjectObservation(external_id(index), "Mug", Pose(b.center), b, 1.0))
    expected = np.array([[fusion._cost(o, t) for t in targets] for o in observations])
    matrix = fusion._cost_matrix(observations, targets)
    assert (expected >= 1e5).sum() > 0 and (expected == -1.0).sum() > 0  # every rule is exercised
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-12)


def test_a_thousand_new_objects_of_one_type_are_associated_in_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20.0, 20.0, size=(1000, 3))
    fusion = ObjectFusion(SceneGraph())
    frame = [_obs(f"Mug|{i}", tuple(c), 1.0) for i, c in enumerate(centres)]
    fusion.integrate_frame(frame)  # 1,000 candidates
    targets = list(fusion._candidates.values())
    start = time.perf_counter()
    cost = fusion._cost_matrix(
        [_obs(f"Mug|{i}", tuple(c), 2.0) for i, c in enumerate(centres)], targets
    )
    elapsed = time.perf_counter() - start
    assert cost.shape == (1000, 1000) and elapsed < 1.0, elapsed


# ------------------------------------------------------------------------- long-term memory

N_FORGED = 100


def _confirmed_memory() -> tuple[LongTermMemory, list[ObjectObservation]]:
    """Memory with N_FORGED mugs confirmed on a 10 x 10 grid (two frames), and the grid."""
    memory = LongTermMemory(None)
    grid = [(float(i % 10), float(i // 10), 0.9) for i in range(N_FORGED)]
    for stamp in (1.0, 2.0):
        frame = [
            _obs(f"Mug|{i}", xyz, stamp, states={"isDirty": "false"}) for i, xyz in enumerate(grid)
        ]
        memory.integrate_frame(frame)
    assert len(_mugs(memory)) == N_FORGED
    return memory, frame


def _mugs(memory: LongTermMemory) -> list[SceneNode]:
    return [n for n in memory.graph.nodes(Layer.OBJECT) if n.node_type == "Mug"]


def _contradictions(stamp: float, source: str = "gt_mask") -> list[ObjectObservation]:
    """Every mug 3 m from its place and dirty: a fact that contradicts memory on each count."""
    return [
        _obs(f"Mug|{i}", (i % 10 + 30.0, i // 10 + 30.0, 0.9), stamp, states={"isDirty": "true"},
             source=source)
        for i in range(N_FORGED)
    ]  # fmt: skip


def _adopted(memory: LongTermMemory) -> int:
    """Mugs whose place or state memory took from the contradicting frames."""
    return sum(
        node.position.x >= 20.0 or node.states.get("isDirty") == "true" for node in _mugs(memory)
    )


def test_a_frame_that_calls_itself_an_action_is_not_believed() -> None:
    memory, _ = _confirmed_memory()
    memory.integrate_frame(_contradictions(3.0, source="action"))
    assert _adopted(memory) == 0
    mug = memory.graph.find_object_by_external_id("Mug|0")
    assert {p.source for p in mug.provenance} == {"perception"}  # memory named the source


@pytest.mark.parametrize(("objects", "repeats"), [(N_FORGED, 3), (10, 100)])
def test_the_same_contradicting_frame_sent_again_is_never_adopted(
    objects: int, repeats: int
) -> None:
    # 100 facts sent 3 times, and 10 facts sent 100 times (a frame of 100 sent 100 times takes
    # 30 s of fusion and proves nothing more).
    memory, _ = _confirmed_memory()
    for _ in range(repeats):
        memory.integrate_frame(_contradictions(3.0)[:objects])
    assert _adopted(memory) == 0
    memory.integrate_frame(_contradictions(4.0)[:objects])  # a second, distinct frame confirms
    assert _adopted(memory) == objects


def test_a_repeated_frame_does_not_confirm_a_new_object() -> None:
    memory = LongTermMemory(None)
    for _ in range(10):
        memory.integrate_frame([_obs("Apple|1", (1.0, 1.0, 0.9), 5.0, object_type="Apple")])
    assert memory.graph.find_object_by_external_id("Apple|1") is None


def test_consolidated_entries_are_never_trusted_whatever_source_they_claim() -> None:
    memory, _ = _confirmed_memory()
    memory.consolidate(_contradictions(3.0, source="action"))
    assert _adopted(memory) == 0


def test_only_apply_action_effects_is_believed_at_once() -> None:
    memory, _ = _confirmed_memory()
    memory.apply_action_effects(_contradictions(3.0, source="perception"))
    assert _adopted(memory) == N_FORGED
    mug = memory.graph.find_object_by_external_id("Mug|0")
    assert mug.provenance[-1].source == "action"
