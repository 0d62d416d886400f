"""Record short-term memory access traces from planner runs in the simulator.

Runs the two-session task evaluation (``memory_nodes.evaluation.tasks.run_evaluation``, mode
``memory``: short-term cache + long-term scene graph, a seeded household change before every
session-2 task) on each KARMA task file, with a :class:`TraceRecorder` around every memory, and
writes one trace per task file, ``stm_recorded_<file stem>.jsonl``, in the format of
bench/README_stm.md. ``bench/stm_policies.py`` replays them with the synthetic ones.

Each memory (one per scene and session) is one *segment* of the trace, opened by a ``reset``
event: the short-term cache starts empty there, long-term memory keeps what it holds. Segments
are ordered by scene, then session; every scene's clock is shifted by ``SCENE_CLOCK_OFFSET``
so that the whole trace stays in time order.

    MUJOCO_GL=egl python bench/record_stm_traces.py --out bench/data/             # all tasks
    MUJOCO_GL=egl python bench/record_stm_traces.py --out /tmp/traces/ --limit 3  # a quick look

The evaluation runs the persistent-home protocol (``run_evaluation``'s default): a scene's
world is never reset between its tasks or sessions. To record while the planner is being
changed, record from a frozen checkout (see bench/README_stm.md).

Not a test: pytest never runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stm_policies import write_trace

from memory_nodes.evaluation.tasks import run_evaluation
from memory_nodes.evaluation.trace_recorder import TraceRecorder, TruthVersions
from memory_nodes.planning.memory_interface import TaskMemory

TASK_DIR = Path("/work/shared/benchmarks/karma_alfred_l")
#: Seconds between the clocks of two scenes in one trace (a session spans 100,000 s at most).
SCENE_CLOCK_OFFSET = 1_000_000.0


def record(
    task_file: Path, *, limit: int | None, seed: int, width: int, height: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the evaluation on one task file; returns the trace header fields and its events."""
    recorders: list[tuple[str, int, TraceRecorder]] = []
    truths: dict[str, TruthVersions] = {}

    def wrap(memory: TaskMemory, sim: Any, *, mode: str, scene: str, session: int) -> TaskMemory:
        # One truth per scene across sessions, so versions keep counting over the restart.
        truth = truths.setdefault(scene, TruthVersions(sim))
        recorder = TraceRecorder(memory, truth)
        recorders.append((scene, session, recorder))
        return recorder

    started = time.perf_counter()
    report = run_evaluation(
        [task_file], ("memory",), seed, limit=limit, width=width, height=height,
        wrap_memory=wrap, progress=False,
    )  # fmt: skip
    scenes = list(dict.fromkeys(scene for scene, _session, _rec in recorders))
    events: list[dict[str, Any]] = []
    for scene_index, scene in enumerate(scenes):
        offset = scene_index * SCENE_CLOCK_OFFSET
        segments = sorted((s, r) for sc, s, r in recorders if sc == scene)
        for session, recorder in segments:
            first = recorder.events[0]["t"] if recorder.events else 0.0
            events.append({"t": first + offset, "op": "reset", "scene": scene, "session": session})
            for event in recorder.events:
                events.append({**event, "t": round(event["t"] + offset, 3)})
    meta = {
        "source": "planner",
        "task_file": task_file.name,
        "mode": "memory",
        "seed": seed,
        "limit": limit,
        "image": [width, height],
        "scenes": scenes,
        "num_events": len(events),
        "success_rate": report["modes"]["memory"]["success_rate"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    return meta, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    parser.add_argument("--tasks", nargs="*", type=Path, default=None, help="task files")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks of each file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    task_files = args.tasks or sorted(TASK_DIR.glob("*.json"))
    for task_file in task_files:
        meta, events = record(
            task_file, limit=args.limit, seed=args.seed, width=args.width, height=args.height
        )
        stem = task_file.stem.removesuffix("_tasks")
        path = args.out / f"stm_recorded_{stem}.jsonl.gz"
        write_trace(path, events, meta)
        summary = {k: meta[k] for k in ("task_file", "num_events", "success_rate", "seconds")}
        print(json.dumps({**summary, "path": str(path), "bytes": path.stat().st_size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
