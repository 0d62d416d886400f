"""Objects that rendering once made impossible to see, and the goal names scenes lacked."""

from __future__ import annotations

import numpy as np
import pytest

BUTTER_KNIFE = "ButterKnife|-00.41|+01.11|-00.46"
UPPER_CABINET = "Cabinet|+00.72|+02.02|-02.46"
PLATE_IN_CABINET = "Plate|+00.96|+01.65|-02.61"


def _sim(scene: str):
    from sim.household_sim import HouseholdSim

    return HouseholdSim(
        scene, width=160, height=120, renderDepthImage=True, renderInstanceSegmentation=True
    )


def _step_fn(sim):
    return lambda action: sim.step(action)[0]


def test_butter_knife_sunk_into_the_counter_slab_can_be_seen():
    from sim.viewing_poses import go_look_at

    sim = _sim("FloorPlan1")
    try:
        meta = go_look_at(_step_fn(sim), BUTTER_KNIFE)
        assert meta is not None
        assert sim.renderer.pixel_counts().get(BUTTER_KNIFE, 0) > 0
    finally:
        sim.close()


def test_plate_in_an_opened_upper_cabinet_is_visible_and_hidden_when_closed():
    from sim.viewing_poses import go_look_at

    sim = _sim("FloorPlan1")
    try:
        step = _step_fn(sim)
        step({"action": "OpenObject", "objectId": UPPER_CABINET, "forceAction": True})
        assert go_look_at(step, PLATE_IN_CABINET, max_tries=30) is not None
        meta = step({"action": "CloseObject", "objectId": UPPER_CABINET, "forceAction": True})
        plate = next(o for o in meta["objects"] if o["objectId"] == PLATE_IN_CABINET)
        assert not plate["visible"]
    finally:
        sim.close()


def test_garbage_can_of_floorplan416_can_be_brought_into_view():
    from sim.viewing_poses import go_look_at

    sim = _sim("FloorPlan416")
    try:
        (can,) = [o for o in sim.world.objects.values() if o.object_type == "GarbageCan"]
        assert go_look_at(_step_fn(sim), can.object_id, max_tries=24) is not None
    finally:
        sim.close()


@pytest.mark.parametrize("scene", ["FloorPlan1", "FloorPlan5", "FloorPlan201", "FloorPlan301"])
def test_no_drawn_box_swallows_a_pickupable_object_even_with_every_door_open(scene):
    from sim.mujoco_renderer import content_floors

    sim = _sim(scene)
    try:
        world = sim.world
        for obj in world.objects.values():
            if obj.meta["openable"]:
                obj.meta["isOpen"] = True
        floors = content_floors(world)
        drawn = {
            oid: sim.renderer._object_boxes(world, oid, floors.get(oid)) for oid in world.objects
        }
        swallowed = []
        for obj in world.objects.values():
            if obj.hidden or not obj.meta["pickupable"]:
                continue
            for oid, boxes in drawn.items():
                if oid != obj.object_id and any(
                    np.all(c - h <= obj.aabb_min + 1e-4) and np.all(c + h >= obj.aabb_max - 1e-4)
                    for c, h in boxes
                ):
                    swallowed.append((obj.object_id, oid))
        assert swallowed == []
    finally:
        sim.close()


def test_table_falls_back_to_the_counter_in_a_kitchen_without_tables():
    from sim.goal_conditions import adapt_to_scene, parse_goal

    conditions, _ = parse_goal("ON(apple, table): 1")
    adapted, notes = adapt_to_scene(conditions, {"Apple", "CounterTop", "Fridge"})
    assert adapted[0].target == ("CounterTop",) and len(notes) == 1
    kept, notes = adapt_to_scene(conditions, {"Apple", "DiningTable", "CounterTop"})
    assert kept[0].target == ("DiningTable", "CoffeeTable", "SideTable") and notes == []
    desk, _ = adapt_to_scene(conditions, {"Apple", "Desk", "CounterTop"})
    assert desk[0].target == ("Desk",)
