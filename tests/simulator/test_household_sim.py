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

ITHOR_SCENES = scene_catalog.ithor_scene_names()
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
            assert np.linalg.norm(np.clip(cam, lo, hi) - cam) <= 1.5 + 1e-6
    pixels = frames["instance_segmentation_frame"].reshape(-1, 3).tolist()
    seen_ids = {frames["color_to_object_id"][tuple(c)] for c in pixels}
    assert {o["objectId"] for o in meta["objects"] if o["visible"]} <= seen_ids


def test_grid_moves_rotations_and_horizon_limits(floorplan1_sim):
    sim = floorplan1_sim
    start = sim.step("Pass")[0]["agent"]
    moved = sim.step("MoveBack")[0]
    if moved["lastActionSuccess"]:
        assert moved["agent"]["position"]["z"] == pytest.approx(start["position"]["z"] - 0.25)
    assert sim.step("RotateLeft")[0]["agent"]["rotation"]["y"] == 270.0
    assert sim.step("LookDown")[0]["agent"]["cameraHorizon"] == 30.0
    assert sim.step("LookDown")[0]["agent"]["cameraHorizon"] == 60.0
    assert not sim.step("LookDown")[0]["lastActionSuccess"]


def test_walls_stop_the_agent():
    sim = HouseholdSim("FloorPlan1", width=32, height=24)
    try:
        failures = [sim.step("MoveAhead")[0]["lastActionSuccess"] for _ in range(40)]
        assert not all(failures)
        _, _, min_z, max_z = sim.world.extent
        assert min_z <= sim.world.agent.z <= max_z
    finally:
        sim.close()


def test_reachable_positions_are_on_the_grid_and_teleportable(floorplan1_sim):
    meta, _ = floorplan1_sim.step("GetReachablePositions")
    positions = meta["actionReturn"]
    assert len(positions) > 20
    for p in positions[:5]:
        assert (p["x"] / 0.25) == pytest.approx(round(p["x"] / 0.25))
        ok = floorplan1_sim.step({"action": "Teleport", "position": p})[0]
        assert ok["lastActionSuccess"]


def test_microwave_cooks_and_stove_knob_turns_its_burner_on(floorplan1_sim):
    sim = floorplan1_sim
    world = sim.world
    microwave = world.objects_of_type("Microwave")[0]
    potato = world.objects_of_type("Potato")[0]
    step = _step_meta(sim)
    step({"action": "OpenObject", "objectId": microwave.object_id, "forceAction": True})
    step({"action": "PickupObject", "objectId": potato.object_id, "forceAction": True})
    meta = step({"action": "PutObject", "objectId": microwave.object_id, "forceAction": True})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    step({"action": "CloseObject", "objectId": microwave.object_id, "forceAction": True})
    meta = step({"action": "ToggleObjectOn", "objectId": microwave.object_id, "forceAction": True})
    cooked = next(o for o in meta["objects"] if o["objectId"] == potato.object_id)
    assert cooked["isCooked"] and cooked["temperature"] == "Hot"
    knob = world.objects_of_type("StoveKnob")[0]
    burner_id = knob.meta["controlledObjects"][0]
    meta = step({"action": "ToggleObjectOn", "objectId": knob.object_id, "forceAction": True})
    assert next(o for o in meta["objects"] if o["objectId"] == burner_id)["isToggled"]
    again = step({"action": "ToggleObjectOn", "objectId": knob.object_id, "forceAction": True})
    assert not again["lastActionSuccess"] and "already on" in again["errorMessage"]


def test_slicing_needs_a_knife_and_makes_pieces_with_ai2thor_ids(floorplan1_sim):
    sim = floorplan1_sim
    step = _step_meta(sim)
    no_knife = step({"action": "SliceObject", "objectId": APPLE, "forceAction": True})
    assert not no_knife["lastActionSuccess"] and "Knife" in no_knife["errorMessage"]
    knife = sim.world.objects_of_type("Knife")[0].object_id
    assert step({"action": "PickupObject", "objectId": knife, "forceAction": True})[
        "lastActionSuccess"
    ]
    meta = step({"action": "SliceObject", "objectId": APPLE, "forceAction": True})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    ids = {o["objectId"] for o in meta["objects"]}
    assert f"{APPLE}|AppleSliced_0" in ids
    assert next(o for o in meta["objects"] if o["objectId"] == APPLE)["isSliced"]
    assert GoalChecker(parse_goal("STATE(apple, sliced): 1")[0]).update(meta["objects"]) == 1


def test_faucet_cleans_dirty_objects_in_the_sink_and_clean_object_works(floorplan1_sim):
    sim = floorplan1_sim
    step = _step_meta(sim)
    mug = sim.world.objects_of_type("Mug")[0].object_id
    basin = sim.world.objects_of_type("SinkBasin")[0].object_id
    faucet = sim.world.objects_of_type("Faucet")[0].object_id
    step({"action": "DirtyObject", "objectId": mug, "forceAction": True})
    step({"action": "PickupObject", "objectId": mug, "forceAction": True})
    step({"action": "PutObject", "objectId": basin, "forceAction": True})
    meta = step({"action": "ToggleObjectOn", "objectId": faucet, "forceAction": True})
    washed = next(o for o in meta["objects"] if o["objectId"] == mug)
    assert not washed["isDirty"] and washed["isFilledWithLiquid"]
    step({"action": "DirtyObject", "objectId": APPLE, "forceAction": True})  # not dirtyable
    assert not sim.step("Pass")[0]["objects"][0]["isDirty"]


def test_every_object_keeps_the_42_dump_keys(floorplan1_sim):
    meta, _ = floorplan1_sim.step("Pass")
    keys = set(scene_catalog.get_scene_objects("FloorPlan1")[0])
    assert all(set(o) == keys for o in meta["objects"])
    for key in ("lastAction", "lastActionSuccess", "errorMessage", "sceneName", "agent"):
        assert key in meta
    assert np.allclose(np.array(meta["cameraIntrinsics"])[1, 1], 72 / 2 / np.tan(np.pi / 4))


def test_depth_unprojected_with_intrinsics_and_pose_lands_on_the_floor(floorplan1_sim):
    _, frames = floorplan1_sim.step({"action": "LookDown", "degrees": 60})
    K, world_T_camera = frames["intrinsics"], frames["world_T_camera"]
    v, u = 71, 48  # bottom-centre pixel: floor right in front of the agent
    ray = np.linalg.inv(K) @ np.array([u + 0.5, v + 0.5, 1.0])
    point = world_T_camera[:3, :3] @ (ray * frames["depth_frame"][v, u]) + world_T_camera[:3, 3]
    assert point[1] == pytest.approx(0.0, abs=0.02)
