"""World-state snapshots: a restored world is the saved one, whole or object by object."""

from __future__ import annotations

from sim.goal_conditions import GoalChecker, parse_goal

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"


def _objects(metadata: dict) -> dict[str, dict]:
    keep = ("parentReceptacles", "axisAlignedBoundingBox", "isSliced", "isOpen", "isToggled")
    return {o["objectId"]: {k: o.get(k) for k in keep} for o in metadata["objects"]}


def _slice_apple(sim) -> None:
    knife = sim.world.objects_of_type("Knife")[0].object_id
    sim.step({"action": "PickupObject", "objectId": knife, "forceAction": True})
    meta, _ = sim.step({"action": "SliceObject", "objectId": APPLE, "forceAction": True})
    assert meta["lastActionSuccess"], meta["errorMessage"]


def test_set_state_restores_objects_and_agent_after_changes(floorplan1_sim):
    sim = floorplan1_sim
    saved = sim.get_state()
    before = _objects(sim.step({"action": "Pass"})[0])
    _slice_apple(sim)
    sim.step({"action": "SimulateHouseholdChanges", "numChanges": 5, "seed": 3})
    sim.step({"action": "RotateRight"})
    meta, _ = sim.step({"action": "SetWorldState", "state": saved})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    assert _objects(meta) == before
    assert meta["inventoryObjects"] == []
    assert sim.get_state() == saved


def test_partial_restore_undoes_a_goal_and_keeps_everything_else(floorplan1_sim):
    sim = floorplan1_sim
    saved = sim.get_state()
    _slice_apple(sim)
    sim.step({"action": "OpenObject", "objectId": FRIDGE, "forceAction": True})
    sliced = GoalChecker(parse_goal("STATE(apple, sliced): 1")[0])
    assert sliced.update(sim.step({"action": "Pass"})[0]["objects"]) == 1
    pieces = [o for o in sim.world.objects if o.startswith(f"{APPLE}|")]
    sim.set_state(saved, [APPLE, *pieces])
    meta, _ = sim.step({"action": "Pass"})
    assert GoalChecker(parse_goal("STATE(apple, sliced): 1")[0]).update(meta["objects"]) == 0
    apple = _objects(meta)[APPLE]
    assert apple == _objects({"objects": [o["meta"] for o in saved["objects"]]})[APPLE]
    assert not any(o["objectId"].startswith(f"{APPLE}|") for o in meta["objects"])
    assert _objects(meta)[FRIDGE]["isOpen"]  # not part of the restore
    assert meta["inventoryObjects"]  # the knife is still in hand
