"""Starting and stopping rclpy nodes the same way in every executable.

Each node module defines a ``Node`` subclass whose constructor accepts ``**node_kwargs`` (passed
to ``rclpy.node.Node``) and a ``main`` that calls :func:`run_node`. The launcher's composed mode
builds the same classes in one process (:func:`spin_nodes`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

NodeFactory = Callable[..., Node]


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (main thread only, as Python requires)."""

    def _request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _request_stop)
        signal.signal(signal.SIGTERM, _request_stop)


def spin_nodes(nodes: Sequence[Node], stop: threading.Event | None = None) -> None:
    """Spin ``nodes`` on one multi-threaded executor until SIGINT/SIGTERM or ``stop``."""
    # At least four threads even on two cores: a node that serves queries in their own
    # callback group answers them while another thread ingests a long frame.
    executor = MultiThreadedExecutor(num_threads=max(4, os.cpu_count() or 1))
    for node in nodes:
        executor.add_node(node)
    if stop is None:  # otherwise the caller owns the signal handling
        stop = threading.Event()
        install_stop_handlers(stop)
    try:
        while not stop.is_set() and rclpy.ok():
            try:
                executor.spin_once(timeout_sec=0.1)
            except (KeyboardInterrupt, ExternalShutdownException):
                raise
            except Exception:  # a bad message must not take the node down with its memory
                nodes[0].get_logger().error(f"callback failed:\n{traceback.format_exc()}")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        for node in nodes:
            node.destroy_node()


def shutdown_after_failed_start(nodes: Sequence[Node]) -> None:
    """Destroy ``nodes`` and shut rclpy down after a node's constructor raised.

    The context still holds the half-built node and destroys it at shutdown; its
    ``destroy_node`` may touch attributes the constructor never set. That second error says
    nothing new and must not replace the first one's message with a traceback.
    """
    for node in nodes:
        with contextlib.suppress(Exception):
            node.destroy_node()
    with contextlib.suppress(Exception):
        rclpy.try_shutdown()


def run_node(factory: NodeFactory, args: Sequence[str] | None = None) -> int:
    """Entry point body of a node executable: init, build, spin, shut down cleanly.

    ``args`` are the process arguments (default ``sys.argv``), so ``--ros-args --params-file F``
    and remappings work as with ``ros2 run``. The DDS environment (domain id, profile,
    discovery range) is the user's: this function sets none of it.
    """
    argv = list(sys.argv if args is None else args)
    rclpy.init(args=argv)
    try:
        node = factory()
    except Exception as error:  # a bad parameter file must end with a message, not a trace
        message = " ".join(str(error).split())[:400]  # one line, however long the cause
        print(f"[memory_nodes] failed to start node: {message}", file=sys.stderr)
        shutdown_after_failed_start([])
        return 2
    spin_nodes([node])
    rclpy.try_shutdown()
    return 0
