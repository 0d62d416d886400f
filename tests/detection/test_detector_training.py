"""``memstack detector``: a handful of rendered images train for one epoch, offline, and evaluate.

Proves the commands work end to end (tiny images, one epoch: the network learns nothing here);
the real training runs outside the tests (docs/detector.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory_nodes.cli import main
from memory_nodes.detection.dataset import dataset_summary

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("YOLO_OFFLINE", "1")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None, reason="needs ultralytics"
)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten 96x72 views: six of two training FloorPlans, two validation, two test."""
    dataset = tmp_path_factory.mktemp("detector") / "dataset"
    scenes = ["FloorPlan1", "FloorPlan301", "FloorPlan21", "FloorPlan26"]
    assert main(["detector", "dataset", "--out", str(dataset), "--scenes", *scenes,
                 "--width", "96", "--height", "72", "--train-views", "3", "--val-views", "2",
                 "--test-views", "2", "--no-progress"]) == 0  # fmt: skip
    return dataset


@pytest.mark.slow  # imports torch, renders and trains (about 40 s)
def test_one_epoch_on_a_handful_of_images_trains_offline_and_evaluates(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    dataset, runs = tiny_dataset, tmp_path / "runs"
    summary = dataset_summary(dataset)
    assert [summary["splits"][s]["images"] for s in ("train", "val", "test")] == [6, 2, 2]

    train = ["detector", "train", "--data", str(dataset / "data.yaml"), "--out", str(runs)]
    assert main([*train, "--epochs", "1", "--imgsz", "64", "--batch", "4"]) == 0
    record = json.loads((runs / "training_time.json").read_text())
    assert record["sessions"][-1]["network_attempts"] == 0
    assert record["sessions"][-1]["last_epoch"] == 1
    assert record["total_seconds"] > 0
    weights = runs / "train" / "weights"
    assert (weights / "last.pt").is_file() and (weights / "best.pt").is_file()
    # A finished run is not started over by accident.
    assert main([*train, "--epochs", "1"]) == 2

    assert main(["detector", "evaluate", "--weights", str(weights / "best.pt"),
                 "--data", str(dataset / "data.yaml"), "--imgsz", "64",
                 "--json", str(tmp_path / "test.json")]) == 0  # fmt: skip
    result = json.loads((tmp_path / "test.json").read_text())
    assert result["split"] == "test" and result["images"] == 2
    assert 0.0 <= result["mask_map50"] <= 1.0
    assert result["network_attempts"] == 0


@pytest.mark.slow  # two training processes (about 60 s)
def test_training_stopped_after_an_epoch_resumes_from_its_checkpoint(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    time_log = runs / "training_time.json"
    command = [sys.executable, "-m", "memory_nodes.cli", "detector", "train"]
    first = subprocess.Popen(
        [*command, "--data", str(tiny_dataset / "data.yaml"), "--out", str(runs),
         "--epochs", "3", "--imgsz", "64", "--batch", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240.0
        while time.monotonic() < deadline and first.poll() is None:
            if time_log.exists() and json.loads(time_log.read_text())["sessions"][0]["last_epoch"]:
                break
            time.sleep(0.2)
    finally:
        first.kill()  # stopped as a machine would stop it: mid-run, after an epoch
        first.wait(timeout=30)
    stopped_at = json.loads(time_log.read_text())["sessions"][0]["last_epoch"]
    assert 1 <= stopped_at < 3
    resumed = subprocess.run(
        [*command, "--out", str(runs), "--resume"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"from epoch {stopped_at + 1} to 3 total epochs" in resumed.stdout + resumed.stderr
    sessions = json.loads(time_log.read_text())["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert sessions[-1]["last_epoch"] == 3
    assert all(s["network_attempts"] == 0 for s in sessions)


def test_bad_detector_input_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["detector", "train", "--resume", "--out", str(tmp_path)]) == 2
    assert main(["detector", "dataset", "--scenes", "FloorPlan999", "--out", str(tmp_path)]) == 2
    assert main(["detector", "evaluate", "--weights", str(tmp_path / "none.pt")]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["detector", "train", "--epochs", "many"])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all("error" in line for line in errors)
