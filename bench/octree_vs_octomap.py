"""Benchmark: ``SparseOctree`` against OctoMap (octomap-python) on synthetic depth frames.

Both maps receive the same 640x480 frames of a synthetic room (floor, walls, ceiling, a table
and boxes) seen by a pinhole camera at 1.5 m height, in the same process. Reported per case:
wall time of ours and OctoMap's insertion, their ratio (octomap_s / ours_s), and agreement: the
share of leaf cells known to either map on which both give the same state (a cell only one map
knows counts as a disagreement). The default extent of ``SparseOctree`` puts its cell boundaries
where OctoMap's are, so cells are compared one to one.

Memory: bytes per known leaf cell of both maps, ours from ``memory_bytes()`` (checked against
tracemalloc on the thirty-frame map), OctoMap's from ``memoryUsage()`` over its leaf cells
(pruned nodes expanded), and their ratio. A labelled case times the insert with per-point
object-id strings, with integer ids, and the old per-point ``np.unique`` over the strings. A
large case grows one map to about 10M cells (``--quick``: 1M) in a hall and reports resident
bytes and the 2D projection's time, full recomputation against the incremental update.

Discrete cases (``*_discrete``) insert one ray per cell holding points, to its centre, in both
maps (OctoMap's ``insertPointCloud(..., discretize=true)``); the longest one also reports its
agreement with our exact map of the same frames. ``node_frames`` times the octree node's cloud
(every second pixel, labels, 5 m range) per frame, exact against discrete, on the synthetic
frames and (``node_frames_simulator``, ``--sim-frames``) on the frame pipeline's simulator walk.

Run: ``.venv/bin/python bench/octree_vs_octomap.py --json`` (``--quick`` for a short run).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
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


def render_frame(
    origin: np.ndarray,
    yaw: float,
    pitch: float,
    rng,
    room: tuple[np.ndarray, np.ndarray] = (ROOM_MIN, ROOM_MAX),
    obstacles: np.ndarray = OBSTACLES,
) -> np.ndarray:
    """Points where each pixel's ray first meets the room or a piece of furniture (+ noise)."""
    room_min, room_max = room
    d = camera_rays(yaw, pitch)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        # leaving the room: nearest wall/floor/ceiling in the ray's direction
        t_room = np.min(np.where(d > 0, (room_max - origin) * inv, (room_min - origin) * inv), 1)
        t = t_room
        for lo, hi in obstacles:
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
    return key_agreement(k1, s1, k2, s2)


def key_agreement(k1, s1, k2, s2) -> tuple[float, int, int]:
    """Agreement of two maps given as sorted leaf keys and states (see :func:`agreement`)."""
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


def run_case(frames, endpoints_only: bool, repeats: int, octomap, discretize: bool = False) -> dict:
    """Best-of-``repeats`` time of inserting ``frames`` into fresh maps, and their agreement.

    ``discretize``: both maps insert one ray per cell (``insertPointCloud(..., discretize=true)``
    for OctoMap).
    """
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
                t_ours += timed(
                    ours.insert_point_cloud, pts, origin, max_range=-1.0, discretize=discretize
                )
                t_theirs += timed(
                    theirs.insertPointCloud, pts, origin, maxrange=-1.0, discretize=discretize
                )
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
        "ours_bytes": ours.memory_bytes(),
        "octomap_bytes": int(theirs.memoryUsage()),
        "ours_bytes_per_cell": round(ours.memory_bytes() / max(1, n_ours), 2),
        "octomap_bytes_per_cell": round(theirs.memoryUsage() / max(1, leaves), 2),
        "bytes_per_cell_ratio": round(
            (ours.memory_bytes() / max(1, n_ours)) / (theirs.memoryUsage() / max(1, leaves)), 2
        ),
        "octomap_bytes_per_node": round(theirs.memoryUsage() / max(1, theirs.size()), 1),
        "ours_bytes_by_part": ours.memory_by_part(),
        "_map": ours,
    }


