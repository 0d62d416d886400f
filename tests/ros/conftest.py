"""Fixtures for tests that talk to real nodes over DDS (local-only profile, see conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rclpy
from memory_interfaces.msg import ObjectObservationArray
from rclpy.node import Node

from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.nodes import conversions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ros_node() -> Iterator[Node]:
    """A node of the test process, in its own context, destroyed afterwards."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("memstack_test_client", context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def spin_until(node: Node, condition: Callable[[], bool], timeout_s: float) -> bool:
    """Spin ``node`` until ``condition()`` holds or ``timeout_s`` passes."""
    executor = rclpy.executors.SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if condition():
                return True
            executor.spin_once(timeout_sec=0.05)
        return condition()
    finally:
        executor.remove_node(node)


def call_service(
    node: Node,
    client: rclpy.client.Client,
    request: object,
    timeout_s: float = 30.0,
    resend_s: float | None = None,
):
    """Call a service with a deadline; fails the test on timeout.

    ``resend_s`` (idempotent requests only, such as queries): send the request again when no
    answer came within that many seconds. Just after a server restarts, the client may still
    match the old server's endpoints, and a request sent then is lost.
    """
    if not spin_until(node, client.service_is_ready, timeout_s):
        pytest.fail(f"service {client.srv_name} not available within {timeout_s} s")
    deadline = time.monotonic() + timeout_s
    futures = [client.call_async(request)]
    while True:
        left = deadline - time.monotonic()
        wait = min(resend_s, left) if resend_s else left
        if spin_until(node, lambda: any(f.done() for f in futures), max(wait, 0.0)):
            return next(f for f in futures if f.done()).result()
        if time.monotonic() >= deadline:
            pytest.fail(f"service {client.srv_name} did not answer within {timeout_s} s")
        futures.append(client.call_async(request))


def observation_array(stamp: float, items, **fields) -> ObjectObservationArray:
    """One frame as a message. ``items`` are ``(object_id, type, centre, size)`` tuples, with
    an optional fifth element of fields for that item alone; ``fields`` apply to all."""
    msg = ObjectObservationArray()
    msg.header.stamp = conversions.stamp_to_msg(stamp)
    for object_id, object_type, xyz, size, *own in items:
        observation = ObjectObservation(
            object_id=object_id,
            object_type=object_type,
            world_T_object=Pose(Vector3(*xyz)),
            box=Box(Vector3(*xyz), Vector3(*size)),
            stamp=stamp,
            **{"source": "gt_mask", **fields, **(own[0] if own else {})},
        )
        msg.observations.append(conversions.observation_to_msg(observation))
    return msg


def memory_server_stack(tmp_path: Path) -> Path:
    """A stack file running one memory server on a database in ``tmp_path``."""
    params = tmp_path / "memory_server.yaml"
    params.write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {tmp_path / 'memory.sqlite'}\n"
        "    change_detection: false\n"
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n    - executable: memory_server\n      parameters: memory_server.yaml\n"
    )
    return stack


def sim_memory_stack(tmp_path: Path, extra_nodes: tuple[str, ...] = ()) -> Path:
    """A stack file: the simulator bridge at 160x120, perception, both memories (the long-term
    one on a database in ``tmp_path``), then ``extra_nodes`` (stack YAML lines)."""
    config = ROOT / "config"
    (tmp_path / "memory_server.yaml").write_text(
        f"memory_server:\n  ros__parameters:\n    database_path: {tmp_path / 'memory.sqlite'}\n"
    )
    (tmp_path / "sim_bridge.yaml").write_text(
        "sim_bridge:\n  ros__parameters:\n    width: 160\n    height: 120\n"
        "    publish_rate_hz: 0.0\n"
    )
    nodes = [
        "    - {executable: sim_bridge_node, name: sim_bridge, parameters: sim_bridge.yaml}\n",
        f"    - {{executable: perception_node, parameters: {config / 'perception.yaml'}}}\n",
        f"    - {{executable: short_term_memory_node, parameters: {config / 'short_term.yaml'}}}\n",
        "    - {executable: memory_server, parameters: memory_server.yaml}\n",
        *extra_nodes,
    ]
    stack = tmp_path / "stack.yaml"
    stack.write_text("stack:\n  nodes:\n" + "".join(nodes))
    return stack


class StackProcess:
    """``memstack up`` as a child process, stopped (and checked for orphans) at teardown."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "memory_nodes.cli", "up", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ),
            start_new_session=True,
        )
        self.output = ""

    def child_pids(self) -> list[int]:
        result = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in result.stdout.split()]

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 5.0) -> tuple[int | None, float]:
        """Send ``sig``; return (exit code or None if it hung, seconds taken)."""
        start = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        elapsed = time.monotonic() - start
        if code is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.output += self.process.stdout.read() if self.process.stdout else ""
        return code, elapsed


@pytest.fixture
def start_stack() -> Iterator[Callable[[Path], StackProcess]]:
    stacks: list[StackProcess] = []

    def _start(config: Path) -> StackProcess:
        stack = StackProcess(config)
        stacks.append(stack)
        return stack

    yield _start
    for stack in stacks:
        if stack.process.poll() is None:
            stack.stop(signal.SIGTERM)
