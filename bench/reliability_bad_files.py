"""Bad files against every loader, and against a running memory server's ``~/load_memory``.

The corpus is ``tests/reliability/bad_file_corpus.py`` (about 90 files: scene graph JSON,
SQLite stores, GraphML, octree maps, type knowledge, the store's own database at start).

* In-process, every loader: refused with InvalidInputError/SchemaVersionError in one line
  naming the file, within 1 s; memory (JSON export) and the live SQLite file unchanged.
* Over ROS: a ``memory_server`` process holding 25 objects is asked to load each bad memory
  file; the answer must come within 1 s, with success False and a message, and the server
  must still hold its 25 objects (``~/query_objects``) in an unchanged file.

Prints JSON: cases, answered within 1 s, wiped, unanswered, per loader and for the service.

    .venv/bin/python bench/reliability_bad_files.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from memory_nodes.core.errors import InvalidInputError, SchemaVersionError  # noqa: E402
from memory_nodes.core.long_term import LongTermMemory  # noqa: E402
from memory_nodes.core.octree import SparseOctree  # noqa: E402
from memory_nodes.core.policies import TypeKnowledge, read_type_knowledge  # noqa: E402
from memory_nodes.core.store import graph_to_json  # noqa: E402
from tests.reliability.bad_file_corpus import (  # noqa: E402
    NOW,
    BadFile,
    all_cases,
    kitchen_observations,
    memory_cases,
    running_as_root,
)

ANSWER_WITHIN_S = 1.0
NUM_OBJECTS = 25


@dataclass
class CaseResult:
    name: str
    loader: str
    answered: bool
    seconds: float
    refused: bool
    unchanged: bool
    message: str

    @property
    def clear(self) -> bool:
        return self.refused and bool(self.message) and "\n" not in self.message


@dataclass
class Tally:
    results: list[CaseResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        rows = self.results
        return {
            "cases": len(rows),
            "answered_within_1s": sum(r.answered and r.seconds < ANSWER_WITHIN_S for r in rows),
            "refused_with_clear_error": sum(r.clear for r in rows),
            "wiped_or_changed": sum(not r.unchanged for r in rows),
            "unanswered": sum(not r.answered for r in rows),
            "slowest_s": round(max((r.seconds for r in rows), default=0.0), 3),
            "failures": [
                f"{r.name}: {r.message[:120]}"
                for r in rows
                if not (r.answered and r.seconds < ANSWER_WITHIN_S and r.clear and r.unchanged)
            ],
            "skipped": self.skipped,
        }


def _file_bytes(path: Path) -> tuple[bytes, bytes]:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.is_file() else b""


def _timed(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    start = time.perf_counter()
    try:
        call()
    except (InvalidInputError, SchemaVersionError) as error:
        return time.perf_counter() - start, error
    except Exception as error:  # an escaped error is what this bench looks for
        return time.perf_counter() - start, RuntimeError(f"ESCAPED {type(error).__name__}: {error}")
    return time.perf_counter() - start, None


def run_in_process(folder: Path) -> dict[str, dict[str, object]]:
    """Every corpus case against its core loader; a tally per loader."""
    tallies: dict[str, Tally] = {}
    live = LongTermMemory(folder / "live" / "memory.sqlite")
    for frame in range(2):
        live.integrate_frame(kitchen_observations(NOW + frame, NUM_OBJECTS - 1))
    try:
        for case in all_cases():
            tally = tallies.setdefault(case.loader, Tally())
            if case.needs_non_root and running_as_root():
                tally.skipped.append(f"{case.name} (running as root)")
                continue
            work = folder / case.loader
            work.mkdir(exist_ok=True)
            tally.results.append(_run_case(case, work, live))
    finally:
        live.close()
    return {loader: tally.summary() for loader, tally in tallies.items()}


def _run_case(case: BadFile, work: Path, live: LongTermMemory) -> CaseResult:
    path = case.make(work)
    unchanged = True
    if case.loader == "memory":
        before, file_before = graph_to_json(live.graph), _file_bytes(live.database)
        seconds, error = _timed(lambda: live.load(path))
        unchanged = (
            graph_to_json(live.graph) == before and _file_bytes(live.database) == file_before
        )
    elif case.loader == "store":
        before = path.read_bytes()
        seconds, error = _timed(lambda: LongTermMemory(path).close())
        unchanged = path.read_bytes() == before
    elif case.loader == "octree":
        if "labels" in case.name:  # the map is fine; the node checks its label file
            return _octree_labels_case(case, path)
        seconds, error = _timed(lambda: SparseOctree.load(path))
    else:
        knowledge = TypeKnowledge()
        before = knowledge.to_dict()
        seconds, error = _timed(lambda: read_type_knowledge(path, knowledge))
        unchanged = knowledge.to_dict() == before
    refused = isinstance(error, InvalidInputError | SchemaVersionError)
    message = str(error) if error is not None else "accepted"
    return CaseResult(case.name, case.loader, True, seconds, refused, unchanged, message)


def _octree_labels_case(case: BadFile, path: Path) -> CaseResult:
    from memory_nodes.nodes.octree_node import _label_names

    document = json.loads(Path(f"{path}.labels.json").read_text())
    seconds, error = _timed(lambda: _label_names(document))
    refused = isinstance(error, InvalidInputError)
    message = str(error) if error is not None else "accepted"
    return CaseResult(case.name, case.loader, True, seconds, refused, True, message)


# ------------------------------------------------------------------ over ROS


def run_load_service(folder: Path, cases: list[BadFile] | None = None) -> dict[str, object]:
    """Every bad memory file sent to a real memory server's ``~/load_memory``."""
    import rclpy
    from memory_interfaces.msg import ObjectObservationArray
    from memory_interfaces.srv import LoadMemory, QueryObjects

    from bench.reliability_crash import ServerProcess
    from memory_nodes.nodes import conversions
    from memory_nodes.ros_env import local_dds_environment

    env = local_dds_environment()
    os.environ.update(env)  # this process speaks DDS too: the same local-only settings
    live = folder / "memory.sqlite"
    params = folder / "memory_server.yaml"
    params.write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {live}\n    change_detection: false\n    marker_period_s: 10.0\n"
    )
    bad_folder = folder / "bad"
    bad_folder.mkdir(exist_ok=True)
    tally = Tally()
    server = ServerProcess(params, env)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("reliability_bad_files_client", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin_until(condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            executor.spin_once(timeout_sec=0.01)
        return condition()

    def call(client, request, timeout_s: float):
        future = client.call_async(request)
        start = time.perf_counter()
        spin_until(future.done, timeout_s)
        seconds = time.perf_counter() - start
        if not future.done():
            client.remove_pending_request(future)
            return None, seconds
        return future.result(), seconds

    try:
        if not server.wait_ready(60.0):
            raise RuntimeError("memory_server did not start: " + " | ".join(server.log[-3:]))
        load = node.create_client(LoadMemory, "/memory_server/load_memory")
        query = node.create_client(QueryObjects, "/memory_server/query_objects")
        publisher = node.create_publisher(ObjectObservationArray, "observations", 10)
        if not spin_until(lambda: load.service_is_ready() and query.service_is_ready(), 30.0):
            raise RuntimeError("memory_server services not available")
        spin_until(lambda: publisher.get_subscription_count() > 0, 10.0)

        def count() -> int:
            response, _ = call(query, QueryObjects.Request(), 5.0)
            return -1 if response is None else len(response.records)

        stamp = time.time()
        for frame in range(2):  # two sightings confirm every object
            msg = ObjectObservationArray()
            msg.header.stamp = conversions.stamp_to_msg(stamp + 0.1 * frame)
            for observation in kitchen_observations(stamp + 0.1 * frame, NUM_OBJECTS - 1):
                msg.observations.append(conversions.observation_to_msg(observation))
            publisher.publish(msg)
            spin_until(lambda: False, 0.2)
        if not spin_until(lambda: count() == NUM_OBJECTS, 15.0):
            raise RuntimeError(f"the server holds {count()} objects, not {NUM_OBJECTS}")
        spin_until(lambda: False, 0.5)  # the last commit settles
        file_before = _file_bytes(live)
        for case in cases if cases is not None else memory_cases():
            if case.needs_non_root and running_as_root():
                tally.skipped.append(f"{case.name} (running as root)")
                continue
            path = case.make(bad_folder)
            response, seconds = call(load, LoadMemory.Request(path=str(path)), 5.0)
            answered = response is not None
            refused = answered and not response.success
            message = response.message if answered else "no answer within 5 s"
            unchanged = count() == NUM_OBJECTS and _file_bytes(live) == file_before
            tally.results.append(
                CaseResult(case.name, "load_memory", answered, seconds, refused, unchanged, message)
            )
    finally:
        server.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return {**tally.summary(), "messages": {r.name: r.message for r in tally.results}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-ros", action="store_true", help="only the in-process loaders")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bad_files_") as scratch:
        folder = Path(scratch)
        (folder / "core").mkdir()
        result: dict[str, object] = {"in_process": run_in_process(folder / "core")}
        if not args.no_ros:
            (folder / "ros").mkdir()
            service = run_load_service(folder / "ros")
            service.pop("messages")
            result["load_memory_service"] = service
    print(json.dumps(result, indent=1))
    parts = list(result["in_process"].values())  # type: ignore[union-attr]
    if "load_memory_service" in result:
        parts.append(result["load_memory_service"])
    return 0 if all(not part["failures"] for part in parts) else 1  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())
