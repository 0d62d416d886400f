"""Replacement policies for the short-term object-state cache.

A policy only decides *which* entry leaves when the cache is full; the cache owns the entries and
keeps their metadata (insert/write/access times and steps, counts). Every policy ranks entries by
a key computed from that metadata, so switching policy at run time only has to rebuild whatever
derived state a policy keeps (see :meth:`ReplacementPolicy.rebuild`), never the entries.

Steps: the cache numbers every operation that touches an entry (insert, write, read) with a
monotonically increasing step. Orders that must be exact (FIFO, LRU, ties) use steps, because two
observations of one camera frame share a stamp. "Reference" means a read *or* a write, as in the
classic cache literature: an observation of an object is a use of its entry.

Policies by name (see :func:`make_policy`):

``fifo``
    Evict the entry inserted first; updates do not move it.
``lru``
    Evict the entry whose last reference (read or write) is oldest.
``lfu``
    Evict the entry with the fewest references (reads + writes); ties go to the least recently
    referenced entry, then the first inserted.
``mem4nav``
    Mem4Nav's hybrid: evict the lowest ``lam * frequency - (1 - lam) * age`` with frequency the
    number of references and age the number of cache steps since the last reference (Mem4Nav
    indexes time by agent steps; ``age_unit="seconds"`` uses the cache clock instead).
``karma``
    KARMA's released code: keep the newest entries by insertion/update time, i.e. evict the entry
    written longest ago.
``household``
    Ours, see :class:`HouseholdPolicy`: write recency plus the expected worth of keeping an
    entry, from how often the planner asks about its type and how fast that type changes (both
    learned online, :class:`TypeKnowledge`), its own reads, task relevance, distance to the
    robot and whether long-term memory already holds the same fact.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.object_taxonomy import is_furniture, is_pickupable, is_stateful_furniture
from memory_nodes.core.types import Vector3

if TYPE_CHECKING:
    from memory_nodes.core.cache_entry import CacheEntry


class ReplacementPolicy(ABC):
    """Chooses the victim when the cache is full.

    The cache calls the hooks after it has updated an entry's metadata, so a hook sees the entry
    as it is now. Hooks default to doing nothing: most policies rank entries from metadata alone.
    """

    name: ClassVar[str] = ""

    def on_insert(self, entry: CacheEntry, now: float) -> None:  # noqa: B027 (optional hook)
        """A new entry was inserted."""

    def on_access(self, entry: CacheEntry, now: float) -> None:  # noqa: B027 (optional hook)
        """An entry was read."""

    def on_update(self, entry: CacheEntry, now: float, changed: bool) -> None:  # noqa: B027 (optional hook)
        """An entry was written again; ``changed`` says whether position or states differ."""

    def on_remove(self, object_id: str) -> None:  # noqa: B027 (optional hook)
        """An entry left the cache (evicted, aged out, dropped or removed)."""

    def on_miss(self, object_id: str, now: float) -> None:  # noqa: B027 (optional hook)
        """An object not in the cache was asked about by id (``get`` or ``answer``)."""

    def rebuild(self, entries: Mapping[str, CacheEntry], now: float) -> None:  # noqa: B027 (optional hook)
        """Forget derived state and rebuild it from entry metadata (used on policy switch)."""

    @abstractmethod
    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        """Sort key of an entry: the smallest key is evicted first."""

    def ranking_key(
        self, entries: Mapping[str, CacheEntry], now: float, step: int
    ) -> Callable[[CacheEntry], tuple[float, ...]]:
        """Sort key over the whole cache; override when the order depends on all entries."""
        return lambda e: (*self.eviction_key(e, now, step), e.insert_step)

    def victim(self, entries: Mapping[str, CacheEntry], now: float, step: int) -> str:
        """Object id of the entry to evict; the first inserted entry breaks any remaining tie."""
        if not entries:
            raise InvalidInputError("victim() needs a non-empty cache")
        return min(entries.values(), key=self.ranking_key(entries, now, step)).object_id

    def eviction_order(self, entries: Mapping[str, CacheEntry], now: float, step: int) -> list[str]:
        """All object ids, first to be evicted first (for tests and debugging)."""
        ordered = sorted(entries.values(), key=self.ranking_key(entries, now, step))
        return [e.object_id for e in ordered]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _last_reference_step(entry: CacheEntry) -> int:
    return max(entry.access_step, entry.write_step)


def _references(entry: CacheEntry) -> int:
    return entry.access_count + entry.write_count


class FifoPolicy(ReplacementPolicy):
    """First in, first out: the order of insertion, whatever happened since."""

    name = "fifo"

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        return (entry.insert_step,)


class LruPolicy(ReplacementPolicy):
    """Least recently used, where a write (re-observation) counts as a use."""

    name = "lru"

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        return (_last_reference_step(entry),)


class LfuPolicy(ReplacementPolicy):
    """Least frequently used (reads + writes); ties broken by recency, then insertion order."""

    name = "lfu"

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        return (_references(entry), _last_reference_step(entry))


class KarmaPolicy(ReplacementPolicy):
    """KARMA's short-term memory: keep the newest entries by insertion/update time."""

    name = "karma"

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        return (entry.write_step,)


