"""Before/after close-ups of household changes for the demo report, on the real simulator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from memory_nodes.adapters.ai2thor_perception import instance_image
from memory_nodes.demo.figures import Snapshot, capture_change_views, changes_figure


@pytest.fixture()
def sim():
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim("FloorPlan1", width=160, height=120, seed=0,
                       renderInstanceSegmentation=True)  # fmt: skip
    yield sim
    sim.close()


def _act_on(sim):
    """The bridge's view of a step: success, in-view objects, action return and the frame."""

    def act(action: str, **args: Any):
        metadata, frames = sim.step({"action": action, **args})
        ids, labels = instance_image(
            frames["instance_segmentation_frame"], frames["color_to_object_id"]
        )
        in_view = set(labels.values())
        observation = {
            "agent": metadata["agent"],
            "objects": [{"objectId": o} for o in sorted(in_view)],
        }
        shot = Snapshot(np.asarray(frames["frame"]), ids, labels)
        return metadata["lastActionSuccess"], observation, metadata.get("actionReturn"), shot

    return act


@pytest.mark.slow  # renders close-ups of every change
def test_every_change_gets_close_ups_and_the_world_ends_as_changed(sim, tmp_path) -> None:
    act = _act_on(sim)
    sim.step({"action": "RotateLeft"})
    start = sim.step({"action": "Pass"})[0]["agent"]

    changed: dict[str, Any] = {}

    def apply_changes():
        answer = sim.step({"action": "SimulateHouseholdChanges", "seed": 3, "numChanges": 4})
        changed.update(sim.get_state())
        return answer[0]["actionReturn"]

    views = capture_change_views(act, apply_changes)
    assert len(views) == 4
    for item in views:
        object_id = item.change["object_id"]
        kind = item.change["kind"]
        # Every visible picture outlines its object; a removed object has no "after".
        for shot in (item.before, item.after):
            if shot is not None:
                assert shot.mask_of(object_id) is not None and shot.mask_of(object_id).any()
        if kind == "remove":
            assert item.after is None
        if kind == "add":
            assert item.before is None
    assert sum(item.after is not None for item in views) >= 2
    # The world keeps the changes and the robot is back where it stood.
    assert sim.get_state()["objects"] == changed["objects"]
    agent = sim.step({"action": "Pass"})[0]["agent"]
    assert agent["position"] == pytest.approx(start["position"])
    assert agent["rotation"]["y"] == pytest.approx(start["rotation"]["y"])

    verdicts = ["memory has isOpen=true"] + ["STALE: memory still places it"] * 3
    memory = ({}, {item.change["object_id"]: {"position": [0.0, 0.0, 0.5]} for item in views})
    png = changes_figure(views, verdicts, memory, tmp_path / "absent.mnoct", tmp_path / "c.png")
    assert png.is_file() and png.stat().st_size > 20_000
