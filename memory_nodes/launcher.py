"""``memstack up``: start a configured set of nodes on a machine without ``ros2 launch``.

A stack file looks like this (paths are relative to the stack file)::

    stack:
      composed: false          # true: all nodes in one process, multi-threaded executor
      nodes:
        - executable: short_term_memory_node
          name: short_term_memory          # optional, default: the executable's default
          parameters: short_term.yaml      # optional ROS 2 parameters file

Everything is validated before anything starts, and each error names the file and the key.
A node that exits while the stack runs is reported and the whole stack stops with a non-zero
code: nothing is restarted silently. SIGINT/SIGTERM stop every node (SIGINT first, SIGKILL
after a grace period) and the launcher exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from memory_nodes.core.errors import StackConfigError
from memory_nodes.nodes.registry import NODE_MODULES, known_executables, node_module
from memory_nodes.ros_env import local_dds_environment

SHUTDOWN_GRACE_S = 4.0
_NODE_KEYS = {"executable", "name", "parameters"}


@dataclass(frozen=True)
class NodeSpec:
    executable: str
    name: str | None
    parameters: Path | None

    @property
    def label(self) -> str:
        return self.name or self.executable

    def ros_args(self) -> list[str]:
        args = ["--ros-args"]
        if self.name:
            args += ["-r", f"__node:={self.name}"]
        if self.parameters:
            args += ["--params-file", str(self.parameters)]
        return args


@dataclass(frozen=True)
class StackConfig:
    path: Path
    composed: bool
    nodes: tuple[NodeSpec, ...]


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise StackConfigError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path}: not valid YAML: {error}") from None


def validate_parameters_file(path: Path) -> None:
    """Check a ROS 2 parameters file: ``<node or /**>: {ros__parameters: {...}}``."""
    data = _load_yaml(path)
    if not isinstance(data, dict) or not data:
        raise StackConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    for node_key, section in data.items():
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise StackConfigError(
                f"{path}: key {node_key!r}: expected a 'ros__parameters' mapping"
            )
        params = section["ros__parameters"]
        if not isinstance(params, dict):
            raise StackConfigError(f"{path}: key '{node_key}.ros__parameters': expected a mapping")
        _check_parameter_values(path, f"{node_key}.ros__parameters", params)


def _check_parameter_values(path: Path, prefix: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        where = f"{prefix}.{key}"
        if isinstance(value, dict):
            _check_parameter_values(path, where, value)
        elif value is None:
            raise StackConfigError(f"{path}: key {where!r}: empty value (ROS has no null type)")
        elif isinstance(value, list) and len({type(item) for item in value}) > 1:
            raise StackConfigError(f"{path}: key {where!r}: list mixes types, ROS needs one type")


def load_stack_config(path: str | Path) -> StackConfig:
    """Read and validate a stack file and every parameters file it names."""
    path = Path(path).resolve()
    data = _load_yaml(path)
    if not isinstance(data, dict) or "stack" not in data:
        raise StackConfigError(f"{path}: missing top-level key 'stack'")
    stack = data["stack"]
    if not isinstance(stack, dict):
        raise StackConfigError(f"{path}: key 'stack': expected a mapping")
    unknown = set(stack) - {"composed", "nodes"}
    if unknown:
        raise StackConfigError(f"{path}: key 'stack.{sorted(unknown)[0]}': unknown key")
    composed = stack.get("composed", False)
    if not isinstance(composed, bool):
        raise StackConfigError(f"{path}: key 'stack.composed': expected true or false")
    entries = stack.get("nodes")
    if not isinstance(entries, list) or not entries:
        raise StackConfigError(f"{path}: key 'stack.nodes': expected a non-empty list")
    nodes = []
    for index, entry in enumerate(entries):
        where = f"stack.nodes[{index}]"
        if not isinstance(entry, dict):
            raise StackConfigError(f"{path}: key {where!r}: expected a mapping")
        unknown = set(entry) - _NODE_KEYS
        if unknown:
            raise StackConfigError(f"{path}: key '{where}.{sorted(unknown)[0]}': unknown key")
        executable = entry.get("executable")
        if executable not in NODE_MODULES:
            raise StackConfigError(
                f"{path}: key '{where}.executable': unknown node {executable!r} "
                f"(known: {', '.join(known_executables())})"
            )
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise StackConfigError(f"{path}: key '{where}.name': not a valid node name: {name!r}")
        parameters = None
        if entry.get("parameters") is not None:
            parameters = (path.parent / str(entry["parameters"])).resolve()
            if not parameters.is_file():
                raise StackConfigError(
                    f"{path}: key '{where}.parameters': file not found: {parameters}"
                )
            validate_parameters_file(parameters)
        nodes.append(NodeSpec(executable, name, parameters))
    labels = [node.label for node in nodes]
    duplicated = {label for label in labels if labels.count(label) > 1}
    if duplicated:
        raise StackConfigError(f"{path}: key 'stack.nodes': node name used twice: {duplicated}")
    return StackConfig(path, composed, tuple(nodes))


def _log(message: str) -> None:
    print(f"[memstack] {message}", flush=True)


class ProcessStack:
    """The nodes of a stack as child processes, supervised until a stop is requested."""

    def __init__(self, config: StackConfig, env: dict[str, str], stop: threading.Event) -> None:
        self.config = config
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = stop

    def start(self) -> None:
        for spec in self.config.nodes:
            command = [sys.executable, "-m", node_module(spec.executable), *spec.ros_args()]
            process = subprocess.Popen(command, env=self.env)
            self.processes[spec.label] = process
            _log(f"started {spec.label} ({spec.executable}, pid {process.pid})")

    def supervise(self) -> int:
        """Wait for a stop request (exit 0) or a node that dies (exit 1)."""
        while not self._stop.wait(0.2):
            for label, process in self.processes.items():
                code = process.poll()
                if code is not None:
                    _log(f"node {label} exited with code {code}; stopping the stack")
                    self.stop()
                    return 1
        self.stop()
        return 0

    def stop(self) -> None:
        running = {label: p for label, p in self.processes.items() if p.poll() is None}
        for process in running.values():
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for label, process in running.items():
            try:
                process.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _log(f"node {label} ignored SIGINT for {SHUTDOWN_GRACE_S:.0f} s; killing it")
                process.kill()
                process.wait(timeout=2.0)
        _log("all nodes stopped")


def run_composed(config: StackConfig, stop: threading.Event) -> int:
    """All nodes in this process on one multi-threaded executor."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from memory_nodes.nodes.registry import node_class
    from memory_nodes.nodes.runtime import spin_nodes

    rclpy.init(args=[sys.argv[0]], signal_handler_options=SignalHandlerOptions.NO)
    nodes = []
    try:
        for spec in config.nodes:
            if stop.is_set():
                break
            nodes.append(node_class(spec.executable)(cli_args=spec.ros_args()))
            _log(f"composed {spec.label} ({spec.executable})")
    except Exception as error:
        _log(f"failed to start {spec.label}: {error}")
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        return 1
    spin_nodes(nodes, stop)
    rclpy.try_shutdown()
    _log("all nodes stopped")
    return 0


def up(config_path: str | Path, domain_id: int | None = None) -> int:
    """Validate, start and supervise a stack; the exit code of ``memstack up``."""
    try:
        config = load_stack_config(config_path)
    except StackConfigError as error:
        print(f"[memstack] error: {error}", file=sys.stderr)
        return 2
    env = local_dds_environment(domain_id=domain_id)
    _log(
        f"stack {config.path.name}: {len(config.nodes)} node(s), "
        f"{'composed in one process' if config.composed else 'one process each'}, "
        f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}"
    )
    # Handlers first: a stop requested while nodes are still starting must be honoured.
    stop = threading.Event()

    def _request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    if config.composed:
        os.environ.update(env)
        return run_composed(config, stop)
    stack = ProcessStack(config, env, stop)
    stack.start()
    return stack.supervise()
