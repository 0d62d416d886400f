"""Render the detector's dataset: simulator images and instance masks as YOLO segmentation labels.

Each FloorPlan of a split is seen from seeded viewpoints the robot could take: a reachable grid
cell, one of the four headings it turns between, one of the camera pitches its planner uses.
The last third of a scene's views (by default) is rendered with a seeded half of its openables
open, so open fridges, drawers and their contents are learnt too. Labels come from the same
instance masks the reference perception path reads (:class:`MaskBackend` on the simulator's
frame), so a class name is exactly the type memory would record.

Layout under the dataset root (the ultralytics format)::

    data.yaml                  paths and class names
    dataset.json               what generated it (sizes, seed, views per scene)
    images/{train,val,test}/FloorPlan1_0000.png
    labels/{train,val,test}/FloorPlan1_0000.txt   one "class x1 y1 x2 y2 ..." line per instance

Generation is deterministic (same arguments, same bytes) and resumable: a view whose image and
label both exist is not rendered again, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.detection.polygons import label_line, mask_to_polygon
from memory_nodes.detection.splits import SPLITS, detector_class_names, split_scenes
from memory_nodes.planning.navigation import HORIZONS

#: Image size the robot's camera streams by default.
DEFAULT_SIZE = (320, 240)
#: Yaw of the four headings the robot turns between (AI2-THOR degrees).
HEADINGS = (0.0, 90.0, 180.0, 270.0)
#: Views per scene by default, per split.
DEFAULT_VIEWS_PER_SCENE = {"train": 60, "val": 20, "test": 30}
#: Instances smaller than this many pixels at 320x240 are not labelled (scaled with the image
#: area): a few pixels at an occluder's edge teach the detector nothing.
MIN_INSTANCE_PIXELS_320 = 16
#: Pieces of an instance smaller than this many pixels (at 320x240) are left out of its polygon.
MIN_PIECE_PIXELS_320 = 4
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is made of; stored in ``dataset.json`` so a resumed run cannot mix sizes."""

    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    seed: int = 0
    views_per_scene: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_VIEWS_PER_SCENE))
    opened_fraction: float = 1.0 / 3.0
    scenes: dict[str, list[str]] = field(
        default_factory=lambda: {split: list(split_scenes(split)) for split in SPLITS}
    )
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32:
            raise InvalidInputError(f"image size {self.width}x{self.height} is below 32x32")
        if not 0.0 <= self.opened_fraction <= 1.0:
            raise InvalidInputError(
                f"opened_fraction must be in [0, 1], got {self.opened_fraction}"
            )
        for split, count in self.views_per_scene.items():
            if split not in SPLITS or count < 0:
                raise InvalidInputError(f"views per scene needs a split and a count >= 0: {split}")
        for split, scenes in self.scenes.items():
            allowed = set(split_scenes(split))
            wrong = [scene for scene in scenes if scene not in allowed]
            if wrong:
                raise InvalidInputError(f"{', '.join(wrong)} are not {split} FloorPlans")

    @property
    def pixel_scale(self) -> float:
        return self.width * self.height / (DEFAULT_SIZE[0] * DEFAULT_SIZE[1])


@dataclass(frozen=True)
class View:
    """Where the camera is for one image: an agent pose and whether openables are open."""

    x: float
    z: float
    rotation: float
    horizon: float
    opened: bool

    def teleport_action(self) -> dict[str, Any]:
        from sim.world_state import AGENT_Y

        return {
            "action": "TeleportFull",
            "position": {"x": self.x, "y": AGENT_Y, "z": self.z},
            "rotation": {"x": 0.0, "y": self.rotation},
            "horizon": self.horizon,
            "standing": True,
        }


def scene_rng(seed: int, scene: str) -> np.random.Generator:
    """The random generator of one scene: views do not depend on which other scenes are made."""
    return np.random.default_rng([seed, int(scene.removeprefix("FloorPlan"))])


def plan_views(
    positions: list[tuple[float, float]],
    count: int,
    opened_fraction: float,
    rng: np.random.Generator,
) -> list[View]:
    """``count`` distinct (cell, heading, pitch) views; the last ``opened_fraction`` opened."""
    poses = [(x, z, r, h) for x, z in positions for r in HEADINGS for h in HORIZONS]
    chosen = rng.choice(len(poses), size=min(count, len(poses)), replace=False)
    first_opened = len(chosen) - round(len(chosen) * opened_fraction)
    return [
        View(*poses[int(index)], opened=number >= first_opened)
        for number, index in enumerate(chosen)
    ]


