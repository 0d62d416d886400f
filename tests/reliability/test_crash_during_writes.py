"""``kill -9`` of the memory server during write bursts loses no acknowledged change.

A few cycles of the long run in ``bench/reliability_crash.py`` (``--kills 100``): start the
server on one database, stream frames and action effects, SIGKILL it at a random moment,
then check the file (``PRAGMA integrity_check``, a read-only reload of every row, every change
announced on ``scene_graph/updates`` present unchanged) and start the next server from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability_crash import run_crash_cycles

pytestmark = pytest.mark.slow  # each cycle starts a server process (a few seconds)

KILLS = 3


def test_kill_9_during_writes_keeps_every_acknowledged_change_and_a_sound_file(
    tmp_path: Path,
) -> None:
    figures = run_crash_cycles(KILLS, tmp_path, seed=7, max_burst_s=0.8, deadline_s=120.0)
    assert figures.problems == []
    assert figures.kills == KILLS
    assert figures.acknowledged_changes > 0, "the server acknowledged nothing: a vacuous run"
    assert figures.acknowledged_changes_lost == 0
    assert figures.corrupt_files == 0 and figures.refused_restarts == 0
