"""Many QueryObjects clients at once against a memory server holding 1,000 objects.

The server runs in its own process on the local-only DDS profile (in a loopback-only network
namespace where permitted). Memory is filled with a generated house (bench/query_latency.py's
generator) through ``~/load_memory``. Then ``--clients`` clients, spread over
``--processes`` client processes, each keep one query in flight for ``--seconds``: a request
not answered within ``--timeout`` seconds counts as unanswered. The idle reference is one
client alone, measured in the same run just before the load.

``--service-queue-depth 10`` runs the server with ROS's default service queue (the setting
that dropped requests under twenty clients) for a before/after comparison.

Usage: ``python bench/reliability_concurrency.py [--clients 20] [--seconds 60]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reliability_nodes import (
    DirectServiceClients,
    MemoryServerProcess,
    RosClient,
    add_server_param_argument,
    bench_environment,
    enter_private_network,
    percentiles_ms,
    ratio,
    server_parameters,
    type_query,
    wait_for_server,
)

SERVICE = "/memory_server/query_objects"


def _query_types() -> list[str]:
    from query_latency import OBJECT_TYPES

    return list(OBJECT_TYPES)


def run_clients(
    name: str,
    clients: int,
    seconds: float,
    timeout_s: float,
    start_at: float,
    depth: int,
    rate_hz: float,
    direct: bool = True,
    late_grace_s: float = 10.0,
) -> dict[str, Any]:
    """``clients`` clients in this process, each with one query in flight until the deadline
    (sent as soon as the previous one is answered, or at ``rate_hz`` when that is > 0).

    Latencies are measured from sending to the answer's arrival; a request left without an
    answer ``timeout_s`` after it was sent is counted unanswered and the client sends its next
    one, but the request stays pending: an answer that arrives within ``late_grace_s`` after
    the run counts as late (a slow answer), one that never arrives as never answered (lost).
    ``direct``: answers are taken by :class:`DirectServiceClients`, else by rclpy's executor.
    """
    from memory_interfaces.srv import QueryObjects

    from memory_nodes.nodes.service_qos import service_qos  # the stack's own service QoS

    ros = RosClient(name)
    types = _query_types()
    rng = random.Random(name)
    try:
        qos = service_qos(depth)
        group = DirectServiceClients.create(ros, QueryObjects, SERVICE, clients, qos)
        ready = ros.spin_until(group.service_is_ready, 60.0)
        if direct:
            spin_once, call = group.spin_once, group.call_async
        else:
            spin_once = ros.executor.spin_once

            def call(index: int, request: Any) -> Any:
                return group.handles[index].call_async(request)

        if not ready:
            return {"error": "service not ready", "sent": 0, "answered": 0, "unanswered": 0}
        while time.time() < start_at:
            ros.executor.spin_once(timeout_sec=0.01)
        cpu_start = time.process_time()
        deadline = time.monotonic() + seconds
        in_flight: list[tuple[Any, float] | None] = [None] * clients
        period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        # Paced clients start spread over one period, as independent robots would.
        next_send = [time.perf_counter() + period * rng.random() for _ in range(clients)]
        latencies: list[float] = []
        # Requests past the timeout stay pending: an answer that comes later is late, not lost.
        overdue: list[tuple[Any, float]] = []
        late: list[float] = []
        sent = unanswered = failed = 0

        def _send(index: int) -> None:
            nonlocal sent
            request = type_query(rng.choice(types))
            started = time.perf_counter()
            in_flight[index] = (call(index, request), started)
            next_send[index] = max(next_send[index] + period, started)
            sent += 1

        def _collect_late(now: float) -> None:
            for entry in overdue[:]:
                if entry[0].done():
                    late.append(now - entry[1])
                    overdue.remove(entry)

        while True:
            now_mono = time.monotonic()
            spin_once(timeout_sec=0.002)
            now = time.perf_counter()
            for index, entry in enumerate(in_flight):
                if entry is None:
                    pass
                elif entry[0].done():
                    future, started = entry
                    latencies.append(now - started)
                    if not future.result().success:
                        failed += 1
                    in_flight[index] = None
                elif now - entry[1] > timeout_s:
                    overdue.append(entry)
                    unanswered += 1
                    in_flight[index] = None
                if in_flight[index] is None and now_mono < deadline and now >= next_send[index]:
                    _send(index)
            _collect_late(now)
            if now_mono >= deadline and all(e is None for e in in_flight):
                break
        grace_end = time.monotonic() + late_grace_s
        while overdue and time.monotonic() < grace_end:
            spin_once(timeout_sec=0.01)
            _collect_late(time.perf_counter())
        return {
            "sent": sent,
            "cpu_s": time.process_time() - cpu_start,
            "answered": len(latencies),
            "unanswered": unanswered,
            "answered_late": len(late),
            "never_answered": len(overdue),
            "late_ms": sorted(round(s * 1000.0, 1) for s in late),
            "failed": failed,
            "latencies_s": latencies,
        }
    finally:
        ros.close()


def idle_reference(calls: int, direct: bool, timeout_s: float = 5.0) -> dict[str, Any]:
    """One client alone, one query at a time: the same query mix without load, taken by the
    same kind of client as the load (``direct``: :class:`DirectServiceClients`)."""
    from memory_interfaces.srv import QueryObjects

    from memory_nodes.nodes.service_qos import service_qos

    ros = RosClient("concurrency_reference")
    types = _query_types()
    rng = random.Random(0)
    try:
        client = ros.node.create_client(QueryObjects, SERVICE, qos_profile=service_qos())
        wait_for_server(ros, client)
        call = ros.call_direct if direct else ros.call
        latencies, unanswered = [], 0
        for _ in range(calls):
            response, seconds = call(client, type_query(rng.choice(types)), timeout_s)
            if response is None:
                unanswered += 1
            else:
                latencies.append(seconds)
        return {"calls": calls, "unanswered": unanswered, **percentiles_ms(latencies)}
    finally:
        ros.close()


def fill_memory(server_folder: Path, objects: int) -> int:
    from memory_interfaces.srv import LoadMemory, QueryObjects
    from query_latency import generate_graph

    from memory_nodes.core.store import write_json

    graph, _ = generate_graph(objects)
    path = server_folder / "house.json"
    write_json(graph, path)
    ros = RosClient("concurrency_loader")
    try:
        wait_for_server(ros, ros.node.create_client(QueryObjects, SERVICE))
        load = ros.node.create_client(LoadMemory, "/memory_server/load_memory")
        wait_for_server(ros, load)
        # The answer's path may match a moment after the request's: give discovery a breath.
        ros.spin_until(lambda: False, 1.0)
        answer, _ = ros.call(load, LoadMemory.Request(path=str(path)), timeout_s=120.0)
        if answer is None or not answer.success:
            raise RuntimeError(f"load failed: {answer.message if answer else 'no answer'}")
        return int(answer.num_objects)
    finally:
        ros.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=5.0, help="s before unanswered")
    parser.add_argument("--reference-calls", type=int, default=300)
    parser.add_argument("--service-queue-depth", type=int, default=1000)
    parser.add_argument("--client-queue-depth", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="queries/s per client (0: closed loop)"
    )
    parser.add_argument(
        "--server-timing", action="store_true", help="the server's own count and callback times"
    )
    add_server_param_argument(parser)
    parser.add_argument(
        "--executor-clients",
        action="store_true",
        help="clients take answers through rclpy's executor (default: from one wait set, so "
        "the clients' own Python overhead does not dominate the latency)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        out = run_clients(
            args.worker,
            args.clients,
            args.seconds,
            args.timeout,
            args.start_at,
            args.client_queue_depth,
            args.rate,
            direct=not args.executor_clients,
        )
        print(json.dumps(out))
        return 0

    enter_private_network([__file__, *(sys.argv[1:] if argv is None else argv)])
    env = bench_environment()
    with tempfile.TemporaryDirectory(prefix="memstack_concurrency_") as tmp:
        folder = Path(tmp)
        timing_file = folder / "server_timing.json"
        extra = {"timing_report_path": str(timing_file)} if args.server_timing else {}
        extra.update(server_parameters(args))
        server = MemoryServerProcess(
            folder,
            env,
            marker_period_s=60.0,
            service_queue_depth=args.service_queue_depth,
            **extra,
        )
        workers: list[subprocess.Popen] = []
        try:
            objects = fill_memory(folder, args.objects)
            text_model_wait_s = server.wait_for_text_model()
            reference = idle_reference(args.reference_calls, direct=not args.executor_clients)
            processes = max(1, min(args.processes, args.clients))
            shares = [
                args.clients // processes + (i < args.clients % processes) for i in range(processes)
            ]
            start_at = time.time() + 10.0  # time for every client to discover the server
            for index, share in enumerate(shares):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--worker", f"concurrency_client_{index}",
                         "--clients", str(share), "--seconds", str(args.seconds),
                         "--timeout", str(args.timeout), "--start-at", str(start_at),
                         "--client-queue-depth", str(args.client_queue_depth),
                         "--rate", str(args.rate),
                         *(["--executor-clients"] if args.executor_clients else [])],
                        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
                    )
                )  # fmt: skip
            while time.time() < start_at:
                time.sleep(0.01)
            server_cpu_start = server.cpu_s()
            results = []
            for worker in workers:
                out, _ = worker.communicate(timeout=args.seconds + args.timeout + 120.0)
                results.append(json.loads(out.strip().splitlines()[-1]))
            server_cpu_s = server.cpu_s() - server_cpu_start
            latencies = [s for r in results for s in r.get("latencies_s", [])]
            load = percentiles_ms(latencies)
            sent = sum(r["sent"] for r in results)
            unanswered = sum(r["unanswered"] for r in results)
            report = {
                "benchmark": "reliability_concurrency",
                "objects": objects,
                "waited_for_text_model_s": text_model_wait_s,
                "clients": args.clients,
                "client_processes": processes,
                "seconds": args.seconds,
                "service_queue_depth": args.service_queue_depth,
                "client_queue_depth": args.client_queue_depth,
                "rate_per_client_hz": args.rate or "closed loop",
                "sent": sent,
                "answered": sum(r["answered"] for r in results),
                "unanswered": unanswered,
                "unanswered_fraction": round(unanswered / sent, 5) if sent else None,
                "answered_late": sum(r.get("answered_late", 0) for r in results),
                "never_answered": sum(r.get("never_answered", 0) for r in results),
                "late_ms": sorted(x for r in results for x in r.get("late_ms", [])),
                "failed_answers": sum(r.get("failed", 0) for r in results),
                "throughput_per_s": round(len(latencies) / args.seconds, 1),
                "clients_take_answers": "executor" if args.executor_clients else "wait set",
                "server_parameters": server_parameters(args),
                # CPU per answer, less disturbed by other jobs than latency.
                "server_cpu_ms_per_answer": round(1e3 * server_cpu_s / max(len(latencies), 1), 3),
                "client_cpu_ms_per_answer": round(
                    1e3 * sum(r.get("cpu_s", 0.0) for r in results) / max(len(latencies), 1), 3
                ),
                "load": load,
                "idle_reference": reference,
                "p50_vs_idle": ratio(load["p50_ms"], reference["p50_ms"]),
                "p99_vs_idle": ratio(load["p99_ms"], reference["p99_ms"]),
                "target": "0 unanswered, p99 <= 50 ms",
                "target_met": unanswered == 0 and load["p99_ms"] <= 50.0,
            }
            if args.server_timing:
                server.stop()  # the server writes its timing report as it stops
                rows = json.loads(timing_file.read_text())["queries"]
                # Every request the server answered (reference, load and the fill's count).
                report["server_answered"] = len(rows)
                report["server_callback"] = percentiles_ms([row[4] for row in rows])
                report["server_gate_wait"] = percentiles_ms([row[1] for row in rows])
            print(json.dumps(report, indent=1))
            return 0
        except BaseException:
            print(f"[bench] server log:\n{server.log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(timeout=5.0)
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
