"""The package is installable as ament_python and every name it publishes resolves."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest

from memory_nodes import __version__
from memory_nodes.nodes.registry import NODE_MODULES

ROOT = Path(__file__).resolve().parents[1]


def _setup_py_constant(name: str) -> object:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in setup.py")


def test_one_version_in_setup_package_xml_and_module() -> None:
    package_xml = ET.parse(ROOT / "package.xml").getroot()
    interfaces_xml = ET.parse(ROOT / "memory_interfaces" / "package.xml").getroot()
    assert package_xml.findtext("name") == "memory_nodes"
    assert package_xml.get("format") == "3"
    assert package_xml.find("export/build_type").text == "ament_python"
    assert interfaces_xml.find("export/build_type").text == "ament_cmake"
    version = _setup_py_constant("VERSION")
    assert version == package_xml.findtext("version") == __version__
    assert interfaces_xml.findtext("version") == version


def test_every_node_is_a_console_script_and_every_script_resolves() -> None:
    scripts = _setup_py_constant("CONSOLE_SCRIPTS")
    assert isinstance(scripts, dict)
    for executable, module in NODE_MODULES.items():
        assert scripts.get(executable) == f"{module}:main"
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    for name, target in scripts.items():
        assert installed.get(name) == target, f"{name} is not installed; rerun scripts/setup.sh"
        module, function = target.split(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))


def _launch_file_references(path: Path) -> tuple[set[str], set[str]]:
    text = path.read_text()
    executables = set(re.findall(r"executable\s*=\s*[\"']([\w-]+)[\"']", text))
    params = set(re.findall(r"[\"']([\w./-]+\.yaml)[\"']", text))
    return executables, params


@pytest.mark.parametrize("launch_file", sorted((ROOT / "launch").glob("*_launch.py")), ids=str)
def test_launch_file_names_only_entry_points_and_existing_parameter_files(
    launch_file: Path,
) -> None:
    executables, params = _launch_file_references(launch_file)
    assert executables, f"{launch_file.name} names no executable"
    scripts = _setup_py_constant("CONSOLE_SCRIPTS")
    for executable in executables:
        assert executable in scripts, f"{launch_file.name}: {executable} is not an entry point"
        assert executable in NODE_MODULES
    for param in params:
        assert (ROOT / "config" / Path(param).name).is_file(), f"{launch_file.name}: {param}"


def test_launch_files_exist_for_the_memory_stack_and_the_robot() -> None:
    names = {p.name for p in (ROOT / "launch").glob("*_launch.py")}
    assert {"memory_stack_launch.py", "robot_launch.py"} <= names
