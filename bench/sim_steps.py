"""Simulator throughput: steps per second with RGB, depth and segmentation on one core.

``python bench/sim_steps.py --json`` prints one JSON object; nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MUJOCO_GL", "egl")

ACTIONS = ["MoveAhead", "RotateRight", "LookDown", "MoveBack", "RotateLeft", "LookUp"]


def steps_per_second(width: int, height: int, steps: int, scene: str) -> float:
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(
        scene, width=width, height=height, renderDepthImage=True, renderInstanceSegmentation=True
    )
    try:
        for action in ACTIONS:  # warm-up
            sim.step(action)
        start = time.perf_counter()
        for i in range(steps):
            sim.step(ACTIONS[i % len(ACTIONS)])
        return steps / (time.perf_counter() - start)
    finally:
        sim.close()


def pipe_steps_per_second(width: int, height: int, steps: int, scene: str) -> float:
    """Same loop through the unmodified ai2thor client (includes its event decoding)."""
    from ai2thor.controller import Controller

    import sim

    controller = Controller(
        local_executable_path=sim.executable_path(),
        scene=scene,
        width=width,
        height=height,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
        x_display=":0",
    )
    try:
        start = time.perf_counter()
        for i in range(steps):
            controller.step(action=ACTIONS[i % len(ACTIONS)])
        return steps / (time.perf_counter() - start)
    finally:
        controller.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--pipe", action="store_true", help="also time the ai2thor client path")
    args = parser.parse_args()
    result: dict[str, object] = {
        "scene": args.scene,
        "steps": args.steps,
        "frames": "rgb+depth+seg",
    }
    for width, height in ((320, 240), (640, 480)):
        key = f"{width}x{height}"
        result[f"python_api_steps_per_s_{key}"] = round(
            steps_per_second(width, height, args.steps, args.scene), 1
        )
        if args.pipe:
            result[f"ai2thor_client_steps_per_s_{key}"] = round(
                pipe_steps_per_second(width, height, args.steps // 2, args.scene), 1
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
