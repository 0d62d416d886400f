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

from memory_nodes.core.cache_entry import CacheEntry
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.fusion import FusionConfig, ObjectFusion, _Candidate, _Estimate
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.scene_graph import Layer, SceneGraph, SceneNode
from memory_nodes.core.short_term import ObjectStateCache
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


def test_a_thousand_by_a_thousand_cost_matrix_costs_less_than_the_per_pair_rule() -> None:
    # Timed against the per-pair rule in the same run (the machine is shared): a million pairs
    # at once must cost under a tenth of what the per-pair rule spends per pair.
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20.0, 20.0, size=(1000, 3))
    fusion = ObjectFusion(SceneGraph())
    # No ids (a detector's observations): every pair is costed by geometry.
    fusion.integrate_frame([_obs("", tuple(c), 1.0) for c in centres])
    targets = list(fusion._candidates.values())
    frame = [_obs("", tuple(c + 0.01), 2.0) for c in centres]
    start = time.perf_counter()
    cost = fusion._cost_matrix(frame, targets)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    for obs in frame[:50]:
        for target in targets[:40]:
            fusion._cost(obs, target)
    per_pair = (time.perf_counter() - start) / 2_000
    assert cost.shape == (1000, 1000)
    assert vectorised < 0.1 * per_pair * 1_000_000, (vectorised, per_pair)


# ------------------------------------------------------------------------- long-term memory

N_FORGED = 100


