"""Pairing messages of several streams by stamp, without message_filters (absent from pip).

Drivers and the simulator publish the colour image, depth, camera info, pose and instance
mask of one frame with the same stamp; a robot's may differ by a few milliseconds. The
synchroniser keeps the last few messages of each stream and emits a complete set as soon as one
exists within ``slop`` seconds, dropping everything older (a frame never goes out twice).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any

from memory_nodes.core.errors import InvalidInputError


class StampSynchronizer:
    """Emit one item per stream whose stamps lie within ``slop`` of each other."""

    def __init__(self, streams: Iterable[Hashable], slop: float = 0.02, queue_size: int = 10):
        self.streams = tuple(streams)
        if not self.streams:
            raise InvalidInputError("StampSynchronizer needs at least one stream")
        if slop < 0 or queue_size < 1:
            raise InvalidInputError("slop must be >= 0 and queue_size >= 1")
        self.slop = slop
        self._queues: dict[Hashable, deque[tuple[float, Any]]] = {
            stream: deque(maxlen=queue_size) for stream in self.streams
        }
        self.dropped = 0

    def add(self, stream: Hashable, stamp: float, item: Any) -> dict[Hashable, Any] | None:
        """Add an item; return a complete set (stream -> item) when one is ready."""
        if stream not in self._queues:
            raise InvalidInputError(f"unknown stream {stream!r}; known: {self.streams}")
        queue = self._queues[stream]
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append((stamp, item))
        return self._match(stamp)

    def _match(self, stamp: float) -> dict[Hashable, Any] | None:
        chosen: dict[Hashable, tuple[float, Any]] = {}
        for stream, queue in self._queues.items():
            best = min(queue, key=lambda entry: abs(entry[0] - stamp), default=None)
            if best is None or abs(best[0] - stamp) > self.slop:
                return None
            chosen[stream] = best
        newest = max(entry[0] for entry in chosen.values())
        for queue in self._queues.values():
            while queue and queue[0][0] <= newest:
                queue.popleft()
        return {stream: entry[1] for stream, entry in chosen.items()}
