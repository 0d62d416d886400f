"""Fusion from observations that carry only a type (a detector, or class_masks perception).

A counter top seen in parts from far apart starts as two nodes; once one has grown over the
other, the other was a part of it and is absorbed. Nodes with ids never are, so the reference
path (simulator ids) fuses exactly as before.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.fusion import FusionConfig, ObjectFusion, _share_inside
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.types import Box, ObjectObservation, Pose

COUNTER_Y, COUNTER_Z = (0.0, 0.6), (0.85, 0.9)


def _observation(
    object_type: str, lo: tuple[float, ...], hi: tuple[float, ...], frame: int, object_id: str = ""
) -> ObjectObservation:
    box = Box.from_corners(np.array(lo, dtype=float), np.array(hi, dtype=float))
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(box.center),
        box=box,
        stamp=float(frame),
        source="class_masks",
        source_frame_id=f"frame{frame}",
    )


def _counter_part(x_from: float, x_to: float, frame: int, object_id: str = "") -> ObjectObservation:
    return _observation(
        "CounterTop",
        (x_from, COUNTER_Y[0], COUNTER_Z[0]),
        (x_to, COUNTER_Y[1], COUNTER_Z[1]),
        frame,
        object_id,
    )


def _apple(frame: int) -> ObjectObservation:
    return _observation("Apple", (0.35, 0.25, 0.9), (0.43, 0.33, 0.98), frame)


def _see_counter_in_parts(fusion: ObjectFusion, object_ids: tuple[str, str] = ("", "")) -> None:
    """Both ends first (two nodes), then ever longer views from the far end."""
    first, second = object_ids
    frame = 0
    for _ in range(2):
        fusion.integrate_frame([_counter_part(0.0, 0.8, frame, first), _apple(frame)])
        frame += 1
    for x_from in (2.2, 2.2, 1.2, 0.5, 0.0):
        fusion.integrate_frame([_counter_part(x_from, 3.0, frame, second)])
        frame += 1


def _present(graph: SceneGraph, object_type: str) -> list:
    return [
        n
        for n in graph.nodes(Layer.FURNITURE)
        if n.node_type == object_type and n.status == NodeStatus.PRESENT
    ]


def test_counter_top_seen_in_parts_from_far_apart_ends_as_one_node() -> None:
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    _see_counter_in_parts(fusion)
    counters = _present(graph, "CounterTop")
    assert len(counters) == 1
    lo, hi = counters[0].box.min_corner, counters[0].box.max_corner
    assert lo[0] == pytest.approx(0.0) and hi[0] == pytest.approx(3.0)


def test_the_object_on_an_absorbed_part_rests_on_the_whole() -> None:
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    _see_counter_in_parts(fusion)
    (apple,) = [n for n in graph.nodes(Layer.OBJECT) if n.node_type == "Apple"]
    (counter,) = _present(graph, "CounterTop")
    assert graph.find_location(apple.node_id) == (counter.node_id, EdgeType.ON)


def test_nodes_with_ids_are_never_absorbed() -> None:
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    _see_counter_in_parts(fusion, ("CounterTop|a", "CounterTop|b"))
    assert sorted(n.external_id for n in _present(graph, "CounterTop")) == [
        "CounterTop|a",
        "CounterTop|b",
    ]


def test_two_counter_tops_that_only_touch_stay_two() -> None:
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    for frame in range(3):
        fusion.integrate_frame([_counter_part(0.0, 1.0, frame), _counter_part(1.0, 2.5, frame)])
    for frame in range(3, 5):  # the second seen whole again
        fusion.integrate_frame([_counter_part(1.0, 2.5, frame)])
    assert len(_present(graph, "CounterTop")) == 2


def test_three_mugs_in_a_row_seen_one_at_a_time_stay_three() -> None:
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    mugs = [(x, x + 0.1) for x in (0.0, 0.6, 1.2)]
    frame = 0
    for _ in range(2):
        fusion.integrate_frame(
            [_observation("Mug", (a, 0.0, 0.9), (b, 0.1, 1.0), frame) for a, b in mugs]
        )
        frame += 1
    for a, b in mugs * 2:
        fusion.integrate_frame([_observation("Mug", (a, 0.0, 0.9), (b, 0.1, 1.0), frame)])
        frame += 1
    assert len([n for n in graph.nodes(Layer.OBJECT) if n.node_type == "Mug"]) == 3


@pytest.mark.parametrize("seed", range(30))
def test_share_inside_equals_a_sampled_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(2):
        lo = rng.uniform(-1.0, 1.0, 3)
        boxes.append(Box.from_corners(lo, lo + rng.uniform(0.01, 1.5, 3)))
    part, whole = boxes
    margin = FusionConfig().furniture_overlap_margin
    # Reference: the share of a dense grid over the grown part that lies in the grown whole.
    p_lo, p_hi = part.min_corner - margin, part.max_corner + margin
    w_lo, w_hi = whole.min_corner - margin, whole.max_corner + margin
    steps = 60
    axes = [p_lo[i] + (np.arange(steps) + 0.5) * (p_hi[i] - p_lo[i]) / steps for i in range(3)]
    inside = [((a >= w_lo[i]) & (a <= w_hi[i])).mean() for i, a in enumerate(axes)]
    assert _share_inside(part, whole, margin) == pytest.approx(float(np.prod(inside)), abs=0.03)
