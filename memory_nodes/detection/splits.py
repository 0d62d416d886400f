"""Which FloorPlans train, validate and test the detector, and which types it detects.

AI2-THOR's own split per room type: FloorPlans 1-20 train, 21-25 validate, 26-30 test (and the
same numbers above 200, 300 and 400). A detector is tuned on validation scenes and reported on
test scenes it never saw, so its figures say how it does in a house it was not trained in.
"""

from __future__ import annotations

from functools import cache

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.object_taxonomy import STRUCTURE_TYPES

#: First FloorPlan number of each room type (kitchens, living rooms, bedrooms, bathrooms).
ROOM_TYPE_FIRST_FLOORPLANS = (1, 201, 301, 401)
#: Split -> offsets (from a room type's first FloorPlan) of its scenes.
SPLIT_OFFSETS: dict[str, range] = {
    "train": range(0, 20),
    "val": range(20, 25),
    "test": range(25, 30),
}
SPLITS = tuple(SPLIT_OFFSETS)


def split_scenes(split: str) -> tuple[str, ...]:
    """FloorPlan names of ``split`` (``train``, ``val`` or ``test``), kitchens first."""
    if split not in SPLIT_OFFSETS:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return tuple(
        f"FloorPlan{first + offset}"
        for first in ROOM_TYPE_FIRST_FLOORPLANS
        for offset in SPLIT_OFFSETS[split]
    )


def split_of_scene(scene: str) -> str:
    """The split a FloorPlan belongs to."""
    for split in SPLITS:
        if scene in split_scenes(split):
            return split
    raise InvalidInputError(f"{scene!r} is in no detector split (iTHOR FloorPlans only)")


@cache
def detector_class_names() -> tuple[str, ...]:
    """The detector's classes: every object type in the training FloorPlans, sorted.

    Structure (floor, walls) is mapped by the octree, not detected. A type that only the
    validation or test scenes hold cannot be learnt, so it is not a class (the data card lists
    such types).
    """
    from sim.scene_catalog import scene_object_types

    types: set[str] = set()
    for scene in split_scenes("train"):
        types |= scene_object_types(scene)
    return tuple(sorted(types - STRUCTURE_TYPES))


def types_missing_from_classes(split: str) -> tuple[str, ...]:
    """Object types of ``split``'s scenes that are not detector classes."""
    from sim.scene_catalog import scene_object_types

    types: set[str] = set()
    for scene in split_scenes(split):
        types |= scene_object_types(scene)
    return tuple(sorted(types - STRUCTURE_TYPES - set(detector_class_names())))
