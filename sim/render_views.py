"""Side-by-side PNG of what the agent sees: RGB, depth and instance segmentation.

``python -m sim.render_views --scene FloorPlan1 --out views.png`` renders the scene from its
default start pose (optionally after a few actions) for a quick visual check of a scene.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def depth_to_rgb(depth: np.ndarray, max_depth: float = 6.0) -> np.ndarray:
    """Near = bright, far = dark grey levels, so depth edges are easy to compare with RGB."""
    d = np.clip(np.nan_to_num(depth, nan=max_depth), 0.0, max_depth) / max_depth
    grey = (255 * (1.0 - d)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def render_views(
    scene: str = "FloorPlan1",
    out: str | Path = "views.png",
    width: int = 320,
    height: int = 240,
    actions: list[str] | None = None,
) -> Path:
    """Write RGB | depth | segmentation of ``scene`` to ``out`` and return the path."""
    from PIL import Image

    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(
        scene, width=width, height=height, renderDepthImage=True, renderInstanceSegmentation=True
    )
    try:
        _, frames = sim.step("Pass")
        for action in actions or []:
            _, frames = sim.step(action)
        panel = np.concatenate(
            [
                frames["frame"],
                depth_to_rgb(frames["depth_frame"]),
                frames["instance_segmentation_frame"],
            ],
            axis=1,
        )
    finally:
        sim.close()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render RGB, depth and segmentation to a PNG")
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--out", default="views.png")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--actions", nargs="*", default=[], help="e.g. RotateRight LookDown")
    args = parser.parse_args(argv)
    path = render_views(args.scene, args.out, args.width, args.height, args.actions)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