def traced_bytes(frames) -> int:
    """Bytes tracemalloc sees allocated by building the map of ``frames`` (numpy is traced)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tree = SparseOctree(resolution=RES)
        for origin, pts in frames:
            tree.insert_point_cloud(pts, origin, max_range=-1.0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return int(held)


def labelled_case(frame, repeats: int) -> dict:
    """One frame with labels and object ids: strings per point, integers, and the old mapping.

    The reference ``old_np_unique_s`` is the per-point ``np.unique`` over the strings that the
    previous string path ran before every insert.
    """
    origin, pts = frame
    rng = np.random.default_rng(1)
    n = pts.shape[0]
    # about half the points belong to one of 12 objects, as a perception frame labels them
    local = np.where(rng.random(n) < 0.5, rng.integers(1, 13, n), 0)
    names = [""] + [f"Object|{i}" for i in range(1, 13)]
    strings = np.array(names, dtype=object)[local]
    labels = local.astype(np.int64) - 1
    best = {"no_labels_s": np.inf, "strings_s": np.inf, "integers_s": np.inf}
    old_unique = np.inf
    for _ in range(repeats):
        plain = SparseOctree(resolution=RES)
        best["no_labels_s"] = min(best["no_labels_s"], timed(plain.insert_point_cloud, pts, origin))
        by_string = SparseOctree(resolution=RES)
        t = timed(by_string.insert_point_cloud, pts, origin, labels=labels, object_ids=strings)
        best["strings_s"] = min(best["strings_s"], t)
        by_int = SparseOctree(resolution=RES)
        t0 = time.perf_counter()
        ids = by_int.object_ids_of(names)[local]
        by_int.insert_point_cloud(pts, origin, labels=labels, object_ids=ids)
        best["integers_s"] = min(best["integers_s"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.unique(np.where(strings == None, "", strings).astype(str), return_inverse=True)  # noqa: E711
        old_unique = min(old_unique, time.perf_counter() - t0)
    out = {k: round(v, 4) for k, v in best.items()}
    out["old_np_unique_s"] = round(old_unique, 4)
    out["labelled_points"] = int((local > 0).sum())
    return out


NODE_MAX_RANGE = 5.0  # config/octree.yaml


def synthetic_node_clouds(frames) -> list[tuple]:
    """The node's cloud of each synthetic frame: every second pixel, half of them labelled."""
    rng = np.random.default_rng(2)
    clouds = []
    for origin, pts in frames:
        cloud = np.ascontiguousarray(pts[::2])
        local = np.where(rng.random(cloud.shape[0]) < 0.5, rng.integers(1, 13, cloud.shape[0]), 0)
        clouds.append((origin, cloud, np.where(local > 0, local % 8, -1), local - 1))
    return clouds


