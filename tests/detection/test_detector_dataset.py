"""The detector's dataset: splits, classes, labels that cover the rendered instances, resuming."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, STRUCTURE_TYPES
from memory_nodes.detection.dataset import (
    DatasetSpec,
    generate_dataset,
    openables_to_open,
    plan_views,
    scene_rng,
)
from memory_nodes.detection.polygons import (
    mask_to_polygon,
    parse_label_line,
    polygon_to_mask,
)
from memory_nodes.detection.splits import (
    SPLITS,
    detector_class_names,
    split_of_scene,
    split_scenes,
)
from memory_nodes.perception.backends import object_type_from_label

os.environ.setdefault("MUJOCO_GL", "egl")

WIDTH, HEIGHT = 160, 120
SMALL_SPEC = DatasetSpec(
    width=WIDTH,
    height=HEIGHT,
    views_per_scene={"train": 3, "val": 0, "test": 2},
    scenes={"train": ["FloorPlan1"], "val": [], "test": ["FloorPlan226"]},
    opened_fraction=0.5,
)


def test_splits_are_ai2thors_disjoint_floorplan_ranges() -> None:
    scenes = {split: set(split_scenes(split)) for split in SPLITS}
    assert [len(scenes[split]) for split in SPLITS] == [80, 20, 20]
    assert not (scenes["train"] & scenes["val"] or scenes["train"] & scenes["test"])
    assert not scenes["val"] & scenes["test"]
    assert {"FloorPlan1", "FloorPlan20", "FloorPlan420"} <= scenes["train"]
    assert {"FloorPlan21", "FloorPlan225", "FloorPlan425"} <= scenes["val"]
    assert {"FloorPlan26", "FloorPlan230", "FloorPlan430"} <= scenes["test"]
    assert split_of_scene("FloorPlan327") == "test"
    with pytest.raises(InvalidInputError):
        split_of_scene("FloorPlan_Train1_1")


def test_class_names_are_memory_types_of_the_training_scenes() -> None:
    names = detector_class_names()
    assert list(names) == sorted(names)
    assert set(names) <= set(KNOWN_TYPES)
    assert not set(names) & STRUCTURE_TYPES
    assert {"Fridge", "Mug", "Apple", "Toilet", "Bed", "Sofa"} <= set(names)


def _random_mask(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((48, 64), dtype=bool)
    for _ in range(rng.integers(1, 4)):
        top, left = rng.integers(0, 44), rng.integers(0, 60)
        height, width = rng.integers(1, 16), rng.integers(1, 16)
        mask[top : top + height, left : left + width] = True
    return mask


def test_filled_label_polygon_covers_every_pixel_of_random_masks() -> None:
    """Reference: the mask itself; one polygon through all pieces loses none of its pixels."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        mask = _random_mask(rng)
        filled = polygon_to_mask(mask_to_polygon(mask), mask.shape)
        assert not (mask & ~filled).any()
        pieces = ndimage.label(mask, structure=np.ones((3, 3)))[1]
        if pieces == 1:  # one piece: the fill is the mask with its holes filled, exactly
            assert (filled == ndimage.binary_fill_holes(mask)).all()


def test_label_line_round_trip_keeps_pixel_coordinates() -> None:
    from memory_nodes.detection.polygons import label_line

    polygon = np.array([[0, 0], [159, 0], [159, 119], [3, 100]])
    index, points = parse_label_line(label_line(5, polygon, WIDTH, HEIGHT), WIDTH, HEIGHT)
    assert index == 5
    assert np.allclose(points, polygon, atol=1e-3)


def _reference_masks(frames: dict) -> dict[str, np.ndarray]:
    """objectId -> mask straight from the segmentation colours (not the generator's path)."""
    segmentation = frames["instance_segmentation_frame"]
    masks = {}
    for colour, object_id in frames["color_to_object_id"].items():
        mask = (segmentation == np.array(colour, dtype=np.uint8)).all(axis=2)
        if mask.any():
            masks[object_id] = mask
    return masks


