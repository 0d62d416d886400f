"""A memory server under a steady stream for a long time: memory, database and latency trend.

The server runs in its own process on the local-only DDS profile (in a loopback-only network
namespace where permitted), keeping ``--history-rows`` changes. Another process publishes
frames of ``--objects`` objects with 1 cm of jitter at ``--rate`` Hz, and every
``--move-every`` seconds the next object is seen 0.5 m away while the previous one is back
at its place (real changes for the log).
This process queries (type queries, about 20 a second) and samples, every ``--sample``
seconds: the server's RSS, the database size (file + WAL), the ``changes`` row count, and the
query p50/p99 of that period. The summary compares the last sample with the first (after a
warm-up of one sample).

Usage: ``python bench/reliability_soak.py --minutes 30 --rate 10``; ``--minutes 1`` is a
quick check. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
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
    bench_environment,
    enter_private_network,
    observation_array,
    percentiles_ms,
    ratio,
    restamp,
    scene_objects,
    stop_child,
    type_query,
    wait_for_server,
)

SERVICE = "/memory_server/query_objects"
MOVE_M = 0.5


def publish_stream(args: argparse.Namespace) -> dict[str, int]:
    """The stream (a worker process): jittered frames, one object moving now and then."""
    from memory_interfaces.msg import ObjectObservationArray

    ros = RosClient("soak_publisher")
    try:
        publisher = ros.node.create_publisher(ObjectObservationArray, "observations", 10)
        ros.spin_until(lambda: publisher.get_subscription_count() > 0, 30.0)
        items = scene_objects(args.objects, spacing=1.0)
        period = 1.0 / args.rate
        frames = moves = 0
        start = next_at = time.monotonic()
        end = start + args.minutes * 60.0
        while time.monotonic() < end:
            moving = int((time.monotonic() - start) / args.move_every)
            mover, away = moving % len(items), (moving // len(items)) % 2 == 0
            current = list(items)
            if moving:
                object_id, object_type, (x, y, z), size = items[mover]
                current[mover] = (object_id, object_type, (x + MOVE_M * away, y, z), size)
                moves = moving
            publisher.publish(
                restamp(observation_array(0.0, current, jitter_m=0.01, seed=frames), time.time())
            )
            frames += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
        return {"frames_sent": frames, "moves": moves}
    finally:
        ros.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="frames per second")
    parser.add_argument("--objects", type=int, default=50, help="objects per frame")
    parser.add_argument("--move-every", type=float, default=1.0, help="s between moves")
    parser.add_argument("--history-rows", type=int, default=5000, help="change_history_max_rows")
    parser.add_argument("--sample", type=float, default=0.0, help="s per sample (0: auto)")
    parser.add_argument("--publish-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish_worker:
        print(json.dumps(publish_stream(args)))
        return 0

    enter_private_network([__file__, *(sys.argv[1:] if argv is None else argv)])
    env = bench_environment()
    sample_s = args.sample or min(60.0, args.minutes * 60.0 / 4.0)
    with tempfile.TemporaryDirectory(prefix="memstack_soak_") as tmp:
        server = MemoryServerProcess(
            Path(tmp), env, marker_period_s=60.0, change_history_max_rows=args.history_rows
        )
        ros: RosClient | None = None
        stream: subprocess.Popen | None = None
        try:
            ros = RosClient("soak_client")
            from memory_interfaces.srv import QueryObjects

            query = ros.node.create_client(QueryObjects, SERVICE)
            wait_for_server(ros, query)
            # The model's background load adds to RSS at start: the trend starts after it.
            server.wait_for_text_model()
            stream = subprocess.Popen(
                [sys.executable, __file__, "--publish-worker", "--minutes", str(args.minutes),
                 "--rate", str(args.rate), "--objects", str(args.objects),
                 "--move-every", str(args.move_every)],
                env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
            )  # fmt: skip
            samples: list[dict[str, Any]] = []
            started = time.monotonic()
            end = started + args.minutes * 60.0
            turn = unanswered = 0
            while time.monotonic() < end - 1.0:
                period_end = min(end - 1.0, time.monotonic() + sample_s)
                latencies: list[float] = []
                while time.monotonic() < period_end:
                    turn += 1
                    answer, seconds = ros.call(query, type_query(SCENE_TYPES[turn % 10]))
                    if answer is None:
                        unanswered += 1
                    else:
                        latencies.append(seconds)
                    ros.spin_until(lambda: False, 0.05)
                samples.append(
                    {
                        "t_s": round(time.monotonic() - started, 1),
                        "rss_mb": round(server.rss_mb(), 1),
                        "database_bytes": server.database_bytes(),
                        "change_rows": server.change_rows(),
                        **percentiles_ms(latencies),
                    }
                )
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
            out, _ = stream.communicate(timeout=120.0)
            first = samples[1] if len(samples) > 2 else samples[0]  # after warm-up
            last = samples[-1]
            report = {
                "benchmark": "reliability_soak",
                "minutes": args.minutes,
                "rate_hz": args.rate,
                "objects_per_frame": args.objects,
                "change_history_max_rows": args.history_rows,
                **json.loads(out.strip().splitlines()[-1]),
                "unanswered": unanswered,
                "samples": samples,
                "start": first,
                "end": last,
                "rss_end_vs_start": ratio(last["rss_mb"], first["rss_mb"]),
                "database_end_vs_start": ratio(last["database_bytes"], first["database_bytes"]),
                "max_change_rows": max(s["change_rows"] for s in samples),
                "p50_end_vs_start": ratio(last["p50_ms"], first["p50_ms"]),
                "p99_end_vs_start": ratio(last["p99_ms"], first["p99_ms"]),
            }
            report["targets"] = {
                "rss_growth_le_5_percent": report["rss_end_vs_start"] <= 1.05,
                "change_rows_bounded": report["max_change_rows"] <= args.history_rows + 1000,
                "p99_end_within_1_5x_start": report["p99_end_vs_start"] <= 1.5,
            }
            print(json.dumps(report, indent=1))
            return 0
        except BaseException:
            print(f"[bench] server log:\n{server.log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            stop_child(stream)
            if ros is not None:
                ros.close()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