class Mem4NavPolicy(ReplacementPolicy):
    """Mem4Nav's hybrid score ``lam * frequency - (1 - lam) * age``; the lowest is evicted.

    Parameters
    ----------
    lam
        Weight of frequency against age, in [0, 1]; Mem4Nav uses 0.5.
    age_unit
        ``"steps"`` (default): cache operations since the last reference, the closest match to
        Mem4Nav's per-step time index. ``"seconds"``: cache-clock seconds since the last
        reference, for callers whose steps are irregular.
    """

    name = "mem4nav"

    def __init__(self, lam: float = 0.5, age_unit: str = "steps") -> None:
        if not (math.isfinite(lam) and 0.0 <= lam <= 1.0):
            raise InvalidInputError(f"mem4nav lam must be in [0, 1], got {lam!r}")
        if age_unit not in ("steps", "seconds"):
            raise InvalidInputError(
                f"mem4nav age_unit must be 'steps' or 'seconds', got {age_unit!r}"
            )
        self.lam = lam
        self.age_unit = age_unit

    def score(self, entry: CacheEntry, now: float, step: int) -> float:
        if self.age_unit == "steps":
            age = float(step - _last_reference_step(entry))
        else:
            age = max(0.0, now - max(entry.last_accessed, entry.last_written))
        return self.lam * _references(entry) - (1.0 - self.lam) * age

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        return (self.score(entry, now, step), _last_reference_step(entry))

    def __repr__(self) -> str:
        return f"Mem4NavPolicy(lam={self.lam}, age_unit={self.age_unit!r})"


def default_change_rate(object_type: str) -> float:
    """Expected unobserved changes per second of an object of this type (a prior, not a fact).

    Pickupable objects: about once per 10 minutes; openable/toggleable furniture: about once per
    30 minutes; everything else: about once a day.
    """
    if is_pickupable(object_type):
        return 1.0 / 600.0
    if is_stateful_furniture(object_type):
        return 1.0 / 1800.0
    return 1.0 / 86400.0


class _Decayed:
    """An exponentially decayed counter, decayed lazily when read or bumped."""

    __slots__ = ("stamp", "value")

    def __init__(self, value: float = 0.0, stamp: float = 0.0) -> None:
        self.value = value
        self.stamp = stamp

    def at(self, now: float, half_life: float) -> float:
        if now <= self.stamp:
            return self.value
        return self.value * 0.5 ** ((now - self.stamp) / half_life)

    def add(self, amount: float, now: float, half_life: float) -> None:
        self.value = self.at(now, half_life) + amount
        self.stamp = max(now, self.stamp)


