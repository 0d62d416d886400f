"""``kill -9`` of the memory server during write bursts, N times: is every acknowledged change kept?

One database file lives through every cycle. Each cycle starts ``memory_server`` on it (a
process of its own, local-only DDS), streams frames (objects jittering, moving, new ones) and
action effects (puts on the counter top) at about 30 Hz, and kills the process with SIGKILL
at a random moment, possibly mid-transaction. A change counts as acknowledged once the server
published it on ``scene_graph/updates``. After each kill the file must pass
``PRAGMA integrity_check`` (read-only), reload (read-only, every row checked), hold every
acknowledged change unchanged in its change log, and let the next server start from it.

Prints JSON: kills, acknowledged changes, acknowledged changes lost, corrupt files, refused
restarts, seconds.

    .venv/bin/python bench/reliability_crash.py --kills 100 > /tmp/crash100.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from memory_nodes.ros_env import local_dds_environment  # noqa: E402

SERVER_COMMAND = (sys.executable, "-m", "memory_nodes.nodes.memory_server")
READY_LINE = "long-term memory ready"
START_TIMEOUT_S = 60.0


@dataclass
class CrashFigures:
    kills: int = 0
    acknowledged_changes: int = 0
    acknowledged_changes_lost: int = 0
    corrupt_files: int = 0
    refused_restarts: int = 0
    frames_published: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _params(folder: Path) -> Path:
    params = folder / "memory_server.yaml"
    params.write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {folder / 'memory.sqlite'}\n"
        "    change_detection: false\n"
        "    marker_period_s: 10.0\n"
        "    change_history_max_rows: 0\n"  # keep every change, so each can be compared
    )
    return params


class ServerProcess:
    """``memory_server`` in its own process; its log is read by a thread to see it ready."""

    def __init__(self, params: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*SERVER_COMMAND, "--ros-args", "--params-file", str(params)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self.ready = threading.Event()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line.rstrip())
            if READY_LINE in line:
                self.ready.set()

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready.wait(0.05):
                return True
            if self.process.poll() is not None:
                return False
        return False

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


class StreamClient:
    """The bench's ROS side: publishes frames and effects, records every announced change."""

    def __init__(self, seed: int) -> None:
        import rclpy
        from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("reliability_crash_client", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        reliable = QoSProfile(
            depth=1000, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
        )
        self.observations = self.node.create_publisher(
            ObjectObservationArray, "observations", reliable
        )
        self.effects = self.node.create_publisher(
            ObjectObservationArray, "action_effects", reliable
        )
        self.announced: dict[int, dict] = {}
        self.node.create_subscription(
            SceneGraphUpdate, "scene_graph/updates", self._on_update, reliable
        )
        self.rng = random.Random(seed)
        self.frame = 0

    def _on_update(self, msg) -> None:
        for change in json.loads(msg.data):
            self.announced[int(change["sequence"])] = change

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=min(0.01, max(deadline - time.monotonic(), 0)))

    def wait_matched(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.observations.get_subscription_count() == 0:
            self.spin_for(0.05)

    def _message(self, items: list[tuple], stamp: float, **fields):
        from memory_interfaces.msg import ObjectObservationArray

        from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
        from memory_nodes.nodes import conversions

        msg = ObjectObservationArray()
        msg.header.stamp = conversions.stamp_to_msg(stamp)
        for object_id, object_type, xyz, size in items:
            observation = ObjectObservation(
                object_id=object_id,
                object_type=object_type,
                world_T_object=Pose(Vector3(*xyz)),
                box=Box(Vector3(*xyz), Vector3(*size)),
                stamp=stamp,
                **{"source": "gt_mask", "source_frame_id": f"camera@{self.frame}", **fields},
            )
            msg.observations.append(conversions.observation_to_msg(observation))
        return msg

    def publish_burst_step(self) -> None:
        """One frame (a counter top and some of 30 apples, jittered or moved); every fifth
        step also the robot putting one apple on the counter top."""
        self.frame += 1
        stamp = time.time()
        rng = self.rng
        items = [("CounterTop|1", "CounterTop", (1.0, 0.0, 0.45), (4.0, 0.6, 0.9))]
        for j in rng.sample(range(30), 12):
            x = 0.25 * (j % 10) + (rng.uniform(0.3, 0.6) if rng.random() < 0.2 else 0.0)
            xyz = (x + rng.gauss(0, 0.01), 1.0 + 0.3 * (j // 10), 0.95)
            items.append((f"Apple|{j}", "Apple", xyz, (0.08, 0.08, 0.08)))
        self.observations.publish(self._message(items, stamp))
        if self.frame % 5 == 0:
            j = rng.randrange(30)
            put = [(f"Apple|{j}", "Apple", (rng.uniform(0, 2), 0.0, 0.95), (0.08, 0.08, 0.08))]
            self.effects.publish(
                self._message(put, stamp, receptacle_id="CounterTop|1", receptacle_relation="on")
            )

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def check_file(database: Path, announced: dict[int, dict]) -> tuple[int, list[str]]:
    """(acknowledged changes lost, problems) for the file a killed server left."""
    from memory_nodes.core.errors import MemoryStackError
    from memory_nodes.core.store import read_database

    problems: list[str] = []
    uri = f"file:{database}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
            stored = {s: json.loads(d) for s, d in db.execute("SELECT sequence, data FROM changes")}
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        return len(announced), [f"corrupt: {error}"]
    if integrity != "ok":
        problems.append(f"corrupt: integrity_check says {integrity}")
    try:
        graph = read_database(database)
    except MemoryStackError as error:
        problems.append(f"corrupt: does not reload: {error}")
        return len(announced), problems
    lost = [s for s, change in announced.items() if stored.get(s) != change]
    if lost:
        problems.append(f"lost acknowledged changes {lost[:10]} (of {len(lost)})")
    if announced and graph.sequence < max(announced):
        problems.append(f"file sequence {graph.sequence} < acknowledged {max(announced)}")
    return len(lost), problems


def run_crash_cycles(
    kills: int, folder: Path, seed: int = 0, max_burst_s: float = 1.5, deadline_s: float = 3600.0
) -> CrashFigures:
    """``kills`` cycles of start, stream, ``kill -9``, check; stops early at ``deadline_s``."""
    env = local_dds_environment()
    os.environ.update(env)  # this process speaks DDS too: the same local-only settings
    params = _params(folder)
    database = folder / "memory.sqlite"
    figures = CrashFigures()
    client = StreamClient(seed)
    rng = random.Random(seed)
    start = time.monotonic()
    server: ServerProcess | None = None
    try:
        for cycle in range(kills):
            if time.monotonic() - start > deadline_s:
                figures.problems.append(f"deadline reached after {cycle} kills")
                break
            server = ServerProcess(params, env)
            if not server.wait_ready(START_TIMEOUT_S):
                server.kill()
                figures.refused_restarts += 1
                tail = " | ".join(server.log[-3:])
                figures.problems.append(f"cycle {cycle}: the server did not start: {tail}")
                if any("failed to start" in line for line in server.log):
                    figures.corrupt_files += 1
                break
            client.wait_matched(5.0)
            burst = rng.uniform(0.05, max_burst_s)
            until = time.monotonic() + burst
            while time.monotonic() < until:
                client.publish_burst_step()
                figures.frames_published += 1
                client.spin_for(1 / 30)
            server.kill()  # SIGKILL: possibly mid-transaction
            figures.kills += 1
            client.spin_for(0.2)  # updates already on the wire count as acknowledged
            lost, problems = check_file(database, client.announced)
            figures.acknowledged_changes_lost = max(figures.acknowledged_changes_lost, lost)
            if any(p.startswith("corrupt") for p in problems):
                figures.corrupt_files += 1
            figures.problems += [f"cycle {cycle}: {p}" for p in problems]
            if any(p.startswith("corrupt") for p in problems):
                break
        figures.acknowledged_changes = len(client.announced)
    finally:
        if server is not None:
            server.kill()
        client.close()
    figures.seconds = round(time.monotonic() - start, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--max-burst-s", type=float, default=1.5)
    parser.add_argument("--deadline-s", type=float, default=3600.0, help="stop after this long")
    parser.add_argument("--folder", type=Path, help="keep the database here (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash_") as scratch:
        folder = args.folder or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        figures = run_crash_cycles(args.kills, folder, args.seed, args.max_burst_s, args.deadline_s)
    result = {
        "kills": figures.kills,
        "acknowledged_changes": figures.acknowledged_changes,
        "acknowledged_changes_lost": figures.acknowledged_changes_lost,
        "corrupt_files": figures.corrupt_files,
        "refused_restarts": figures.refused_restarts,
        "frames_published": figures.frames_published,
        "seconds": figures.seconds,
        "problems": figures.problems[:20],
    }
    print(json.dumps(result, indent=1))
    ok = figures.kills == args.kills and not figures.problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