def _confirmed_memory(count: int = N_FORGED) -> tuple[LongTermMemory, list[ObjectObservation]]:
    """Memory with ``count`` mugs confirmed on a 10 x 10 grid (two frames), and the frame."""
    memory = LongTermMemory(None)
    grid = [(float(i % 10), float(i // 10), 0.9) for i in range(count)]
    for stamp in (1.0, 2.0):
        frame = [
            _obs(f"Mug|{i}", xyz, stamp, states={"isDirty": "false"}) for i, xyz in enumerate(grid)
        ]
        memory.integrate_frame(frame)
    assert len(_mugs(memory)) == count
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
    memory, _ = _confirmed_memory(objects)
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


# ------------------------------------------------------------------------- short-term memory


def test_short_term_memory_keeps_a_confirmed_place_against_a_single_contradiction() -> None:
    cache = ObjectStateCache(capacity=200)
    for i in range(N_FORGED):
        cache.put(_obs(f"Mug|{i}", (i * 0.1, 0.0, 0.9), 1.0, states={"isDirty": "false"}))
    for i in range(N_FORGED):  # one frame each, sent three times: still one frame
        for _ in range(3):
            cache.put(_obs(f"Mug|{i}", (i + 30.0, 0.0, 0.9), 2.0, states={"isDirty": "true"}))
    entries = cache.query(now=3.0, object_type="Mug")
    assert sum(e.world_T_object.position.x >= 20.0 for e in entries) == 0
    assert sum(e.states["isDirty"] == "true" for e in entries) == 0
    assert all(e.has_pending for e in entries)  # the contradiction waits, it is not lost
    for i in range(N_FORGED):  # a second, distinct frame agrees: believed
        cache.put(_obs(f"Mug|{i}", (i + 30.05, 0.0, 0.9), 3.0, states={"isDirty": "true"}))
    entries = cache.query(now=4.0, object_type="Mug")
    assert all(
        e.world_T_object.position.x >= 20.0 and e.states["isDirty"] == "true" for e in entries
    )


def test_short_term_memory_takes_first_sightings_and_the_robots_actions_at_once() -> None:
    cache = ObjectStateCache(capacity=4)
    cache.put(_obs("Mug|1", (0.0, 0.0, 0.9), 1.0))
    assert cache.find_entry("Mug|1").world_T_object.position.x == 0.0
    cache.put(_obs("Mug|1", (0.1, 0.0, 0.9), 2.0, states={"isDirty": "true"}))  # jitter, new state
    entry = cache.find_entry("Mug|1")
    assert entry.world_T_object.position.x == 0.1 and entry.states == {"isDirty": "true"}
    moved = Pose(Vector3(3.0, 0.0, 0.9))
    cache.record_action_effect("Mug|1", now=3.0, world_T_object=moved, states={"isDirty": "false"})
    entry = cache.find_entry("Mug|1")
    assert entry.world_T_object == moved and entry.states["isDirty"] == "false"


def test_a_move_seen_on_the_way_in_consecutive_frames_is_believed_on_the_second() -> None:
    cache = ObjectStateCache(capacity=4)
    cache.put(_obs("Mug|1", (0.0, 0.0, 0.9), 1.0))
    cache.put(_obs("Mug|1", (2.0, 0.0, 0.9), 2.0))
    assert cache.find_entry("Mug|1").world_T_object.position.x == 0.0
    cache.put(_obs("Mug|1", (2.02, 0.0, 0.9), 3.0))
    assert cache.find_entry("Mug|1").world_T_object.position.x == 2.02


# ------------------------------------------------------------------------- refused input


def test_absurd_coordinates_are_refused_before_anything_changes() -> None:
    memory, _ = _confirmed_memory()
    before = [(n.node_id, n.position) for n in _mugs(memory)]
    for xyz in [(1e308, 0.0, 0.9), (0.0, -2000.0, 0.9), (0.0, 0.0, 1001.0)]:
        with pytest.raises(InvalidInputError, match="map extent"):
            memory.integrate_frame([_obs("Mug|0", (0.0, 0.0, 0.9), 5.0), _obs("Mug|1", xyz, 5.0)])
    with pytest.raises(InvalidInputError, match="map extent"):
        memory.apply_action_effects([_obs("Mug|1", (1e308, 0.0, 0.9), 5.0)])
    assert [(n.node_id, n.position) for n in _mugs(memory)] == before
    cache = ObjectStateCache(capacity=4)  # short-term memory refuses them too
    with pytest.raises(InvalidInputError, match="map extent"):
        cache.put(_obs("Mug|1", (1e308, 0.0, 0.9), 5.0))
    assert len(cache) == 0


def test_an_oversized_frame_is_refused_whole_in_well_under_a_second() -> None:
    memory = LongTermMemory(None, max_observations_per_frame=1000)
    frame = [_obs(f"Mug|{i}", (i * 0.01, 0.0, 0.9), 1.0) for i in range(10_000)]
    start = time.perf_counter()
    with pytest.raises(InvalidInputError, match="max_observations_per_frame"):
        memory.integrate_frame(frame)
    assert time.perf_counter() - start < 0.1
    assert memory.fusion.num_candidates == 0


def test_a_one_megabyte_type_name_gives_a_short_error() -> None:
    memory = LongTermMemory(None)
    huge = "A" * 1_000_000
    with pytest.raises(InvalidInputError) as refused:
        memory.integrate_frame([_obs("Mug|1", (0.0, 0.0, 0.9), 1.0, object_type=huge)])
    assert len(str(refused.value)) < 300 and "1000002 characters" in str(refused.value)
    cache = ObjectStateCache(capacity=4)
    with pytest.raises(InvalidInputError) as refused:
        cache.put(_obs("Mug|1", (0.0, 0.0, 0.9), 1.0, object_type=huge))
    assert len(str(refused.value)) < 300 and len(cache) == 0
    with pytest.raises(InvalidInputError) as refused:
        cache.record_action_effect(huge, now=1.0)
    assert len(str(refused.value)) < 300


# ------------------------------------------------------------------------- provenance


def test_a_fact_names_the_frames_that_support_it_also_through_consolidation() -> None:
    memory = LongTermMemory(None)
    for stamp in (1.0, 2.0):
        memory.integrate_frame([_obs("Mug|1", (1.0, 1.0, 0.9), stamp, frame="head_camera")])
    record = memory.query(ObjectQuery(object_type="Mug"), now=3.0)[0]
    assert "perception:head_camera@1.000000:Mug|1" in record.provenance
    assert "perception:head_camera@2.000000:Mug|1" in record.provenance
    # Short-term entries leaving the cache carry the frame of their newest fact.
    cache = ObjectStateCache(capacity=4)
    for stamp in (5.0, 6.0):
        cache.put(_obs("Apple|1", (2.0, 1.0, 0.9), stamp, object_type="Apple", frame="wrist"))
        entry = cache.find_entry("Apple|1")
        memory.consolidate([_entry_observation(entry)])
    record = memory.query(ObjectQuery(object_type="Apple"), now=7.0)[0]
    assert {"consolidation:wrist@5.000000:Apple|1", "consolidation:wrist@6.000000:Apple|1"} <= set(
        record.provenance
    )


def _entry_observation(entry: CacheEntry) -> ObjectObservation:
    """A cache entry as the short-term node sends it for consolidation (its fields, its frame)."""
    return ObjectObservation(
        object_id=entry.object_id,
        object_type=entry.object_type,
        world_T_object=entry.world_T_object,
        box=entry.box,
        stamp=entry.last_written,
        states=dict(entry.states),
        source="short_term:capacity",
        source_frame_id=entry.source_frame_id,
    )
