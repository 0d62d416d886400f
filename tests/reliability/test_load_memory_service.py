"""A running memory server answers every bad ``~/load_memory`` request at once and keeps memory.

The server (its own process, as in ``bench/reliability_bad_files.py``) holds 25 objects; each
bad file of the corpus is sent to ``~/load_memory``. Every request must be answered within
1 s with success False and a one-line message naming the file, and afterwards the server must
still answer ``~/query_objects`` with its 25 objects from a live file whose bytes did not change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability_bad_files import run_load_service
from tests.reliability.bad_file_corpus import memory_cases

pytestmark = pytest.mark.slow  # starts a server process and sends about 40 requests


def test_every_bad_file_is_answered_within_1s_with_a_clear_refusal_and_memory_kept(
    tmp_path: Path,
) -> None:
    cases = memory_cases()
    result = run_load_service(tmp_path, cases)
    assert result["failures"] == []
    assert result["unanswered"] == 0 and result["wiped_or_changed"] == 0
    checked = result["cases"]
    assert checked == len(cases) - len(result["skipped"]) > 30
    assert result["answered_within_1s"] == result["refused_with_clear_error"] == checked
    made = {case.name: case.make(tmp_path / "bad") for case in cases}
    for name, message in result["messages"].items():
        assert message.startswith("load failed, memory unchanged:"), message
        assert made[name].name in message, f"{name}: the answer does not name the file"
