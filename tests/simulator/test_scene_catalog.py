"""The FloorPlan addressing of the procthor scene dump and the metadata layout it provides."""

from __future__ import annotations

import pytest

from memory_nodes.core.errors import MemoryStackError, SceneNotFoundError
from sim import scene_catalog


def test_there_are_120_ithor_floorplans_in_ai2thor_numbering():
    names = scene_catalog.ithor_scene_names()
    expected = [f"FloorPlan{base + i}" for base in (0, 200, 300, 400) for i in range(1, 31)]
    assert names == expected


def test_robothor_scenes_are_addressed_by_their_train_and_val_names():
    names = scene_catalog.scene_names()
    assert "FloorPlan_Train1_1" in names and "FloorPlan_Val3_5" in names
    assert len(names) == 195


@pytest.mark.parametrize(
    ("scene", "object_id"),
    [
        ("FloorPlan1", "Fridge|-02.10|+00.00|+01.07"),  # ALFRED's FloorPlan1 fridge
        ("FloorPlan3", "Apple|-01.75|+01.37|-01.16"),  # published FloorPlan3 scripts
        ("FloorPlan301", "Laptop|-00.50|+00.56|+00.29"),  # published FloorPlan301 task data
    ],
)
def test_dump_index_maps_to_floorplan_numbers_as_public_scripts_use_them(scene, object_id):
    ids = {o["objectId"] for o in scene_catalog.get_scene_objects(scene)}
    assert object_id in ids


def test_every_object_has_the_same_42_metadata_keys():
    keys = None
    for name in ("FloorPlan1", "FloorPlan230", "FloorPlan430"):
        for obj in scene_catalog.get_scene_objects(name):
            keys = keys or set(obj)
            assert set(obj) == keys
    assert len(keys) == 42


def test_physics_suffix_is_accepted_and_unknown_names_raise_a_named_error():
    assert scene_catalog.has_scene("FloorPlan5_physics")
    with pytest.raises(SceneNotFoundError, match="FloorPlan999") as raised:
        scene_catalog.get_scene_objects("FloorPlan999")
    # A lookup error of the stack, and still a KeyError for callers that catch that.
    assert isinstance(raised.value, MemoryStackError) and isinstance(raised.value, KeyError)


def test_scene_copies_are_independent():
    a = scene_catalog.get_scene_objects("FloorPlan1")
    a[0]["position"]["x"] = 123.0
    assert scene_catalog.get_scene_objects("FloorPlan1")[0]["position"]["x"] != 123.0
