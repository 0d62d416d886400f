"""A robot's workspace build: colcon finds and builds both packages of this repository.

colcon does not look inside a folder that is itself a package, so the interface package below
the root package is named with ``--base-paths`` (as the README tells robot users to do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memory_nodes.nodes.registry import NODE_MODULES

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)

# Two packages built from scratch (CMake code generation and compilation for the interfaces):
# about 3 CPU minutes, over 5 minutes of wall time on two busy cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_colcon_builds_both_packages_and_installs_nodes_launch_and_config(tmp_path: Path) -> None:
    colcon = shutil.which("colcon", path=str(VENV / "bin"))
    if colcon is None:
        pytest.fail("colcon is not installed in the venv (colcon-common-extensions)")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    command = [
        colcon,
        "--log-base", str(tmp_path / "log"),
        "build",
        "--base-paths", str(ROOT), str(ROOT / "memory_interfaces"),
        "--build-base", str(tmp_path / "build"),
        "--install-base", str(tmp_path / "install"),
        "--cmake-args", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 packages finished" in result.stdout

    install = tmp_path / "install"
    for executable in ["memstack", *NODE_MODULES]:
        assert (install / "memory_nodes" / "lib" / "memory_nodes" / executable).is_file()
    share = install / "memory_nodes" / "share" / "memory_nodes"
    assert {p.name for p in (ROOT / "launch").glob("*_launch.py")} <= {
        p.name for p in (share / "launch").iterdir()
    }
    assert (share / "config" / "fastdds_local.xml").is_file()

    # The interfaces built by colcon import from the workspace, not from the venv.
    site = install / "memory_interfaces" / "lib" / "python3.11" / "site-packages"
    probe_env = dict(env, PYTHONPATH=str(site))
    probe_env["LD_LIBRARY_PATH"] = f"{install / 'memory_interfaces' / 'lib'}:" + env.get(
        "LD_LIBRARY_PATH", ""
    )
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import memory_interfaces.srv as s; print(s.__file__); s.QueryObjects.Request()",
        ],
        env=probe_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(site) in probe.stdout