def simulator_node_clouds(count: int, scene: str = "FloorPlan1") -> list[tuple]:
    """The node's clouds of ``count`` simulator frames (640x480, the frame pipeline's kitchen
    walk): perception's labelled cloud, labels and object ids mapped as the node maps them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import frame_pipeline

    from memory_nodes.nodes.octree_node import LabelVocabulary, frame_object_ids
    from memory_nodes.perception.backends import MaskBackend
    from memory_nodes.perception.observations import ObservationExtractor

    frames = frame_pipeline.kitchen_walk(scene, WIDTH, HEIGHT, count)
    extractor = ObservationExtractor(MaskBackend(), cloud_stride=frame_pipeline.CLOUD_STRIDE)
    vocabulary = LabelVocabulary(["", *frame_pipeline.MOVABLE_LABELS])
    names = SparseOctree(resolution=RES)  # object ids are numbered per map, as in the node
    clouds = []
    for frame in frames:
        result = extractor.extract(frame)
        # the cloud travels as float32 (PointCloud2)
        points = result.cloud_points.astype(np.float32).astype(np.float64)
        labels = vocabulary.map_frame_labels(
            result.cloud_labels.astype(np.int64), result.label_names
        )
        objects = frame_object_ids(
            names, result.cloud_object_ids.astype(np.int64), result.object_keys
        )
        clouds.append((np.asarray(frame.world_T_camera)[:3, 3], points, labels, objects))
    return clouds


def node_frames_case(clouds) -> dict:
    """Per-frame insert cost of the octree node's clouds, rays per point against per cell.

    Each cloud (origin, points, labels, object ids) is inserted as the node does it (5 m range,
    decay of movable labels, a stamp per frame) into a map inserting exactly and one inserting
    discretely, in alternating order; a fixed numpy workload (sorting 200,000 floats) is timed
    after each frame as the reference. Reports p50/p95 wall ms per mode, both over the
    reference's p50, the thread's CPU ms (less disturbed by other processes), and the agreement
    of the two maps. The first frame warms up, untimed.
    """
    modes = {"exact": False, "discrete": True}
    maps = {
        name: SparseOctree(resolution=RES, movable_labels=range(1, 20), movable_decay_rate=0.05)
        for name in modes
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    cpu: dict[str, list[float]] = {name: [] for name in modes}
    reference: list[float] = []
    data = np.random.default_rng(0).random(200_000)
    for index, (origin, cloud, labels, objects) in enumerate([clouds[0], *clouds]):
        order = list(modes) if index % 2 == 0 else list(modes)[::-1]
        for name in order:
            tree = maps[name] if index else SparseOctree(resolution=RES)
            cpu_start = time.thread_time()
            elapsed = timed(
                tree.insert_point_cloud,
                cloud,
                origin,
                NODE_MAX_RANGE,
                labels,
                objects,
                100.0 + 0.1 * index,
                discretize=modes[name],
            )
            if index:
                times[name].append(elapsed)
                cpu[name].append(time.thread_time() - cpu_start)
        if index:
            reference.append(timed(np.sort, data))
    ref_ms = 1e3 * float(np.median(reference))
    out: dict = {
        "points_per_frame": int(np.mean([c[1].shape[0] for c in clouds])),
        "frames": len(clouds),
        "reference_p50_ms": round(ref_ms, 2),
    }
    for name in modes:
        ms = 1e3 * np.array(times[name])
        p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
        cpu_ms = 1e3 * np.array(cpu[name])
        out[name] = {
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "p50_vs_reference": round(p50 / ref_ms, 2),
            "p95_vs_reference": round(p95 / ref_ms, 2),
            "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 1),
            "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 1),
            "cells": maps[name].num_cells,
        }
    out["exact_over_discrete_p50"] = round(out["exact"]["p50_ms"] / out["discrete"]["p50_ms"], 2)
    k1, s1 = maps["exact"].known_keys()
    k2, s2 = maps["discrete"].known_keys()
    out["agreement_discrete_vs_exact"] = round(key_agreement(k1, s1, k2, s2)[0], 5)
    return out


HALL_MIN = np.array([-20.0, -20.0, 0.0])
HALL_MAX = np.array([20.0, 20.0, 2.7])


def hall_obstacles(rng, count: int = 120) -> np.ndarray:
    """Furniture-sized boxes scattered over the hall floor."""
    lo = rng.uniform([-19.0, -19.0, 0.0], [18.0, 18.0, 0.0], (count, 3))
    size = rng.uniform([0.3, 0.3, 0.3], [1.5, 1.5, 2.0], (count, 3))
    return np.stack([lo, lo + size], axis=1)


LARGE_RANGE = 5.0


def render_hall(origin: np.ndarray, yaw: float, rng, obstacles: np.ndarray) -> np.ndarray:
    """A hall frame; boxes out of the camera's range are left out of the rendering."""
    centres = obstacles.mean(axis=1)
    near = np.linalg.norm(centres[:, :2] - origin[:2], axis=1) < LARGE_RANGE + 2.0
    return render_frame(origin, yaw, 0.25, rng, (HALL_MIN, HALL_MAX), obstacles[near])


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


