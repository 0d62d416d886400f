"""Every ``memstack`` command answers bad input with one clear line on stderr and exit code 2.

Each case runs ``memstack`` as a user would, in a process of its own, from a folder holding
the bad files. Argument errors that argparse reports print its usage first; every other case
prints exactly one line. No case may print a traceback or start a node.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _stack(node: str, params: str, composed: bool = False) -> str:
    return (
        f"stack:\n  composed: {str(composed).lower()}\n  nodes:\n"
        f"    - {{executable: {node}, parameters: {params}}}\n"
    )


def _task(goal: str, floorplan: object = 1) -> str:
    floor = f'"{floorplan}"' if isinstance(floorplan, str) else floorplan
    return f'{{"Set": [{{"FloorPlan": {floor}, "ID": 1, "Goal Condition": "{goal}"}}]}}'


# Files every case can name (written into the case's working folder).
FILES: dict[str, str | bytes] = {
    "good.yaml": "stack:\n  nodes:\n    - executable: short_term_memory_node\n",
    "not_yaml.yaml": "stack: {nodes: [\n",
    "bad_enclave.yaml": "stack:\n  nodes:\n    - {executable: octree_node, enclave: ../etc}\n",
    "good_composed.yaml": "stack:\n  composed: true\n  nodes:\n    - executable: octree_node\n",
    "random.yaml": bytes(range(256)) * 4,
    "float_as_text.yaml": _stack("memory_server", "ms_text.yaml"),
    "ms_text.yaml": "memory_server:\n  ros__parameters:\n    sync_slop_s: fast\n",
    "negative_rate.yaml": _stack("sim_bridge_node", "bridge_rate.yaml"),
    "bridge_rate.yaml": "sim_bridge:\n  ros__parameters:\n    publish_rate_hz: -1.0\n",
    "negative_capacity.yaml": _stack("short_term_memory_node", "stm_capacity.yaml", True),
    "stm_capacity.yaml": "short_term_memory:\n  ros__parameters:\n    capacity: -5\n",
    "int_for_float.yaml": _stack("short_term_memory_node", "stm_int.yaml"),
    "stm_int.yaml": "short_term_memory:\n  ros__parameters:\n    max_age_s: 60\n",
    "typo.yaml": _stack("short_term_memory_node", "stm_typo.yaml"),
    "stm_typo.yaml": "short_term_memory:\n  ros__parameters:\n    capcity: 3\n",
    "not_finite.yaml": _stack("octree_node", "octree_nan.yaml"),
    "octree_nan.yaml": "octree:\n  ros__parameters:\n    resolution: .nan\n",
    "probability.yaml": _stack("octree_node", "octree_prob.yaml"),
    "octree_prob.yaml": "octree:\n  ros__parameters:\n    prob_hit: 1.5\n",
    "tasks_not_json.json": "{not json",
    "tasks_shape.json": "[1, 2]",
    "tasks_no_goal.json": '{"Set": [{"FloorPlan": 1}]}',
    "tasks_predicate.json": _task("FROB(Apple, Fridge): 1"),
    "tasks_type.json": _task("INSIDE(Zorblax, Fridge): 1"),
    "tasks_floorplan.json": _task("INSIDE(Apple, Fridge): 1", 9999),
    "tasks_huge_name.json": _task(f"INSIDE({'Q' * 1_000_000}, Fridge): 1"),
    "report_not_json.json": "\x00\x01",
    "report_rows.json": '{"tasks": [1, 2]}',
}


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: str  # a fragment the error line must contain
    argparse: bool = False  # argparse prints its usage before the error line
    env: dict[str, str] = field(default_factory=dict)


FAST_CASES = {
    "env_domain_out_of_range": Case(("env", "--domain-id", "999"), "outside 0..232"),
    "env_exported_domain_not_a_number": Case(
        ("env",), "not an integer", env={"ROS_DOMAIN_ID": "x"}
    ),
    "env_exported_profile_missing": Case(
        ("env",), "file not found", env={"FASTDDS_DEFAULT_PROFILES_FILE": "/nonexistent/p.xml"}
    ),
    "env_domain_not_an_int": Case(("env", "--domain-id", "x"), "invalid int", argparse=True),
    "unknown_command": Case(("teleport",), "invalid choice", argparse=True),
    "up_without_config": Case(("up",), "--config", argparse=True),
    "up_missing_file": Case(("up", "--config", "missing.yaml"), "file not found"),
    "up_domain_out_of_range": Case(
        ("up", "--config", "good.yaml", "--domain-id", "300"), "outside 0..232"
    ),
    "up_string_for_float": Case(("up", "--config", "float_as_text.yaml"), "expected a float"),
    "up_negative_rate": Case(("up", "--config", "negative_rate.yaml"), "publish_rate_hz"),
    "up_composed_negative_capacity": Case(("up", "--config", "negative_capacity.yaml"), "capacity"),
    "up_secured_without_keystore": Case(
        ("up", "--config", "good.yaml"),
        "ROS_SECURITY_KEYSTORE",
        env={"ROS_SECURITY_ENABLE": "true", "ROS_SECURITY_KEYSTORE": "/nonexistent"},
    ),
    "up_secured_composed": Case(
        ("up", "--config", "good_composed.yaml"),
        "one process per node",
        env={"ROS_SECURITY_ENABLE": "true"},
    ),
    "check_bad_enclave": Case(("check-config", "bad_enclave.yaml"), "enclave"),
    "check_not_yaml": Case(("check-config", "not_yaml.yaml"), "not valid YAML"),
    "check_random_bytes": Case(("check-config", "random.yaml"), "random.yaml"),
    "check_directory": Case(("check-config", "."), "not a file"),
    "check_int_for_float": Case(("check-config", "int_for_float.yaml"), "write 60.0"),
    "check_unknown_parameter": Case(("check-config", "typo.yaml"), "no parameter 'capcity'"),
    "check_not_finite": Case(("check-config", "not_finite.yaml"), "not a finite number"),
    "check_probability_above_one": Case(("check-config", "probability.yaml"), "at most 1"),
    "sim_unknown_argument": Case(("sim", "path", "--fast"), "unrecognized", argparse=True),
}
SLOW_CASES = {  # these import the simulator or the evaluation (2-5 s each)
    "tasks_missing_file": Case(("eval", "tasks", "--tasks", "missing.json"), "not found"),
    "tasks_not_json": Case(("eval", "tasks", "--tasks", "tasks_not_json.json"), "not a JSON"),
    "tasks_unknown_predicate": Case(
        ("eval", "tasks", "--tasks", "tasks_predicate.json"), "unknown predicate FROB"
    ),
    "tasks_unknown_type": Case(("eval", "tasks", "--tasks", "tasks_type.json"), "Zorblax"),
    "tasks_unknown_floorplan": Case(
        ("eval", "tasks", "--tasks", "tasks_floorplan.json"), "FloorPlan9999"
    ),
    "tasks_megabyte_type_name": Case(
        ("eval", "tasks", "--tasks", "tasks_huge_name.json"), "unknown object name"
    ),
    "tasks_negative_deadline": Case(
        ("eval", "tasks", "--tasks", "tasks_type.json", "--deadline-s", "-1"), "--deadline-s"
    ),
    "fidelity_unknown_scene": Case(("eval", "fidelity", "--scenes", "Kitchen9"), "Kitchen9"),
    "plot_rows_not_objects": Case(("eval", "plot", "report_rows.json"), "must be an object"),
    "demo_unknown_scene": Case(("demo", "--scene", "FloorPlan9999"), "FloorPlan9999"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_input")
    for name, content in FILES.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def _run(case: Case, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **case.env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "memory_nodes.cli", *case.args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _check(case: Case, result: subprocess.CompletedProcess) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines, "no error message"
    if not case.argparse:
        assert len(lines) == 1, result.stderr[-2000:]
    assert "error" in lines[-1] and case.says in lines[-1], lines[-1]
    assert len(lines[-1]) <= 500, "an error line must stay short whatever the input"
    assert "started" not in result.stdout and "composed" not in result.stdout  # nothing ran


@pytest.mark.parametrize("name", sorted(FAST_CASES))
def test_memstack_refuses_bad_input_in_one_line_with_exit_code_2(
    name: str, bad_files: Path
) -> None:
    _check(FAST_CASES[name], _run(FAST_CASES[name], bad_files))


@pytest.fixture(scope="module")
def slow_results(bad_files: Path) -> dict[str, subprocess.CompletedProcess]:
    """The slow cases run three at a time: most of each is Python importing the evaluation."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_run, case, bad_files) for name, case in SLOW_CASES.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_CASES))
