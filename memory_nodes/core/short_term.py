"""Short-term memory: a capacity-bounded cache of recent object states and positions.

The cache sits between perception and long-term memory (the scene graph). Perception writes
object observations into it, the planner's action results write their effects (the fridge is
open now), and readers ask it first because it answers without a scene-graph round trip and
holds the newest facts. What leaves it (evicted by the replacement policy, or aged out) goes to an
injected ``on_evict`` sink, which is where consolidation into long-term memory is wired.

Clocks: every method takes ``now`` in seconds of the same clock as observation stamps. An entry's
``last_written`` is the stamp of the newest fact it holds (the observation's stamp, or ``now`` for
an action effect), which is what is compared with long-term memory's ``last_seen``.

The cache is not thread-safe: a node calls it from one executor thread (or wraps it in a lock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from memory_nodes.core.cache_entry import CacheEntry
from memory_nodes.core.errors import InvalidInputError, clip_text
from memory_nodes.core.long_term import check_geometry, check_not_ahead, check_type_name
from memory_nodes.core.object_taxonomy import Mobility, type_info
from memory_nodes.core.policies import ReplacementPolicy, resolve_policy
from memory_nodes.core.types import (
    Box,
    MemorySource,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Vector3,
    frame_key,
)

DEFAULT_CAPACITY = 128
"""Mem4Nav's short-term memory capacity."""

DEFAULT_POLICY = "household"

DEFAULT_MOVE_DISTANCE = 0.25
"""Metres an observation must lie from the confirmed position to be a move (fusion's rule)."""

DEFAULT_CHANGE_CONFIRMATIONS = 2
"""Distinct frames that must agree before a move or a state change replaces a confirmed fact."""

DEFAULT_OVERLAP_MARGIN = 0.05
"""Metres by which two boxes of one thing may miss each other on an axis and still show it in
one place (fusion's ``furniture_overlap_margin``)."""


class EvictionReason(StrEnum):
    """Why an entry left the cache; the sink gets it with the entry."""

    CAPACITY = "capacity"  # the policy chose it to make room (insert or shrink)
    AGED = "aged"  # older than the maximum age (expire())


