"""The unmodified ai2thor Controller drives the simulator over its FIFO pipe protocol."""

from __future__ import annotations

import pytest

import sim
from sim.goal_conditions import GoalChecker, parse_goal
from sim.household_sim import HouseholdSim
from sim.viewing_poses import go_look_at

pytestmark = pytest.mark.slow  # every test starts the simulator as the ai2thor client's executable

ai2thor_controller = pytest.importorskip("ai2thor.controller")

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"
WIDTH, HEIGHT = 96, 72
#: Keys the client itself adds or that count client round trips.
CLIENT_ONLY_KEYS = {"sequenceId"}


@pytest.fixture(scope="module")
def controller():
    ctrl = ai2thor_controller.Controller(
        local_executable_path=sim.executable_path(),
        scene="FloorPlan1",
        width=WIDTH,
        height=HEIGHT,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
        x_display=":0",
        server_timeout=60.0,
        server_start_timeout=60.0,
    )
    yield ctrl
    ctrl.stop()


def _meta_step(controller):
    def step(action: dict) -> dict:
        return controller.step(dict(action)).metadata

    return step


def _comparable(meta: dict) -> dict:
    out = {k: v for k, v in meta.items() if k not in CLIENT_ONLY_KEYS}
    out["objects"] = [
        {k: v for k, v in o.items() if k != "visibleBounds2D"} for o in meta["objects"]
    ]
    return out


def test_controller_event_has_metadata_and_all_three_frames(controller):
    event = controller.step(action="Pass")
    assert event.metadata["sceneName"] == "FloorPlan1" and event.metadata["lastActionSuccess"]
    assert event.frame.shape == (HEIGHT, WIDTH, 3)
    assert event.depth_frame.shape == (HEIGHT, WIDTH) and event.depth_frame.min() > 0
    assert event.instance_segmentation_frame.shape == (HEIGHT, WIDTH, 3)
    assert set(event.instance_masks) <= {o["objectId"] for o in event.metadata["objects"]} | {
        "Wall",
        "Ceiling",
    }


def test_put_the_apple_in_the_fridge_through_the_ai2thor_controller(controller):
    controller.reset("FloorPlan1")
    step = _meta_step(controller)
    checker = GoalChecker(parse_goal("INSIDE(apple, fridge): 1")[0])
    assert go_look_at(step, APPLE) is not None
    assert controller.step(action="PickupObject", objectId=APPLE).metadata["lastActionSuccess"]
    assert go_look_at(step, FRIDGE) is not None
    assert controller.step(action="OpenObject", objectId=FRIDGE).metadata["lastActionSuccess"]
    event = controller.step(action="PutObject", objectId=FRIDGE)
    assert event.metadata["lastActionSuccess"], event.metadata["errorMessage"]
    checker.update(event.metadata["objects"])
    assert checker.success


def test_pipe_and_python_api_return_the_same_metadata(controller):
    controller.reset("FloorPlan1")
    local = HouseholdSim(
        "FloorPlan1",
        width=WIDTH,
        height=HEIGHT,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
    )
    try:
        actions = [
            {"action": "RotateLeft"},
            {"action": "MoveAhead"},
            {"action": "LookDown"},
            {"action": "PickupObject", "objectId": APPLE, "forceAction": True},
            {"action": "OpenObject", "objectId": FRIDGE, "forceAction": True},
            {"action": "PutObject", "objectId": FRIDGE, "forceAction": True},
            {"action": "GetReachablePositions"},
        ]
        for action in actions:
            remote = controller.step(dict(action))
            meta, frames = local.step(dict(action))
            assert _comparable(remote.metadata) == _comparable(meta), action
            assert (remote.frame == frames["frame"]).all()
            assert (remote.depth_frame == frames["depth_frame"]).all()
    finally:
        local.close()


def test_unknown_action_raises_in_the_client_and_the_simulator_keeps_running(controller):
    with pytest.raises(ValueError, match="Invalid action: FlyToTheMoon"):
        controller.step(action="FlyToTheMoon")
    event = controller.step(action="PickupObject", objectId="Unicorn|1|2|3")
    assert event.metadata["errorMessage"] == "Object ID appears to be invalid."
    assert controller.step(action="RotateRight").metadata["lastActionSuccess"]


def test_unknown_scene_is_rejected_with_a_message_and_the_controller_still_steps(controller):
    with pytest.raises(ValueError, match="FloorPlan999"):
        controller.reset("FloorPlan999")
    assert controller.step(action="Pass").metadata["lastActionSuccess"]


def test_other_floorplans_load_through_the_controller(controller):
    event = controller.reset("FloorPlan301")
    assert event.metadata["sceneName"] == "FloorPlan301"
    assert any(o["objectType"] == "Bed" for o in event.metadata["objects"])
