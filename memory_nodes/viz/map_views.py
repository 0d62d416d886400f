"""Top-down pictures of what the octree knows, for people rather than planners.

:func:`render_map` draws, in the ``map`` frame seen from above (x to the right, y up):

* the 2D projection of the height band a robot occupies (unknown grey, free white, occupied
  dark), which is what navigation uses;
* the top of the occupied cells above the floor, coloured by height, so furniture and
  overhanging structure (counter tops, upper cabinets) can be told apart;
* optionally scene-graph nodes (furniture boxes, object dots, labels) and edges, and robot paths.

``python -m memory_nodes.viz.map_views --scene FloorPlan1 --out map.png`` builds such a map from the
household simulator: it turns on the spot at a few reachable positions, back-projects each depth
frame into the map frame and inserts it with ray casting, then draws the result.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memory_nodes.core.errors import DependencyNotInstalledError
from memory_nodes.core.octree import SparseOctree

if TYPE_CHECKING:
    from memory_nodes.core.scene_graph import SceneGraph

#: projection colours (RGB in [0, 1]) for unknown, free and occupied columns
GRID_COLOURS = {-1: (0.82, 0.82, 0.84), 0: (1.0, 1.0, 1.0), 1: (0.18, 0.2, 0.25)}
LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
EDGE_COLOURS = {"on": "tab:green", "inside": "tab:purple", "in_room": "0.6", "near": "gold"}


def matplotlib_classes(what: str = "map pictures") -> tuple[Any, Any]:
    """matplotlib's ``Figure`` and Agg canvas (no pyplot); a clear error naming ``what``
    needs them when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise DependencyNotInstalledError(
            f"{what} need matplotlib: pip install matplotlib"
        ) from error
    return Figure, FigureCanvasAgg


@dataclass(frozen=True)
class MapLayers:
    """Rasters of one top-down view, all on the same cell lattice.

    ``projection`` holds -1/0/1 per column of the height band; ``top_height`` the highest
    occupied cell centre between ``z_min`` and the ceiling cut per column (NaN where none).
    ``extent`` is (x_min, x_max, y_min, y_max) of the raster's outer cell edges.
    """

    projection: np.ndarray
    top_height: np.ndarray
    extent: tuple[float, float, float, float]


def map_layers(
    octree: SparseOctree, z_band: tuple[float, float] = (0.1, 1.8), max_height: float = 2.4
) -> MapLayers:
    """Rasterise the octree's projection and its occupied cells' heights over the known area.

    Cells above ``max_height`` (the ceiling) are left out of the heights, or they would hide
    everything below them.
    """
    keys, states = octree.known_keys()
    res = octree.resolution
    if keys.size == 0:
        empty = np.empty((0, 0))
        return MapLayers(empty.astype(np.int8), empty, (0.0, 0.0, 0.0, 0.0))
    centers = octree.centers_of(keys)
    xy_min = centers[:, :2].min(axis=0)
    xy_max = centers[:, :2].max(axis=0)
    grid = octree.project_2d(z_band[0], z_band[1], xy_min, xy_max)
    rows, cols = grid.data.shape
    top = np.full((rows, cols), np.nan)
    z = centers[:, 2]
    above = (states == 1) & (z >= z_band[0]) & (z <= max_height)
    if above.any():
        pts = centers[above]
        col = np.floor((pts[:, 0] - grid.origin[0]) / res).astype(np.int64)
        row = np.floor((pts[:, 1] - grid.origin[1]) / res).astype(np.int64)
        flat = row * cols + col
        order = np.argsort(pts[:, 2])  # later writes win: the highest cell of each column
        top.ravel()[flat[order]] = pts[order, 2]
    x0, y0 = grid.origin
    extent = (x0, x0 + cols * res, y0, y0 + rows * res)
    return MapLayers(grid.data, top, extent)


