"""Benchmark: ``SparseOctree`` against OctoMap (octomap-python) on synthetic depth frames.

Both maps receive the same 640x480 frames of a synthetic room (floor, walls, ceiling, a table
and boxes) seen by a pinhole camera at 1.5 m height, in the same process. Reported per case:
wall time of ours and OctoMap's insertion, their ratio (octomap_s / ours_s), and agreement: the
share of leaf cells known to either map on which both give the same state (a cell only one map
knows counts as a disagreement). The default extent of ``SparseOctree`` puts its cell boundaries
where OctoMap's are, so cells are compared one to one.

Run: ``.venv/bin/python bench/octree_vs_octomap.py --json``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory_nodes.core.octree import SparseOctree, morton_encode

RES = 0.05
WIDTH, HEIGHT = 640, 480
FX = FY = 525.0
ROOM_MIN = np.array([-3.0, -2.5, 0.0])
ROOM_MAX = np.array([3.0, 2.5, 2.7])
# furniture as axis-aligned boxes: table top, four legs, boxes on floor and table, a cabinet
OBSTACLES = np.array(
    [
        [[0.4, -0.6, 0.72], [1.6, 0.6, 0.76]],
        [[0.45, -0.55, 0.0], [0.5, -0.5, 0.72]],
        [[1.5, -0.55, 0.0], [1.55, -0.5, 0.72]],
        [[0.45, 0.5, 0.0], [0.5, 0.55, 0.72]],
        [[1.5, 0.5, 0.0], [1.55, 0.55, 0.72]],
        [[0.7, -0.3, 0.76], [0.95, -0.05, 0.96]],
        [[1.1, 0.1, 0.76], [1.3, 0.35, 0.86]],
        [[-1.0, 1.2, 0.0], [-0.4, 1.8, 0.5]],
        [[2.4, -2.3, 0.0], [2.95, -1.0, 1.9]],
        [[-2.0, -1.8, 0.0], [-1.6, -1.4, 0.3]],
    ]
)


def camera_rays(yaw: float, pitch: float) -> np.ndarray:
    """Unit ray directions of every pixel for a camera with the given yaw and downward pitch."""
    forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), -np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    u, v = np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT))
    x = ((u - WIDTH / 2 + 0.5) / FX).reshape(-1, 1)
    y = ((v - HEIGHT / 2 + 0.5) / FY).reshape(-1, 1)
    d = forward + x * right + y * down
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def render_frame(origin: np.ndarray, yaw: float, pitch: float, rng) -> np.ndarray:
    """Points where each pixel's ray first meets the room or a piece of furniture (+ noise)."""
    d = camera_rays(yaw, pitch)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        # leaving the room: nearest wall/floor/ceiling in the ray's direction
        t_room = np.min(np.where(d > 0, (ROOM_MAX - origin) * inv, (ROOM_MIN - origin) * inv), 1)
        t = t_room
        for lo, hi in OBSTACLES:
            t0 = (lo - origin) * inv
            t1 = (hi - origin) * inv
            t_near = np.max(np.minimum(t0, t1), axis=1)
            t_far = np.min(np.maximum(t0, t1), axis=1)
            hit = (t_near <= t_far) & (t_near > 0)
            t = np.where(hit & (t_near < t), t_near, t)
    t = t * (1.0 + rng.normal(0.0, 0.003, t.shape))  # ~3 mm/m depth noise
    return np.ascontiguousarray(origin + d * t[:, None])


def camera_path(n: int) -> list[tuple[np.ndarray, float, float]]:
    """Poses of a camera walking through the room while turning."""
    poses = []
    for i in range(n):
        s = i / max(1, n - 1)
        origin = np.array([-2.0 + 1.2 * s, -1.2 + 1.8 * s, 1.5])
        poses.append((origin, 0.2 + 0.6 * s, 0.35))
    return poses


