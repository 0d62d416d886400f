"""The memstack command line: every subcommand a user is told about works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memory_nodes.cli import main


def test_sim_path_prints_an_executable_the_ai2thor_client_can_start(capsys) -> None:
    assert main(["sim", "path"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file() and os.access(path, os.X_OK)
    assert "sim.thor_pipe_server" in path.read_text()


def test_env_prints_local_only_dds_exports(capsys) -> None:
    assert main(["env", "--domain-id", "7"]) == 0
    out = capsys.readouterr().out
    assert "export ROS_DOMAIN_ID=7" in out
    assert "export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST" in out
    assert "fastdds_local.xml" in out


def test_check_config_lists_nodes_and_rejects_bad_files(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "memory_nodes.cli", "check-config"]
    ok = subprocess.run(
        [*command, str(root / "config" / "stack_sim.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0 and "sim_bridge" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("stack: [1, 2]\n")
    assert main(["check-config", str(bad)]) == 2


@pytest.mark.slow
def test_eval_plot_draws_a_task_report(tmp_path: Path) -> None:
    report = Path(__file__).resolve().parents[1] / "bench/data/house_eval_persistent_160x120.json"
    assert main(["eval", "plot", str(report), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "task_actions_by_category.png",
        "task_actions_by_subgoal_kind.png",
        "task_actions_per_task.png",
    ]
    assert main(["eval", "plot", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main(["eval", "plot", str(tmp_path / "list.json"), "--out", str(tmp_path)]) == 2