@dataclass(slots=True)
class CacheStats:
    """Counters of one cache since its construction.

    ``stale_dropped`` counts entries not served because long-term memory held a newer fact;
    ``out_of_order_writes`` counts observations older than the entry they would overwrite;
    ``pending_writes`` counts observations of a move not yet confirmed by enough frames.
    """

    hits: int = 0
    misses: int = 0
    insertions: int = 0
    updates: int = 0
    evictions: int = 0
    aged_out: int = 0
    stale_dropped: int = 0
    out_of_order_writes: int = 0
    pending_writes: int = 0
    action_effects: int = 0
    long_term_lookups: int = 0

    @property
    def reads(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        """Hits over reads; 0 before the first read."""
        return self.hits / self.reads if self.reads else 0.0


@dataclass(frozen=True, slots=True)
class MemoryAnswer:
    """The answer to "where is object X and in what state", and which memory gave it.

    ``record`` is None when neither memory knows the object (``source`` is None then).
    ``long_term_lookups`` is how many times long-term memory was asked (0 or 1).
    """

    object_id: str
    record: ObjectRecord | None
    source: MemorySource | None
    long_term_lookups: int = 0
    stale_dropped: bool = False


EvictionSink = Callable[[CacheEntry, EvictionReason], None]
ActionEffectSink = Callable[[CacheEntry], None]
LongTermLookup = Callable[[str], ObjectRecord | None]


def _check_finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(
            f"{name} must be a finite number of seconds, got {clip_text(value)}"
        )


def _check_capacity(capacity: int) -> None:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
        raise InvalidInputError(f"capacity must be a positive integer, got {clip_text(capacity)}")


class ObjectStateCache:
    """Capacity-bounded object-state cache keyed by object id, with a pluggable policy.

    Parameters
    ----------
    capacity
        Maximum number of entries (Mem4Nav uses 128).
    policy
        A policy name from :func:`memory_nodes.core.policies.available_policies` or an instance.
    on_evict
        Sink for entries leaving by capacity or age: wire consolidation into long-term memory
        here. Entries dropped as stale (long-term memory knows better) are not sent.
    on_action_effect
        Sink called at once with an entry changed by :meth:`record_action_effect`.
    move_distance, change_confirmations
        An observation farther than ``move_distance`` from an entry's position, or with a
        different value of a state the entry holds, replaces it only once
        ``change_confirmations`` distinct frames agree; until then it is pending and the entry
        answers with its confirmed facts. A first sighting has nothing to contradict and the
        robot's own action effects are certain: both are taken at once. Nor is it a move when
        the thing is seen in part in its confirmed place (see :func:`_seen_in_its_place`), or
        when its place is one the robot guessed and no frame has shown yet.

    Examples
    --------
    >>> from memory_nodes.core.types import Box, ObjectObservation, Pose
    >>> evicted = []
    >>> cache = ObjectStateCache(capacity=1, policy="lru", on_evict=lambda e, r: evicted.append(e))
    >>> for name, t in (("Apple|1", 1.0), ("Mug|2", 2.0)):
    ...     _ = cache.put(ObjectObservation(name, name.split("|")[0], Pose(), Box(), stamp=t))
    >>> [e.object_id for e in evicted], cache.get("Mug|2", now=3.0).object_id
    (['Apple|1'], 'Mug|2')
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        policy: str | ReplacementPolicy = DEFAULT_POLICY,
        on_evict: EvictionSink | None = None,
        on_action_effect: ActionEffectSink | None = None,
        *,
        move_distance: float = DEFAULT_MOVE_DISTANCE,
        change_confirmations: int = DEFAULT_CHANGE_CONFIRMATIONS,
    ) -> None:
        _check_capacity(capacity)
        if not isinstance(move_distance, int | float) or not (
            math.isfinite(move_distance) and move_distance > 0
        ):
            raise InvalidInputError(
                f"move_distance must be finite and > 0, got {clip_text(move_distance)}"
            )
        if (
            isinstance(change_confirmations, bool)
            or not isinstance(change_confirmations, int)
            or change_confirmations < 1
        ):
            raise InvalidInputError(
                f"change_confirmations must be an int >= 1, got {clip_text(change_confirmations)}"
            )
        self.move_distance = float(move_distance)
        self.change_confirmations = change_confirmations
        self._capacity = capacity
        self._policy = resolve_policy(policy)
        self._on_evict = on_evict
        self._on_action_effect = on_action_effect
        self._entries: dict[str, CacheEntry] = {}
        self._step = 0
        self._now = -math.inf  # latest clock value seen, for policy calls without a clock
        self.stats = CacheStats()

    # ----------------------------------------------------------------------------- properties

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def policy(self) -> ReplacementPolicy:
        return self._policy

    @property
    def step(self) -> int:
        """Number of operations that touched an entry so far."""
        return self._step

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._entries

    def has_object(self, object_id: str) -> bool:
        return object_id in self._entries

    def find_entry(self, object_id: str) -> CacheEntry | None:
        """A copy of the entry, without counting a read (for inspection, not for answers)."""
        entry = self._entries.get(object_id)
        return _copy(entry) if entry is not None else None

    def entries(self) -> list[CacheEntry]:
        """Copies of all entries, in insertion order of the underlying dict."""
        return [_copy(e) for e in self._entries.values()]

    def eviction_order(self, now: float | None = None) -> list[str]:
        """Object ids in the order the current policy would evict them."""
        clock = self._clock(now)
        return self._policy.eviction_order(self._entries, clock, self._step)

    # ------------------------------------------------------------------------------- writing

    def put(self, observation: ObjectObservation, now: float | None = None) -> CacheEntry:
        """Insert or refresh the entry of an observed object; returns a copy of the entry.

        An observation older than the entry's newest fact is ignored (counted in
        ``stats.out_of_order_writes``): a late message must not roll the state back.
        Inserting into a full cache evicts the policy's victim through ``on_evict`` first.
        A move or a state change is believed once ``change_confirmations`` distinct frames
        agree (see the class notes); until then the entry keeps its confirmed facts and counts
        the observation in ``stats.pending_writes``. An observation stamped more than
        ``MAX_FUTURE_S`` after ``now`` is refused, as long-term memory refuses it.
        """
        if not isinstance(observation, ObjectObservation):
            raise InvalidInputError(
                f"put() needs an ObjectObservation, got {clip_text(observation)}"
            )
        if not observation.object_id:
            raise InvalidInputError("ObjectObservation.object_id must not be empty to be cached")
        # Long-term memory's rules: consolidation must never carry what it would refuse.
        check_type_name(observation.object_type)
        check_geometry(observation.world_T_object.position, observation.box)
        _check_finite("ObjectObservation.stamp", observation.stamp)
        now = observation.stamp if now is None else now
        _check_finite("now", now)
        # Long-term memory's rule: a stamp ahead of the clock is a broken sensor clock, and an
        # entry stamped years ahead would outrank every true fact until then (and reach
        # long-term memory when consolidated).
        check_not_ahead(
            observation.stamp, now, f"observation of {clip_text(observation.object_id)}"
        )

        entry = self._entries.get(observation.object_id)
        if entry is not None and observation.stamp < entry.last_written:
            self.stats.out_of_order_writes += 1
            return _copy(entry)
        self._advance(now)
        if entry is None:
            self._make_room(now)
            entry = CacheEntry(
                object_id=observation.object_id,
                object_type=observation.object_type,
                world_T_object=observation.world_T_object,
                box=observation.box,
                states=dict(observation.states),
                source=observation.source,
                source_frame_id=observation.source_frame_id,
                confidence=observation.confidence,
                first_inserted=now,
                last_written=observation.stamp,
                last_accessed=now,
                insert_step=self._step,
                write_step=self._step,
                access_step=self._step,
            )
            self._entries[entry.object_id] = entry
            self.stats.insertions += 1
            self._policy.on_insert(entry, now)
            return _copy(entry)

        states = self._confirm(entry, observation)
        if states is None:  # a move seen in too few frames: the entry answers as before
            self.stats.pending_writes += 1
            return _copy(entry)
        changed = (
            observation.world_T_object != entry.world_T_object
            or observation.object_type != entry.object_type
            or any(entry.states.get(k) != v for k, v in states.items())
        )
        entry.object_type = observation.object_type
        entry.world_T_object = observation.world_T_object
        entry.box = observation.box
        entry.place_guessed = False
        entry.states.update(states)
        entry.source = observation.source
        entry.source_frame_id = observation.source_frame_id
        entry.confidence = observation.confidence
        entry.last_written = observation.stamp
        entry.write_count += 1
        entry.write_step = self._step
        self.stats.updates += 1
        self._policy.on_update(entry, now, changed)
        return _copy(entry)

    def _confirm(self, entry: CacheEntry, observation: ObjectObservation) -> dict[str, str] | None:
        """What of ``observation`` the entry may take now: None while its pose is a pending
        move, else the states to write (contradicting states stay pending until confirmed)."""
        frame = frame_key(observation)
        need = self.change_confirmations
        position = observation.world_T_object.position
        pose_pending = False
        if (
            not entry.place_guessed
            and position.distance_to(entry.world_T_object.position) > self.move_distance
            and not _seen_in_its_place(entry, observation, self.move_distance)
        ):
            pending = entry.pending_world_T_object
            same_place = (
                pending is not None and position.distance_to(pending.position) <= self.move_distance
            )
            frames = entry.pending_move_frames | {frame} if same_place else frozenset({frame})
            pose_pending = len(frames) < need
            if pose_pending:
                entry.pending_world_T_object = observation.world_T_object
                entry.pending_box = observation.box
                entry.pending_move_frames = frames
        if not pose_pending:
            entry.pending_world_T_object, entry.pending_box = None, None
            entry.pending_move_frames = frozenset()
        accepted: dict[str, str] = {}
        for key, value in observation.states.items():
            current = entry.states.get(key)
            if current is None or current == value:  # nothing to contradict
                if not pose_pending:
                    accepted[key] = value
                    entry.pending_states.pop(key, None)
                continue
            pending_value, frames = entry.pending_states.get(key, (value, frozenset()))
            frames = frames | {frame} if pending_value == value else frozenset({frame})
            if len(frames) >= need and not pose_pending:
                accepted[key] = value
                entry.pending_states.pop(key, None)
            else:
                entry.pending_states[key] = (value, frames)
        return None if pose_pending else accepted

    def record_action_effect(
        self,
        object_id: str,
        *,
        now: float,
        states: dict[str, str] | None = None,
        receptacle_id: str | None = None,
        receptacle_relation: str | None = None,
        world_T_object: Pose | None = None,
        box: Box | None = None,
        object_type: str | None = None,
        source: str = "action",
        place_seen: bool = True,
        stamp: float | None = None,
    ) -> CacheEntry:
        """Write what an action just did to an object (opened, picked up, put inside ...).

        States are merged into the entry's states; ``receptacle_id=""`` clears the receptacle
        (picked up). The entry is marked ``pending_consolidation`` and handed to
        ``on_action_effect`` at once: an action result is certain and should reach long-term
        memory now, not when the entry is evicted. An object not in the cache needs
        ``object_type`` and ``world_T_object`` (e.g. from long-term memory).

        ``place_seen=False`` says ``world_T_object`` is where the robot guessed it set the
        object down (a door or the hand hid it): the receptacle and states are certain, the
        position is not, so the next sighting is taken at once, as a first sighting is, and
        does not wait for a second frame.

        ``stamp`` is when the sender says the action happened: the effect is recorded at
        ``now`` either way, but one stamped more than ``MAX_FUTURE_S`` after ``now`` (a broken
        clock, or a forged message) is refused, as long-term memory refuses it.
        """
        if not object_id:
            raise InvalidInputError("record_action_effect() needs a non-empty object_id")
        _check_finite("now", now)
        if stamp is not None:
            _check_finite("action effect stamp", stamp)
            check_not_ahead(stamp, now, f"action effect on {clip_text(object_id)}")
        entry = self._entries.get(object_id)
        if entry is None and (not object_type or world_T_object is None):
            raise InvalidInputError(
                f"object {clip_text(object_id)} is not in the short-term cache; pass object_type "
                "and world_T_object to record an action effect on it"
            )
        if object_type:
            check_type_name(object_type)
        check_geometry(world_T_object.position if world_T_object else None, box)
        if states is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in states.items()
        ):
            raise InvalidInputError(
                f"action effect states must map str to str, got {clip_text(states)}"
            )
        if entry is not None and now < entry.last_written:
            raise InvalidInputError(
                f"action effect at {now} precedes the newest fact about {clip_text(object_id)} "
                f"({entry.last_written})"
            )

        self._advance(now)
        if entry is None:
            assert object_type is not None and world_T_object is not None
            self._make_room(now)
            entry = CacheEntry(
                object_id=object_id,
                object_type=object_type,
                world_T_object=world_T_object,
                box=box if box is not None else Box(world_T_object.position, Vector3()),
                first_inserted=now,
                last_written=now,
                last_accessed=now,
                write_count=0,
                insert_step=self._step,
                access_step=self._step,
            )
            self._entries[object_id] = entry
            self.stats.insertions += 1
            inserted = True
        else:
            inserted = False

        if object_type:
            entry.object_type = object_type
        if world_T_object is not None:
            entry.world_T_object = world_T_object
            entry.place_guessed = not place_seen
        if box is not None:
            entry.box = box
        if states:
            entry.states.update(states)
        if receptacle_id is not None:
            entry.receptacle_id = receptacle_id
            entry.receptacle_relation = receptacle_relation or ""
        elif receptacle_relation is not None:
            entry.receptacle_relation = receptacle_relation
        entry.source = source
        entry.source_frame_id = ""
        entry.clear_pending()  # what the robot did overrules what waits for confirmation
        entry.confidence = 1.0
        entry.last_written = now
        entry.write_count += 1
        entry.write_step = self._step
        entry.pending_consolidation = True
        self.stats.action_effects += 1
        if inserted:
            self._policy.on_insert(entry, now)
        else:
            self._policy.on_update(entry, now, True)
        if self._on_action_effect is not None:
            self._on_action_effect(_copy(entry))
        return _copy(entry)

    def take_pending_consolidation(self) -> list[CacheEntry]:
        """Copies of entries changed by actions since the last call; clears their marks."""
        pending = [e for e in self._entries.values() if e.pending_consolidation]
        for entry in pending:
            entry.pending_consolidation = False
        return [_copy(e) for e in pending]

    # ------------------------------------------------------------------------------- reading

    def get(self, object_id: str, now: float) -> CacheEntry | None:
        """A copy of the entry, counting a hit; None on a miss (counted too)."""
        _check_finite("now", now)
        entry = self._entries.get(object_id)
        if entry is None:
            self.stats.misses += 1
            self._policy.on_miss(object_id, now)
            return None
        self.stats.hits += 1
        self._touch(entry, now)
        return _copy(entry)

    def query(
        self,
        *,
        now: float,
        object_type: str | None = None,
        near: Vector3 | Iterable[float] | None = None,
        radius: float | None = None,
        receptacle_id: str | None = None,
        max_age: float | None = None,
    ) -> list[CacheEntry]:
        """Entries matching every given filter, nearest first when ``near`` is given.

        Returned entries count as read (the policy sees the access) but not as hits or misses,
        which belong to lookups by id.
        """
        _check_finite("now", now)
        if (near is None) != (radius is None):
            raise InvalidInputError("query() needs both near and radius, or neither")
        center: Vector3 | None = None
        if near is not None:
            try:
                center = near if isinstance(near, Vector3) else Vector3.from_array(list(near))
            except (TypeError, ValueError) as error:
                raise InvalidInputError(f"query() near must be 3 finite numbers: {error}") from None
            assert radius is not None
            if not math.isfinite(radius) or radius < 0.0:
                raise InvalidInputError(
                    f"query() radius must be finite and >= 0, got {clip_text(radius)}"
                )
        if max_age is not None and (math.isnan(max_age) or max_age < 0.0):
            raise InvalidInputError(f"query() max_age must be >= 0, got {clip_text(max_age)}")

        matches: list[tuple[float, CacheEntry]] = []
        for entry in self._entries.values():
            if object_type is not None and entry.object_type != object_type:
                continue
            if receptacle_id is not None and entry.receptacle_id != receptacle_id:
                continue
            if max_age is not None and entry.age(now) > max_age:
                continue
            distance = 0.0
            if center is not None:
                distance = center.distance_to(entry.world_T_object.position)
                if distance > radius:  # type: ignore[operator]
                    continue
            matches.append((distance, entry))
        matches.sort(key=lambda pair: (pair[0], pair[1].object_id))
        for _, entry in matches:
            self._touch(entry, now)
        return [_copy(entry) for _, entry in matches]

    def answer(
        self,
        object_id: str,
        long_term_lookup: LongTermLookup,
        now: float,
        *,
        verify: bool = True,
    ) -> MemoryAnswer:
        """Short-term memory first, long-term memory as the fallback.

        With ``verify`` (the default) a short-term hit is checked against long-term memory: when
        long-term ``last_seen`` is newer than the entry's last write, the entry contradicts a
        newer fact, so it is dropped (``stats.stale_dropped``, not sent to ``on_evict``) and the
        long-term record is served. Without ``verify`` a hit is served with no long-term lookup
        (the saving this cache exists for); the caller then keeps the cache current by calling
        :meth:`note_long_term_update` whenever long-term memory learns something newer.
        """
        _check_finite("now", now)
        if not object_id:
            raise InvalidInputError("answer() needs a non-empty object_id")
        entry = self._entries.get(object_id)
        if entry is not None and not verify:
            self.stats.hits += 1
            self._touch(entry, now)
            return MemoryAnswer(object_id, entry.to_record(), MemorySource.SHORT_TERM)

        self.stats.long_term_lookups += 1
        long_term = long_term_lookup(object_id)
        if entry is not None:
            if long_term is None or long_term.last_seen <= entry.last_written:
                self.stats.hits += 1
                self._touch(entry, now)
                return MemoryAnswer(object_id, entry.to_record(), MemorySource.SHORT_TERM, 1)
            self._drop_stale(object_id)
            self.stats.misses += 1
            return MemoryAnswer(
                object_id, _as_long_term(long_term), MemorySource.LONG_TERM, 1, stale_dropped=True
            )

        self.stats.misses += 1
        self._policy.on_miss(object_id, now)
        if long_term is None:
            return MemoryAnswer(object_id, None, None, 1)
        return MemoryAnswer(object_id, _as_long_term(long_term), MemorySource.LONG_TERM, 1)

    def note_long_term_update(self, object_id: str, last_seen: float) -> bool:
        """Long-term memory learned a fact about the object at ``last_seen``.

        Drops the entry (and returns True) when that fact is newer than the entry's last write,
        so a later unverified :meth:`answer` cannot serve it. Wire it to the scene graph's change
        list.
        """
        _check_finite("last_seen", last_seen)
        entry = self._entries.get(object_id)
        if entry is None or last_seen <= entry.last_written:
            return False
        self._drop_stale(object_id)
        return True

    # ---------------------------------------------------------------------- removing, resizing

    def remove(self, object_id: str) -> CacheEntry | None:
        """Take an entry out without the sink (e.g. the object was deleted); None if absent."""
        entry = self._entries.pop(object_id, None)
        if entry is None:
            return None
        self._policy.on_remove(object_id)
        return entry

    def evict(self, now: float | None = None) -> CacheEntry | None:
        """Evict the policy's victim through the sink; None when the cache is empty."""
        if not self._entries:
            return None
        return self._evict_one(self._clock(now), EvictionReason.CAPACITY)

    def pop_aged(self, now: float, max_age: float) -> list[CacheEntry]:
        """Take out and return entries whose newest fact is older than ``max_age`` seconds.

        For a consumer that pulls entries to consolidate; the sink is not called (use
        :meth:`expire` to push them through the sink instead).
        """
        return self._take_aged(now, max_age)

    def expire(self, now: float, max_age: float) -> list[CacheEntry]:
        """Like :meth:`pop_aged`, but hands each entry to ``on_evict`` with reason AGED too."""
        aged = self._take_aged(now, max_age)
        if self._on_evict is not None:
            for entry in aged:
                self._on_evict(entry, EvictionReason.AGED)
        return aged

    def set_capacity(self, capacity: int, now: float | None = None) -> list[CacheEntry]:
        """Change the capacity; shrinking evicts the policy's victims through the sink."""
        _check_capacity(capacity)
        clock = self._clock(now)
        self._capacity = capacity
        evicted = []
        while len(self._entries) > capacity:
            evicted.append(self._evict_one(clock, EvictionReason.CAPACITY))
        return evicted

    def set_policy(self, policy: str | ReplacementPolicy, now: float | None = None) -> None:
        """Switch policy without dropping entries; the new policy rebuilds from metadata."""
        new_policy = resolve_policy(policy)
        new_policy.rebuild(self._entries, self._clock(now))
        self._policy = new_policy

    # ------------------------------------------------------------------------------ internals

    def _advance(self, now: float) -> None:
        self._step += 1
        self._now = max(self._now, now)

    def _clock(self, now: float | None) -> float:
        if now is None:
            return self._now if math.isfinite(self._now) else 0.0
        _check_finite("now", now)
        return now

    def _touch(self, entry: CacheEntry, now: float) -> None:
        self._advance(now)
        entry.last_accessed = max(entry.last_accessed, now)
        entry.access_count += 1
        entry.access_step = self._step
        self._policy.on_access(entry, now)

    def _make_room(self, now: float) -> None:
        while len(self._entries) >= self._capacity:
            self._evict_one(now, EvictionReason.CAPACITY)

    def _evict_one(self, now: float, reason: EvictionReason) -> CacheEntry:
        object_id = self._policy.victim(self._entries, now, self._step)
        entry = self._entries.pop(object_id)
        self._policy.on_remove(object_id)
        self.stats.evictions += 1
        if self._on_evict is not None:
            self._on_evict(entry, reason)
        return entry

    def _take_aged(self, now: float, max_age: float) -> list[CacheEntry]:
        _check_finite("now", now)
        if not isinstance(max_age, int | float) or math.isnan(max_age) or max_age < 0.0:
            raise InvalidInputError(f"max_age must be >= 0 seconds, got {clip_text(max_age)}")
        aged_ids = [k for k, e in self._entries.items() if e.age(now) > max_age]
        aged = []
        for object_id in aged_ids:
            aged.append(self._entries.pop(object_id))
            self._policy.on_remove(object_id)
        self.stats.aged_out += len(aged)
        return aged

    def _drop_stale(self, object_id: str) -> None:
        self._entries.pop(object_id)
        self._policy.on_remove(object_id)
        self.stats.stale_dropped += 1