def large_case(target_cells: int, rng, max_frames: int) -> dict:
    """Grow one map to ``target_cells`` in a 40 x 40 m hall; memory and 2D projection times."""
    obstacles = hall_obstacles(rng)
    gc.collect()
    rss_before = rss_bytes()
    tree = SparseOctree(resolution=RES)
    frame_s = []
    frame = 0
    while tree.num_cells < target_cells and frame < max_frames:
        # eight views around each spot of a 5 x 5 walk, with the node's default 5 m range
        spot = frame // 8
        origin = np.array([-14.0 + 7.0 * (spot % 5), -14.0 + 7.0 * (spot // 5 % 5), 1.5])
        pts = render_hall(origin, frame * np.pi / 4, rng, obstacles)
        frame_s.append(timed(tree.insert_point_cloud, pts, origin, max_range=LARGE_RANGE))
        frame += 1
    gc.collect()
    rss_after = rss_bytes()
    band = (0.1, 1.8)
    full_s = timed(tree.project_2d, *band, incremental=False)
    first_s = timed(tree.project_2d, *band)  # builds the cache from every brick
    unchanged_s = timed(tree.project_2d, *band)
    origin = np.array([0.5, 0.5, 1.5])
    pts = render_hall(origin, 0.3, rng, obstacles)
    tree.insert_point_cloud(pts, origin, max_range=LARGE_RANGE)
    after_frame_s = timed(tree.project_2d, *band)
    full_after_s = timed(tree.project_2d, *band, incremental=False)
    same = np.array_equal(
        tree.project_2d(*band).data, tree.project_2d(*band, incremental=False).data
    )
    n = tree.num_cells
    return {
        "cells": n,
        "frames": frame + 1,
        "insert_s_first_5_frames_mean": round(float(np.mean(frame_s[:5])), 4),
        "insert_s_last_5_frames_mean": round(float(np.mean(frame_s[-5:])), 4),
        "memory_bytes": tree.memory_bytes(),
        "bytes_per_cell": round(tree.memory_bytes() / n, 2),
        "bytes_by_part": tree.memory_by_part(),
        "rss_growth_bytes": rss_after - rss_before,
        "project_2d_full_s": round(full_s, 4),
        "project_2d_first_incremental_s": round(first_s, 4),
        "project_2d_unchanged_s": round(unchanged_s, 5),
        "project_2d_after_one_frame_s": round(after_frame_s, 4),
        "project_2d_full_after_one_frame_s": round(full_after_s, 4),
        "project_2d_speedup_after_one_frame": round(full_after_s / after_frame_s, 1),
        "incremental_equals_full": bool(same),
    }


def reference_workload_s(repeats: int = 3) -> float:
    """A fixed numpy workload timed in the same process, to read the others against."""
    data = np.random.default_rng(0).random(2_000_000)
    return min(timed(np.sort, data) for _ in range(repeats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for one-frame cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="ten frames instead of thirty, a 1M-cell large map"
    )
    parser.add_argument("--large-cells", type=int, default=10_000_000)
    parser.add_argument(
        "--sim-frames",
        type=int,
        default=15,
        help="simulator frames for the node's per-frame cost (0: none; --quick: at most 8)",
    )
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

    if args.quick:
        args.repeats = min(args.repeats, 2)
        args.large_cells = min(args.large_cells, 1_000_000)
        args.sim_frames = min(args.sim_frames, 8)
    long_run = 10 if args.quick else 30
    poses = camera_path(long_run)
    frames = [(o, render_frame(o, yaw, pitch, rng)) for o, yaw, pitch in poses]
    one = frames[:1]
    result = {
        "points": int(one[0][1].shape[0]),
        "resolution": RES,
        "warmup_s": round(warmup_s, 3),
        "reference_workload_s": round(reference_workload_s(), 4),
    }
    full = run_case(one, endpoints_only=False, repeats=args.repeats, octomap=octomap)
    result.update({k: full[k] for k in ("ours_s", "octomap_s", "ratio", "agreement")})
    result["full_rays"] = full
    result["endpoints"] = run_case(one, endpoints_only=True, repeats=args.repeats, octomap=octomap)
    result["full_rays_discrete"] = run_case(
        one, endpoints_only=False, repeats=args.repeats, octomap=octomap, discretize=True
    )
    result["ten_frames"] = run_case(frames[:10], endpoints_only=False, repeats=1, octomap=octomap)
    if not args.quick:
        result["thirty_frames"] = run_case(frames, endpoints_only=False, repeats=1, octomap=octomap)
    long_name = "thirty_frames" if not args.quick else "ten_frames"
    longest = result[long_name]
    longest["tracemalloc_bytes"] = traced_bytes(frames)
    discrete = run_case(frames, endpoints_only=False, repeats=1, octomap=octomap, discretize=True)
    k1, s1 = longest["_map"].known_keys()
    k2, s2 = discrete["_map"].known_keys()
    discrete["agreement_with_our_exact"] = round(key_agreement(k1, s1, k2, s2)[0], 5)
    discrete["speedup_over_our_exact"] = round(longest["ours_s"] / discrete["ours_s"], 2)
    result[f"{long_name}_discrete"] = discrete
    result["node_frames"] = node_frames_case(synthetic_node_clouds(frames))
    if args.sim_frames:
        result["node_frames_simulator"] = node_frames_case(simulator_node_clouds(args.sim_frames))
    result["labelled_frame"] = labelled_case(one[0], args.repeats)
    result["large_map"] = large_case(args.large_cells, rng, max_frames=200)
    result["reference_workload_s_end"] = round(reference_workload_s(), 4)
    for case in result.values():
        if isinstance(case, dict):
            case.pop("_map", None)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
