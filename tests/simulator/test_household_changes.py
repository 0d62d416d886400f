"""Seeded world changes while the robot is away, with a ground-truth log."""

from __future__ import annotations

from sim.household_changes import HouseholdChangeProcess
from sim.household_sim import HouseholdSim


def _run(seed: int) -> tuple[list[dict], dict]:
    sim = HouseholdSim("FloorPlan1", width=32, height=24)
    try:
        log = [c.to_dict() for c in HouseholdChangeProcess(sim, seed=seed).run(12)]
        meta, _ = sim.step("Pass")
        return log, meta
    finally:
        sim.close()


def test_same_seed_gives_the_same_change_log_and_world():
    log_a, meta_a = _run(5)
    log_b, meta_b = _run(5)
    assert log_a == log_b and meta_a == meta_b
    assert _run(6)[0] != log_a


def test_logged_changes_are_true_in_the_metadata():
    log, meta = _run(5)
    assert len(log) == 12
    by_id = {o["objectId"]: o for o in meta["objects"]}
    final = {}
    for change in log:
        final[change["object_id"]] = change
    for object_id, change in final.items():
        if change["kind"] == "remove":
            assert object_id not in by_id
        elif change["kind"] in ("move", "add"):
            assert by_id[object_id]["parentReceptacles"] == change["after"]
        elif change["kind"] in ("open", "close"):
            assert by_id[object_id]["isOpen"] == change["after"]
        elif change["kind"] == "toggle":
            assert by_id[object_id]["isToggled"] == change["after"]
        elif change["kind"] == "dirty":
            assert by_id[object_id]["isDirty"]


def test_changes_are_also_available_as_a_simulator_action():
    sim = HouseholdSim("FloorPlan1", width=32, height=24)
    try:
        meta, _ = sim.step({"action": "SimulateHouseholdChanges", "seed": 2, "numChanges": 3})
        assert meta["lastActionSuccess"] and len(meta["actionReturn"]) == 3
    finally:
        sim.close()
