"""``memstack demo``: a robot that remembers its home, in two sessions, with a report.

What happens (every node in its own process, talking over local-only DDS):

1. ``memstack up`` starts the simulator bridge (the household simulator driven by the
   ``ai2thor`` client), then the memory stack: perception, octree, short-term memory, long-term
   memory (SQLite in the report folder) and the planner.
2. Session 1: the robot looks around and does household tasks through the planner's
   ``ExecuteTask`` action; memory is built from what the camera sees.
3. The memory nodes and the planner stop (the robot is away); people change the home (a
   seeded ``SimulateHouseholdChanges`` in the simulator, with a ground-truth log).
4. Session 2: the memory stack restarts from its SQLite file and does new tasks; the planner
   asks memory first, so it walks straight to where things were and re-plans where they moved.
5. The report folder gets ``summary.txt``, ``metrics.json``, ``map.png`` (occupancy, scene
   graph and the robot's path per task), ``changes.png`` (a before/after close-up of every
   change and where memory places the changed objects) and the raw maps.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from memory_interfaces.action import ExecuteTask
from memory_interfaces.msg import InstanceLabels
from memory_interfaces.srv import ExecuteAction, GetSceneGraph, QueryObjects, SaveMemory
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import Image

from memory_nodes.demo.figures import (
    Snapshot,
    capture_change_views,
    changes_figure,
    parse_json,
)
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.ros_env import apply_local_dds_environment, find_config_file

SESSION_1_TASKS = [
    ("Put the apple in the fridge.", "INSIDE(apple, fridge): 1"),
    ("Put the tomato in the sink.", "INSIDE(tomato, sink): 1"),
]
SESSION_2_TASKS = [
    ("Take the apple out of the fridge and put it on the counter.", "ON(apple, countertop): 1"),
    ("Put the tomato in the fridge.", "INSIDE(tomato, fridge): 1"),
]


@dataclass
class TaskReport:
    session: int
    instruction: str
    goal: str
    success: bool = False
    result_code: int = -1
    actions: int = 0
    subgoals: str = ""
    reasons: list[str] = field(default_factory=list)
    time_s: float = 0.0
    path: list[list[float]] = field(default_factory=list)

    @property
    def path_length(self) -> float:
        points = np.asarray(self.path, dtype=float).reshape(-1, 2)
        return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) else 0.0


def _say(message: str) -> None:
    print(message, flush=True)


def write_stack_files(out: Path, scene: str, width: int, height: int) -> tuple[Path, Path]:
    """Stack and parameter files for this run: shipped defaults, outputs in the report folder."""
    config = find_config_file("stack_sim.yaml").parent
    (out / "sim_bridge.yaml").write_text(
        "sim_bridge:\n  ros__parameters:\n"
        f"    scene: {scene}\n    width: {width}\n    height: {height}\n"
        "    publish_rate_hz: 0.0\n"
    )
    (out / "memory_server.yaml").write_text(
        f"memory_server:\n  ros__parameters:\n    database_path: {out / 'memory.sqlite'}\n"
    )
    (out / "short_term.yaml").write_text(
        (config / "short_term.yaml")
        .read_text()
        .replace('type_knowledge_path: ""', f"type_knowledge_path: {out / 'type_knowledge.json'}")
    )
    (out / "octree.yaml").write_text(
        (config / "octree.yaml")
        .read_text()
        .replace("map_path: ~/.ros/memory_nodes/octree.mnoct", f"map_path: {out / 'octree.mnoct'}")
    )
    bridge = out / "stack_bridge.yaml"
    bridge.write_text(
        "stack:\n  nodes:\n"
        "    - {executable: sim_bridge_node, name: sim_bridge, parameters: sim_bridge.yaml}\n"
    )
    memory = out / "stack_memory.yaml"
    memory.write_text(
        "stack:\n  nodes:\n"
        f"    - {{executable: perception_node, name: perception, "
        f"parameters: {config / 'perception.yaml'}}}\n"
        "    - {executable: octree_node, name: octree, parameters: octree.yaml}\n"
        "    - {executable: short_term_memory_node, name: short_term_memory, "
        "parameters: short_term.yaml}\n"
        "    - {executable: memory_server, name: memory_server, parameters: memory_server.yaml}\n"
        f"    - {{executable: planner_node, name: planner, "
        f"parameters: {config / 'planner.yaml'}}}\n"
    )
    return bridge, memory


class Stack:
    """One ``memstack up`` child process; its output goes to a log file in the report."""

    def __init__(self, stack_file: Path, log: Path) -> None:
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "memory_nodes.cli", "up", "--config", str(stack_file)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=5)
        self.log.close()
        return code


class DemoClient:
    """The operator's side: sends tasks, asks memory, records the robot's path."""

    def __init__(self, node: Node, deadline_s: float) -> None:
        self.node = node
        self.deadline_s = deadline_s
        self.tasks = ActionClient(node, ExecuteTask, "execute_task")
        self.bridge = node.create_client(ExecuteAction, "/sim_bridge/execute")
        self.long_term = node.create_client(QueryObjects, "/memory_server/query_objects")
        self.graph = node.create_client(GetSceneGraph, "/memory_server/get_scene_graph")
        self.octree_save = node.create_client(SaveMemory, "/octree/save")
        self.path: list[list[float]] = []
        self.last_image: np.ndarray | None = None
        # The newest few camera frames by stamp: (image, instance mask, labels).
        self.frames: dict[tuple[int, int], dict[str, Any]] = {}
        node.create_subscription(Odometry, "odom", self._on_odom, 10)
        node.create_subscription(Image, "camera/color/image_raw", self._on_image, 2)
        node.create_subscription(Image, "camera/instance_mask", self._on_mask, 2)
        node.create_subscription(InstanceLabels, "camera/instance_labels", self._on_labels, 2)

    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose.position
        if not self.path or np.hypot(p.x - self.path[-1][0], p.y - self.path[-1][1]) > 1e-3:
            self.path.append([p.x, p.y])

    def _on_image(self, msg: Image) -> None:
        self.last_image = image_to_numpy(msg)
        self._frame(msg.header)["image"] = self.last_image

    def _on_mask(self, msg: Image) -> None:
        self._frame(msg.header)["ids"] = image_to_numpy(msg)

    def _on_labels(self, msg: InstanceLabels) -> None:
        self._frame(msg.header)["labels"] = dict(zip(msg.ids, msg.labels, strict=False))

    def _frame(self, header: Any) -> dict[str, Any]:
        frame = self.frames.setdefault((header.stamp.sec, header.stamp.nanosec), {})
        while len(self.frames) > 8:
            del self.frames[next(iter(self.frames))]
        return frame

    def spin_until(self, condition: Callable[[], bool], what: str, timeout: float | None = None):
        deadline = time.monotonic() + (timeout or self.deadline_s)
        while time.monotonic() < deadline:
            if condition():
                return
            rclpy.spin_once(self.node, timeout_sec=0.05)
        raise TimeoutError(f"timed out waiting for {what}")

    def call(self, client, request, what: str):
        self.spin_until(client.service_is_ready, f"{what} service")
        future = client.call_async(request)
        self.spin_until(future.done, what)
        return future.result()

    def act(self, action: str, **args: Any) -> ExecuteAction.Response:
        request = ExecuteAction.Request(action=action, args_json=json.dumps(args))
        return self.call(self.bridge, request, f"bridge action {action}")

    def act_and_look(self, action: str, **args: Any) -> tuple[bool, dict, Any, Snapshot | None]:
        """One bridge action and the camera frame it published."""
        answer = self.act(action, **args)
        stamp = (answer.frame_stamp.sec, answer.frame_stamp.nanosec)
        if answer.observation_json:  # the bridge published a frame for it
            # A missing picture leaves a gap in the figure; the demo goes on.
            with contextlib.suppress(TimeoutError):
                self.spin_until(
                    lambda: len(self.frames.get(stamp, {})) == 3, "the camera frame", timeout=5.0
                )
        observation = parse_json(answer.observation_json)
        frame = self.frames.get(stamp, {})
        shot = None
        if "image" in frame:
            shot = Snapshot(frame["image"], frame.get("ids"), frame.get("labels", {}))
        return (
            bool(answer.success),
            observation if isinstance(observation, dict) else {},
            parse_json(answer.action_return_json),
            shot,
        )

    def run_task(self, session: int, instruction: str, goal: str, timeout_s: float) -> TaskReport:
        report = TaskReport(session, instruction, goal)
        self.spin_until(lambda: self.tasks.server_is_ready(), "the planner")
        self.path = []
        started = time.monotonic()
        feedback: list[str] = []

        def _feedback(message: Any) -> None:
            item = message.feedback
            line = f"      [{item.steps:3d} actions] {item.subgoal}: {item.status}"
            if not feedback or feedback[-1] != line:
                feedback.append(line)
                _say(line)

        goal_msg = ExecuteTask.Goal(
            goal_conditions=goal, instruction=instruction, max_steps=400, timeout_s=timeout_s
        )
        sent = self.tasks.send_goal_async(goal_msg, feedback_callback=_feedback)
        self.spin_until(sent.done, "the planner to accept the task")
        handle = sent.result()
        if not handle.accepted:
            report.reasons = ["the planner rejected the task"]
            return report
        result_future = handle.get_result_async()
        self.spin_until(result_future.done, "the task result", timeout=timeout_s + 30)
        result = result_future.result().result
        report.success = bool(result.success)
        report.result_code = int(result.result_code)
        report.actions = int(result.steps)
        report.subgoals = f"{result.subgoals_succeeded}/{result.subgoals_total}"
        report.reasons = list(result.reasons)
        report.time_s = time.monotonic() - started
        rclpy.spin_once(self.node, timeout_sec=0.2)
        report.path = list(self.path)
        return report

    def go_to_dock(self) -> None:
        """Session 2 starts at the far end of the home (the robot comes back from its dock),
        so memory has to bring it to the things it remembers."""
        _, observation, reachable, _ = self.act_and_look("GetReachablePositions")
        here = observation.get("agent", {}).get("position")
        if not here or not isinstance(reachable, list) or not reachable:
            return
        dock = max(reachable, key=lambda p: math.hypot(p["x"] - here["x"], p["z"] - here["z"]))
        answer = self.act("TeleportFull", position=dock, rotation={"x": 0.0, "y": 0.0},
                          horizon=0.0, standing=True)  # fmt: skip
        if answer.success:
            _say(f"   the robot is back at its dock, x={dock['x']:.2f} z={dock['z']:.2f} (Unity)")

    def look_around(self) -> None:
        for _ in range(4):
            self.act("RotateLeft")


def _memory_objects(client: DemoClient) -> dict[str, dict[str, Any]]:
    response = client.call(client.long_term, QueryObjects.Request(), "long-term memory")
    return {
        r.object_id: {
            "type": r.object_type,
            "position": [r.pose.position.x, r.pose.position.y, r.pose.position.z],
            "receptacle": r.receptacle_id,
            "relation": r.receptacle_relation,
            "confidence": round(float(r.confidence), 3),
            "states": {state.key: state.value for state in r.states},
        }
        for r in response.records
    }


def _session(
    index: int,
    tasks: Sequence[tuple[str, str]],
    stack_file: Path,
    out: Path,
    client: DemoClient,
    timeout_s: float,
) -> tuple[list[TaskReport], dict[str, dict[str, Any]]]:
    _say(f"\n== Session {index}: memory stack starting (memory file {out / 'memory.sqlite'})")
    stack = Stack(stack_file, out / f"session{index}.log")
    try:
        client.spin_until(client.long_term.service_is_ready, "long-term memory", timeout=90)
        client.spin_until(lambda: client.tasks.server_is_ready(), "the planner", timeout=90)
        remembered = _memory_objects(client)
        _say(f"   memory holds {len(remembered)} objects at start-up; the robot looks around")
        client.look_around()
        reports = []
        for instruction, goal in tasks:
            _say(f"   task: {instruction}  ({goal})")
            report = client.run_task(index, instruction, goal, timeout_s)
            verdict = "done" if report.success else "FAILED: " + "; ".join(report.reasons)
            _say(
                f"   -> {verdict} in {report.actions} actions, {report.path_length:.1f} m, "
                f"{report.time_s:.0f} s"
            )
            reports.append(report)
        client.call(
            client.octree_save,
            SaveMemory.Request(path=str(out / f"octree_session{index}.mnoct")),
            "octree save",
        )
        graph = client.call(client.graph, GetSceneGraph.Request(), "the scene graph")
        (out / f"scene_graph_session{index}.json").write_text(graph.data)
        return reports, _memory_objects(client)
    finally:
        code = stack.stop()
        _say(f"   memory stack stopped (exit code {code})")


def _map_figure(out: Path, reports: list[TaskReport]) -> Path | None:
    from memory_nodes.core.octree import SparseOctree
    from memory_nodes.core.store import graph_from_json
    from memory_nodes.viz.map_views import render_map

    octree_file = out / "octree_session2.mnoct"
    graph_file = out / "scene_graph_session2.json"
    if not octree_file.is_file() or not graph_file.is_file():
        return None
    octree = SparseOctree.load(octree_file)
    graph = graph_from_json(graph_file.read_text())
    walked = [r for r in reports if len(r.path) > 1]
    return render_map(
        octree,
        out / "map.png",
        graph=graph,
        paths=[np.asarray(r.path) for r in walked],
        path_labels=[f"session {r.session}: {r.instruction[:40]}" for r in walked],
        title="What the robot remembers after two sessions, and where it walked",
    )


def run_demo(out: Path, scene: str, seed: int, width: int, height: int, timeout_s: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    env = apply_local_dds_environment()
    _say(
        f"memory_nodes demo: {scene}, report in {out}, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}\n"
        "Every node runs in its own process; logs are in the report folder."
    )
    bridge_file, memory_file = write_stack_files(out, scene, width, height)
    started = time.monotonic()
    bridge = Stack(bridge_file, out / "bridge.log")
    rclpy.init()
    node = rclpy.create_node("memstack_demo")
    client = DemoClient(node, deadline_s=60.0)
    metrics: dict[str, Any] = {"scene": scene, "seed": seed, "image": [width, height]}
    try:
        client.spin_until(client.bridge.service_is_ready, "the simulator bridge", timeout=120)
        reports1, memory1 = _session(1, SESSION_1_TASKS, memory_file, out, client, timeout_s)
        _say("\n== The robot is away: people change the home")

        def _apply_changes() -> list[dict[str, Any]]:
            answer = client.act("SimulateHouseholdChanges", seed=seed, numChanges=5)
            return parse_json(answer.action_return_json) or []

        views = capture_change_views(client.act_and_look, _apply_changes)
        changes = [item.change for item in views]
        for change in changes:
            _say(f"   {change['kind']}: {change['object_id']}")
        client.go_to_dock()
        reports2, memory2 = _session(2, SESSION_2_TASKS, memory_file, out, client, timeout_s)
        reports = reports1 + reports2
        verdicts = [
            change_verdict(c, memory1.get(c["object_id"]), memory2.get(c["object_id"]))
            for c in changes
        ]
        changes_figure(
            views, verdicts, (memory1, memory2), out / "octree_session2.mnoct", out / "changes.png"
        )
        map_png = _map_figure(out, reports)
        metrics.update(
            {
                "tasks": [asdict(r) | {"path_length_m": r.path_length} for r in reports],
                "success_rate": sum(r.success for r in reports) / max(len(reports), 1),
                "actions_per_session": {
                    str(s): sum(r.actions for r in reports if r.session == s) for s in (1, 2)
                },
                "world_changes": changes,
                "memory_after_session_1": memory1,
                "memory_after_session_2": memory2,
                "wall_time_s": round(time.monotonic() - started, 1),
            }
        )
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
        summary = _summary(reports, changes, memory1, memory2, out, map_png)
        (out / "summary.txt").write_text(summary)
        _say("\n" + summary)
        return 0 if any(r.success for r in reports) else 1
    except TimeoutError as error:
        _say(f"demo failed: {error} (see the logs in {out})")
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        bridge.stop()


#: Which remembered state a change of this kind sets.
CHANGE_STATES = {"open": "isOpen", "close": "isOpen", "toggle": "isToggled", "dirty": "isDirty"}


def change_verdict(
    change: dict[str, Any], then: dict[str, Any] | None, now: dict[str, Any] | None
) -> str:
    """Does memory after session 2 reflect one ground-truth change? In words."""
    kind = change["kind"]
    if now is None:
        return "memory no longer claims it" if kind == "remove" else "not in memory"
    if kind == "remove":
        return "STALE: memory still places it"
    if kind == "add":
        return "memory found the new object"
    if kind == "move":
        if then is None:
            return "memory knows its new place"
        moved = float(np.linalg.norm(np.subtract(now["position"], then["position"])))
        if moved > 0.2:
            return f"memory moved it {moved:.1f} m to its new place"
        return "STALE or unseen: memory still has the old place"
    key = CHANGE_STATES.get(kind)
    if key is None or key not in now["states"]:
        return "memory has no state for it"
    expected = str(change.get("after")).lower()
    remembered = now["states"][key]
    if remembered == expected:
        return f"memory has {key}={remembered}"
    return f"STALE or unseen: memory has {key}={remembered}, truth {expected}"


def _summary(
    reports: list[TaskReport],
    changes: list[dict[str, Any]],
    memory1: dict[str, dict[str, Any]],
    memory2: dict[str, dict[str, Any]],
    out: Path,
    map_png: Path | None,
) -> str:
    lines = ["Summary", "=======", ""]
    lines.append(f"{'session':<8} {'task':<62} {'result':<8} {'actions':>7} {'path m':>7}")
    for r in reports:
        result = "done" if r.success else "failed"
        lines.append(
            f"{r.session:<8} {r.instruction[:62]:<62} {result:<8} {r.actions:>7} "
            f"{r.path_length:>7.1f}"
        )
        if not r.success:
            lines.append(f"{'':<8}   why: {'; '.join(r.reasons)}")
    lines.append("")
    lines.append(
        f"Long-term memory: {len(memory1)} objects after session 1, {len(memory2)} after "
        f"session 2; {len(changes)} changes were made while the robot was away."
    )
    for change in changes:
        verdict = change_verdict(change, memory1.get(change["object_id"]),
                                 memory2.get(change["object_id"]))  # fmt: skip
        lines.append(f"  - {change['kind']:<7} {change['object_id'].split('|')[0]:<14} {verdict}")
    lines.append("")
    lines.append(f"Report folder: {out}")
    for name in ("map.png", "changes.png", "metrics.json"):
        if (out / name).is_file():
            lines.append(f"  {name}")
    if map_png is None:
        lines.append("  (no map picture: the octree or scene graph was not saved)")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memstack demo", description=__doc__.split("\n")[0])
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", default=None, help="report folder (default reports/demo-TIME)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--task-timeout", type=float, default=240.0, help="seconds per task")
    args = parser.parse_args(argv)
    from sim import scene_catalog

    problem = None  # bad input is refused in one line before anything starts
    if not (scene_catalog.has_scene(args.scene) or scene_catalog.has_house(args.scene)):
        problem = f"unknown scene {args.scene!r} (FloorPlan1-30, 201-230, 301-330, 401-430)"
    elif args.width < 1 or args.height < 1 or not args.task_timeout > 0:
        problem = "--width and --height must be at least 1, --task-timeout positive"
    if problem is not None:
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out or Path("reports") / time.strftime("demo-%Y%m%d-%H%M%S")).resolve()
    return run_demo(out, args.scene, args.seed, args.width, args.height, args.task_timeout)


if __name__ == "__main__":
    sys.exit(main())
