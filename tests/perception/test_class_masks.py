"""The class_masks path: the rendered instance masks with only each instance's type.

The instances (pixels, types, scores) are exactly the reference backend's; what is gone is the
simulator's objectId, and on the simulator path the states read from its metadata.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.adapters.ai2thor_perception import SimPerception
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.perception.backends import ClassMaskBackend, MaskBackend
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.perception.observations import ObservationExtractor

INTRINSICS = CameraIntrinsics.from_fov(160, 120, 60.0)
LABELS = {
    3: "Mug|+01.00|+00.90|-00.50",
    5: "Mug|+01.20|+00.90|-00.50",
    7: "Apple|+00.10|+00.90|-00.50|AppleSliced_2",
    9: "Floor|+00.00|+00.00|+00.00",
}


def _random_frame(seed: int) -> RGBDFrame:
    """Random rectangles of four labels (two mugs, a slice, the floor) on a wall."""
    rng = np.random.default_rng(seed)
    height, width = INTRINSICS.height, INTRINSICS.width
    ids = np.zeros((height, width), dtype=np.int32)
    depth = np.full((height, width), 3.0, dtype=np.float32)
    for instance_id in rng.permutation(list(LABELS)):
        top, left = rng.integers(0, height - 20), rng.integers(0, width - 20)
        rows, cols = rng.integers(4, 30, size=2)
        ids[top : top + rows, left : left + cols] = instance_id
        depth[top : top + rows, left : left + cols] = rng.uniform(0.8, 2.5)
    camera = np.eye(4)
    camera[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    camera[:3, 3] = [0.0, 0.0, 1.0]
    return RGBDFrame(
        rgb=np.zeros((height, width, 3), dtype=np.uint8),
        depth=depth,
        intrinsics=INTRINSICS,
        world_T_camera=camera,
        stamp=4.0,
        instance_ids=ids,
        instance_labels=dict(LABELS),
    )


@pytest.mark.parametrize("seed", range(20))
def test_class_masks_are_the_reference_instances_without_their_ids(seed: int) -> None:
    frame = _random_frame(seed)
    reference = MaskBackend(min_pixels=8).detect(frame)
    for backend in (ClassMaskBackend(min_pixels=8), MaskBackend(min_pixels=8, keep_ids=False)):
        typed = backend.detect(frame)
        assert backend.name == "class_masks"
        assert [i.instance_key for i in typed] == [""] * len(reference)
        assert [(i.object_type, i.score) for i in typed] == [
            (i.object_type, i.score) for i in reference
        ]
        for mine, theirs in zip(typed, reference, strict=True):
            np.testing.assert_array_equal(mine.pixels, theirs.pixels)


def test_observations_from_class_masks_carry_type_and_geometry_but_no_id() -> None:
    frame = _random_frame(3)
    with_ids = ObservationExtractor(MaskBackend(min_pixels=8), min_points=8).extract(frame)
    typed = ObservationExtractor(ClassMaskBackend(min_pixels=8), min_points=8).extract(frame)
    assert len(typed.observations) == len(with_ids.observations) > 0
    for mine, theirs in zip(typed.observations, with_ids.observations, strict=True):
        assert mine.object_id == "" and theirs.object_id in LABELS.values()
        assert mine.object_type == theirs.object_type and mine.source == "class_masks"
        assert mine.box == theirs.box and mine.confidence == theirs.confidence


def test_sim_perception_refuses_an_unknown_mode() -> None:
    with pytest.raises(InvalidInputError, match="perception mode"):
        SimPerception(mode="oracle")


def test_sim_perception_with_class_masks_reads_no_ids_and_no_metadata_states() -> None:
    from sim import HouseholdSim

    sim = HouseholdSim(
        "FloorPlan1", width=160, height=120, renderDepthImage=True, renderInstanceSegmentation=True
    )
    try:
        metadata, frames = sim.step({"action": "Pass"})
        reference = SimPerception().perceive(metadata, frames, 1.0)
        typed = SimPerception(mode="class_masks").perceive(metadata, frames, 1.0)
    finally:
        sim.close()
    assert reference.observations and reference.object_states, "the reference path reads both"
    assert len(typed.observations) == len(reference.observations)
    assert all(o.object_id == "" and o.states == {} for o in typed.observations)
    assert typed.object_states == {}
    assert sorted(o.object_type for o in typed.observations) == sorted(
        o.object_type for o in reference.observations
    )
