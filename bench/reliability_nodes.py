"""What the reliability benchmarks share: a memory server in its own process, query clients,
scene frames and latency statistics.

Every process gets the local-only DDS environment explicitly (loopback-only Fast DDS profile,
LOCALHOST discovery, a per-run domain id), and where ``unshare -n`` is permitted a benchmark
re-runs itself inside a private network namespace whose only interface is loopback, so no DDS
packet can leave the machine. Every child process is started in its own session and stopped
by its process id.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from memory_nodes.ros_env import local_dds_environment, pick_domain_id  # noqa: E402

#: The types the synthetic scenes use (each object gets an id ``Type|n``).
SCENE_TYPES = (
    "Apple",
    "Mug",
    "Bowl",
    "Knife",
    "Bread",
    "Cup",
    "Plate",
    "Spoon",
    "Book",
    "Pen",
)


def enter_private_network(argv: Sequence[str]) -> None:
    """Re-run this script in a loopback-only network namespace when the machine allows it.

    Returns only when already inside one or when ``unshare -n`` is not permitted (then the
    loopback-only DDS profile keeps traffic on this machine).
    """
    if os.environ.get("MEMSTACK_NETNS") == "1" or shutil.which("unshare") is None:
        return
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        print("[bench] no private network namespace; loopback-only DDS profile", file=sys.stderr)
        return
    env = dict(os.environ, MEMSTACK_NETNS="1")
    command = [sys.executable, *argv]
    code = subprocess.call(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command], env=env
    )
    sys.exit(code)


def bench_environment() -> dict[str, str]:
    """The local-only DDS settings, set in this process (before ``rclpy.init``) and returned
    for child processes."""
    env = local_dds_environment(domain_id=int(os.environ.get("ROS_DOMAIN_ID") or pick_domain_id()))
    os.environ.update(env)
    return env


class MemoryServerProcess:
    """``memory_server`` in its own process on a database in ``folder``."""

    def __init__(self, folder: Path, env: dict[str, str], **parameters: Any) -> None:
        self.database = folder / "memory.sqlite"
        self.log_path = folder / "memory_server.log"
        # As the shipped config/memory_server.yaml runs it: the text model loads at start.
        values = {
            "database_path": str(self.database),
            "change_detection": False,
            "warm_up_text_model": True,
            **parameters,
        }
        args = [sys.executable, "-m", "memory_nodes.nodes.memory_server", "--ros-args"]
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            args,
            cwd=str(ROOT),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident set size of the server process in MB."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return math.nan

    def database_bytes(self) -> int:
        """The database file with its write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            path = self.database.with_name(self.database.name + suffix)
            if path.exists():
                total += path.stat().st_size
        return total

    def change_rows(self) -> int:
        """Rows of the change log, read through a read-only connection."""
        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5.0)
        try:
            return int(db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])
        finally:
            db.close()

    def wait_for_text_model(self, timeout_s: float = 300.0) -> float:
        """Wait until the server has logged the end of its free-text model's background load
        (loaded, missing or failed); returns the seconds waited.

        Benchmarks measure after it: the load takes the interpreter for seconds at start.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if "free-text model" in self.log_text() or self.process.poll() is not None:
                break
            time.sleep(0.2)
        return round(time.monotonic() - start, 1)

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGINT, then SIGKILL of its process group if it has not exited in ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5.0)
        self._log.close()
        return self.process.returncode


class RosClient:
    """A node of this process in its own context, with a deadline on every wait."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._direct: dict[int, DirectServiceClients] = {}

    def spin_until(self, condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.01)
        return bool(condition())

    def call(self, client, request, timeout_s: float = 5.0) -> tuple[Any | None, float]:
        """(response or None on timeout, seconds)."""
        start = time.perf_counter()
        future = client.call_async(request)
        if not self.spin_until(future.done, timeout_s):
            client.remove_pending_request(future)
            return None, time.perf_counter() - start
        return future.result(), time.perf_counter() - start

    def call_direct(self, client, request, timeout_s: float = 5.0) -> tuple[Any | None, float]:
        """As :meth:`call`, but the answer is taken from a wait set over ``client`` alone, not
        through the executor (whose Python overhead would be part of the latency measured)."""
        direct = self._direct.get(id(client))
        if direct is None:
            direct = self._direct[id(client)] = DirectServiceClients(self, [client])
        return direct.call(0, request, timeout_s)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)


def add_server_param_argument(parser: Any) -> None:
    """``--server-param NAME=VALUE`` (repeatable): a memory_server parameter of the run."""
    parser.add_argument(
        "--server-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a memory_server parameter (repeatable), e.g. query_service_thread=false",
    )


def server_parameters(args: Any) -> dict[str, str]:
    """The ``--server-param`` values as a dict."""
    return dict(item.split("=", 1) for item in args.server_param)


class _Answer:
    """The answer to one request of :class:`DirectServiceClients` (future-like)."""

    __slots__ = ("response",)

    def __init__(self) -> None:
        self.response: Any = None

    def done(self) -> bool:
        return self.response is not None

    def result(self) -> Any:
        return self.response


