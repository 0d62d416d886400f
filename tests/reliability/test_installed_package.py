"""A package installed outside the source tree starts its nodes with the DDS settings the user
exported: the package is installed (not editable) into a scratch prefix and run from there,
with the work tree out of reach (a temporary working directory, PYTHONPATH = the prefix)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from memory_interfaces.srv import QueryObjects

from memory_nodes import ros_env
from memory_nodes.core.errors import NotFoundError, StackConfigError
from tests.ros.conftest import call_service

ROOT = Path(__file__).resolve().parents[2]
# What setup.py packages: the Python packages and the data files it installs to share/.
PACKAGED = ["setup.py", "setup.cfg", "package.xml", "resource", "config", "launch", "memory_nodes"]
PACKAGED += ["sim"]


def _copy_sources(destination: Path) -> Path:
    """The tracked files setup.py packages, copied as they are in the work tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", *PACKAGED], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is not packaged
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


@pytest.fixture(scope="module")
def installed_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of this package (not editable), without dependencies.

    ``--target``, not ``--prefix``: pip's ``--prefix`` uninstalls the venv's own (editable)
    copy of the package it finds on the path.
    """
    scratch = tmp_path_factory.mktemp("installed")
    sources = _copy_sources(scratch / "sources")
    prefix = scratch / "prefix"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--target", str(prefix), str(sources)],
        cwd=scratch, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (prefix / "memory_nodes" / "ros_env.py").is_file()
    assert (prefix / "share" / "memory_nodes" / "config" / "fastdds_local.xml").is_file()
    return prefix


def _user_environment(prefix: Path, profile: Path | None, domain_id: int) -> dict[str, str]:
    """The environment of a user of the installed package: no work tree anywhere on the path."""
    env = {k: v for k, v in os.environ.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}
    env["PYTHONPATH"] = str(prefix)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if profile is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    return env


def _user_profile(directory: Path) -> Path:
    """The user's own Fast DDS profile (loopback only, as every test here must be)."""
    profile = directory / "my_profile.xml"
    profile.write_text((ROOT / "config" / "fastdds_local.xml").read_text())
    return profile


def _other_domain_id() -> int:
    """A domain id other than this test run's, so an answer proves the exported one is used."""
    return (int(os.environ.get("ROS_DOMAIN_ID", "0")) + 37) % 100 + 101


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow  # installs the package (about 5 s, once per module)
def test_installed_modules_come_from_the_prefix_not_the_work_tree(
    installed_prefix: Path, tmp_path: Path
) -> None:
    env = _user_environment(installed_prefix, None, 5)
    probe = "import memory_nodes, sim; print(memory_nodes.__file__); print(sim.__file__)"
    result = _run([sys.executable, "-c", probe], env, tmp_path)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert Path(line).is_relative_to(installed_prefix), result.stdout


@pytest.mark.slow  # installs the package (about 5 s, once per module)
def test_installed_memstack_env_prints_the_exported_settings(
    installed_prefix: Path, tmp_path: Path
) -> None:
    memstack = str(installed_prefix / "bin" / "memstack")
    profile = _user_profile(tmp_path)
    exported = _run([memstack, "env"], _user_environment(installed_prefix, profile, 123), tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "export ROS_DOMAIN_ID=123" in exported.stdout
    assert f"export FASTDDS_DEFAULT_PROFILES_FILE={profile}" in exported.stdout

    # Nothing exported but the domain: the profile is found in the installed share folder.
    shipped = _run([memstack, "env"], _user_environment(installed_prefix, None, 124), tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    share = installed_prefix / "share" / "memory_nodes" / "config" / "fastdds_local.xml"
    assert f"export FASTDDS_DEFAULT_PROFILES_FILE={share}" in shipped.stdout
    assert "export ROS_DOMAIN_ID=124" in shipped.stdout


@pytest.fixture
def installed_memory_server(installed_prefix: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``memory_server`` started from the prefix's own script, in a domain of its own."""
    domain_id = _other_domain_id()
    env = _user_environment(installed_prefix, _user_profile(tmp_path), domain_id)
    log = tmp_path / "memory_server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(installed_prefix / "bin" / "memory_server"), "--ros-args",
             "-p", f"database_path:={tmp_path / 'memory.sqlite'}",
             "-p", "change_detection:=false"],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield domain_id, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.mark.slow  # installs the package (about 5 s, once per module)
def test_installed_memory_server_answers_in_the_exported_domain(
    installed_memory_server: tuple[int, Path],
) -> None:
    domain_id, log = installed_memory_server
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("installed_package_client", context=context)
    try:
        query = node.create_client(QueryObjects, "/memory_server/query_objects")
        answer = call_service(node, query, QueryObjects.Request(), timeout_s=30.0, resend_s=5.0)
        assert answer.success and list(answer.records) == [], log.read_text()
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    text = log.read_text()
    assert "Traceback" not in text and "not found" not in text, text


def test_an_exported_profile_is_used_without_looking_for_the_shipped_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def _no_share(name: str) -> Path:
        raise NotFoundError(f"config file {name!r} not found")

    monkeypatch.setattr(ros_env, "find_config_file", _no_share)
    profile = _user_profile(tmp_path)
    env = ros_env.local_dds_environment(
        base={"FASTDDS_DEFAULT_PROFILES_FILE": str(profile), "ROS_DOMAIN_ID": "17"}
    )
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(profile) and env["ROS_DOMAIN_ID"] == "17"
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert ros_env.local_dds_environment(base=env, domain_id=18)["ROS_DOMAIN_ID"] == "18"
    # Nothing exported and nothing shipped: one clear error that says what to export.
    with pytest.raises(NotFoundError, match="export FASTDDS_DEFAULT_PROFILES_FILE"):
        ros_env.local_dds_environment(base={})


@pytest.mark.parametrize(
    ("base", "domain_id", "says"),
    [
        ({"ROS_DOMAIN_ID": "seven"}, None, "not an integer"),
        ({"ROS_DOMAIN_ID": "300"}, None, "outside 0..232"),
        ({}, -1, "outside 0..232"),
        ({"FASTDDS_DEFAULT_PROFILES_FILE": "/nonexistent.xml"}, None, "file not found"),
    ],
)
def test_bad_dds_settings_are_refused_by_name(base: dict, domain_id: int | None, says: str) -> None:
    with pytest.raises(StackConfigError, match=says):
        ros_env.local_dds_environment(base=base, domain_id=domain_id)


def test_starting_a_node_sets_no_dds_variable() -> None:
    """The node entry point leaves the DDS environment to the user (ROS users expect that)."""
    import inspect

    from memory_nodes.nodes import runtime

    source = inspect.getsource(runtime)
    assert "ros_env" not in source and "FASTDDS_DEFAULT_PROFILES_FILE" not in source
    assert "ROS_DOMAIN_ID" not in source and "os.environ" not in source
