"""Pictures of task evaluation reports: the saved bench reports and small hand-built ones."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from memory_nodes.evaluation.figures import (
    FIGURE_BY_CATEGORY,
    FIGURE_BY_SUBGOAL_KIND,
    FIGURE_PER_TASK,
    plot_task_evaluation,
)

pytestmark = pytest.mark.slow  # every test draws figures with matplotlib

BENCH_DATA = Path(__file__).resolve().parents[1] / "bench" / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_readable_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    # Large enough to read at README size, not a runaway canvas.
    assert 600 <= width <= 2000
    assert 400 <= height <= 1400


def _row(
    task_id: int, mode: str, session: int, actions: int, success: bool, **extra: Any
) -> dict[str, Any]:
    subgoals = [
        {"subgoal": "find(Apple)", "actions": actions - 2, "success": True},
        {"subgoal": "navigate(Apple)", "actions": 1, "success": True},
        {"subgoal": "pickup(Apple)", "actions": 1, "success": success},
    ]
    row = {
        "task_set": "SimpleTasks", "task_id": task_id, "scene": "FloorPlan1", "mode": mode,
        "session": session, "actions": actions, "success": success, "feasible": True,
        "achievable": True, "failure_reason": "none" if success else "step_budget",
        "subgoals": subgoals,
    }  # fmt: skip
    row.update(extra)
    return row


@pytest.mark.parametrize(
    "report_file", ["karma_eval_persistent_160x120.json", "house_eval_persistent_160x120.json"]
)
def test_a_saved_two_mode_report_gets_all_three_figures(report_file: str, tmp_path: Path) -> None:
    report = json.loads((BENCH_DATA / report_file).read_text())
    written = plot_task_evaluation(report, tmp_path / "figures")
    assert [p.name for p in written] == [
        FIGURE_BY_CATEGORY,
        FIGURE_PER_TASK,
        FIGURE_BY_SUBGOAL_KIND,
    ]
    for path in written:
        assert path.parent == tmp_path / "figures"
        _assert_readable_png(path)


def test_a_one_mode_report_skips_the_per_task_comparison_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = {
        "settings": {"modes": ["memory"], "max_steps": 400},
        "tasks": [_row(1, "memory", 1, 12, True), _row(2, "memory", 1, 400, False)],
    }
    with caplog.at_level(logging.WARNING, logger="memory_nodes.evaluation.figures"):
        written = plot_task_evaluation(report, tmp_path)
    assert [p.name for p in written] == [FIGURE_BY_CATEGORY, FIGURE_BY_SUBGOAL_KIND]
    assert not (tmp_path / FIGURE_PER_TASK).exists()
    assert any(FIGURE_PER_TASK in r.getMessage() and "one mode" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    for path in written:
        _assert_readable_png(path)


def test_without_memory_and_no_memory_the_first_two_modes_are_compared(tmp_path: Path) -> None:
    # Report order, not the alphabet: short_term ran first.
    report = {
        "settings": {"modes": ["short_term", "oracle"]},
        "tasks": [
            _row(task, mode, session, 10 * task + offset, task != 3)
            for task in (1, 2, 3)
            for session in (1, 2)
            for mode, offset in (("short_term", 5), ("oracle", 0))
        ],
    }
    written = plot_task_evaluation(report, tmp_path)
    assert [p.name for p in written] == [
        FIGURE_BY_CATEGORY,
        FIGURE_PER_TASK,
        FIGURE_BY_SUBGOAL_KIND,
    ]
    _assert_readable_png(tmp_path / FIGURE_PER_TASK)


def test_rows_without_subgoals_skip_only_the_subgoal_figure(tmp_path: Path) -> None:
    rows = [_row(1, mode, 1, 30, True) for mode in ("memory", "no_memory")]
    for row in rows:
        del row["subgoals"]
    written = plot_task_evaluation({"tasks": rows}, tmp_path)
    assert [p.name for p in written] == [FIGURE_BY_CATEGORY, FIGURE_PER_TASK]


def test_a_report_without_task_rows_draws_nothing(tmp_path: Path) -> None:
    assert plot_task_evaluation({"tasks": [], "modes": {}}, tmp_path / "none") == []
    assert not (tmp_path / "none").exists()