def render_map(
    octree: SparseOctree,
    out_png: str | Path,
    graph: SceneGraph | None = None,
    paths: Iterable[np.ndarray] | None = None,
    title: str = "",
    path_labels: Iterable[str] | None = None,
    z_band: tuple[float, float] = (0.1, 1.8),
    max_height: float = 2.4,
    dpi: int = 120,
) -> Path:
    """Draw the octree from above (plus graph and paths) into a PNG and return its path.

    Parameters
    ----------
    octree
        The map; nothing is changed in it.
    out_png
        Output file; parent folders are created.
    graph
        Scene graph whose present nodes and edges are drawn over the map (map frame).
    paths
        Robot paths as ``(n, 2)`` or ``(n, 3)`` arrays of map positions, drawn in order, one
        colour each (start: circle, end: square).
    title
        Figure title; a summary of the map is always added below it.
    path_labels
        Legend entries of the paths (default "path 1", "path 2", ...).
    z_band
        Height band of the projection, as the octree node's ``projection_z_*`` parameters.
    max_height
        Occupied cells above this (ceilings) are not coloured by height.
    """
    figure_cls, canvas_cls = matplotlib_classes()
    from matplotlib.patches import Patch, Rectangle

    layers = map_layers(octree, z_band, max_height)
    x0, x1, y0, y1 = layers.extent
    span_x, span_y = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    width_in = 8.0
    height_in = min(max(width_in * span_y / span_x, 4.0), 12.0) + 0.8
    fig = figure_cls(figsize=(width_in + 1.5, height_in), dpi=dpi)
    canvas_cls(fig)
    ax = fig.add_subplot(1, 1, 1)
    if layers.projection.size:
        rgb = np.zeros((*layers.projection.shape, 3))
        for value, colour in GRID_COLOURS.items():
            rgb[layers.projection == value] = colour
        ax.imshow(rgb, origin="lower", extent=layers.extent, interpolation="nearest")
        heights = np.ma.masked_invalid(layers.top_height)
        if heights.count():
            image = ax.imshow(
                heights,
                origin="lower",
                extent=layers.extent,
                interpolation="nearest",
                cmap="viridis",
                alpha=0.9,
            )
            fig.colorbar(image, ax=ax, shrink=0.7, label="top of occupied cells z [m]")
    if graph is not None:
        _draw_graph(ax, graph, Rectangle)
    colours = ("tab:red", "tab:orange", "tab:purple", "tab:pink", "tab:brown", "tab:cyan")
    labels = list(path_labels or [])
    for index, path in enumerate(paths or []):
        xy = np.asarray(path, dtype=float).reshape(len(path), -1)[:, :2]
        if xy.size == 0:
            continue
        colour = colours[index % len(colours)]
        label = labels[index] if index < len(labels) else f"path {index + 1}"
        ax.plot(xy[:, 0], xy[:, 1], "-", color=colour, lw=1.5, label=label)
        ax.plot(xy[0, 0], xy[0, 1], "o", color=colour, ms=6)
        ax.plot(xy[-1, 0], xy[-1, 1], "s", color=colour, ms=6)
    names = ((-1, "unknown"), (0, "free"), (1, f"occupied {z_band[0]:g}-{z_band[1]:g} m"))
    legend = [Patch(facecolor=GRID_COLOURS[v], edgecolor="0.5", label=n) for v, n in names]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=legend + handles, loc="upper left", fontsize=7, framealpha=0.85)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (map)")
    ax.set_ylabel("y [m] (map)")
    ax.grid(True, lw=0.3, alpha=0.5)
    summary = (
        f"{octree.num_cells} cells at {octree.resolution:g} m, "
        f"{int(np.sum(layers.projection == 1))} occupied / "
        f"{int(np.sum(layers.projection == 0))} free columns"
    )
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=9)
    fig.tight_layout()
    path = Path(out_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _draw_graph(ax: Any, graph: SceneGraph, rectangle: Any) -> None:
    from memory_nodes.core.scene_graph import Layer, NodeStatus

    centres: dict[str, tuple[float, float]] = {}
    for node in graph.nodes():
        if node.status != NodeStatus.PRESENT:
            continue
        c, s = node.box.center, node.box.size
        centres[node.node_id] = (c.x, c.y)
        if node.layer == Layer.ROOM:
            ax.add_patch(rectangle((c.x - s.x / 2, c.y - s.y / 2), s.x, s.y, fill=False,
                                   ls="--", lw=1.0, ec="0.4"))  # fmt: skip
        elif node.layer == Layer.FURNITURE:
            ax.add_patch(rectangle((c.x - s.x / 2, c.y - s.y / 2), s.x, s.y, fill=False,
                                   lw=1.0, ec="tab:blue"))  # fmt: skip
            ax.annotate(node.node_type, (c.x, c.y), fontsize=6, color="tab:blue", ha="center",
                        bbox=LABEL_BOX)  # fmt: skip
        elif node.layer == Layer.OBJECT:
            ax.plot(c.x, c.y, "o", ms=4, color="tab:orange", mec="k", mew=0.4)
            ax.annotate(node.node_type, (c.x, c.y), xytext=(3, 3), textcoords="offset points",
                        fontsize=6, color="saddlebrown", bbox=LABEL_BOX)  # fmt: skip
        elif node.layer == Layer.AGENT:
            ax.plot(c.x, c.y, "^", ms=7, color="tab:green", mec="k", mew=0.4)
    for edge in graph.edges():
        if edge.source in centres and edge.target in centres:
            (sx, sy), (tx, ty) = centres[edge.source], centres[edge.target]
            colour = EDGE_COLOURS.get(str(edge.edge_type.value), "0.5")
            ax.plot([sx, tx], [sy, ty], "-", color=colour, lw=0.7, alpha=0.8)


# ------------------------------------------------------------------------- simulator map
@dataclass(frozen=True)
class SceneMap:
    """An octree built from simulator frames, the camera path and what it cost."""

    octree: SparseOctree
    path: np.ndarray
    frames: int
    points: int
    insert_seconds: float


def spread_positions(candidates: np.ndarray, start: np.ndarray, count: int) -> list[int]:
    """Indices of ``count`` candidates spread out by farthest-point sampling from ``start``.

    Deterministic, so the same scene always gives the same picture.
    """
    if len(candidates) == 0 or count < 1:
        return []
    distance = np.linalg.norm(candidates - start, axis=1)
    chosen = [int(np.argmin(distance))]
    distance = np.linalg.norm(candidates - candidates[chosen[0]], axis=1)
    while len(chosen) < min(count, len(candidates)):
        index = int(np.argmax(distance))
        chosen.append(index)
        distance = np.minimum(distance, np.linalg.norm(candidates - candidates[index], axis=1))
    return chosen


def build_scene_map(
    scene: str = "FloorPlan1",
    positions: int = 3,
    horizons: Sequence[float] = (0.0, 30.0),
    resolution: float = 0.05,
    width: int = 320,
    height: int = 240,
    max_range: float = 5.0,
    stride: int = 1,
) -> SceneMap:
    """Turn 4 x 90 degrees at ``positions`` reachable places per camera horizon; map the depth."""
    from memory_nodes.adapters.ai2thor_perception import map_T_camera, unity_to_map
    from memory_nodes.core.types import CameraIntrinsics
    from memory_nodes.perception.frames import RGBDFrame
    from memory_nodes.perception.observations import backproject
    from sim.household_sim import HouseholdSim

    octree = SparseOctree(resolution=resolution)
    sim = HouseholdSim(scene, width=width, height=height, renderDepthImage=True)
    frames = points = 0
    insert_s = 0.0
    path = []
    try:
        metadata, _ = sim.step("GetReachablePositions")
        reachable = metadata["actionReturn"] or []
        xz = np.array([[p["x"], p["z"]] for p in reachable], dtype=float).reshape(-1, 2)
        agent = metadata["agent"]["position"]
        chosen = spread_positions(xz, np.array([agent["x"], agent["z"]]), positions)
        for index in chosen:
            place = reachable[index]
            for horizon in horizons:
                for turn in range(4):
                    metadata, view = sim.step(
                        "TeleportFull", position=place, rotation={"y": 90.0 * turn},
                        horizon=float(horizon), standing=True,
                    )  # fmt: skip
                    if not metadata["lastActionSuccess"]:
                        continue
                    depth = np.asarray(view["depth_frame"], np.float32)[::stride, ::stride]
                    k = np.asarray(view["intrinsics"], float)
                    frame = RGBDFrame(
                        rgb=np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*depth.shape, 3)),
                        depth=np.ascontiguousarray(depth),
                        intrinsics=CameraIntrinsics(
                            depth.shape[1], depth.shape[0], k[0, 0] / stride, k[1, 1] / stride,
                            k[0, 2] / stride, k[1, 2] / stride,
                        ),
                        world_T_camera=map_T_camera(view["world_T_camera"]),
                        stamp=float(frames),
                    )  # fmt: skip
                    world, _, _ = backproject(frame, max_depth=np.inf)
                    start = time.perf_counter()
                    octree.insert_point_cloud(world, frame.camera_position, max_range=max_range)
                    insert_s += time.perf_counter() - start
                    frames += 1
                    points += len(world)
            path.append(unity_to_map(place))
    finally:
        sim.close()
    return SceneMap(octree, np.array(path).reshape(-1, 3), frames, points, insert_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Map a simulator scene with the octree; draw it")
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--out", default="map.png")
    parser.add_argument("--positions", type=int, default=3, help="reachable places to turn at")
    parser.add_argument("--horizons", type=float, nargs="+", default=[0.0, 30.0],
                        help="camera tilt(s) in degrees, down is positive")  # fmt: skip
    parser.add_argument("--resolution", type=float, default=0.05)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--max-range", type=float, default=5.0)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    built = build_scene_map(
        args.scene, args.positions, args.horizons, args.resolution, args.width, args.height,
        args.max_range,
    )  # fmt: skip
    title = args.title or f"{args.scene}: octree from {built.frames} depth frames"
    path = render_map(built.octree, args.out, paths=[built.path], title=title)
    per_frame = 1000.0 * built.insert_seconds / max(built.frames, 1)
    print(
        f"{path}: {built.frames} frames, {built.points} points, {built.octree.num_cells} cells, "
        f"insert {per_frame:.1f} ms per frame"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
