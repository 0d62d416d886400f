"""Long-term memory's share of a camera frame: ``LongTermMemory.integrate_frame`` with its view.

The frames are the memory server's stage of ``bench/frame_pipeline.py``: a kitchen walk
(FloorPlan1, camera 30 degrees down) rendered with depth and instance masks, perception's
observations sent through an ``ObjectObservationArray`` as the server receives them, and the
depth view for change detection. Memory holds the kitchen (one pass of the walk) plus synthetic
objects in a second room up to ``--memory-objects``, built through fusion, exactly as there.

The frames are prepared once; each code version then replays them in a process of its own
(same observations, same views, same order): the working tree, and with ``--baseline REV`` the
``memory_nodes`` package of that git revision (``git archive``), so the old code path is timed
in the same run on the same frames. Each process also times a fixed numpy workload after every
frame (``vs_reference``) and reports where a frame's time goes (fusion, change detection, the
store's commit). ``--profile`` adds cProfile's top functions of the working tree's replay.

Usage: ``python bench/long_term_frame.py [--quick] [--frames 15] [--resolution 640x480]
[--memory-objects 1000] [--baseline REV] [--profile] [--frames-file PATH]``. Prints JSON;
asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 10.0
FRAME_PERIOD_S = 0.1


def reference_workload() -> float:
    """A fixed numpy workload (sort of 200,000 sines, as frame_pipeline's): seconds."""
    started = time.perf_counter()
    np.sort(np.sin(np.arange(200_000, dtype=np.float64) * 1e-3))
    return time.perf_counter() - started


# ----------------------------------------------------------------------- preparing the frames


def prepare(width: int, height: int, num_frames: int, scene: str, objects: int, path: Path) -> None:
    """Render the walk, extract observations as the perception node does and pickle what the
    memory server receives: the frames that build memory and the frames to time."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import frame_pipeline as fp
    from memory_interfaces.msg import ObjectObservationArray
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import Header

    frames = fp.kitchen_walk(scene, width, height, num_frames)
    walk = [fp.frame_messages(frame, 0.0) for frame in frames]
    extractor = fp.ObservationExtractor(
        fp.MaskBackend(),
        cloud_stride=fp.CLOUD_STRIDE,
        max_instance_points=fp.DEFAULT_MAX_INSTANCE_POINTS,
    )
    stamp = 1000.0
    build: list[list[Any]] = []
    extracted = [extractor.extract(msgs["frame"]).observations for msgs in walk]
    for observations in extracted:  # as frame_pipeline.build_memory
        stamp += FRAME_PERIOD_S
        build.append(fp.restamped(observations, stamp))
    kitchen = len({o.object_id for batch in build for o in batch if o.object_id})
    for batch in fp.synthetic_objects(max(0, objects - kitchen), stamp):
        for _ in range(2):
            stamp += FRAME_PERIOD_S
            build.append(fp.restamped(batch, stamp))
    timed: list[tuple[list[Any], Any]] = []
    for index, msgs in enumerate([walk[0], *walk]):  # the first one untimed, as there
        stamp += FRAME_PERIOD_S
        msgs = {**msgs, "stamp": stamp}
        header = Header(stamp=fp.conversions.stamp_to_msg(stamp), frame_id="world")
        result = extractor.extract(fp.decode_frame(msgs))
        received = deserialize_message(fp.pack_observations(header, result), ObjectObservationArray)
        timed.append(fp.decode_for_memory(received, msgs))
        del index
    with path.open("wb") as file:
        pickle.dump({"build": build, "timed": timed, "resolution": f"{width}x{height}"}, file)


# ----------------------------------------------------------------------- replaying them


def replay(frames_path: Path, profile: bool) -> dict[str, Any]:
    """Build memory from the pickled frames and time every timed frame (in this process)."""
    import memory_nodes
    from memory_nodes.core.long_term import LongTermMemory
    from memory_nodes.core.scene_graph import Layer

    with frames_path.open("rb") as file:
        data = pickle.load(file)
    with tempfile.TemporaryDirectory(prefix="long_term_frame_") as folder:
        memory = LongTermMemory(Path(folder) / "memory.sqlite")
        started = time.perf_counter()
        for batch in data["build"]:
            memory.integrate_frame(batch, source="perception")
        build_s = time.perf_counter() - started
        parts: dict[str, list[float]] = {"fusion": [], "change_detection": [], "store_sync": []}
        current: dict[str, float] = {}
        _time_parts(memory, current)
        wall, cpu, reference, counts, committed = [], [], [], [], []
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
        for index, (observations, view) in enumerate(data["timed"]):
            current.clear()
            before_wall, before_cpu = time.perf_counter(), time.thread_time()
            if profiler is not None and index > 0:
                profiler.enable()
            update = memory.integrate_frame(observations, view)
            if profiler is not None:
                profiler.disable()
            after_wall, after_cpu = time.perf_counter(), time.thread_time()
            if index == 0:
                continue  # untimed, as in frame_pipeline
            wall.append(1e3 * (after_wall - before_wall))
            cpu.append(1e3 * (after_cpu - before_cpu))
            for name in parts:
                parts[name].append(1e3 * current.get(name, 0.0))
            counts.append(len(observations))
            committed.append(update.committed)
            reference.append(1e3 * reference_workload())
        objects = memory.graph.num_nodes(Layer.OBJECT)
        memory.close()
    reference_ms = float(np.percentile(reference, 50))
    result: dict[str, Any] = {
        "package": str(Path(memory_nodes.__file__).parent),
        "objects_in_memory": objects,
        "build_s": round(build_s, 2),
        "frames": len(wall),
        "observations_per_frame": round(float(np.mean(counts)), 1),
        "reference_p50_ms": round(reference_ms, 3),
        "integrate_frame": _percentiles(wall, reference_ms),
        "integrate_frame_cpu": _percentiles(cpu, reference_ms),
        "parts_p50_ms": {k: round(float(np.percentile(v, 50)), 3) for k, v in parts.items()},
        "parts_p95_ms": {k: round(float(np.percentile(v, 95)), 3) for k, v in parts.items()},
        "per_frame": {
            "wall_ms": [round(v, 2) for v in wall],
            "cpu_ms": [round(v, 2) for v in cpu],
            **{f"{k}_ms": [round(x, 2) for x in v] for k, v in parts.items()},
            "observations": counts,
            "changes_committed": committed,
        },
    }
    if profiler is not None:
        import pstats

        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        result["profile"] = text.getvalue().splitlines()
    return result


def _time_parts(memory: Any, current: dict[str, float]) -> None:
    """Wrap fusion, change detection and the store's sync so each call's time is recorded."""
    for name, owner, method in (
        ("fusion", memory.fusion, "integrate_frame"),
        ("change_detection", memory.detector, "process_frame"),
        ("store_sync", memory.store, "sync"),
    ):
        inner = getattr(owner, method)

        def timed(*args: Any, _inner: Any = inner, _name: str = name, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                current[_name] = current.get(_name, 0.0) + time.perf_counter() - started

        setattr(owner, method, timed)


def _percentiles(values: list[float], reference_ms: float) -> dict[str, float]:
    p50, p95 = float(np.percentile(values, 50)), float(np.percentile(values, 95))
    return {
        "p50_ms": round(p50, 3),
        "p95_ms": round(p95, 3),
        "max_ms": round(float(np.max(values)), 3),
        "p50_vs_reference": round(p50 / reference_ms, 3),
        "p95_vs_reference": round(p95 / reference_ms, 3),
    }


def _run_child(frames_path: Path, package_root: Path, profile: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--replay", str(frames_path)]
    command += ["--profile"] if profile else []
    environment = {**os.environ, "PYTHONPATH": str(package_root)}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise SystemExit(f"replay with {package_root} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 frames")
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--memory-objects", type=int, default=1000)
    parser.add_argument("--baseline", default="", help="git revision whose code is also timed")
    parser.add_argument("--profile", action="store_true", help="cProfile of the working tree")
    parser.add_argument(
        "--frames-file",
        type=Path,
        help="keep the prepared frames in this file and reuse it when it exists",
    )
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay is not None:
        print(json.dumps(replay(args.replay, args.profile)))
        return
    num_frames = min(args.frames, 8) if args.quick else args.frames
    if not 1 <= num_frames <= 200:
        parser.error("--frames must be within 1..200")
    if not 1 <= args.memory_objects <= 100_000:
        parser.error("--memory-objects must be within 1..100000")
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        parser.error(f"resolution {args.resolution!r} is not WIDTHxHEIGHT")
    with tempfile.TemporaryDirectory(prefix="long_term_frame_") as folder:
        frames_path = args.frames_file or Path(folder) / "frames.pickle"
        if not frames_path.is_file():
            prepare(width, height, num_frames, args.scene, args.memory_objects, frames_path)
        runs = {"working_tree": _run_child(frames_path, ROOT, False)}
        if args.baseline:
            sys.path.insert(0, str(ROOT / "bench"))
            from memory_scale import export_revision

            old_root = Path(export_revision(args.baseline, Path(folder) / "baseline"))
            runs[f"baseline {args.baseline}"] = _run_child(frames_path, old_root, False)
        if args.profile:  # a replay of its own: the profiler slows what it watches
            profiled = _run_child(frames_path, ROOT, True)
            runs["working_tree"]["profile"] = profiled["profile"]
    print(
        json.dumps(
            {
                "benchmark": "long_term_frame",
                "resolution": f"{width}x{height}",
                "scene": args.scene,
                "reference": "np.sort(np.sin(200,000 float64)), timed after every frame",
                "target_p95_ms": TARGET_P95_MS,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
