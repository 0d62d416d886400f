"""Long-term memory at 1k, 10k and 100k objects, built and driven through fusion.

A house of square rooms (10 m) holds surfaces (counter tops, tables, desks, shelves, ...) on a
3 m grid, 125 objects of about 70 types on each, laid out on a jittered 12 cm lattice, so the
density of the map is the same at every size (about 14 near neighbours per object). Memory is
built the way a robot builds it: ``LongTermMemory.integrate_frame`` with frames of 125
observations (a surface at a time), each surface seen in two frames (fusion confirms a new
object in its second frame). Then, on the full map:

* ``reobserve``: one frame re-observing one unmoved object (a different one each time);
* ``frame_5``: a frame of 5 observations of unmoved objects on one surface;
* ``frame_5_view``: the same with a 160x120 depth view, so change detection runs too;
* ``add_one``: the two frames that make a new object a node (candidate, then confirmed).

Each runs through the SQLite store, either a file in a temporary directory (``file``) or an
in-memory database (``memory``, what ``LongTermMemory(None)`` uses). The machine is shared and
noisy, so a fixed CPU workload (sorting 20,000 floats and a 60x60 matrix product) is timed in
turn with the frames and each p50 is also given relative to its p50 (``vs_reference``).

Each size and store runs in a process of its own. Memory: ``rss_mb`` after building, and
``graph_bytes_per_object``: the bytes tracemalloc counts while the scene graph and fusion
state are deep-copied, divided by the objects.

``reobserve_back_to_back`` times re-observations in a row, without the reference workload
between them. ``--baseline REV`` runs the same sizes with ``memory_nodes`` as it was at git
revision ``REV`` (``git archive``), one process each, in turn with the working tree's.

Usage: ``python bench/memory_scale.py [--sizes 1000 10000 100000] [--stores file memory]
[--quick] [--calls N] [--no-bytes] [--baseline REV]``. Prints JSON.
"""

from __future__ import annotations

import argparse
import copy
import gc
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# A run of --baseline REV points this at that revision's exported package.
sys.path.insert(0, os.environ.get("MEMORY_SCALE_PACKAGE_ROOT", str(ROOT)))

from memory_nodes.core.change_detection import CameraView  # noqa: E402
from memory_nodes.core.long_term import LongTermMemory  # noqa: E402
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, is_furniture  # noqa: E402
from memory_nodes.core.scene_graph import EdgeType, Layer  # noqa: E402
from memory_nodes.core.types import (  # noqa: E402
    Box,
    CameraIntrinsics,
    ObjectObservation,
    Pose,
    Vector3,
)

