"""Hostile messages on every subscribed topic: no node dies, stops answering or keeps any of it.

A bounded run of ``bench/reliability_hostile_messages.py`` (``--examples 300`` is the long
run): ``memory_server`` (with change detection), ``short_term_memory_node``, ``octree_node``
and ``perception_node`` in processes of their own receive hypothesis-built messages that are
all invalid (poisoned observations, inconsistent images, unusable camera infos, NaN poses,
broken clouds, odd label strings), then must be alive, answer their parameter and query
services, hold nothing, and still take in one valid frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability_hostile_messages import run_hostile, topics

pytestmark = pytest.mark.slow  # four node processes and a few hundred messages

EXAMPLES_PER_TOPIC = 20


def test_hostile_messages_crash_no_node_and_leave_no_trace_in_long_term_memory_or_octree(
    tmp_path: Path,
) -> None:
    figures = run_hostile(tmp_path, EXAMPLES_PER_TOPIC, deadline_s=120.0)
    assert set(figures.messages_sent) == set(topics())
    assert all(sent >= EXAMPLES_PER_TOPIC // 2 for sent in figures.messages_sent.values())
    assert figures.nodes_crashed == []
    assert sorted(figures.nodes_answering) == [
        "memory_server",
        "octree",
        "perception",
        "short_term_memory",
    ]
    assert figures.held_from_invalid["memory_server"] == 0, figures.examples_held
    # Short-term memory refuses what long-term memory refuses (a stamp years ahead included),
    # so nothing invalid reaches long-term memory through consolidation either.
    assert figures.held_from_invalid["short_term_memory"] == 0, figures.examples_held
    assert figures.held_from_invalid["octree_cells"] == 0
    assert figures.callback_failures == {}, figures.failure_examples
    assert figures.valid_frame_taken, "the memory server no longer takes valid frames"
    assert figures.problems == []