def test_memstack_evaluations_and_demo_refuse_bad_input_in_one_line(
    name: str, slow_results: dict[str, subprocess.CompletedProcess]
) -> None:
    _check(SLOW_CASES[name], slow_results[name])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[1, 2]", "expected an object, got int"),
        ('{"Set": {"FloorPlan": 1}}', "expected a list of tasks"),
        ('{"Set": [{"FloorPlan": 1}]}', "'Goal Condition' must be a string"),
        ('{"Set": [{"FloorPlan": [1], "Goal Condition": "ON(Apple, Table): 1"}]}', "FloorPlan"),
        ('{"Set": [{"FloorPlan": 1, "ID": "x", "Goal Condition": "ON(Apple, Table)"}]}', "ID"),
        ('{"Set": [{"FloorPlan": "Kitchen", "Goal Condition": "ON(Apple, Table): 1"}]}', "Kit"),
        (b"\xff\xfe", "not a JSON task file"),
    ],
)
def test_task_file_of_the_wrong_shape_is_refused_naming_file_and_task(
    tmp_path: Path, content: str | bytes, says: str
) -> None:
    from memory_nodes.core.errors import InvalidInputError
    from sim.karma_tasks import load_tasks

    path = tmp_path / "tasks.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InvalidInputError, match=r"tasks\.json") as raised:
        load_tasks(path)
    assert says in str(raised.value)


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "cannot read the report"), ("\x00", "cannot read the report"), ("[]", "no 'tasks'")],
)
def test_task_report_that_cannot_be_read_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, says: str
) -> None:
    from memory_nodes.evaluation.figures import main as plot_main

    report = tmp_path / "report.json"
    if content is not None:
        report.write_text(content)
    assert plot_main([str(report), "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0]


@pytest.mark.ros
@pytest.mark.parametrize(
    "executable",
    ["short_term_memory_node", pytest.param("octree_node", marks=pytest.mark.slow)],  # JIT: 5 s
)
def test_launcher_reads_the_parameters_a_running_node_declares(
    executable: str, tmp_path: Path
) -> None:
    """The stack-file checks read each node's declarations from its source; a node built in
    this process declares the same names with the same types."""
    import rclpy
    from rclpy.parameter import Parameter

    from memory_nodes.launcher import node_declarations
    from memory_nodes.nodes.registry import node_class

    kinds = {
        Parameter.Type.BOOL: bool, Parameter.Type.INTEGER: int, Parameter.Type.DOUBLE: float,
        Parameter.Type.STRING: str, Parameter.Type.STRING_ARRAY: list,
        Parameter.Type.DOUBLE_ARRAY: list, Parameter.Type.INTEGER_ARRAY: list,
    }  # fmt: skip
    declared = node_declarations(executable)
    context = rclpy.Context()
    rclpy.init(context=context)
    overrides = ["--ros-args", "-p", f"map_path:={tmp_path / 'map.mnoct'}"]
    node = node_class(executable)(context=context, cli_args=overrides)
    try:
        live = {name: node.get_parameter(name).type_ for name in node._parameters}
        name = node.get_name()
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert declared.complete and declared.node_name == name
    assert set(declared.parameters) == set(live) - {
        "use_sim_time",
        "start_type_description_service",
    }
    for name, parameter in declared.parameters.items():
        if parameter.kind is not None:
            assert kinds[live[name]] is parameter.kind, name