OBJECT_TYPES = tuple(t for t in KNOWN_TYPES if not is_furniture(t))
SURFACE_TYPES = ("CounterTop", "DiningTable", "Desk", "SideTable", "CoffeeTable", "Dresser")
OBJECTS_PER_SURFACE = 125
SURFACE_SPACING_M = 3.0
SURFACE_SIZE = (2.4, 1.0, 0.9)
LATTICE_M = 0.12
OBJECT_SIZE_M = 0.07
ROOM_SIZE_M = 10.0
TARGETS = {"reobserve_p50_ms_at_100k": 1.0, "frame_5_p50_ms_at_100k": 10.0, "build_100k_s": 600}
INTRINSICS = CameraIntrinsics.from_fov(160, 120, 60.0)
# Optical frame looking along world +x: z_opt = +x, x_opt = -y, y_opt = -z.
LOOK_ALONG_X = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class House:
    """Where every surface and object of an N-object house is (deterministic per seed)."""

    def __init__(self, num_objects: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.num_surfaces = max(1, math.ceil(num_objects / OBJECTS_PER_SURFACE))
        self.side = math.ceil(math.sqrt(self.num_surfaces))
        self.surfaces: list[tuple[str, str, Box]] = []
        for i in range(self.num_surfaces):
            kind = SURFACE_TYPES[i % len(SURFACE_TYPES)]
            x, y = SURFACE_SPACING_M * (i % self.side), SURFACE_SPACING_M * (i // self.side)
            box = Box(Vector3(x, y, SURFACE_SIZE[2] / 2), Vector3(*SURFACE_SIZE))
            self.surfaces.append((f"{kind}|{i}", kind, box))
        columns = int(SURFACE_SIZE[0] / LATTICE_M) - 1
        # objects[i] = (id, type, centre); surface s holds objects s*125 .. s*125+124.
        self.objects: list[tuple[str, str, Vector3]] = []
        for j in range(num_objects):
            surface = self.surfaces[j // OBJECTS_PER_SURFACE][2]
            slot = j % OBJECTS_PER_SURFACE
            jitter = rng.uniform(-0.02, 0.02, size=2)
            x = surface.min_corner[0] + LATTICE_M * (1 + slot % columns) + jitter[0]
            y = surface.min_corner[1] + LATTICE_M * (1 + slot // columns) + jitter[1]
            z = surface.max_corner[2] + OBJECT_SIZE_M / 2
            object_type = OBJECT_TYPES[int(rng.integers(len(OBJECT_TYPES)))]
            self.objects.append((f"{object_type}|{j}", object_type, Vector3(x, y, z)))
        extent = self.side * SURFACE_SPACING_M
        self.rooms_per_side = max(1, math.ceil(extent / ROOM_SIZE_M))

    def rooms(self) -> list[tuple[str, Box]]:
        found = []
        for r in range(self.rooms_per_side**2):
            rx, ry = r % self.rooms_per_side, r // self.rooms_per_side
            centre = Vector3((rx + 0.5) * ROOM_SIZE_M - 1.5, (ry + 0.5) * ROOM_SIZE_M - 1.5, 1.5)
            found.append((f"room {r}", Box(centre, Vector3(ROOM_SIZE_M, ROOM_SIZE_M, 3.0))))
        return found


def observe(
    object_id: str, object_type: str, centre: Vector3, size: float, stamp: float, frame: str
) -> ObjectObservation:
    """An observation of a cube of ``size`` metres (a surface when ``size`` >= 1)."""
    box = Box(centre, Vector3(size, size, size) if size < 1 else Vector3(*SURFACE_SIZE))
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(centre),
        box=box,
        stamp=stamp,
        confidence=0.9,
        source="gt_mask",
        source_frame_id=frame,
    )


def build(memory: LongTermMemory, house: House, clock: list[float]) -> dict[str, Any]:
    """Every surface, then every object, through integrate_frame: each frame seen twice."""
    for name, extent in house.rooms():
        memory.add_room(name, extent, clock[0])
    started = time.perf_counter()
    frame_times: list[float] = []
    for s, (surface_id, kind, box) in enumerate(house.surfaces):
        first = s * OBJECTS_PER_SURFACE
        batch = [observe(surface_id, kind, box.center, 9.0, 0.0, "")]
        batch += [
            observe(object_id, object_type, centre, OBJECT_SIZE_M, 0.0, "")
            for object_id, object_type, centre in house.objects[first : first + OBJECTS_PER_SURFACE]
        ]
        for _ in range(2):
            clock[0] += 0.1
            stamped = [_restamp(o, clock[0]) for o in batch]
            before = time.perf_counter()
            memory.integrate_frame(stamped, source="gt_mask")
            frame_times.append(time.perf_counter() - before)
    total = time.perf_counter() - started
    num_objects = memory.graph.num_nodes(Layer.OBJECT)
    return {
        "build_s": round(total, 2),
        "build_ms_per_object": round(total * 1e3 / max(num_objects, 1), 4),
        "build_frame_p50_ms": round(float(np.percentile(frame_times, 50)) * 1e3, 2),
        "build_frame_p95_ms": round(float(np.percentile(frame_times, 95)) * 1e3, 2),
        "frames": len(frame_times),
        "num_objects": num_objects,
        "num_furniture": memory.graph.num_nodes(Layer.FURNITURE),
    }


def _restamp(obs: ObjectObservation, stamp: float) -> ObjectObservation:
    return ObjectObservation(
        object_id=obs.object_id,
        object_type=obs.object_type,
        world_T_object=obs.world_T_object,
        box=obs.box,
        stamp=stamp,
        confidence=obs.confidence,
        source=obs.source,
        source_frame_id="camera",
    )


def reference_workload(values: list[float], matrix: np.ndarray) -> float:
    """A fixed CPU workload: the yardstick each timing is divided by."""
    return sorted(values)[len(values) // 2] + float((matrix @ matrix).trace())


def view_of(house: House, surface: int, stamp: float) -> CameraView:
    """A 160x120 depth view from 1.5 m in front of a surface, looking along +x at it."""
    box = house.surfaces[surface][2]
    matrix = np.eye(4)
    matrix[:3, :3] = LOOK_ALONG_X
    matrix[:3, 3] = (box.min_corner[0] - 1.5, box.center.y, 1.2)
    depth = np.full((INTRINSICS.height, INTRINSICS.width), 8.0)
    return CameraView(INTRINSICS, Pose.from_matrix(matrix), depth, stamp)


def measure(
    memory: LongTermMemory, house: House, clock: list[float], calls: int, rng: np.random.Generator
) -> dict[str, Any]:
    values = list(np.random.default_rng(1).random(20_000))
    matrix = np.random.default_rng(2).random((60, 60))
    objects = house.objects
    added = [0]

    def reobserve() -> None:
        object_id, object_type, centre = objects[int(rng.integers(len(objects)))]
        clock[0] += 0.1
        obs = observe(object_id, object_type, centre, OBJECT_SIZE_M, clock[0], "")
        memory.integrate_frame([_restamp(obs, clock[0])], source="gt_mask")

    def frame(with_view: bool) -> Callable[[], None]:
        def call() -> None:
            surface = int(rng.integers(house.num_surfaces))
            first = surface * OBJECTS_PER_SURFACE
            picks = rng.choice(min(OBJECTS_PER_SURFACE, len(objects) - first), 5, replace=False)
            clock[0] += 0.1
            batch = [observe(*objects[first + int(p)], OBJECT_SIZE_M, clock[0], "") for p in picks]
            view = view_of(house, surface, clock[0]) if with_view else None
            memory.integrate_frame(batch, view, source="gt_mask")

        return call

    def add_one() -> None:
        # A new object beside a surface's last row, confirmed in its second frame.
        surface = int(rng.integers(house.num_surfaces))
        box = house.surfaces[surface][2]
        added[0] += 1
        centre = Vector3(
            box.min_corner[0] + 0.05 + 0.003 * (added[0] % 600),
            box.max_corner[1] - 0.04,
            box.max_corner[2] + OBJECT_SIZE_M / 2,
        )
        for _ in range(2):
            clock[0] += 0.1
            obs = observe(f"Added|{added[0]}", "Apple", centre, OBJECT_SIZE_M, clock[0], "")
            memory.integrate_frame([obs], source="gt_mask")

    kinds: dict[str, Callable[[], Any]] = {
        "reobserve": reobserve,
        "frame_5": frame(False),
        "frame_5_view": frame(True),
        "add_one": add_one,
        "reference": lambda: reference_workload(values, matrix),
    }
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(3):  # warm-up
        for call in kinds.values():
            call()
    for _ in range(calls):
        for kind, call in kinds.items():
            before = time.perf_counter()
            call()
            samples[kind].append(time.perf_counter() - before)
    # Re-observations back to back, without the reference workload between them (it evicts
    # memory's data from the caches): what a stream of frames sees.
    samples["reobserve_back_to_back"] = []
    for _ in range(calls):
        before = time.perf_counter()
        reobserve()
        samples["reobserve_back_to_back"].append(time.perf_counter() - before)
    reference_p50 = float(np.percentile(samples["reference"], 50)) * 1e3
    results: dict[str, Any] = {}
    for kind, times in samples.items():
        ms = np.array(times) * 1e3
        p50 = float(np.percentile(ms, 50))
        results[kind] = {
            "p50_ms": round(p50, 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "vs_reference": round(p50 / reference_p50, 3),
            "calls": len(times),
        }
    return results


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def graph_bytes(memory: LongTermMemory) -> int:
    """Bytes the scene graph and fusion state occupy, counted by tracemalloc while a deep
    copy is made (tracing the whole build would slow it several times)."""
    gc.collect()
    tracemalloc.start()
    duplicate = copy.deepcopy((memory.graph, memory.fusion._tracks))
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del duplicate
    return size


def run(num_objects: int, store: str, calls: int, count_bytes: bool = True) -> dict[str, Any]:
    house = House(num_objects)
    clock = [1000.0]
    with tempfile.TemporaryDirectory(prefix="memory_scale_") as folder:
        database = Path(folder) / "memory.sqlite" if store == "file" else None
        rss_before = rss_mb()
        memory = LongTermMemory(database)
        built = build(memory, house, clock)
        rss_after = rss_mb()
        graph = memory.graph
        near = graph.num_edges(EdgeType.NEAR)
        bytes_total = graph_bytes(memory) if count_bytes else 0
        timings = measure(memory, house, clock, calls, np.random.default_rng(num_objects))
        memory.close()
        file_mb = database.stat().st_size / 2**20 if database is not None else None
    import memory_nodes

    return {
        "package": str(Path(memory_nodes.__file__).parent),
        "num_objects": num_objects,
        "store": store,
        **built,
        "near_edges_per_object": round(2 * near / max(built["num_objects"], 1), 2),
        "rss_mb": round(rss_after, 1),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "graph_bytes_per_object": (
            round(bytes_total / max(built["num_objects"], 1)) if count_bytes else None
        ),
        "database_mb": None if file_mb is None else round(file_mb, 1),
        **timings,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument(
        "--stores", nargs="+", choices=("file", "memory"), default=["file", "memory"]
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="1k and 10k objects, 40 calls")
    parser.add_argument(
        "--baseline",
        default="",
        help="git revision whose memory_nodes is also run, each size and store in turn",
    )
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-bytes",
        action="store_true",
        help="skip counting graph bytes (a traced deep copy: minutes at 100k objects)",
    )
    args = parser.parse_args(argv)
    sizes, calls = (args.sizes, args.calls)
    if args.quick:
        sizes, calls = [s for s in sizes if s <= 10_000] or [1000], min(calls, 40)
    if args.in_process:
        print(json.dumps(run(sizes[0], args.stores[0], calls, not args.no_bytes)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="memory_scale_baseline_") as folder:
        packages = {"working tree": str(ROOT)}
        if args.baseline:
            packages[f"baseline {args.baseline}"] = export_revision(args.baseline, Path(folder))
        for size in sizes:
            for store in args.stores:
                for code, package in packages.items():
                    # One process per run, so RSS says what this run's memory holds.
                    command = [sys.executable, __file__, "--in-process", "--calls", str(calls)]
                    command += ["--sizes", str(size), "--stores", store]
                    command += ["--no-bytes"] if args.no_bytes else []
                    environment = {**os.environ, "MEMORY_SCALE_PACKAGE_ROOT": package}
                    done = subprocess.run(
                        command, capture_output=True, text=True, check=True, env=environment
                    )
                    results.append({"code": code, **json.loads(done.stdout)})
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"targets": TARGETS, "results": results}, indent=2))


def export_revision(revision: str, folder: Path) -> str:
    """The directory holding ``memory_nodes`` as it was at git ``revision``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "memory_nodes"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return str(folder)


if __name__ == "__main__":
    main()