def _seen_in_its_place(entry: CacheEntry, observation: ObjectObservation, reach: float) -> bool:
    """Whether a sighting whose centre lies beyond ``reach`` of the entry's still shows the
    thing in its confirmed place, seen in part.

    The camera sees part of a thing (a 3 m counter top never fits one frame, a book half
    hidden), and the centre of what it sees moves with the part in view. A fixture (the
    taxonomy's static types) does not move in a household: every sighting of it is another
    part (long-term fusion too grows a piece of furniture from its parts). Anything else is
    still in place when the box seen overlaps the confirmed one (within
    :data:`DEFAULT_OVERLAP_MARGIN`) and shows at most ``reach`` more of it on any side: a box
    blown up to cover the place, or one clear of it, is a move and waits for a second frame.
    """
    if type_info(entry.object_type).mobility == Mobility.STATIC:
        return True
    margin = DEFAULT_OVERLAP_MARGIN
    seen, held = observation.box, entry.box
    for a, b, size_seen, size_held in (
        (seen.center.x, held.center.x, seen.size.x, held.size.x),
        (seen.center.y, held.center.y, seen.size.y, held.size.y),
        (seen.center.z, held.center.z, seen.size.z, held.size.z),
    ):
        if abs(a - b) > (size_seen + size_held) / 2.0 + margin or size_seen > size_held + 2 * reach:
            return False
    return True


def _copy(entry: CacheEntry) -> CacheEntry:
    return replace(entry, states=dict(entry.states), pending_states=dict(entry.pending_states))


def _as_long_term(record: ObjectRecord) -> ObjectRecord:
    if record.memory_source == MemorySource.LONG_TERM:
        return record
    return replace(record, memory_source=MemorySource.LONG_TERM)
