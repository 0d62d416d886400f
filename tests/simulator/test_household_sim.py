"""AI2-THOR semantics of the Python API: scenes, frames, determinism, actions and failures."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sim import scene_catalog
from sim.goal_conditions import GoalChecker, parse_goal
from sim.household_sim import HouseholdSim
from sim.viewing_poses import go_look_at

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"

#: One FloorPlan of each room type runs in the fast loop (``-m "not slow"``), every one in full.
FAST_SCENES = ("FloorPlan1", "FloorPlan201", "FloorPlan301", "FloorPlan401")
ITHOR_SCENES = [
    scene if scene in FAST_SCENES else pytest.param(scene, marks=pytest.mark.slow)
    for scene in scene_catalog.ithor_scene_names()
]
ROLLOUT_ACTIONS = [
    *("MoveAhead", "MoveBack", "MoveLeft", "MoveRight", "RotateLeft", "RotateRight"),
    *("LookUp", "LookDown", "PickupObject", "OpenObject", "ToggleObjectOn"),
]


@pytest.fixture(scope="module")
def shared_sim():
    sim = HouseholdSim(
        "FloorPlan1", width=48, height=36, renderDepthImage=True, renderInstanceSegmentation=True
    )
    yield sim
    sim.close()


def _step_meta(sim: HouseholdSim):
    return lambda action: sim.step(action)[0]


@pytest.mark.parametrize("scene", ITHOR_SCENES)
def test_every_ithor_floorplan_loads_and_renders_all_three_frames(shared_sim, scene):
    meta, frames = shared_sim.reset(scene)
    assert meta["lastActionSuccess"] and meta["sceneName"] == scene
    assert frames["frame"].shape == (36, 48, 3) and frames["frame"].dtype == np.uint8
    depth = frames["depth_frame"]
    assert depth.dtype == np.float32 and np.all(np.isfinite(depth)) and depth.min() > 0
    seg = frames["instance_segmentation_frame"]
    colours = {tuple(c) for c in seg.reshape(-1, 3).tolist()}
    assert colours <= set(frames["color_to_object_id"])
    assert len(meta["objects"]) == len(scene_catalog.get_scene_objects(scene))
    assert len(shared_sim.world.reachable_positions()) > 5


def _rollout_digest(sim: HouseholdSim, scene: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    meta, frames = sim.reset(scene, seed=seed)
    digest = hashlib.sha256()
    for _ in range(4):
        name = ROLLOUT_ACTIONS[int(rng.integers(len(ROLLOUT_ACTIONS)))]
        action = {"action": name}
        if name in ("PickupObject", "OpenObject", "ToggleObjectOn"):
            visible = sorted(o["objectId"] for o in meta["objects"] if o["visible"])
            action["objectId"] = visible[int(rng.integers(len(visible)))] if visible else "none"
        meta, frames = sim.step(action)
        digest.update(json.dumps(meta, sort_keys=True).encode())
        for key in ("frame", "depth_frame", "instance_segmentation_frame"):
            digest.update(np.ascontiguousarray(frames[key]).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("scene", ITHOR_SCENES)
def test_seeded_rollout_is_bit_identical_twice(shared_sim, scene):
    assert _rollout_digest(shared_sim, scene, 7) == _rollout_digest(shared_sim, scene, 7)


def test_put_the_apple_in_the_fridge_succeeds_and_satisfies_the_goal(floorplan1_sim):
    sim = floorplan1_sim
    step = _step_meta(sim)
    checker = GoalChecker(parse_goal("INSIDE(apple, fridge): 1")[0])
    assert go_look_at(step, APPLE) is not None
    assert step({"action": "PickupObject", "objectId": APPLE})["lastActionSuccess"]
    assert go_look_at(step, FRIDGE) is not None
    closed = step({"action": "PutObject", "objectId": FRIDGE})
    assert not closed["lastActionSuccess"] and "CLOSED" in closed["errorMessage"]
    assert step({"action": "OpenObject", "objectId": FRIDGE})["lastActionSuccess"]
    meta = step({"action": "PutObject", "objectId": FRIDGE})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    apple = next(o for o in meta["objects"] if o["objectId"] == APPLE)
    assert apple["parentReceptacles"] == [FRIDGE] and apple["temperature"] == "Cold"
    checker.update(meta["objects"])
    assert checker.success


def test_unknown_action_object_and_scene_fail_with_messages_and_sim_keeps_running(floorplan1_sim):
    sim = floorplan1_sim
    meta, _ = sim.step("FlyToTheMoon")
    assert not meta["lastActionSuccess"] and meta["errorMessage"] == "Invalid action: FlyToTheMoon"
    assert meta["errorCode"] == "InvalidAction"
    meta, _ = sim.step({"action": "PickupObject", "objectId": "Unicorn|1|2|3"})
    assert (
        not meta["lastActionSuccess"] and meta["errorMessage"] == "Object ID appears to be invalid."
    )
    meta, _ = sim.reset("FloorPlan999")
    assert not meta["lastActionSuccess"] and "FloorPlan999" in meta["errorMessage"]
    assert meta["sceneName"] == "FloorPlan1"
    meta, _ = sim.step("RotateRight")
    assert meta["lastActionSuccess"] and meta["agent"]["rotation"]["y"] == 90.0


def test_objects_are_only_visible_in_view_within_reach(floorplan1_sim):
    meta, frames = floorplan1_sim.step("Pass")
    cam = np.array([meta["cameraPosition"][k] for k in "xyz"])
    for obj in meta["objects"]:
        if obj["visible"]:
            lo = np.array(obj["axisAlignedBoundingBox"]["cornerPoints"]).min(axis=0)
            hi = np.array(obj["axisAlignedBoundingBox"]["cornerPoints"]).max(axis=0)
            # Reach is a cylinder around the agent's vertical axis, as in AI2-THOR.
            assert np.hypot(*(np.clip(cam, lo, hi) - cam)[[0, 2]]) <= 1.5 + 1e-6
    pixels = frames["instance_segmentation_frame"].reshape(-1, 3).tolist()
    seen_ids = {frames["color_to_object_id"][tuple(c)] for c in pixels}
    assert {o["objectId"] for o in meta["objects"] if o["visible"]} <= seen_ids


def test_reach_ignores_height_so_a_fridge_floor_is_in_reach(floorplan1_sim):
    """AI2-THOR measures reach in the floor plane: an apple put on the bottom of the fridge,
    about 1.5 m below the camera, can be picked up again from in front of the fridge."""
    from sim.viewing_poses import go_look_at

    sim = floorplan1_sim
    objects = sim.step("Pass")[0]["objects"]
    apple = next(o["objectId"] for o in objects if o["objectType"] == "Apple")
    fridge = next(o["objectId"] for o in objects if o["objectType"] == "Fridge")
    assert go_look_at(lambda a: sim.step(a)[0], apple) is not None
    assert sim.step({"action": "PickupObject", "objectId": apple})[0]["lastActionSuccess"]
    assert go_look_at(lambda a: sim.step(a)[0], fridge) is not None
    assert sim.step({"action": "OpenObject", "objectId": fridge})[0]["lastActionSuccess"]
    meta = sim.step({"action": "PutObject", "objectId": fridge})[0]
    assert meta["lastActionSuccess"], meta["errorMessage"]
    resting = next(o for o in meta["objects"] if o["objectId"] == apple)
    assert resting["parentReceptacles"] == [fridge]
    camera_height = meta["cameraPosition"]["y"]
    assert camera_height - resting["axisAlignedBoundingBox"]["center"]["y"] > 1.4  # low
    meta = sim.step({"action": "PickupObject", "objectId": apple})[0]
    assert meta["lastActionSuccess"], meta["errorMessage"]
