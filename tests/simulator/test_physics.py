"""MuJoCo physics of the simulator: door joints, settling of placed objects, determinism."""

from __future__ import annotations

import hashlib
import json

import mujoco
import numpy as np
import pytest

from sim.household_sim import HouseholdSim

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"
#: Resting contact penetration and rounding allowed between an object and its support (m).
REST_TOLERANCE = 0.002


def _door_pose(sim: HouseholdSim, object_id: str) -> tuple[np.ndarray, int]:
    """World position of an object's door geom and its joint type."""
    renderer = sim.renderer
    k = renderer._object_ids.index(object_id)
    _, _, joint, geom = renderer._door_parts[k]
    return renderer._data.geom_xpos[geom].copy(), int(renderer._model.jnt_type[joint])


def test_fridge_door_hinge_turns_with_open_and_close(floorplan1_sim):
    sim = floorplan1_sim
    fridge = sim.world.objects[FRIDGE]
    assert sim.renderer.joint_position(FRIDGE) == 0.0
    closed, joint_type = _door_pose(sim, FRIDGE)
    assert joint_type == int(mujoco.mjtJoint.mjJNT_HINGE)
    meta = sim.step(action="OpenObject", objectId=FRIDGE, forceAction=True)[0]
    assert meta["lastActionSuccess"]
    assert fridge.meta["isOpen"] and fridge.meta["openness"] == 1.0
    assert abs(sim.renderer.joint_position(FRIDGE)) == pytest.approx(np.pi / 2)
    opened, _ = _door_pose(sim, FRIDGE)
    assert np.linalg.norm(opened - closed) > 0.2  # the drawn door swung out
    sim.step(action="OpenObject", objectId=FRIDGE, openness=1.0, forceAction=True)
    meta = sim.step(action="CloseObject", objectId=FRIDGE, forceAction=True)[0]
    assert meta["lastActionSuccess"] and not fridge.meta["isOpen"]
    assert fridge.meta["openness"] == 0.0
    assert sim.renderer.joint_position(FRIDGE) == 0.0
    np.testing.assert_allclose(_door_pose(sim, FRIDGE)[0], closed, atol=1e-9)


def test_drawer_front_slides_out_by_its_depth(floorplan1_sim):
    sim = floorplan1_sim
    drawer = sorted(o.object_id for o in sim.world.objects_of_type("Drawer"))[0]
    _, joint_type = _door_pose(sim, drawer)
    assert joint_type == int(mujoco.mjtJoint.mjJNT_SLIDE)
    assert sim.step(action="OpenObject", objectId=drawer, forceAction=True)[0]["lastActionSuccess"]
    depth = float(min(sim.world.objects[drawer].size[[0, 2]]))
    assert sim.renderer.joint_position(drawer) == pytest.approx(depth, abs=0.011)
    sim.step(action="CloseObject", objectId=drawer, forceAction=True)
    assert sim.renderer.joint_position(drawer) == 0.0


def test_a_dropped_object_comes_to_rest_on_the_surface_below_it(floorplan1_sim):
    sim = floorplan1_sim
    apple = sim.world.objects[APPLE]
    assert sim.renderer.is_free_body(APPLE)
    assert sim.step(action="PickupObject", objectId=APPLE, forceAction=True)[0]["lastActionSuccess"]
    hand_bottom = float(apple.aabb_min[1])
    meta = sim.step(action="DropHandObject")[0]
    assert meta["lastActionSuccess"], meta["errorMessage"]
    (parent_id,) = apple.meta["parentReceptacles"]
    parent = sim.world.objects[parent_id]
    assert apple.aabb_min[1] < hand_bottom - 0.05  # it fell
    assert abs(apple.aabb_min[1] - parent.aabb_max[1]) < REST_TOLERANCE
    assert np.all(parent.aabb_min[[0, 2]] <= apple.center[[0, 2]])
    assert np.all(apple.center[[0, 2]] <= parent.aabb_max[[0, 2]])
    holders = [o["objectId"] for o in meta["objects"] if APPLE in (o["receptacleObjectIds"] or [])]
    assert holders == [parent_id]


