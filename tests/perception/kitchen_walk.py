"""Frames of a FloorPlan1 walk for the perception tests: cells spread over the kitchen, four
headings each, camera 30 degrees down (the frames bench/frame_pipeline.py times)."""

from __future__ import annotations

from memory_nodes.perception.frames import RGBDFrame


def kitchen_walk_frames(cells: int, width: int = 320, height: int = 240) -> list[RGBDFrame]:
    from memory_nodes.adapters.ai2thor_perception import rgbd_frame_from_sim
    from memory_nodes.evaluation.fidelity import cover_positions
    from sim import HouseholdSim

    sim = HouseholdSim(
        "FloorPlan1",
        width=width,
        height=height,
        seed=0,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
    )
    frames = []
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        for cell in cover_positions(metadata["actionReturn"], cells):
            for heading in (0.0, 90.0, 180.0, 270.0):
                metadata, rendered = sim.step(
                    {
                        "action": "TeleportFull",
                        "position": cell,
                        "rotation": {"x": 0.0, "y": heading},
                        "horizon": 30.0,
                        "standing": True,
                    }
                )
                if metadata["lastActionSuccess"]:
                    frames.append(rgbd_frame_from_sim(rendered, 100.0 + len(frames)))
    finally:
        sim.close()
    return frames
