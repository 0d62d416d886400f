"""Agent poses from which an object is seen: the scripted 'walk up and look at it' of tests/demos.

Works through any ``step`` callable (``HouseholdSim.step`` or an ai2thor ``Controller.step``
wrapped to return metadata), so the same scripts run in this simulator and in AI2-THOR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sim.world_state import AGENT_Y, CAMERA_HEIGHT_ABOVE_AGENT

StepFn = Callable[..., dict[str, Any]]


def facing_pose(position: dict, target: dict) -> dict[str, Any]:
    """TeleportFull arguments placing the agent at ``position`` looking at ``target``."""
    dx, dz = target["x"] - position["x"], target["z"] - position["z"]
    rotation = math.degrees(math.atan2(dx, dz)) % 360.0
    drop = AGENT_Y + CAMERA_HEIGHT_ABOVE_AGENT - target["y"]
    horizon = math.degrees(math.atan2(drop, max(math.hypot(dx, dz), 1e-6)))
    return {
        "action": "TeleportFull",
        "position": {"x": position["x"], "y": AGENT_Y, "z": position["z"]},
        "rotation": {"x": 0.0, "y": round(rotation, 3)},
        "horizon": round(min(max(horizon, -30.0), 60.0), 3),
        "standing": True,
    }


def go_look_at(step: StepFn, object_id: str, max_tries: int = 12) -> dict[str, Any] | None:
    """Teleport to the nearest reachable cell from which ``object_id`` is visible.

    Returns the metadata of the successful step, or None when no tried cell sees the object.
    """
    meta = step({"action": "GetReachablePositions"})
    positions = meta["actionReturn"] or []
    target = next(o for o in meta["objects"] if o["objectId"] == object_id)
    centre = target["axisAlignedBoundingBox"]["center"]

    def key(p: dict) -> tuple:
        d = math.hypot(p["x"] - centre["x"], p["z"] - centre["z"])
        return (round(abs(d - 0.75), 4), p["x"], p["z"])

    for position in sorted(positions, key=key)[:max_tries]:
        meta = step(facing_pose(position, centre))
        if not meta["lastActionSuccess"]:
            continue
        seen = next((o for o in meta["objects"] if o["objectId"] == object_id), None)
        if seen is not None and seen["visible"]:
            return meta
    return None
