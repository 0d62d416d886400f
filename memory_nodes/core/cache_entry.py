"""One entry of the short-term cache: an object's newest facts and the metadata policies rank by.

It lives apart from :mod:`memory_nodes.core.short_term` because both the cache and its
replacement policies (:mod:`memory_nodes.core.policies`) need it, and the cache needs the
policies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memory_nodes.core.types import Box, MemorySource, ObjectRecord, Pose


@dataclass(slots=True)
class CacheEntry:
    """What the cache holds about one object, with the metadata policies rank by.

    The position, box and states are the entry's *confirmed* facts, the ones it answers with.
    An observation that contradicts them (a jump beyond the cache's move distance, a different
    state value) waits in ``pending_*`` until a second distinct frame agrees; the frames are
    counted by :func:`~memory_nodes.core.types.frame_key`, so a frame sent again counts once.
    ``source_frame_id`` with ``last_written`` names the frame of the newest confirmed fact
    (provenance that consolidation carries into long-term memory). ``place_guessed``: the
    position is where the robot guessed it set the object down, which no frame has shown yet.

    ``*_step`` fields number cache operations (see :mod:`memory_nodes.core.policies`); they order
    events exactly where stamps tie. ``access_count`` counts reads only, ``write_count`` writes
    (observations and action effects). ``pending_consolidation`` marks an action effect that the
    consumer should consolidate into long-term memory at once rather than on eviction.
    """

    object_id: str
    object_type: str
    world_T_object: Pose
    box: Box
    states: dict[str, str] = field(default_factory=dict)
    receptacle_id: str = ""
    receptacle_relation: str = ""
    source: str = ""
    confidence: float = 1.0
    first_inserted: float = 0.0
    last_written: float = 0.0
    last_accessed: float = 0.0
    access_count: int = 0
    write_count: int = 1
    insert_step: int = 0
    write_step: int = 0
    access_step: int = 0
    pending_consolidation: bool = False
    source_frame_id: str = ""
    pending_world_T_object: Pose | None = None
    pending_box: Box | None = None
    pending_move_frames: frozenset[str] = frozenset()
    pending_states: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    place_guessed: bool = False

    @property
    def has_pending(self) -> bool:
        """An unconfirmed observation contradicts the answer (a move or a state)."""
        return self.pending_world_T_object is not None or bool(self.pending_states)

    def clear_pending(self) -> None:
        self.pending_world_T_object, self.pending_box = None, None
        self.pending_move_frames = frozenset()
        self.pending_states = {}

    def age(self, now: float) -> float:
        """Seconds since the newest fact in the entry."""
        return max(0.0, now - self.last_written)

    def to_record(self) -> ObjectRecord:
        """The entry as a memory record tagged as coming from short-term memory."""
        provenance = (self.source,) if self.source else ()
        return ObjectRecord(
            object_id=self.object_id,
            object_type=self.object_type,
            world_T_object=self.world_T_object,
            box=self.box,
            confidence=self.confidence,
            first_seen=min(self.first_inserted, self.last_written),
            last_seen=self.last_written,
            num_observations=self.write_count,
            states=dict(self.states),
            receptacle_id=self.receptacle_id,
            receptacle_relation=self.receptacle_relation,
            provenance=provenance,
            memory_source=MemorySource.SHORT_TERM,
        )
