"""``memstack demo``: bring the stack up and show what it remembers, in plain words.

The demo starts the nodes of ``config/stack_memory.yaml`` with ``memstack up`` (separate
processes talking over local-only DDS), streams a household scene to them the way perception
would, tells them what the robot's own actions did, asks the questions a planner asks, and
prints the answers with where they came from. It ends by stopping the stack with SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import rclpy
from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import QueryObjects
from rclpy.node import Node

from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.nodes import conversions
from memory_nodes.ros_env import apply_local_dds_environment, find_config_file

# A kitchen as perception reports it: (id, type, x, y, z, states).
KITCHEN = [
    ("Fridge|1", "Fridge", 2.0, 0.0, 0.9, {"isOpen": "false"}),
    ("CounterTop|1", "CounterTop", 0.0, 1.5, 0.9, {}),
    ("Apple|1", "Apple", 0.2, 1.5, 0.95, {"isSliced": "false"}),
    ("Mug|1", "Mug", -0.3, 1.5, 0.95, {"isDirty": "true"}),
    ("Knife|1", "Knife", 0.5, 1.4, 0.92, {}),
    ("Bread|1", "Bread", 0.8, 1.5, 0.97, {"isSliced": "false"}),
]


def _observation(
    item: tuple[str, str, float, float, float, dict[str, str]], stamp: float, source: str
) -> ObjectObservation:
    object_id, object_type, x, y, z, states = item
    position = Vector3(x, y, z)
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(position),
        box=Box(position, Vector3(0.15, 0.15, 0.15)),
        stamp=stamp,
        states=dict(states),
        source=source,
    )


class DemoClient:
    """The test-bench side of the demo: publishes what a robot sees and asks memory."""

    def __init__(self, node: Node, deadline_s: float) -> None:
        self.node = node
        self.deadline_s = deadline_s
        self.observations = node.create_publisher(ObjectObservationArray, "observations", 10)
        self.effects = node.create_publisher(ObjectObservationArray, "action_effects", 10)
        self.query_client = node.create_client(QueryObjects, "/short_term_memory/query_objects")

    def spin_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.deadline_s
        while time.monotonic() < deadline:
            if condition():
                return
            rclpy.spin_once(self.node, timeout_sec=0.05)
        raise TimeoutError(f"timed out after {self.deadline_s:.0f} s waiting for {what}")

    def publish(self, items: list[ObjectObservation], effects: bool = False) -> None:
        msg = ObjectObservationArray()
        msg.header.frame_id = conversions.WORLD_FRAME
        msg.observations = [conversions.observation_to_msg(item) for item in items]
        (self.effects if effects else self.observations).publish(msg)

    def query(self, **fields: object) -> QueryObjects.Response:
        request = QueryObjects.Request()
        for key, value in fields.items():
            setattr(request, key, value)
        future = self.query_client.call_async(request)
        self.spin_until(future.done, "a QueryObjects answer")
        return future.result()


def _print_records(title: str, response: QueryObjects.Response) -> None:
    print(f"\n  {title}")
    if not response.success:
        print(f"    (memory says: {response.message})")
        return
    if not response.records:
        print("    nothing remembered")
    for record in response.records:
        states = ", ".join(f"{s.key}={s.value}" for s in record.states) or "-"
        p = record.pose.position
        print(
            f"    {record.object_type:<10} {record.object_id:<14} at ({p.x:+.2f}, {p.y:+.2f}, "
            f"{p.z:+.2f})  states: {states:<28} from {record.memory_source}"
        )


def run_demo(stack_file: Path, deadline_s: float) -> int:
    env = apply_local_dds_environment()
    domain = env["ROS_DOMAIN_ID"]
    print(f"memory_nodes demo: starting the stack ({stack_file.name}), ROS_DOMAIN_ID={domain}")
    stack = subprocess.Popen(
        [sys.executable, "-m", "memory_nodes.cli", "up", "--config", str(stack_file)],
    )
    rclpy.init()
    node = rclpy.create_node("memstack_demo")
    client = DemoClient(node, deadline_s)
    try:
        client.spin_until(client.query_client.service_is_ready, "the short-term memory service")
        client.spin_until(
            lambda: client.observations.get_subscription_count() > 0, "the observation subscriber"
        )
        print(f"\n1. The robot looks around the kitchen: {len(KITCHEN)} objects seen, 3 frames.")
        for _frame in range(3):
            stamp = time.time()
            client.publish([_observation(item, stamp, "gt_mask") for item in KITCHEN])
        client.spin_until(lambda: len(client.query().records) == len(KITCHEN), "6 objects")
        _print_records("What is in memory?", client.query())

        print("\n2. The robot opens the fridge and puts the apple inside (its own actions).")
        fridge, apple = KITCHEN[0], KITCHEN[2]
        opened = (fridge[0], fridge[1], fridge[2], fridge[3], fridge[4], {"isOpen": "true"})
        moved = (apple[0], apple[1], 2.0, 0.0, 0.7, {"isSliced": "false"})
        stamp = time.time()
        client.publish([_observation(opened, stamp, "action")], effects=True)
        client.publish([_observation(moved, stamp, "action")], effects=True)
        client.spin_until(
            lambda: any(
                state.value == "true"
                for record in client.query(object_type="Fridge").records
                for state in record.states
            ),
            "the fridge to be open in memory",
        )
        _print_records("Where is the apple now?", client.query(object_type="Apple"))
        _print_records("Is the fridge open?", client.query(object_type="Fridge"))
        near = client.query(use_near=True, near=conversions.Point(x=0.0, y=1.5, z=0.9), radius=0.6)
        _print_records("What is within 0.6 m of the counter?", near)
        text = client.query(text="something to cut bread with")
        _print_records("Free-text question to short-term memory:", text)
        print("\nDemo finished: the stack answered every question above over DDS.")
        return 0
    except TimeoutError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        if stack.poll() is None:
            stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stack.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memstack demo", description=__doc__)
    parser.add_argument("--config", default=None, help="stack file (default: stack_memory.yaml)")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per wait")
    args = parser.parse_args(argv)
    stack_file = Path(args.config) if args.config else find_config_file("stack_memory.yaml")
    return run_demo(stack_file, args.deadline)


if __name__ == "__main__":
    sys.exit(main())