class TypeKnowledge:
    """What the robot has learned about object types from its own cache traffic.

    Two estimates per type, learned from past events only:

    - **read probability**: of the entries of this type inserted into the cache, the share
      the planner read before they left (a prior of ``prior_read`` worth ``prior_weight``
      insertions for a type never seen);
    - **change rate**: changes seen between two sightings of one object, per second the
      objects of this type were watched (a prior of ``prior_rate(type)`` worth
      ``prior_seconds``). A change is a state that differs or, for objects that are not
      furniture, a move of more than ``move_tolerance`` metres; a furniture position estimate
      shifts with the viewpoint (a partly seen counter top), so only its states count.

    Counts fade with every observation, inserted or not (``memory`` of them halve them), so a
    new home or new tasks shift the estimates. The knowledge is meant to outlive a cache: a
    robot restart loses the entries, not what it learned about object types.

    Parameters
    ----------
    prior_read
        Read probability of a type never seen: most types are never asked about.
    prior_weight
        Insertions the read prior is worth: two entries of a type tell more than the prior.
    prior_rate
        Object type -> changes per second before anything is seen; default
        :func:`default_change_rate`.
    prior_seconds
        Seconds of watching the rate prior is worth (half an hour).
    move_tolerance
        Metres an object that is not furniture must move to count as changed: above the
        position noise of apples, mugs and potatoes in the recorded traces (at most 0.14 m),
        below the distance a put-away object travels.
    memory
        Observations (insertions and re-observations, of any type) after which old counts
        weigh half: a few scenes' worth. Observations, not insertions: a small cache inserts
        far more often than a large one and would forget within a few camera frames.
    """

    def __init__(
        self,
        *,
        prior_read: float = 0.1,
        prior_weight: float = 2.0,
        prior_rate: Callable[[str], float] | None = None,
        prior_seconds: float = 1800.0,
        move_tolerance: float = 0.3,
        memory: float = 5000.0,
    ) -> None:
        if not (math.isfinite(prior_read) and 0.0 <= prior_read <= 1.0):
            raise InvalidInputError(f"prior_read must be in [0, 1], got {prior_read!r}")
        for label, value in (
            ("prior_weight", prior_weight),
            ("prior_seconds", prior_seconds),
            ("move_tolerance", move_tolerance),
            ("memory", memory),
        ):
            if not (math.isfinite(value) and value > 0.0):
                raise InvalidInputError(f"type knowledge {label} must be positive, got {value!r}")
        self.prior_read = prior_read
        self.prior_weight = prior_weight
        self.prior_rate = prior_rate if prior_rate is not None else default_change_rate
        self.prior_seconds = prior_seconds
        self.move_tolerance = move_tolerance
        self.memory = memory
        self._clock = 0.0  # observations so far: the time base of the fading counts
        self._inserted: dict[str, _Decayed] = {}
        self._read: dict[str, _Decayed] = {}
        self._watched: dict[str, _Decayed] = {}  # seconds between sightings
        self._changes: dict[str, _Decayed] = {}

    def note_insert(self, object_type: str) -> None:
        """An entry of this type entered the cache."""
        self._clock += 1.0
        _bump(self._inserted, object_type, self._clock, 1.0, self.memory)

    def note_rewrite(self) -> None:
        """An object already in the cache was observed again (experience, not an insertion)."""
        self._clock += 1.0

    def note_first_read(self, object_type: str) -> None:
        """An entry of this type was read for the first time since it entered the cache."""
        _bump(self._read, object_type, self._clock, 1.0, self.memory)

    def note_sighting(
        self,
        object_type: str,
        seconds: float,
        moved: float,
        states_changed: bool,
    ) -> None:
        """An object was seen again ``seconds`` after the previous sighting.

        ``moved`` is the distance between the two observed positions in metres.
        """
        if seconds <= 0.0:
            return
        _bump(self._watched, object_type, self._clock, seconds, self.memory)
        moved_away = moved > self.move_tolerance and not is_furniture(object_type)
        if states_changed or moved_away:
            _bump(self._changes, object_type, self._clock, 1.0, self.memory)

    def read_probability(self, object_type: str) -> float:
        """Estimated chance that a cached entry of this type is read before it leaves."""
        inserted = self._count(self._inserted, object_type)
        read = self._count(self._read, object_type)
        estimate = (read + self.prior_read * self.prior_weight) / (inserted + self.prior_weight)
        return min(1.0, estimate)

    def change_rate(self, object_type: str) -> float:
        """Estimated changes per second of an object of this type."""
        changes = self._count(self._changes, object_type)
        watched = self._count(self._watched, object_type)
        prior = self.prior_rate(object_type) * self.prior_seconds
        return (changes + prior) / (watched + self.prior_seconds)

    def _count(self, table: dict[str, _Decayed], object_type: str) -> float:
        counter = table.get(object_type)
        return counter.at(self._clock, self.memory) if counter is not None else 0.0

    _TABLES: ClassVar[tuple[str, ...]] = ("inserted", "read", "watched", "changes")

    def to_dict(self) -> dict[str, Any]:
        """The learned counts as plain data (JSON), to keep them across restarts."""
        return {
            "version": 1,
            "clock": self._clock,
            **{
                name: {t: [c.value, c.stamp] for t, c in getattr(self, f"_{name}").items()}
                for name in self._TABLES
            },
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        """Take over counts saved by :meth:`to_dict`; InvalidInputError (and nothing changed)
        if ``data`` is not such a dict."""
        try:
            if data.get("version") != 1:
                raise ValueError(f"unknown version {data.get('version')!r}")
            clock = float(data["clock"])
            tables = {
                name: {
                    str(t): _Decayed(float(value), float(stamp))
                    for t, (value, stamp) in data[name].items()
                }
                for name in self._TABLES
            }
            numbers = [clock] + [
                x for table in tables.values() for c in table.values() for x in (c.value, c.stamp)
            ]
            if not all(math.isfinite(x) and x >= 0.0 for x in numbers):
                raise ValueError("counts must be finite and >= 0")
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise InvalidInputError(f"not saved type knowledge: {error}") from None
        self._clock = clock
        for name, table in tables.items():
            setattr(self, f"_{name}", table)


#: Largest saved type knowledge read (a few thousand types take kilobytes).
MAX_TYPE_KNOWLEDGE_BYTES = 16 * 1024 * 1024


def read_type_knowledge(path: str | Path, knowledge: TypeKnowledge | None = None) -> TypeKnowledge:
    """``knowledge`` (a new :class:`TypeKnowledge` by default) with the counts saved at ``path``.

    Raises InvalidInputError naming the file for anything but a file :meth:`TypeKnowledge.to_dict`
    wrote (missing, a directory, too large, not UTF-8 JSON, wrong fields); ``knowledge`` is
    then unchanged.
    """
    path = Path(path)
    knowledge = knowledge if knowledge is not None else TypeKnowledge()
    try:
        if path.is_dir():
            raise InvalidInputError("a directory, not a file")
        if path.stat().st_size > MAX_TYPE_KNOWLEDGE_BYTES:
            raise InvalidInputError(f"larger than {MAX_TYPE_KNOWLEDGE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
        knowledge.load_dict(data)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read ({error.strerror or error})") from None
    except (ValueError, RecursionError) as error:  # InvalidInputError, JSON and UTF-8 errors
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidInputError(f"{path}: {reason}") from None
    return knowledge


def _bump(
    table: dict[str, _Decayed], key: str, now: float, amount: float, half_life: float
) -> None:
    counter = table.get(key)
    if counter is None:
        table[key] = _Decayed(amount, now)
    else:
        counter.add(amount, now, half_life)


class HouseholdPolicy(ReplacementPolicy):
    """Keep the entries a household robot will be asked about and can still trust.

    Three ideas, each from what a household robot knows:

    1. **Reads, not writes, earn protection.** Perception re-observes furniture and clutter all
       the time; what matters is what the planner asks for. Entries never read since insertion
       or whose fact has probably changed (validity below ``min_validity``) are *probationary*
       and are evicted first, as long as protected entries fill no more than
       ``protected_share`` of the cache (a segmented LRU). Noise (one-off detections, objects
       glimpsed in passing) then cycles through probation without pushing out the working set.
    2. **The planner asks about types, and some types change.** :class:`TypeKnowledge` learns
       online, per object type, the share of cached entries the planner read before they
       left (it asks "where is a counter top", not about cabinets) and how often objects of
       the type change between two sightings. It outlives the cache (pass one instance to
       every policy of a robot): a restart loses entries, not experience. An entry evicted
       unread and asked about within ``ghost_horizon`` seconds (a miss the cache reports,
       :meth:`ReplacementPolicy.on_miss`) counts as read: it would have been, had it stayed.
       Without this the estimate learns only from what the policy already keeps, and a type
       it evicts quickly (17 cabinets in view, asked about all at once) never earns its place
       (the "ghost" entries of ARC and 2Q, used here to learn about types).
    3. **Write recency shifted by value.** Within a segment the victim is the entry with the
       oldest ``last write time + horizon * value + type_horizon * read_probability(type) *
       validity(at now + type_horizon) + sighting_horizon * log2(sightings)`` (GreedyDual-like:
       worth buys seconds of recency; with no worth this is KARMA's newest-written order). The
       type term keeps an entry about one more task's length if its type is asked about, and
       only as far as its fact will still hold by then, which keeps stale answers down.
       ``sightings`` (off by default) is the entry's writes decayed with
       ``sighting_half_life``: what perception keeps seeing, which on the recorded traces
       predicted reads worse than the type term (bench/README_stm.md). Where

       ``value = relevance(type) * demand * validity * nearness * agreement``

       - ``demand``: the entry's own reads, decayed with ``half_life`` seconds, plus
         ``type_weight`` times its type's read rate (decayed reads per decayed write of that
         type), so a fresh object of a type the task keeps asking about outlives clutter;
       - ``validity``: ``exp(-change_rate(type) * seconds since last write)``, the chance the
         fact still holds; the rate is learned (:meth:`TypeKnowledge.change_rate`, with
         :func:`default_change_rate` as its prior: people move pickupable objects, furniture
         stays) unless ``change_rate`` fixes it;
       - ``nearness``: ``1 / (1 + distance / near_scale)`` to the robot when ``robot_position``
         is given: the robot is asked about, and re-observes, what is around it;
       - ``agreement``: ``agree_discount`` when ``long_term_agrees(entry)`` says long-term memory
         already holds the same fact (evicting it loses nothing), 1 otherwise.

    Parameters
    ----------
    relevance
        Object type -> task relevance weight (>= 0); a dict or a callable. Default 1 for all.
        Types missing from a dict get ``default_relevance``.
    change_rate
        Object type -> expected unobserved changes per second, fixed; default: learned by
        ``knowledge``.
    robot_position
        Returns the robot's position in the world frame, or None when unknown.
    long_term_agrees
        Returns True when long-term memory holds the same fact as the entry.
    half_life
        Seconds for read demand to halve.
    horizon
        Seconds of recency one unit of value is worth.
    protected_share
        Largest share of the cache that read entries keep before they compete with
        probationary ones.
    min_validity
        Validity below which a read entry loses its protection.
    sighting_horizon
        Seconds of recency each doubling of an entry's decayed sightings is worth; 0 (the
        default) turns the term off.
    sighting_half_life
        Seconds for the sighting count to halve.
    knowledge
        What the robot learned about object types; share one instance across caches and
        restarts. A fresh one by default.
    type_horizon
        Seconds of recency a type the planner always asks about is worth: about one household
        task (the planner asks again within a task, after a failed look or for the next step).
    ghost_horizon
        Seconds after an unread entry leaves during which a miss on it counts as a read of its
        type; ``type_horizon`` by default (the time the type term would have kept it), 0 turns
        the feedback off.
    """

    name = "household"

    def __init__(
        self,
        relevance: Mapping[str, float] | Callable[[str], float] | None = None,
        change_rate: Mapping[str, float] | Callable[[str], float] | None = None,
        robot_position: Callable[[], Vector3 | None] | None = None,
        long_term_agrees: Callable[[CacheEntry], bool] | None = None,
        *,
        half_life: float = 60.0,
        horizon: float = 60.0,
        type_weight: float = 0.5,
        near_scale: float = 3.0,
        agree_discount: float = 0.5,
        protected_share: float = 0.5,
        min_validity: float = 0.8,
        default_relevance: float = 1.0,
        sighting_horizon: float = 0.0,
        sighting_half_life: float = 300.0,
        knowledge: TypeKnowledge | None = None,
        type_horizon: float = 300.0,
        ghost_horizon: float | None = None,
    ) -> None:
        if ghost_horizon is None:
            ghost_horizon = type_horizon  # as long as the type term would have kept the entry
        for label, value in (
            ("half_life", half_life),
            ("near_scale", near_scale),
            ("sighting_half_life", sighting_half_life),
        ):
            if not (math.isfinite(value) and value > 0.0):
                raise InvalidInputError(f"household {label} must be positive, got {value!r}")
        for label, value in (
            ("horizon", horizon),
            ("type_weight", type_weight),
            ("agree_discount", agree_discount),
            ("default_relevance", default_relevance),
            ("sighting_horizon", sighting_horizon),
            ("type_horizon", type_horizon),
            ("ghost_horizon", ghost_horizon),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidInputError(f"household {label} must be >= 0, got {value!r}")
        if not (math.isfinite(protected_share) and 0.0 <= protected_share <= 1.0):
            raise InvalidInputError(
                f"household protected_share must be in [0, 1], got {protected_share!r}"
            )
        self._relevance = _as_lookup(relevance, lambda _type: default_relevance)
        self.knowledge = knowledge if knowledge is not None else TypeKnowledge()
        # Without fixed rates, how often a type changes is learned from what the robot sees.
        self._change_rate = (
            _as_lookup(change_rate, default_change_rate)
            if change_rate is not None
            else self.knowledge.change_rate
        )
        self.robot_position = robot_position
        self.long_term_agrees = long_term_agrees
        self.half_life = half_life
        self.horizon = horizon
        self.type_weight = type_weight
        self.near_scale = near_scale
        self.agree_discount = agree_discount
        self.protected_share = protected_share
        self.min_validity = min_validity
        self.sighting_horizon = sighting_horizon
        self.sighting_half_life = sighting_half_life
        self.type_horizon = type_horizon
        self._last_fact: dict[str, tuple[Vector3, dict[str, str], float]] = {}
        self._sightings: dict[str, _Decayed] = {}
        self._reads: dict[str, _Decayed] = {}
        self._type_reads: dict[str, _Decayed] = {}
        self._type_writes: dict[str, _Decayed] = {}
        self.ghost_horizon = ghost_horizon
        self._unread: dict[str, str] = {}  # object id -> type of entries not read yet
        # Entries that left unread, oldest first: object id -> (type, when it left).
        self._ghosts: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._latest = -math.inf  # the newest clock value seen, for on_remove

    def on_insert(self, entry: CacheEntry, now: float) -> None:
        self.knowledge.note_insert(entry.object_type)
        self._bump(self._type_writes, entry.object_type, now)
        self._sightings[entry.object_id] = _Decayed(1.0, now)
        self._remember_fact(entry)
        self._unread[entry.object_id] = entry.object_type
        self._ghosts.pop(entry.object_id, None)
        self._latest = max(self._latest, now)

    def on_update(self, entry: CacheEntry, now: float, changed: bool) -> None:
        previous = self._last_fact.get(entry.object_id)
        # The robot's own action effects are known changes; they teach nothing about what
        # changes unobserved.
        if previous is not None and entry.source != "action":
            position, states, stamp = previous
            self.knowledge.note_sighting(
                entry.object_type,
                entry.last_written - stamp,
                position.distance_to(entry.world_T_object.position),
                any(states.get(k) != v for k, v in entry.states.items()),
            )
        self._remember_fact(entry)
        self.knowledge.note_rewrite()
        self._bump(self._type_writes, entry.object_type, now)
        self._bump(self._sightings, entry.object_id, now, half_life=self.sighting_half_life)

    def on_access(self, entry: CacheEntry, now: float) -> None:
        if entry.access_count == 1:
            self.knowledge.note_first_read(entry.object_type)
        self._unread.pop(entry.object_id, None)
        self._latest = max(self._latest, now)
        self._bump(self._reads, entry.object_id, now)
        self._bump(self._type_reads, entry.object_type, now)

    def on_remove(self, object_id: str) -> None:
        self._last_fact.pop(object_id, None)
        self._reads.pop(object_id, None)
        self._sightings.pop(object_id, None)
        object_type = self._unread.pop(object_id, None)
        if object_type is not None and self.ghost_horizon > 0.0 and math.isfinite(self._latest):
            self._ghosts[object_id] = (object_type, self._latest)
            while self._ghosts:
                oldest = next(iter(self._ghosts.values()))
                if self._latest - oldest[1] <= self.ghost_horizon:
                    break
                self._ghosts.popitem(last=False)

    def on_miss(self, object_id: str, now: float) -> None:
        # An entry that left unread and is asked about soon after would have been read had it
        # stayed: count the read for its type, or the estimate would only learn from what the
        # policy already kept.
        ghost = self._ghosts.pop(object_id, None)
        if ghost is not None and now - ghost[1] <= self.ghost_horizon:
            self.knowledge.note_first_read(ghost[0])

    def rebuild(self, entries: Mapping[str, CacheEntry], now: float) -> None:
        # Reads are taken to have happened at the last access; type rates restart from the
        # entries present (the cache keeps no history of evicted entries).
        self._reads.clear()
        self._type_reads.clear()
        self._type_writes.clear()
        self._sightings.clear()
        self._last_fact.clear()
        self._unread.clear()
        self._ghosts.clear()
        self._latest = max(self._latest, now)
        for entry in entries.values():
            self._remember_fact(entry)
            if not entry.access_count:
                self._unread[entry.object_id] = entry.object_type
            self._sightings[entry.object_id] = _Decayed(
                float(max(1, entry.write_count)), entry.last_written
            )
            if entry.access_count:
                count = float(entry.access_count)
                self._reads[entry.object_id] = _Decayed(count, entry.last_accessed)
                self._bump(self._type_reads, entry.object_type, entry.last_accessed, count)
            self._bump(
                self._type_writes, entry.object_type, entry.last_written, float(entry.write_count)
            )

    def _remember_fact(self, entry: CacheEntry) -> None:
        self._last_fact[entry.object_id] = (
            entry.world_T_object.position,
            dict(entry.states),
            entry.last_written,
        )

    def _bump(
        self,
        table: dict[str, _Decayed],
        key: str,
        now: float,
        amount: float = 1.0,
        half_life: float | None = None,
    ) -> None:
        _bump(table, key, now, amount, half_life if half_life is not None else self.half_life)

    def type_read_rate(self, object_type: str, now: float) -> float:
        """Decayed reads per decayed write of a type: how much the robot asks about it."""
        reads = self._type_reads.get(object_type)
        if reads is None:
            return 0.0
        writes = self._type_writes.get(object_type)
        denominator = 1.0 + (writes.at(now, self.half_life) if writes else 0.0)
        return reads.at(now, self.half_life) / denominator

    def value(self, entry: CacheEntry, now: float, robot: Vector3 | None = None) -> float:
        """Expected worth of keeping the entry (>= 0); higher stays longer."""
        own = self._reads.get(entry.object_id)
        demand = own.at(now, self.half_life) if own else 0.0
        demand += self.type_weight * self.type_read_rate(entry.object_type, now)
        if demand <= 0.0:
            return 0.0
        value = demand * self._relevance(entry.object_type)
        value *= self.validity(entry, now)
        if robot is not None:
            distance = robot.distance_to(entry.world_T_object.position)
            value /= 1.0 + distance / self.near_scale
        if self.long_term_agrees is not None and self.long_term_agrees(entry):
            value *= self.agree_discount
        return value

    def validity(self, entry: CacheEntry, now: float) -> float:
        """Chance the entry's fact still holds, from how often its type changes unobserved."""
        age = max(0.0, now - entry.last_written)
        return math.exp(-self._change_rate(entry.object_type) * age)

    def is_protected(self, entry: CacheEntry, now: float) -> bool:
        """Read at least once and still likely valid: kept ahead of probationary entries."""
        return entry.access_count > 0 and self.validity(entry, now) >= self.min_validity

    def effective_time(self, entry: CacheEntry, now: float, robot: Vector3 | None) -> float:
        """Last write time pushed later by ``horizon`` seconds per unit of value.

        Write time, not read time: a read does not make the fact any fresher, and ranking by
        write age served fewer stale answers in bench/stm_policies.py at the same hit rate.
        """
        seen = self._sightings.get(entry.object_id)
        count = seen.at(now, self.sighting_half_life) if seen is not None else 1.0
        sightings = self.sighting_horizon * math.log2(max(1.0, count))
        asked = self.type_horizon * self.knowledge.read_probability(entry.object_type)
        # The bonus keeps the entry for about another type_horizon: it is worth what is still
        # true by then.
        asked *= self.validity(entry, now + self.type_horizon)
        return entry.last_written + self.horizon * self.value(entry, now, robot) + sightings + asked

    def eviction_key(self, entry: CacheEntry, now: float, step: int) -> tuple[float, ...]:
        robot = self.robot_position() if self.robot_position is not None else None
        return (self.effective_time(entry, now, robot), _last_reference_step(entry))

    def ranking_key(
        self, entries: Mapping[str, CacheEntry], now: float, step: int
    ) -> Callable[[CacheEntry], tuple[float, ...]]:
        self._latest = max(self._latest, now)
        protected = {k for k, e in entries.items() if self.is_protected(e, now)}
        num_protected = len(protected)
        probation_first = num_protected < len(
            entries
        ) and num_protected <= self.protected_share * len(entries)
        robot = self.robot_position() if self.robot_position is not None else None

        def key(entry: CacheEntry) -> tuple[float, ...]:
            segment = 1.0 if probation_first and entry.object_id in protected else 0.0
            return (
                segment,
                self.effective_time(entry, now, robot),
                _last_reference_step(entry),
                entry.insert_step,
            )

        return key

    def __repr__(self) -> str:
        return (
            f"HouseholdPolicy(half_life={self.half_life}, horizon={self.horizon}, "
            f"protected_share={self.protected_share}, type_horizon={self.type_horizon}, "
            f"sighting_horizon={self.sighting_horizon})"
        )


def _as_lookup(
    source: Mapping[str, float] | Callable[[str], float] | None,
    fallback: Callable[[str], float],
) -> Callable[[str], float]:
    """A per-type lookup from a dict (missing types use ``fallback``), a callable or None."""
    if source is None:
        return fallback
    if callable(source):
        return source
    table = dict(source)
    for key, value in table.items():
        if not (math.isfinite(value) and value >= 0.0):
            raise InvalidInputError(f"weight of {key!r} must be finite and >= 0, got {value!r}")
    return lambda object_type: table[object_type] if object_type in table else fallback(object_type)


_REGISTRY: dict[str, Callable[..., ReplacementPolicy]] = {
    FifoPolicy.name: FifoPolicy,
    LruPolicy.name: LruPolicy,
    LfuPolicy.name: LfuPolicy,
    Mem4NavPolicy.name: Mem4NavPolicy,
    KarmaPolicy.name: KarmaPolicy,
    HouseholdPolicy.name: HouseholdPolicy,
}


def available_policies() -> list[str]:
    """Names accepted by :func:`make_policy`, in registration order."""
    return list(_REGISTRY)


def register_policy(name: str, factory: Callable[..., ReplacementPolicy]) -> None:
    """Make a policy constructible by name; an existing name is replaced."""
    if not name:
        raise InvalidInputError("policy name must not be empty")
    _REGISTRY[name] = factory


def make_policy(name: str, **kwargs: Any) -> ReplacementPolicy:
    """Build a policy from its registered name and keyword arguments."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInputError(
            f"unknown replacement policy {name!r}; known: {', '.join(available_policies())}"
        )
    return factory(**kwargs)


def resolve_policy(policy: str | ReplacementPolicy) -> ReplacementPolicy:
    """A policy instance from a name or an instance (instances pass through)."""
    if isinstance(policy, ReplacementPolicy):
        return policy
    if isinstance(policy, str):
        return make_policy(policy)
    raise InvalidInputError(f"policy must be a name or a ReplacementPolicy, got {policy!r}")
