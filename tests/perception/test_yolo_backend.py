"""The YOLO backend loads a local weights file and runs on a frame; nothing is downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from memory_nodes.core.torch_runtime import hide_triton
from memory_nodes.perception.backends import YoloBackend
from memory_nodes.perception.observations import ObservationExtractor
from tests.perception.test_observations import _frame

hide_triton()  # before ultralytics pulls in torch (see core/torch_runtime.py)
# Only look for ultralytics here: importing it (and torch) at collection costs seconds even
# when these tests are deselected.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None, reason="needs ultralytics"
)


@pytest.fixture(scope="module")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A segmentation network built from the model YAML that ultralytics ships (no weights)."""
    hide_triton()
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "untrained_seg.pt"
    YOLO("yolov8n-seg.yaml").save(str(path))
    return path


@pytest.mark.slow  # imports torch and builds a network
def test_yolo_backend_runs_the_pipeline_from_a_local_file(untrained_weights: Path) -> None:
    extractor = ObservationExtractor(YoloBackend(untrained_weights, min_score=0.25))
    result = extractor.extract(_frame())
    # Untrained weights detect nothing credible; the pipeline still yields the labelled cloud.
    assert all(o.source == "yolo" for o in result.observations)
    assert len(result.cloud_points) == result.stats.pixels


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="YOLO weights not found"):
        YoloBackend(tmp_path / "none.pt")
