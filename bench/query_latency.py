"""QueryObjects latency across processes with 10,000 objects in long-term memory.

The memory server runs in its own process (``memstack up``), the client in this one, both on
the local-only DDS profile with a private domain id. Memory is filled in one step: a generated
scene graph (rooms of furniture with objects on and in it) is written as the JSON export and
loaded with ``LoadMemory``. For each query kind (by type, near a point, in a receptacle) the
client measures ``--calls`` round trips in each answer form, nested ``records`` and the
``compact`` table, and reports p50/p99. The calls of all kinds and forms take turns, so machine
noise hits them alike. Two references make the numbers comparable on a noisy machine: the same
queries in-process on the same graph, and a QueryObjects round trip that matches nothing
(transport and executor cost, no work); ``vs_reference`` divides by the latter. ``conversion``
splits the cost of one answer of each form into building, serialising and deserialising the
message (in-process, no transport).

Usage: ``python bench/query_latency.py --json [--objects 10000] [--calls 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory_nodes.core.long_term import LongTermMemory, ObjectQuery  # noqa: E402
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, is_furniture  # noqa: E402
from memory_nodes.core.scene_graph import (  # noqa: E402
    EdgeType,
    Layer,
    SceneEdge,
    SceneGraph,
    SceneNode,
)
from memory_nodes.core.store import write_json  # noqa: E402
from memory_nodes.core.types import Box, Pose, Vector3  # noqa: E402

#: Every pickupable type memory knows (about 90): 10,000 objects are ~110 of each type.
OBJECT_TYPES = tuple(t for t in KNOWN_TYPES if not is_furniture(t))
FURNITURE_TYPES = ("CounterTop", "DiningTable", "Shelf", "Cabinet", "Drawer", "Fridge")
TARGET_P99_MS = 5.0
ANSWER_FORMS = ("records", "compact")


def generate_graph(num_objects: int, seed: int = 0) -> tuple[SceneGraph, dict[str, Any]]:
    """A house-sized graph: furniture on a grid, each holding objects on or in it.

    Built from parts (as the store loads a file), not through ``add_node``, which re-derives
    relations per node and would take minutes for 10,000 objects.
    """
    rng = np.random.default_rng(seed)
    num_furniture = max(1, num_objects // 50)
    furniture = []
    side = int(np.ceil(np.sqrt(num_furniture)))
    for i in range(num_furniture):
        kind = FURNITURE_TYPES[i % len(FURNITURE_TYPES)]
        centre = Vector3(2.0 * (i % side), 2.0 * (i // side), 0.45)
        box = Box(centre, Vector3(1.2, 0.6, 0.9))
        furniture.append((kind, box, f"{kind}|{i}"))
    nodes, edges = [], []
    for i, (kind, box, external_id) in enumerate(furniture):
        nodes.append(
            SceneNode(f"F{i}", Layer.FURNITURE, kind, Pose(box.center), box, 0.0, 0.0,
                      external_id=external_id, log_odds=2.0, num_observations=10)
        )  # fmt: skip
    for j in range(num_objects):
        holder = int(rng.integers(num_furniture))
        kind, box, _ = furniture[holder]
        offset = rng.uniform(-0.5, 0.5, size=2)
        centre = Vector3(box.center.x + offset[0], box.center.y + 0.5 * offset[1], 0.95)
        object_type = OBJECT_TYPES[j % len(OBJECT_TYPES)]
        nodes.append(
            SceneNode(f"O{j}", Layer.OBJECT, object_type, Pose(centre),
                      Box(centre, Vector3(0.08, 0.08, 0.08)), float(j % 1000), float(j % 1000),
                      external_id=f"{object_type}|{j}", states={"isDirty": "false"},
                      log_odds=float(rng.uniform(-1, 3)), num_observations=3)
        )  # fmt: skip
        relation = EdgeType.INSIDE if kind in ("Cabinet", "Drawer", "Fridge") else EdgeType.ON
        edges.append(SceneEdge(f"O{j}", f"F{holder}", relation, 0.0, "geometry"))
    graph = SceneGraph.from_parts(nodes, edges)
    probes = {
        "by_type": {"object_type": "Mug"},
        "near_point": {"near": (10.0, 10.0, 0.95), "radius": 1.0},
        "receptacle": {"receptacle_id": furniture[len(furniture) // 2][2]},
    }
    # The same questions asking only for the best ten (what a planner needs): the answer's
    # size, not the search, dominates the cost across processes.
    for name in list(probes):
        probes[f"{name}_top10"] = {**probes[name], "max_results": 10}
    return graph, probes


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "calls": len(samples),
    }


def _time_rotation(
    calls_by_key: dict[str, Callable[[], Any]], calls: int, warmup: int = 10
) -> dict[str, list[float]]:
    """``calls`` timed calls of each entry, taking turns, after ``warmup`` rounds."""
    samples: dict[str, list[float]] = {key: [] for key in calls_by_key}
    for round_index in range(warmup + calls):
        for key, call in calls_by_key.items():
            start = time.perf_counter()
            call()
            if round_index >= warmup:
                samples[key].append(time.perf_counter() - start)
    return samples


def _time_calls(call: Callable[[], Any], calls: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _object_query(fields: dict[str, Any]) -> ObjectQuery:
    return ObjectQuery(
        object_type=fields.get("object_type", ""),
        near=Vector3(*fields["near"]) if "near" in fields else None,
        radius=fields.get("radius", 0.0),
        receptacle=fields.get("receptacle_id", ""),
        max_results=fields.get("max_results", 0),
    )


def in_process(graph_file: Path, probes: dict[str, Any], calls: int, folder: Path) -> dict:
    memory = LongTermMemory(folder / "in_process.sqlite")
    try:
        memory.load(graph_file)
        results = {}
        for name, fields in probes.items():
            query = _object_query(fields)
            count = len(memory.query(query, now=2000.0))
            results[name] = percentiles(
                _time_calls(lambda q=query: memory.query(q, now=2000.0), calls)
            ) | {"num_records": count}
        return results
    finally:
        memory.close()


def conversion(graph_file: Path, probes: dict[str, Any], calls: int, folder: Path) -> dict:
    """Median ms per answer of each message step, for the records and the compact form."""
    from memory_interfaces.srv import QueryObjects
    from rclpy.serialization import deserialize_message, serialize_message

    from memory_nodes.nodes import conversions

    def _median_ms(call: Callable[[], Any]) -> float:
        return float(np.median(_time_calls(call, max(calls // 10, 20), warmup=2)) * 1e3)

    memory = LongTermMemory(folder / "conversion.sqlite")
    try:
        memory.load(graph_file)
        results = {}
        for name, fields in probes.items():
            records = memory.query(_object_query(fields), now=2000.0)
            cache = conversions.RecordMessageCache()
            nested, table = QueryObjects.Response(), QueryObjects.Response()
            nested.records = cache.to_msgs(records)
            table.table = conversions.records_to_table(records)
            nested_bytes, table_bytes = serialize_message(nested), serialize_message(table)
            results[name] = {
                "num_records": len(records),
                "records_build_ms": _median_ms(
                    lambda r=records: [conversions.record_to_msg(x) for x in r]
                ),
                "records_build_cached_ms": _median_ms(lambda r=records, c=cache: c.to_msgs(r)),
                "records_serialise_ms": _median_ms(lambda m=nested: serialize_message(m)),
                "records_deserialise_ms": _median_ms(
                    lambda b=nested_bytes: deserialize_message(b, QueryObjects.Response)
                ),
                "records_bytes": len(nested_bytes),
                "compact_build_ms": _median_ms(lambda r=records: conversions.records_to_table(r)),
                "compact_serialise_ms": _median_ms(lambda m=table: serialize_message(m)),
                "compact_deserialise_ms": _median_ms(
                    lambda b=table_bytes: deserialize_message(b, QueryObjects.Response)
                ),
                "compact_bytes": len(table_bytes),
            }
        return results
    finally:
        memory.close()


def across_processes(graph_file: Path, probes: dict[str, Any], calls: int, folder: Path) -> dict:
    import rclpy
    from geometry_msgs.msg import Point
    from memory_interfaces.srv import LoadMemory, QueryObjects

    params = folder / "memory_server.yaml"
    params.write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {folder / 'server.sqlite'}\n"
        "    change_detection: false\n    marker_period_s: 60.0\n"
    )
    stack = folder / "stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n    - executable: memory_server\n      parameters: memory_server.yaml\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "memory_nodes.cli", "up", "--config", str(stack)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
        start_new_session=True,
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("query_latency_client", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def _call(client, request, timeout_s: float = 30.0):
        future = client.call_async(request)
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{client.srv_name} did not answer within {timeout_s} s")
            executor.spin_once(timeout_sec=0.01)
        return future.result()

    try:
        query = node.create_client(QueryObjects, "/memory_server/query_objects")
        load = node.create_client(LoadMemory, "/memory_server/load_memory")
        deadline = time.monotonic() + 30.0
        while not (query.service_is_ready() and load.service_is_ready()):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("memory server did not come up")
            executor.spin_once(timeout_sec=0.1)
        started = time.perf_counter()
        loaded = _call(load, LoadMemory.Request(path=str(graph_file)), 120.0)
        if not loaded.success:
            raise RuntimeError(loaded.message)
        results: dict[str, Any] = {
            "load_s": time.perf_counter() - started,
            "objects": loaded.num_objects,
        }
        requests = {"reference_empty_answer": QueryObjects.Request(object_type="NoSuchType")}
        for name, fields in probes.items():
            for form in ANSWER_FORMS:
                request = QueryObjects.Request(compact=form == "compact")
                if "near" in fields:
                    request.use_near = True
                    x, y, z = fields["near"]
                    request.near = Point(x=x, y=y, z=z)
                    request.radius = fields["radius"]
                request.object_type = fields.get("object_type", "")
                request.receptacle_id = fields.get("receptacle_id", "")
                request.max_results = fields.get("max_results", 0)
                requests[f"{name}/{form}"] = request
        counts = {}
        for key, request in requests.items():
            answer = _call(query, request)
            if not answer.success:
                raise RuntimeError(f"{key}: {answer.message}")
            counts[key] = len(answer.table.object_ids if request.compact else answer.records)
        samples = _time_rotation(
            {k: (lambda r=r: _call(query, r)) for k, r in requests.items()}, calls
        )
        reference = percentiles(samples.pop("reference_empty_answer"))
        results["reference_empty_answer"] = reference
        for key, timings in samples.items():
            name, form = key.split("/")
            row = percentiles(timings)
            row["vs_reference_p50"] = row["p50_ms"] / reference["p50_ms"]
            row["vs_reference_p99"] = row["p99_ms"] / reference["p99_ms"]
            results.setdefault(name, {"num_records": counts[key]})[form] = row
            if counts[key] != results[name]["num_records"]:
                raise RuntimeError(f"{name}: the answer forms hold different numbers of records")
        return results
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--domain-id", type=int, default=None)
    parser.add_argument("--skip-ros", action="store_true", help="only the in-process numbers")
    args = parser.parse_args(argv)

    from memory_nodes.ros_env import apply_local_dds_environment, pick_domain_id

    # Local-only DDS, and a domain of our own so another run on this machine is not seen.
    apply_local_dds_environment(
        domain_id=args.domain_id if args.domain_id is not None else pick_domain_id()
    )

    graph, probes = generate_graph(args.objects)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        graph_file = folder / "generated.json"
        write_json(graph, graph_file)
        report: dict[str, Any] = {
            "objects": args.objects,
            "calls": args.calls,
            "target_p99_ms": TARGET_P99_MS,
            "in_process": in_process(graph_file, probes, args.calls, folder),
            "conversion": conversion(graph_file, probes, args.calls, folder),
        }
        if not args.skip_ros:
            across = across_processes(graph_file, probes, args.calls, folder)
            report["across_processes"] = across
            report["p99_target_met"] = {
                name: {form: across[name][form]["p99_ms"] < TARGET_P99_MS for form in ANSWER_FORMS}
                for name in probes
            }
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        for name, row in report["in_process"].items():
            print(f"in_process  {name:24}          p50 {row['p50_ms']:7.3f} ms  "
                  f"p99 {row['p99_ms']:7.3f} ms  ({row['num_records']} records)")  # fmt: skip
        for name, row in report.get("across_processes", {}).items():
            if not isinstance(row, dict):
                continue
            forms = [("", row)] if "p50_ms" in row else [(f, row[f]) for f in ANSWER_FORMS]
            for form, cell in forms:
                print(f"across      {name:24} {form:8} p50 {cell['p50_ms']:7.3f} ms  "
                          f"p99 {cell['p99_ms']:7.3f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
