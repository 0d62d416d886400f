"""``memstack up``: start a configured set of nodes on a machine without ``ros2 launch``.

A stack file looks like this (paths are relative to the stack file)::

    stack:
      composed: false          # true: all nodes in one process, multi-threaded executor
      nodes:
        - executable: short_term_memory_node
          name: short_term_memory          # optional, default: the executable's default
          parameters: short_term.yaml      # optional ROS 2 parameters file
          enclave: /memory_nodes/short_term_memory_node   # optional SROS2 enclave (this default)

Everything is validated before anything starts, and each error names the file and the key:
the stack file, each parameters file, and each parameter's value against the type and range
its node declares (read from the node's source, so a string for a float, a negative rate or a
misspelt name never reaches a node). The nodes get the local-only DDS environment
(:mod:`memory_nodes.ros_env`) with the user's exported values kept; with
``ROS_SECURITY_ENABLE=true`` each node runs in its enclave of ``ROS_SECURITY_KEYSTORE``.
A node that exits while the stack runs is reported and the whole stack stops with a non-zero
code: nothing is restarted silently. SIGINT/SIGTERM stop every node (SIGINT first, SIGKILL
after a grace period) and the launcher exits 0.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from memory_nodes.core.errors import MemoryStackError, StackConfigError
from memory_nodes.nodes.registry import NODE_MODULES, known_executables, node_module
from memory_nodes.ros_env import local_dds_environment

SHUTDOWN_GRACE_S = 4.0
_NODE_KEYS = {"executable", "name", "parameters", "enclave"}
#: Where each node's SROS2 enclave lives unless the stack file names one
#: (``scripts/make_security_keystore.sh`` creates these; see docs/security.md).
ENCLAVE_PREFIX = "/memory_nodes"


@dataclass(frozen=True)
class NodeSpec:
    executable: str
    name: str | None
    parameters: Path | None
    enclave: str | None = None  # SROS2 enclave; used when ROS_SECURITY_ENABLE=true

    @property
    def label(self) -> str:
        return self.name or self.executable

    @property
    def security_enclave(self) -> str:
        return self.enclave or f"{ENCLAVE_PREFIX}/{self.executable}"

    def ros_args(self, secured: bool = False) -> list[str]:
        args = ["--ros-args"]
        if self.name:
            args += ["-r", f"__node:={self.name}"]
        if self.parameters:
            args += ["--params-file", str(self.parameters)]
        if secured:
            args += ["--enclave", self.security_enclave]
        return args


@dataclass(frozen=True)
class StackConfig:
    path: Path
    composed: bool
    nodes: tuple[NodeSpec, ...]


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise StackConfigError(f"{path}: {'not a file' if path.exists() else 'file not found'}")
    try:
        with path.open(encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise StackConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StackConfigError(f"{path}: cannot be read: {error}") from None


# ---------------------------------------------------------------- what each node declares
# Parameters every rclpy node declares itself, and the prefix of the QoS overrides ROS reads.
_ROS_PARAMETERS = {"use_sim_time": bool, "start_type_description_service": bool}
_ROS_PARAMETER_PREFIXES = ("qos_overrides.",)
# Ranges for numeric parameters whose descriptor gives none, from what their names say:
# durations, rates, distances, counts and sizes cannot be negative; these must be positive;
# probabilities lie in [0, 1]. A range in a parameter's descriptor takes precedence.
_NON_NEGATIVE_SUFFIXES = (
    "_s", "_hz", "_rate", "_m", "_range", "_depth", "_distance", "_size", "_stride",
    "_steps", "_cells", "_points", "capacity", "resolution", "width", "height",
)  # fmt: skip
_POSITIVE = {"capacity", "resolution", "width", "height", "tree_depth", "grid_size"}
_POSITIVE_SUFFIXES = ("_stride",)
_UNIT_INTERVAL_PREFIXES = ("prob_", "clamp_")
_SCALARS = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}


@dataclass(frozen=True)
class DeclaredParameter:
    """One ``declare_parameter`` of a node: the type of its default and its range."""

    name: str
    kind: type | None  # bool, int, float, str or list; None: not known from the source
    item_kind: type | None = None  # for lists
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class NodeDeclarations:
    """What a node executable declares: its default node name and its parameters."""

    node_name: str | None
    parameters: dict[str, DeclaredParameter] = field(default_factory=dict)
    complete: bool = True  # False: some names are computed, so unknown names are not errors


def _literal_kind(expr: ast.expr) -> tuple[type | None, type | None]:
    """The ROS type of a default expression (and of its items, for a list), if it shows."""
    if isinstance(expr, ast.Constant) and type(expr.value) in _SCALARS:
        return type(expr.value), None
    if isinstance(expr, ast.JoinedStr):
        return str, None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in (
        "str", "int", "float", "bool",
    ):  # fmt: skip
        return {"str": str, "int": int, "float": float, "bool": bool}[expr.func.id], None
    if isinstance(expr, ast.UnaryOp | ast.BinOp):
        constants = [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant)]
        has_name = any(isinstance(n, ast.Name | ast.Attribute) for n in ast.walk(expr))
        if any(isinstance(c, float) for c in constants) or isinstance(expr.op, ast.Div):
            return float, None
        if constants and all(type(c) is int for c in constants) and not has_name:
            return int, None
        return None, None
    if isinstance(expr, ast.List | ast.Tuple):
        kinds = {_literal_kind(item)[0] for item in expr.elts}
        return list, (kinds.pop() if len(kinds) == 1 else None)
    return None, None


def _number(expr: ast.expr) -> float | None:
    try:
        value = ast.literal_eval(expr)
    except ValueError:
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _declared_range(call: ast.Call) -> tuple[float | None, float | None]:
    """``from_value``/``to_value`` of a FloatingPointRange or IntegerRange in the call."""
    for node in ast.walk(call):
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if called in ("FloatingPointRange", "IntegerRange"):
            values = {k.arg: _number(k.value) for k in node.keywords}
            return values.get("from_value"), values.get("to_value")
    return None, None


def _range_from_name(name: str, kind: type | None) -> tuple[float | None, float | None]:
    if kind not in (int, float, list):
        return None, None
    if name.startswith(_UNIT_INTERVAL_PREFIXES):
        return 0.0, 1.0
    if name in _POSITIVE or name.endswith(_POSITIVE_SUFFIXES):
        return (1.0 if kind is int else math.ulp(0.0)), None
    if name.endswith(_NON_NEGATIVE_SUFFIXES):
        return 0.0, None
    return None, None


@functools.cache
def node_declarations(executable: str) -> NodeDeclarations:
    """The parameters ``executable`` declares, read from its module's source (nothing runs).

    The node's own ``declare_parameter`` calls are the one place its parameters are defined;
    reading them keeps the launcher's checks in step with the nodes without a second table.
    """
    spec = importlib.util.find_spec(node_module(executable))
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        return NodeDeclarations(None, complete=False)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    node_name = None
    declared: dict[str, DeclaredParameter] = {}
    complete = True
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        function = call.func
        called = (
            function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        )
        if called == "__init__" and node_name is None and call.args:
            first = call.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node_name = first.value
        if called == "declare_parameters":  # a table of declarations: names not read here
            complete = False
        if called not in ("declare", "declare_parameter") or not call.args:
            continue
        name_expr = call.args[0]
        if not (isinstance(name_expr, ast.Constant) and isinstance(name_expr.value, str)):
            complete = False
            continue
        name = name_expr.value
        kind, item_kind = _literal_kind(call.args[1]) if len(call.args) > 1 else (None, None)
        low, high = _declared_range(call)
        if low is None and high is None:
            low, high = _range_from_name(name, kind)
        declared[name] = DeclaredParameter(name, kind, item_kind, low, high)
    # No declaration found at all: the node declares in a way not read here; check nothing.
    return NodeDeclarations(node_name, declared, complete and bool(declared))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_scalar(where: str, value: Any, kind: type | None) -> None:
    if kind is None or type(value) is kind:
        return
    hint = ""
    if kind is float and type(value) is int:
        hint = f" (ROS does not convert: write {value}.0)"
    raise StackConfigError(
        f"key {where!r}: expected {_SCALARS.get(kind, kind.__name__)}, got {_describe(value)}{hint}"
    )


def _check_range(where: str, value: float, declared: DeclaredParameter) -> None:
    number = float(value)
    if not math.isfinite(number):
        raise StackConfigError(f"key {where!r}: {value} is not a finite number")
    if declared.low is not None and number < declared.low:
        bound = "0 or more" if declared.low == 0 else f"at least {declared.low:g}"
        if 0 < declared.low < 1e-300:
            bound = "more than 0"
        raise StackConfigError(f"key {where!r}: {value} is out of range (must be {bound})")
    if declared.high is not None and number > declared.high:
        raise StackConfigError(
            f"key {where!r}: {value} is out of range (must be at most {declared.high:g})"
        )


def check_declared_value(where: str, value: Any, declared: DeclaredParameter) -> None:
    """Refuse a value the node would refuse or misread: wrong type, out of range, not finite."""
    if declared.kind is list:
        if not isinstance(value, list):
            raise StackConfigError(f"key {where!r}: expected a list, got {_describe(value)}")
        if not value:
            raise StackConfigError(f"key {where!r}: an empty list has no ROS type")
        for item in value:
            _check_scalar(f"{where}[]", item, declared.item_kind)
            if isinstance(item, int | float) and not isinstance(item, bool):
                _check_range(where, item, declared)
        return
    _check_scalar(where, value, declared.kind)
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_range(where, value, declared)


def _section_applies(key: str, node_name: str) -> bool:
    """Whether a parameters-file section named ``key`` configures the node ``node_name``."""
    parts = str(key).strip("/").split("/")
    return parts[-1] in ("**", "*") or parts[-1] == node_name


def check_parameters_for_node(
    path: Path, data: dict[str, Any], executable: str, node_name: str | None
) -> None:
    """Check the sections of a parameters file that configure one node against what it declares.

    A file may hold several nodes' sections (``config/robot.yaml``); only the node's own
    (its name or a ``/**`` wildcard) are checked here.
    """
    declarations = node_declarations(executable)
    name = node_name or declarations.node_name or executable
    for key, section in data.items():
        if not _section_applies(key, name):
            continue
        for param, value in _flatten(section["ros__parameters"]):
            where = f"{key}.ros__parameters.{param}"
            declared = declarations.parameters.get(param)
            if declared is None and param in _ROS_PARAMETERS:
                declared = DeclaredParameter(param, _ROS_PARAMETERS[param])
            if declared is None:
                if not declarations.complete or param.startswith(_ROS_PARAMETER_PREFIXES):
                    continue
                if str(key).strip("/").split("/")[-1] in ("**", "*"):
                    continue  # a wildcard section may configure other nodes too
                known = ", ".join(sorted(declarations.parameters)) or "none"
                raise StackConfigError(
                    f"{path}: key {where!r}: {executable} has no parameter {param!r} "
                    f"(known: {known})"
                )
            try:
                check_declared_value(where, value, declared)
            except StackConfigError as error:
                raise StackConfigError(f"{path}: {error}") from None


def _flatten(params: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested parameter mappings as ROS names them (``a: {b: 1}`` is ``a.b``)."""
    items = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items += _flatten(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def validate_parameters_file(path: Path) -> dict[str, Any]:
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
    return data


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
            data = validate_parameters_file(parameters)
            check_parameters_for_node(parameters, data, executable, name)
        enclave = entry.get("enclave")
        if enclave is not None and (
            not isinstance(enclave, str) or not re.fullmatch(r"(/[A-Za-z_][A-Za-z0-9_]*)+", enclave)
        ):
            raise StackConfigError(
                f"{path}: key '{where}.enclave': not an enclave path like /memory_nodes/x: "
                f"{enclave!r}"
            )
        nodes.append(NodeSpec(executable, name, parameters, enclave))
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
            secured = security_enabled(self.env)
            command = [sys.executable, "-m", node_module(spec.executable)]
            command += spec.ros_args(secured=secured)
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
    from memory_nodes.nodes.runtime import shutdown_after_failed_start, spin_nodes

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
        shutdown_after_failed_start(nodes)
        return 1
    spin_nodes(nodes, stop)
    rclpy.try_shutdown()
    _log("all nodes stopped")
    return 0


def security_enabled(env: dict[str, str]) -> bool:
    return env.get("ROS_SECURITY_ENABLE", "").strip().lower() == "true"


def check_security(config: StackConfig, env: dict[str, str]) -> None:
    """With ``ROS_SECURITY_ENABLE=true``: every node's enclave is in the keystore, and the
    stack runs one process per node (an enclave belongs to a process, not to a node)."""
    if not security_enabled(env):
        return
    if config.composed:
        raise StackConfigError(
            f"{config.path}: key 'stack.composed': a secured stack needs one process per node "
            "(composed: false), each in its own enclave"
        )
    keystore = env.get("ROS_SECURITY_KEYSTORE", "")
    if not keystore or not Path(keystore).is_dir():
        raise StackConfigError(
            f"ROS_SECURITY_KEYSTORE: not a keystore folder: {keystore!r} "
            "(create one with scripts/make_security_keystore.sh)"
        )
    for spec in config.nodes:
        folder = Path(keystore) / "enclaves" / spec.security_enclave.lstrip("/")
        if not (folder / "cert.pem").is_file() or not (folder / "permissions.p7s").is_file():
            raise StackConfigError(
                f"ROS_SECURITY_KEYSTORE: no enclave {spec.security_enclave} for {spec.label} "
                f"in {keystore}"
            )


def up(config_path: str | Path, domain_id: int | None = None) -> int:
    """Validate, start and supervise a stack; the exit code of ``memstack up``."""
    try:
        config = load_stack_config(config_path)
        env = local_dds_environment(domain_id=domain_id)
        check_security(config, env)
    except MemoryStackError as error:
        print(f"[memstack] error: {' '.join(str(error).split())[:400]}", file=sys.stderr)
        return 2
    _log(
        f"stack {config.path.name}: {len(config.nodes)} node(s), "
        f"{'composed in one process' if config.composed else 'one process each'}, "
        f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}"
        + (f", secured (keystore {env['ROS_SECURITY_KEYSTORE']})" if security_enabled(env) else "")
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
