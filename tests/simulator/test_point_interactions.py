"""Object interactions by an image point (``x``, ``y`` in [0, 1]) instead of an objectId, as
AI2-THOR accepts them: what a robot without simulator ids does."""

from __future__ import annotations

import numpy as np

from sim.viewing_poses import go_look_at

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"


def _point_on(frames: dict, object_id: str) -> tuple[float, float]:
    """The image point (x right, y down, in [0, 1]) of a pixel inside the object's mask."""
    colour = next(c for c, name in frames["color_to_object_id"].items() if name == object_id)
    mask = np.all(frames["instance_segmentation_frame"] == np.array(colour), axis=-1)
    rows, cols = np.nonzero(mask)
    assert rows.size, f"{object_id} is not in view"
    # The mask pixel nearest the mask's centroid (the centroid of a ring is outside it).
    pick = int(np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2))
    height, width = mask.shape
    return (cols[pick] + 0.5) / width, (rows[pick] + 0.5) / height


def test_pick_up_open_and_put_by_pointing_at_the_image(floorplan1_sim) -> None:
    sim = floorplan1_sim

    def step(action):
        return sim.step(action)[0]

    assert go_look_at(step, APPLE) is not None
    frames = sim.step({"action": "Pass"})[1]
    x, y = _point_on(frames, APPLE)
    meta = step({"action": "PickupObject", "x": x, "y": y})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    assert meta["inventoryObjects"][0]["objectId"] == APPLE

    assert go_look_at(step, FRIDGE) is not None
    frames = sim.step({"action": "Pass"})[1]
    x, y = _point_on(frames, FRIDGE)
    assert step({"action": "OpenObject", "x": x, "y": y})["lastActionSuccess"]
    frames = sim.step({"action": "Pass"})[1]
    x, y = _point_on(frames, FRIDGE)
    meta = step({"action": "PutObject", "x": x, "y": y})
    assert meta["lastActionSuccess"], meta["errorMessage"]
    apple = next(o for o in meta["objects"] if o["objectId"] == APPLE)
    assert apple["parentReceptacles"] == [FRIDGE]


def test_a_point_on_nothing_or_out_of_the_image_fails_with_a_message(floorplan1_sim) -> None:
    sim = floorplan1_sim
    meta, frames = sim.step({"action": "LookUp"})
    # The top-left pixel after looking up sees a wall or the ceiling, not an object.
    seen = frames["instance_segmentation_frame"][0, 0]
    assert tuple(seen) not in {
        c for c, name in frames["color_to_object_id"].items() if sim.world.find_object(name)
    }
    meta = sim.step({"action": "PickupObject", "x": 0.0, "y": 0.0})[0]
    assert not meta["lastActionSuccess"] and "No object at screen point" in meta["errorMessage"]
    for bad in ({"x": 1.5, "y": 0.5}, {"x": "left", "y": 0.5}):
        meta = sim.step({"action": "PickupObject", **bad})[0]
        assert not meta["lastActionSuccess"] and meta["errorCode"] == "InvalidArgument"
    assert sim.step({"action": "Pass"})[0]["lastActionSuccess"]  # the simulator keeps running