def test_a_put_object_rests_on_its_receptacle(floorplan1_sim):
    sim = floorplan1_sim
    world = sim.world
    apple = world.objects[APPLE]
    counter = max(world.objects_of_type("CounterTop"), key=lambda o: o.object_id)
    sim.step(action="PickupObject", objectId=APPLE, forceAction=True)
    placed = world.find_placement(apple, counter, near=np.array([world.agent.x, 0, world.agent.z]))
    meta = sim.step(action="PutObject", objectId=counter.object_id, forceAction=True)[0]
    assert meta["lastActionSuccess"], meta["errorMessage"]
    assert apple.meta["parentReceptacles"] == [counter.object_id]
    assert abs(apple.aabb_min[1] - counter.aabb_max[1]) < REST_TOLERANCE
    np.testing.assert_allclose(apple.center[[0, 2]], placed[[0, 2]], atol=1e-3)
    # Into the fridge: it rests on the fridge's inner floor and is still inside.
    sim.step(action="PickupObject", objectId=APPLE, forceAction=True)
    sim.step(action="OpenObject", objectId=FRIDGE, forceAction=True)
    fridge = world.objects[FRIDGE]
    meta = sim.step(action="PutObject", objectId=FRIDGE, forceAction=True)[0]
    assert meta["lastActionSuccess"] and apple.meta["parentReceptacles"] == [FRIDGE]
    floor = fridge.aabb_min[1] + 0.02 * fridge.size[1]
    assert abs(apple.aabb_min[1] - floor) < REST_TOLERANCE
    assert np.all(fridge.aabb_min <= apple.center) and np.all(apple.center <= fridge.aabb_max)


def test_settling_that_would_leave_the_receptacle_keeps_the_placed_pose(floorplan1_sim):
    sim = floorplan1_sim
    apple = sim.world.objects[APPLE]
    parents = list(apple.meta["parentReceptacles"])
    before = apple.center.copy()
    far = max(sim.world.objects_of_type("Cabinet"), key=lambda o: np.linalg.norm(o.center - before))
    # Its footprint is nowhere under the apple: the apple would fall away, so nothing moves.
    assert not sim.settle_object(apple, far)
    np.testing.assert_array_equal(apple.center, before)
    assert apple.meta["parentReceptacles"] == parents


def _rollout_with_drops(sim: HouseholdSim) -> str:
    digest = hashlib.sha256()
    sim.reset("FloorPlan1", seed=5)
    actions = [
        {"action": "PickupObject", "objectId": APPLE, "forceAction": True},
        {"action": "LookDown"},
        {"action": "DropHandObject"},
        {"action": "PickupObject", "objectId": APPLE, "forceAction": True},
        {"action": "OpenObject", "objectId": FRIDGE, "forceAction": True},
        {"action": "PutObject", "objectId": FRIDGE, "forceAction": True},
        {"action": "SimulateHouseholdChanges", "seed": 2, "numChanges": 6},
        {"action": "RotateRight"},
    ]
    for action in actions:
        meta, frames = sim.step(action)
        digest.update(json.dumps(meta, sort_keys=True).encode())
        for key in ("frame", "depth_frame", "instance_segmentation_frame"):
            digest.update(np.ascontiguousarray(frames[key]).tobytes())
    return digest.hexdigest()


def test_a_rollout_with_drops_and_world_changes_is_bit_identical_twice(floorplan1_sim):
    assert _rollout_with_drops(floorplan1_sim) == _rollout_with_drops(floorplan1_sim)


@pytest.mark.parametrize("budget", [None, 40])
def test_the_body_budget_leaves_the_smallest_pickupables_static(monkeypatch, budget):
    import sim.mujoco_renderer as renderer_module

    if budget is not None:
        monkeypatch.setattr(renderer_module, "MAX_BODIES", budget)
    sim = HouseholdSim("House1" if budget is None else "FloorPlan1", width=32, height=24)
    try:
        renderer, world = sim.renderer, sim.world
        assert renderer._model.nbody <= renderer_module.MAX_BODIES
        pickupable = [o for o in world.objects.values() if o.meta["pickupable"] and not o.hidden]
        free = [o for o in pickupable if renderer.is_free_body(o.object_id)]
        static = [o for o in pickupable if not renderer.is_free_body(o.object_id)]
        assert free
        if budget is None:
            assert not static  # every house fits (78 free bodies and 42 doors in House1)
            return
        assert static and renderer._model.nbody == budget
        assert max(np.prod(o.size) for o in static) <= min(np.prod(o.size) for o in free)
        # A static object is placed as before, without settling.
        small = min(static, key=lambda o: (np.prod(o.size), o.object_id))
        sim.step(action="PickupObject", objectId=small.object_id, forceAction=True)
        meta = sim.step(action="DropHandObject")[0]
        if meta["lastActionSuccess"]:
            parent = world.objects[small.meta["parentReceptacles"][0]]
            assert small.aabb_min[1] == pytest.approx(parent.aabb_max[1], abs=1e-9)
    finally:
        sim.close()
