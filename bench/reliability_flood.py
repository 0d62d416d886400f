"""Floods against a memory server: huge frames and a 10 Hz stream of large frames.

The server runs in its own process on the local-only DDS profile (in a loopback-only network
namespace where permitted), with its default ``max_observations_per_frame`` (1,000). The run:

1. a scene of ``--scene`` objects (ids ``Type|n``) is confirmed; one client measures the idle
   query latency (type queries, one at a time) as the reference;
2. a frame of 10,000 observations of one type: the time until the server logs its refusal,
   the latency of queries sent while it arrives, and whether memory is unchanged;
3. frames of 1,000 and 2,000 new objects of one type (each sent twice, as a new object needs
   two frames): the 2,000 are refused, the 1,000 are fused (time until the confirmation's
   update is published), with query latency meanwhile;
4. a 10 Hz stream of 300-object frames (1 cm jitter) for ``--seconds`` from another process
   while the client queries continuously: p50/p99 against the idle reference.

Usage: ``python bench/reliability_flood.py [--seconds 20]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reliability_nodes import (
    SCENE_TYPES,
    MemoryServerProcess,
    RosClient,
    add_server_param_argument,
    bench_environment,
    enter_private_network,
    observation_array,
    percentiles_ms,
    publish_frames_paced,
    ratio,
    restamp,
    scene_objects,
    server_parameters,
    stop_child,
    type_query,
    wait_for_server,
)

SERVICE = "/memory_server/query_objects"
MAX_OBSERVATIONS_PER_FRAME = 1000  # the server's default
_LOG_STAMP = re.compile(r"\[(\d+\.\d+)\] \[memory_server\]: (.*)")


def publish_stream(objects: int, rate_hz: float, seconds: float, start_at: float) -> dict:
    """Publish frames of ``objects`` jittered objects at ``rate_hz`` (a worker process)."""
    from memory_interfaces.msg import ObjectObservationArray

    ros = RosClient("flood_stream_publisher")
    try:
        publisher = ros.node.create_publisher(ObjectObservationArray, "observations", 10)
        ros.spin_until(lambda: publisher.get_subscription_count() > 0, 30.0)
        items = scene_objects(objects)
        # A few jittered variants built up front: building 300 observations costs more than
        # publishing them.
        frames = [observation_array(0.0, items, jitter_m=0.01, seed=s) for s in range(10)]
        return {"frames_sent": publish_frames_paced(publisher, frames, rate_hz, seconds, start_at)}
    finally:
        ros.close()


class FloodClient:
    """The querying client: type queries with latencies, frames published from here too."""

    def __init__(self) -> None:
        from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
        from memory_interfaces.srv import QueryObjects

        self.ros = RosClient("flood_client")
        node = self.ros.node
        self.query = node.create_client(QueryObjects, SERVICE)
        self.publisher = node.create_publisher(ObjectObservationArray, "observations", 10)
        self.updates: list[float] = []
        node.create_subscription(
            SceneGraphUpdate, "scene_graph/updates", lambda _: self.updates.append(time.time()), 10
        )
        wait_for_server(self.ros, self.query)
        self.ros.spin_until(lambda: self.publisher.get_subscription_count() > 0, 30.0)
        self._turn = 0

    def ask(self, timeout_s: float = 5.0) -> tuple[Any | None, float]:
        self._turn += 1
        # Answers taken from a wait set: the client's own executor overhead is not measured.
        return self.ros.call_direct(
            self.query, type_query(SCENE_TYPES[self._turn % len(SCENE_TYPES)]), timeout_s
        )

    def count(self) -> int:
        from memory_interfaces.srv import QueryObjects

        answer, _ = self.ros.call(self.query, QueryObjects.Request(), 10.0)
        return -1 if answer is None else len(answer.records)

    def query_for(self, seconds: float) -> dict[str, Any]:
        latencies, unanswered = [], 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            answer, elapsed = self.ask()
            if answer is None:
                unanswered += 1
            else:
                latencies.append(elapsed)
        return {"unanswered": unanswered, **percentiles_ms(latencies)}

    def close(self) -> None:
        self.ros.close()


def _log_time(server: MemoryServerProcess, needle: str, after: float, wait_s: float) -> float:
    """Wall time of the first server log line containing ``needle`` stamped after ``after``."""
    end = time.monotonic() + wait_s
    while True:
        for line in server.log_text().splitlines():
            match = _LOG_STAMP.search(line)
            if match and needle in match.group(2) and float(match.group(1)) >= after:
                return float(match.group(1))
        if time.monotonic() > end:
            return float("nan")
        time.sleep(0.05)


def huge_frame(client: FloodClient, server: MemoryServerProcess, count: int) -> dict[str, Any]:
    """One frame of ``count`` new objects of one type, far from the scene, sent twice."""
    items = [
        ("", "Apple", (100.0 + 0.3 * (i % 100), 100.0 + 0.3 * (i // 100), 0.5), (0.08,) * 3)
        for i in range(count)
    ]
    before = client.count()
    msg = observation_array(0.0, items)
    updates_before = len(client.updates)
    # Timed from when the first frame has been handed to DDS (building and serialising it
    # here is the publisher's cost, not the server's).
    handed_over = time.time()  # a refusal can be logged before publish() returns
    client.publisher.publish(restamp(msg, time.time()))
    started = time.time()
    if count <= MAX_OBSERVATIONS_PER_FRAME:  # a new object needs a second frame
        client.publisher.publish(restamp(msg, time.time()))
    queries = client.query_for(2.0)
    result: dict[str, Any] = {"observations": count, "queries_meanwhile": queries}
    refused_at = _log_time(server, f"frame with {count} observations refused", handed_over, 3.0)
    if refused_at == refused_at:  # not NaN: refused
        result["outcome"] = "refused"
        result["seconds_to_refuse"] = round(max(0.0, refused_at - started), 3)
    else:
        client.ros.spin_until(lambda: len(client.updates) > updates_before, 120.0)
        done = client.updates[updates_before] if len(client.updates) > updates_before else None
        result["outcome"] = "processed" if done else "no update within 120 s"
        result["seconds_to_fuse_both_frames"] = round(done - started, 3) if done else None
    answer, elapsed = client.ask()
    result["answered_right_after"] = answer is not None
    result["answer_right_after_ms"] = round(elapsed * 1000.0, 3)
    result["objects_before"], result["objects_after"] = before, client.count()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the 10 Hz stream")
    parser.add_argument("--scene", type=int, default=300, help="objects of the stream's scene")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    add_server_param_argument(parser)
    parser.add_argument("--stream-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stream_worker:
        print(json.dumps(publish_stream(args.scene, args.rate, args.seconds, args.start_at)))
        return 0

    enter_private_network([__file__, *(sys.argv[1:] if argv is None else argv)])
    env = bench_environment()
    with tempfile.TemporaryDirectory(prefix="memstack_flood_") as tmp:
        server = MemoryServerProcess(
            Path(tmp), env, marker_period_s=60.0, **server_parameters(args)
        )
        client: FloodClient | None = None
        stream: subprocess.Popen | None = None
        try:
            client = FloodClient()
            items = scene_objects(args.scene)
            for _ in range(3):
                client.publisher.publish(observation_array(time.time(), items, jitter_m=0.01))
                client.ros.spin_until(lambda: False, 0.5)
            client.ros.spin_until(lambda: client.count() >= args.scene, 30.0)
            text_model_wait_s = server.wait_for_text_model()
            report: dict[str, Any] = {
                "benchmark": "reliability_flood",
                "scene_objects": client.count(),
                "waited_for_text_model_s": text_model_wait_s,
                "idle_reference": client.query_for(args.idle_seconds),
                "huge_frames": [huge_frame(client, server, n) for n in (10_000, 2_000, 1_000)],
            }
            start_at = time.time() + 3.0
            stream = subprocess.Popen(
                [sys.executable, __file__, "--stream-worker", "--scene", str(args.scene),
                 "--rate", str(args.rate), "--seconds", str(args.seconds),
                 "--start-at", str(start_at)],
                env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
            )  # fmt: skip
            while time.time() < start_at + 1.0:  # the stream is running
                client.ros.spin_until(lambda: False, 0.05)
            during = client.query_for(args.seconds - 1.0)
            out, _ = stream.communicate(timeout=args.seconds + 60.0)
            idle = report["idle_reference"]
            report["stream"] = {
                "objects_per_frame": args.scene,
                "rate_hz": args.rate,
                "seconds": args.seconds,
                **json.loads(out.strip().splitlines()[-1]),
                "queries": during,
                "p50_vs_idle": ratio(during["p50_ms"], idle["p50_ms"]),
                "p99_vs_idle": ratio(during["p99_ms"], idle["p99_ms"]),
            }
            report["server_log_lines"] = len(server.log_text().splitlines())
            report["targets"] = {
                "10000_refused_or_processed_under_1_s": (
                    report["huge_frames"][0].get("seconds_to_refuse", 99.0) < 1.0
                ),
                "stream_query_p99_le_20_ms": during["p99_ms"] <= 20.0,
            }
            print(json.dumps(report, indent=1))
            return 0
        except BaseException:
            print(f"[bench] server log:\n{server.log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            stop_child(stream)
            if client is not None:
                client.close()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