class DirectServiceClients:
    """Service clients of one node whose answers are taken from one wait set, not through
    rclpy's executor (which costs milliseconds of CPU per answer in Python).

    So a load test measures the server: with executor-driven clients, 20 clients in four
    processes spent 3.3 ms of CPU per answer, three times the server's own cost. Use either
    this class's :meth:`spin_once` or the node's executor during a run, not both.
    """

    def __init__(self, ros: RosClient, handles: list[Any]) -> None:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

        self._ros = ros
        self.handles = handles
        self._wait_set = _rclpy.WaitSet(0, 0, 0, len(handles), 0, 0, ros.context.handle)
        self._pending: list[dict[int, _Answer]] = [{} for _ in handles]

    @classmethod
    def create(
        cls, ros: RosClient, srv_type: Any, name: str, count: int, qos: Any
    ) -> DirectServiceClients:
        """``count`` new clients of service ``name``."""
        return cls(
            ros, [ros.node.create_client(srv_type, name, qos_profile=qos) for _ in range(count)]
        )

    def call(self, index: int, request: Any, timeout_s: float) -> tuple[Any | None, float]:
        """(response or None on timeout, seconds) of one request, waited for here."""
        started = time.perf_counter()
        answer = self.call_async(index, request)
        while not answer.done() and time.perf_counter() - started < timeout_s:
            self.spin_once(timeout_sec=0.01)
        return answer.result(), time.perf_counter() - started

    def service_is_ready(self) -> bool:
        return all(handle.service_is_ready() for handle in self.handles)

    def call_async(self, index: int, request: Any) -> _Answer:
        answer = _Answer()
        client = self.handles[index]
        with client.handle:
            sequence = client.handle.send_request(request)
        self._pending[index][sequence] = answer
        return answer

    def spin_once(self, timeout_sec: float) -> None:
        """Wait up to ``timeout_sec`` for answers and take every one that has arrived."""
        with self._ros.context.handle:
            self._wait_set.clear_entities()
            for client in self.handles:
                self._wait_set.add_client(client.handle)
            self._wait_set.wait(int(timeout_sec * 1e9))
            ready = self._wait_set.get_ready_entities("client")
        for index, client in enumerate(self.handles):
            if client.handle.pointer not in ready:
                continue
            while True:
                with client.handle:
                    header, response = client.handle.take_response(client.srv_type.Response)
                if header is None:
                    break
                answer = self._pending[index].pop(header.request_id.sequence_number, None)
                if answer is not None:
                    answer.response = response


def wait_for_server(client: RosClient, query_client, timeout_s: float = 60.0) -> None:
    if not client.spin_until(query_client.service_is_ready, timeout_s):
        raise TimeoutError(f"{query_client.srv_name} not available within {timeout_s} s")


def stop_child(process) -> None:
    """Kill a helper process this benchmark started (by its own handle) if it still runs."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=5.0)


def type_query(object_type: str, max_results: int = 10):
    from memory_interfaces.srv import QueryObjects

    request = QueryObjects.Request()
    request.object_type = object_type
    request.max_results = max_results
    return request


def scene_objects(count: int, seed: int = 0, spacing: float = 0.5) -> list[tuple]:
    """``count`` objects on a grid (ids ``Type|n``), as observation_array items."""
    rng = random.Random(seed)
    side = max(1, math.ceil(math.sqrt(count)))
    items = []
    for index in range(count):
        object_type = SCENE_TYPES[index % len(SCENE_TYPES)]
        x, y = (index % side) * spacing, (index // side) * spacing
        size = (0.08 + rng.random() * 0.04,) * 3
        items.append((f"{object_type}|{index}", object_type, (x, y, 0.5), size))
    return items


def observation_array(stamp: float, items: Sequence[tuple], jitter_m: float = 0.0, seed: int = 0):
    """One frame message of ``items`` (``(object_id, type, centre, size)``), each centre moved
    by Gaussian jitter of ``jitter_m`` per axis."""
    from memory_interfaces.msg import ObjectObservationArray

    from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
    from memory_nodes.nodes import conversions

    rng = random.Random(seed)
    msg = ObjectObservationArray()
    msg.header.stamp = conversions.stamp_to_msg(stamp)
    for object_id, object_type, xyz, size in items:
        centre = (
            Vector3(*(c + rng.gauss(0.0, jitter_m) for c in xyz)) if jitter_m else Vector3(*xyz)
        )
        observation = ObjectObservation(
            object_id=object_id,
            object_type=object_type,
            world_T_object=Pose(centre),
            box=Box(centre, Vector3(*size)),
            stamp=stamp,
            source="gt_mask",
        )
        msg.observations.append(conversions.observation_to_msg(observation))
    return msg


def restamp(msg, stamp: float):
    """The same frame at another stamp (header and every observation)."""
    from memory_nodes.nodes import conversions

    stamp_msg = conversions.stamp_to_msg(stamp)
    msg.header.stamp = stamp_msg
    for observation in msg.observations:
        observation.header.stamp = stamp_msg
    return msg


def publish_frames_paced(
    publisher, frames: Sequence[Any], rate_hz: float, seconds: float, start_at: float
) -> int:
    """Publish ``frames`` in turn, restamped, at ``rate_hz`` for ``seconds`` from wall time
    ``start_at``; returns how many were sent. Paced by the monotonic clock, so a late frame
    does not push the rest back."""
    while time.time() < start_at:
        time.sleep(0.005)
    period, sent = 1.0 / rate_hz, 0
    next_at = time.monotonic()
    end = next_at + seconds
    while time.monotonic() < end:
        publisher.publish(restamp(frames[sent % len(frames)], time.time()))
        sent += 1
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    return sent


def percentiles_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/max of ``samples`` (seconds) in milliseconds; NaN when empty."""
    if not samples:
        return {"n": 0, "p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan}
    ordered = sorted(samples)

    def _at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 3)

    return {"n": len(ordered), "p50_ms": _at(0.50), "p99_ms": _at(0.99), "max_ms": _at(1.0)}


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b and not math.isnan(a) and not math.isnan(b) else math.nan
