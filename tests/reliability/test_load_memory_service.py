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


def test_a_damaged_own_database_stops_the_server_with_one_line_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    """The node's own database is never wiped: a damaged or foreign file stops the start."""
    import subprocess
    import sys

    case = next(c for c in memory_cases() if c.name == "sqlite_other_schema")
    database = case.make(tmp_path)
    before = database.read_bytes()
    params = tmp_path / "memory_server.yaml"
    params.write_text(f"memory_server:\n  ros__parameters:\n    database_path: {database}\n")
    command = [sys.executable, "-m", "memory_nodes.nodes.memory_server", "--ros-args"]
    result = subprocess.run(
        [*command, "--params-file", str(params)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "failed to start" in line]
    assert len(lines) == 1 and "not a memory store" in lines[0] and database.name in lines[0]
    assert "Traceback" not in result.stderr
    assert database.read_bytes() == before