def openables_to_open(objects: list[dict[str, Any]], rng: np.random.Generator) -> list[str]:
    """A seeded half of the scene's openables (ids sorted first, so the draw is stable)."""
    ids = sorted(o["objectId"] for o in objects if o.get("openable") and not o.get("isOpen"))
    if not ids:
        return []
    picked = rng.choice(len(ids), size=(len(ids) + 1) // 2, replace=False)
    return [ids[int(i)] for i in sorted(picked)]


def image_labels(
    frames: dict[str, Any], class_index: dict[str, int], spec: DatasetSpec
) -> list[str]:
    """Label lines of one rendered view, from the same instances the reference path sees."""
    from memory_nodes.adapters.ai2thor_perception import rgbd_frame_from_sim
    from memory_nodes.perception.backends import MaskBackend

    frame = rgbd_frame_from_sim(frames, stamp=0.0)
    min_pixels = max(1, round(MIN_INSTANCE_PIXELS_320 * spec.pixel_scale))
    min_piece = max(1, round(MIN_PIECE_PIXELS_320 * spec.pixel_scale))
    lines = []
    for instance in MaskBackend(min_pixels=min_pixels).detect(frame):
        index = class_index.get(instance.object_type)
        if index is None:  # a type no training scene holds
            continue
        polygon = mask_to_polygon(instance.mask, min_piece_pixels=min_piece)
        if polygon is None or len(polygon) < 3:
            continue
        lines.append(label_line(index, polygon, spec.width, spec.height))
    return lines


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _png_bytes(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def view_stem(scene: str, number: int) -> str:
    return f"{scene}_{number:04d}"


def write_data_yaml(root: Path) -> Path:
    """``data.yaml`` for ultralytics: absolute root, split folders, class names."""
    names = detector_class_names()
    lines = [f"path: {root.resolve()}", "train: images/train", "val: images/val"]
    lines += ["test: images/test", f"nc: {len(names)}", "names:"]
    lines += [f"  {index}: {name}" for index, name in enumerate(names)]
    path = root / "data.yaml"
    _write_atomically(path, ("\n".join(lines) + "\n").encode())
    return path


def _check_or_store_spec(root: Path, spec: DatasetSpec) -> None:
    path = root / "dataset.json"
    wanted = asdict(spec)
    if path.exists():
        stored = json.loads(path.read_text())
        changed = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if changed:
            raise InvalidInputError(
                f"{root} holds a dataset made with other settings ({', '.join(changed)}); "
                "use the same settings to resume, or another folder"
            )
        return
    _write_atomically(path, (json.dumps(wanted, indent=1) + "\n").encode())


def generate_dataset(
    root: str | Path, spec: DatasetSpec | None = None, progress: bool = True
) -> dict[str, Any]:
    """Render every missing view of ``spec`` under ``root``; returns :func:`dataset_summary`."""
    from tqdm import tqdm

    from sim.household_sim import HouseholdSim

    spec = spec or DatasetSpec()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _check_or_store_spec(root, spec)
    write_data_yaml(root)
    class_index = {name: index for index, name in enumerate(detector_class_names())}
    total = sum(
        len(spec.scenes.get(split, [])) * spec.views_per_scene.get(split, 0) for split in SPLITS
    )
    bar = tqdm(total=total, unit="view", disable=not progress, file=sys.stderr)
    sim: HouseholdSim | None = None
    try:
        for split in SPLITS:
            count = spec.views_per_scene.get(split, 0)
            images, labels = root / "images" / split, root / "labels" / split
            images.mkdir(parents=True, exist_ok=True)
            labels.mkdir(parents=True, exist_ok=True)
            for scene in spec.scenes.get(split, []):
                bar.set_description(scene)
                stems = [view_stem(scene, number) for number in range(count)]
                missing = [
                    number
                    for number, stem in enumerate(stems)
                    if not ((images / f"{stem}.png").exists() and (labels / f"{stem}.txt").exists())
                ]
                bar.update(count - len(missing))
                if not missing:
                    continue
                if sim is None:
                    sim = HouseholdSim(
                        scene,
                        width=spec.width,
                        height=spec.height,
                        renderDepthImage=True,
                        renderInstanceSegmentation=True,
                    )
                else:
                    sim.reset(scene)
                metadata, _ = sim.step({"action": "GetReachablePositions"})
                positions = [(p["x"], p["z"]) for p in metadata["actionReturn"]]
                rng = scene_rng(spec.seed, scene)
                views = plan_views(positions, count, spec.opened_fraction, rng)
                to_open = openables_to_open(metadata["objects"], rng)
                opened = False
                for number in missing:
                    if number >= len(views):  # a scene with fewer distinct views than asked
                        bar.update(1)
                        continue
                    view = views[number]
                    if view.opened and not opened:
                        for object_id in to_open:
                            sim.step(
                                {"action": "OpenObject", "objectId": object_id, "forceAction": True}
                            )
                        opened = True
                    metadata, frames = sim.step(view.teleport_action())
                    if not metadata["lastActionSuccess"]:
                        message = metadata["errorMessage"]
                        raise InvalidInputError(f"{scene}: a reachable cell refused: {message}")
                    lines = image_labels(frames, class_index, spec)
                    stem = stems[number]
                    _write_atomically(
                        labels / f"{stem}.txt", "".join(f"{line}\n" for line in lines).encode()
                    )
                    _write_atomically(images / f"{stem}.png", _png_bytes(frames["frame"]))
                    bar.update(1)
    finally:
        bar.close()
        if sim is not None:
            sim.close()
    return dataset_summary(root)


def dataset_summary(root: str | Path) -> dict[str, Any]:
    """Images, labelled instances and instances per class of each split, read from the labels."""
    root = Path(root)
    names = detector_class_names()
    summary: dict[str, Any] = {"root": str(root), "classes": len(names), "splits": {}}
    for split in SPLITS:
        label_dir = root / "labels" / split
        per_class: Counter[str] = Counter()
        images = 0
        for label_file in sorted(label_dir.glob("*.txt")) if label_dir.is_dir() else []:
            images += 1
            for line in label_file.read_text().splitlines():
                if line.strip():
                    per_class[names[int(line.split()[0])]] += 1
        summary["splits"][split] = {
            "images": images,
            "instances": sum(per_class.values()),
            "per_class": dict(sorted(per_class.items())),
        }
    return summary
