"""``memstack detector``: a handful of rendered images train for one epoch, offline, and evaluate.

Proves the commands work end to end (tiny images, one epoch: the network learns nothing here);
the real training runs outside the tests (docs/detector.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from memory_nodes.cli import main

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("YOLO_OFFLINE", "1")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None, reason="needs ultralytics"
)


@pytest.mark.slow  # imports torch, renders and trains (about 20 s)
def test_one_epoch_on_a_handful_of_images_trains_offline_and_evaluates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, runs = tmp_path / "dataset", tmp_path / "runs"
    scenes = ["FloorPlan1", "FloorPlan301", "FloorPlan21", "FloorPlan26"]
    assert main(["detector", "dataset", "--out", str(dataset), "--scenes", *scenes,
                 "--width", "96", "--height", "72", "--train-views", "3", "--val-views", "2",
                 "--test-views", "2", "--no-progress"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
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