def octomap_cells(tree) -> tuple[np.ndarray, np.ndarray]:
    """Leaf-level Morton keys and states of an OctoMap tree, expanding pruned nodes."""
    coords, sizes, occ = [], [], []
    thres = tree.getOccupancyThresLog()
    for it in tree.begin_leafs():
        coords.append(it.getCoordinate())
        sizes.append(it.getSize())
        occ.append(it.getValue() >= thres)
    coords = np.array(coords)
    cells = np.rint(np.array(sizes) / RES).astype(np.int64)
    occ = np.array(occ)
    corner = np.floor((coords - cells[:, None] * RES / 2) / RES + 0.5).astype(np.int64) + (1 << 15)
    keys, states = [], []
    for n in np.unique(cells):
        sel = cells == n
        offs = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
        ijk = (corner[sel][:, None, :] + offs[None]).reshape(-1, 3)
        keys.append(morton_encode(ijk))
        states.append(np.repeat(occ[sel], n**3))
    keys = np.concatenate(keys)
    order = np.argsort(keys)
    return keys[order], np.concatenate(states)[order].astype(np.int8)


def agreement(ours: SparseOctree, theirs) -> tuple[float, int, int]:
    """Share of cells known to either map on which both agree; plus both cell counts."""
    k1, s1 = ours.known_keys()
    k2, s2 = octomap_cells(theirs)
    union = np.union1d(k1, k2)
    a = np.full(union.size, -1, np.int8)
    b = np.full(union.size, -1, np.int8)
    a[np.searchsorted(union, k1)] = s1
    b[np.searchsorted(union, k2)] = s2
    return float(np.mean(a == b)), int(k1.size), int(k2.size)


def timed(fn, *args, **kwargs) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def run_case(frames, endpoints_only: bool, repeats: int, octomap) -> dict:
    """Best-of-``repeats`` time of inserting ``frames`` into fresh maps, and their agreement."""
    ours_best = theirs_best = np.inf
    for _ in range(repeats):
        ours = SparseOctree(resolution=RES)
        theirs = octomap.OcTree(RES)
        t_ours = t_theirs = 0.0
        for origin, pts in frames:
            if endpoints_only:
                t_ours += timed(ours.insert_endpoints, pts, origin)
                t_theirs += timed(theirs.updateNodes, pts, True, False)
            else:
                t_ours += timed(ours.insert_point_cloud, pts, origin, max_range=-1.0)
                t_theirs += timed(theirs.insertPointCloud, pts, origin, maxrange=-1.0)
        ours_best = min(ours_best, t_ours)
        theirs_best = min(theirs_best, t_theirs)
    agree, n_ours, n_theirs = agreement(ours, theirs)
    leaves = n_theirs
    n_points = sum(p.shape[0] for _, p in frames)
    return {
        "points": n_points,
        "ours_s": round(ours_best, 4),
        "octomap_s": round(theirs_best, 4),
        "ratio": round(theirs_best / ours_best, 2),
        "agreement": round(agree, 5),
        "ours_points_per_s": round(n_points / ours_best),
        "octomap_points_per_s": round(n_points / theirs_best),
        "ours_cells": n_ours,
        "octomap_leaf_cells": leaves,
        "ours_bytes_per_cell": round(ours.memory_bytes() / max(1, n_ours), 1),
        "octomap_bytes_per_cell": round(theirs.memoryUsage() / max(1, leaves), 1),
        "octomap_bytes_per_node": round(theirs.memoryUsage() / max(1, theirs.size()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for one-frame cases")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import octomap
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("octomap-python is required: pip install octomap-python") from exc

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    warm = SparseOctree(resolution=RES)  # loads or compiles the kernels
    small = rng.uniform(-1, 1, (100, 3))
    warm.insert_point_cloud(small, [0.0, 0.0, 0.0])
    warm.insert_endpoints(small, [0.0, 0.0, 0.0])
    warm.query_box([-1, -1, -1], [1, 1, 1])
    warmup_s = time.perf_counter() - t0

    poses = camera_path(10)
    frames = [(o, render_frame(o, yaw, pitch, rng)) for o, yaw, pitch in poses]
    one = frames[:1]
    result = {
        "points": int(one[0][1].shape[0]),
        "resolution": RES,
        "warmup_s": round(warmup_s, 3),
    }
    full = run_case(one, endpoints_only=False, repeats=args.repeats, octomap=octomap)
    result.update({k: full[k] for k in ("ours_s", "octomap_s", "ratio", "agreement")})
    result["full_rays"] = full
    result["endpoints"] = run_case(one, endpoints_only=True, repeats=args.repeats, octomap=octomap)
    result["ten_frames"] = run_case(frames, endpoints_only=False, repeats=1, octomap=octomap)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