def test_labels_cover_the_instances_rendered_at_the_same_view(tmp_path: Path) -> None:
    from sim.household_sim import HouseholdSim

    generate_dataset(tmp_path, SMALL_SPEC, progress=False)
    names = detector_class_names()
    min_pixels = round(16 * WIDTH * HEIGHT / (320 * 240))
    sim = HouseholdSim(
        "FloorPlan1", width=WIDTH, height=HEIGHT, renderDepthImage=True,
        renderInstanceSegmentation=True,
    )  # fmt: skip
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        positions = [(p["x"], p["z"]) for p in metadata["actionReturn"]]
        rng = scene_rng(SMALL_SPEC.seed, "FloorPlan1")
        views = plan_views(positions, 3, SMALL_SPEC.opened_fraction, rng)
        to_open = openables_to_open(metadata["objects"], rng)
        assert [view.opened for view in views] == [False, True, True]
        checked = 0
        for number, view in enumerate(views):
            if view.opened and number == 1:
                for object_id in to_open:
                    sim.step({"action": "OpenObject", "objectId": object_id, "forceAction": True})
            _, frames = sim.step(view.teleport_action())
            label_file = tmp_path / "labels" / "train" / f"FloorPlan1_{number:04d}.txt"
            labels = [
                parse_label_line(line, WIDTH, HEIGHT)
                for line in label_file.read_text().splitlines()
            ]
            label_masks = [
                (names[index], polygon_to_mask(poly, (HEIGHT, WIDTH))) for index, poly in labels
            ]
            # Every object of a class seen over enough pixels, except a one-pixel line (no
            # polygon has an area there).
            instances = {
                object_id: mask
                for object_id, mask in _reference_masks(frames).items()
                if "|" in object_id
                and object_type_from_label(object_id) in names
                and mask.sum() >= min_pixels
                and mask.any(axis=0).sum() > 1
                and mask.any(axis=1).sum() > 1
            }
            assert len(labels) == len(instances)
            for object_id, mask in instances.items():
                object_type = object_type_from_label(object_id)
                # The label of this instance: same type, covering most of its pixels.
                cover = max(
                    ((m & mask).sum() / mask.sum() for t, m in label_masks if t == object_type),
                    default=0.0,
                )
                assert cover >= 0.95, (number, object_id, cover)
                checked += 1
    finally:
        sim.close()
    assert checked >= 10


def test_generation_is_deterministic_and_resumes_missing_views(tmp_path: Path) -> None:
    spec = DatasetSpec(
        width=96, height=72, views_per_scene={"train": 3, "val": 0, "test": 1},
        scenes=SMALL_SPEC.scenes, opened_fraction=0.5,
    )  # fmt: skip
    first, second = tmp_path / "first", tmp_path / "second"
    summary = generate_dataset(first, spec, progress=False)
    assert summary["splits"]["train"]["images"] == 3
    assert summary["splits"]["test"]["images"] == 1
    assert summary["splits"]["train"]["instances"] > 10
    # A second folder made in two steps (an interrupted run resumed) holds the same bytes.
    generate_dataset(second, spec, progress=False)
    (second / "images" / "train" / "FloorPlan1_0002.png").unlink()
    (second / "labels" / "test" / "FloorPlan226_0000.txt").unlink()
    kept = (second / "images" / "train" / "FloorPlan1_0000.png").stat().st_mtime_ns
    generate_dataset(second, spec, progress=False)
    assert (second / "images" / "train" / "FloorPlan1_0000.png").stat().st_mtime_ns == kept
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for relative in files:
        if relative.name != "data.yaml":  # holds its own absolute path
            assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
    data_yaml = (first / "data.yaml").read_text()
    assert "train: images/train" in data_yaml and f"  0: {detector_class_names()[0]}" in data_yaml


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    spec = DatasetSpec(
        width=64, height=48, views_per_scene={"train": 1, "val": 0, "test": 0},
        scenes={"train": ["FloorPlan301"], "val": [], "test": []},
    )  # fmt: skip
    generate_dataset(tmp_path, spec, progress=False)
    other = DatasetSpec(
        width=96, height=72, views_per_scene=spec.views_per_scene, scenes=spec.scenes
    )
    with pytest.raises(InvalidInputError, match="other settings"):
        generate_dataset(tmp_path, other, progress=False)


def test_a_scene_outside_its_split_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not train FloorPlans"):
        DatasetSpec(scenes={"train": ["FloorPlan26"], "val": [], "test": []})
