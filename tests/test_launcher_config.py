"""Bad stack and parameters files are refused before anything starts, naming file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memory_nodes.core.errors import StackConfigError
from memory_nodes.launcher import load_stack_config
from memory_nodes.nodes.registry import known_executables

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _stack_with_params(executable: str, params: str) -> str:
    return f"stack:\n  nodes:\n    - executable: {executable}\n      parameters: {params}\n"


@pytest.fixture
def any_node() -> str:
    return known_executables()[0]


def test_unknown_node_name_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    stack = _write(tmp_path / "s.yaml", "stack:\n  nodes:\n    - executable: teleporter_node\n")
    with pytest.raises(
        StackConfigError, match=r"s\.yaml.*stack\.nodes\[0\]\.executable.*teleporter"
    ):
        load_stack_config(stack)


def test_malformed_parameters_file_is_refused_naming_file_and_key(
    tmp_path: Path, any_node: str
) -> None:
    _write(tmp_path / "p.yaml", "my_node:\n  parameters:\n    capacity: 3\n")
    stack = _write(
        tmp_path / "s.yaml",
        _stack_with_params(any_node, "p.yaml"),
    )
    with pytest.raises(StackConfigError, match=r"p\.yaml: key 'my_node'.*ros__parameters"):
        load_stack_config(stack)


def test_parameters_file_that_is_not_yaml_is_refused(tmp_path: Path, any_node: str) -> None:
    _write(tmp_path / "p.yaml", "a: [unclosed\n")
    stack = _write(
        tmp_path / "s.yaml",
        _stack_with_params(any_node, "p.yaml"),
    )
    with pytest.raises(StackConfigError, match=r"p\.yaml: not valid YAML"):
        load_stack_config(stack)


def test_missing_parameters_file_is_refused(tmp_path: Path, any_node: str) -> None:
    stack = _write(
        tmp_path / "s.yaml",
        _stack_with_params(any_node, "no.yaml"),
    )
    with pytest.raises(StackConfigError, match=r"stack\.nodes\[0\]\.parameters.*not found"):
        load_stack_config(stack)


def test_unknown_key_and_empty_list_are_refused(tmp_path: Path, any_node: str) -> None:
    typo = _write(tmp_path / "a.yaml", f"stack:\n  nodes:\n    - executabel: {any_node}\n")
    with pytest.raises(StackConfigError, match=r"stack\.nodes\[0\]\.executabel.*unknown key"):
        load_stack_config(typo)
    empty = _write(tmp_path / "b.yaml", "stack:\n  nodes: []\n")
    with pytest.raises(StackConfigError, match=r"stack\.nodes.*non-empty"):
        load_stack_config(empty)


def test_memstack_up_with_bad_config_exits_nonzero_and_starts_nothing(tmp_path: Path) -> None:
    stack = _write(tmp_path / "s.yaml", "stack:\n  nodes:\n    - executable: nope_node\n")
    result = subprocess.run(
        [sys.executable, "-m", "memory_nodes.cli", "up", "--config", str(stack)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "s.yaml" in result.stderr and "stack.nodes[0].executable" in result.stderr
    assert "started" not in result.stdout


@pytest.mark.parametrize("stack_file", sorted((ROOT / "config").glob("stack*.yaml")), ids=str)
def test_shipped_stack_files_are_valid(stack_file: Path) -> None:
    config = load_stack_config(stack_file)
    assert config.nodes
