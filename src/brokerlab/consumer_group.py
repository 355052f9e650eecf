"""Consumer groups: consumers that share a topic's partitions, and the offsets they commit.

A **consumer** reads partitions forward from a *position* and, now and then, **commits** the
position to its **group**: the committed offset is the *next* offset to read, so a consumer
that restarts (or the member that takes its partitions over) continues from there. Records
after the last commit are read again: that is at-least-once delivery.

Within one group each partition belongs to exactly one member at a time. When members join,
leave, or die (miss the session timeout), the group **rebalances**: an **assignor** computes a
new assignment, and each member loses some partitions and gets others (see
:attr:`Group.events`). Separate groups keep separate offsets, so every group gets every record:
that is how a log gives publish/subscribe.

Assignors (Kafka's ``partition.assignment.strategy``; names as in Kafka):

``range`` (Kafka's default)
    Topic by topic: sort the members subscribed to the topic by member id, give each
    ``n // members`` consecutive partitions, and one extra to the first ``n % members``.
    Balance holds *per topic* (counts differ by at most 1 among the topic's subscribers), but
    not overall: the first members get the extra partition of *every* topic, so with T topics
    two members' totals can differ by up to T. Source: ``RangeAssignor.java``.
``roundrobin``
    All partitions of all subscribed topics, sorted by topic and number, dealt one by one to
    the members in member-id order (skipping members not subscribed to that topic). With equal
    subscriptions the counts differ by at most 1. Source: ``RoundRobinAssignor.java``.
``sticky`` / ``cooperative-sticky``
    Balanced like round-robin, but keeps every partition where it was unless it has to move:
    only partitions of departed members, and the excess of members above their fair share,
    move (KIP-54, KIP-341). ``cooperative-sticky`` runs the *cooperative* protocol (KIP-429):
    members keep consuming the partitions they keep. The other three are *eager*: every member
    gives up everything at each rebalance, and gets its new assignment afterwards.

Time (the injected clock): a live member heartbeats in the background; a *crashed* one stops,
and after ``session_timeout_ms`` (default 45000, KIP-735) the group removes it and rebalances.
A live member that does not call :meth:`Consumer.poll` for ``max_poll_interval_ms`` (default
300000) leaves the group; its next poll rejoins.

Deliberate simplifications, named here once:

- joining happens in :meth:`Consumer.subscribe` (Kafka joins lazily in the first ``poll``), so
  the assignment can be printed right away;
- a rebalance completes at one instant. Kafka's join phase waits for every member to rejoin
  (and a silent member until its session expires); cooperative-sticky needs a second rebalance
  to hand out what the first one revoked. Here both rounds are one :class:`RebalanceEvent`;
- the sticky assignors keep the same *properties* as Kafka's ``AbstractStickyAssignor``
  (balance, minimal movement) but may choose different partitions to move. With unequal
  subscriptions they are never less balanced than Kafka's: where Kafka stops at its
  ``isBalanced()`` rule (no single partition can move to a member with 2 fewer), this model
  also moves partitions along a chain of members (see :func:`sticky_assign`);
- a commit is checked against the partitions the member owns now; Kafka checks the member's
  generation, which amounts to the same thing after a rebalance.

Sources: Apache Kafka documentation, *Consumer Configs* (``auto.offset.reset``,
``enable.auto.commit``, ``auto.commit.interval.ms``, ``max.poll.records``,
``session.timeout.ms``, ``heartbeat.interval.ms``, ``max.poll.interval.ms``,
``isolation.level``, ``partition.assignment.strategy``) and *Broker Configs*
(``group.min.session.timeout.ms`` 6000, ``group.max.session.timeout.ms`` 1800000); Kafka's
``RangeAssignor.java``, ``RoundRobinAssignor.java``, ``AbstractStickyAssignor.java`` and
``ConsumerCoordinator.java`` (auto-commit before a rebalance); KIP-54, KIP-62, KIP-429, KIP-735.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import (
    CommitFailed,
    ConsumerClosed,
    InconsistentGroupProtocol,
    InvalidArgument,
    InvalidType,
    NoOffsetForPartition,
    NotAssigned,
    OffsetOutOfRange,
    OutOfRange,
    check_choice,
    check_range,
)
from .partition import ConsumerRecords, Partition, Record, TopicPartition

if TYPE_CHECKING:  # pragma: no cover
    from .log import Log  # a hint only: the Log makes consumers and groups and passes itself in

__all__ = [
    "ASSIGNORS",
    "Commit",
    "Consumer",
    "Group",
    "RebalanceEvent",
    "check_offsets",
    "range_assign",
    "roundrobin_assign",
    "sticky_assign",
]

Assignment = dict[str, list[TopicPartition]]


# --- assignors: pure functions -----------------------------------------------------------------


def _empty(subscriptions: Mapping[str, Collection[str]]) -> Assignment:
    return {m: [] for m in sorted(subscriptions)}


def _check_assignor_input(subscriptions: Any, partitions_per_topic: Any) -> None:
    """What every assignor needs: ``{member: [topic, ...]}`` and ``{topic: partition count}``."""
    if not isinstance(subscriptions, Mapping) or not all(
        isinstance(m, str)
        and isinstance(ts, Collection)
        and not isinstance(ts, (str, bytes))
        and all(isinstance(t, str) for t in ts)
        for m, ts in subscriptions.items()
    ):
        raise InvalidType(
            f"subscriptions={subscriptions!r} is not a dict of member id -> list of topic names. "
            "Pass e.g. {'c0': ['orders'], 'c1': ['orders', 'payments']}."
        )
    if not isinstance(partitions_per_topic, Mapping) or not all(
        isinstance(t, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 0
        for t, n in partitions_per_topic.items()
    ):
        raise InvalidType(
            f"partitions_per_topic={partitions_per_topic!r} is not a dict of topic name -> "
            "partition count (an int >= 0). Pass e.g. {'orders': 3}."
        )


def range_assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    owned: Mapping[str, Iterable[TopicPartition]] | None = None,
) -> Assignment:
    """Kafka's ``RangeAssignor``: per topic, consecutive ranges in member-id order.

    >>> range_assign({"c0": ["t0", "t1"], "c1": ["t0", "t1"]}, {"t0": 3, "t1": 3})
    {'c0': [t0-0, t0-1, t1-0, t1-1], 'c1': [t0-2, t1-2]}
    """
    _check_assignor_input(subscriptions, partitions_per_topic)
    assignment = _empty(subscriptions)
    topics = sorted({t for ts in subscriptions.values() for t in ts})
    for topic in topics:
        n = partitions_per_topic.get(topic, 0)
        consumers = sorted(m for m, ts in subscriptions.items() if topic in ts)
        per, extra = divmod(n, len(consumers))
        for i, member in enumerate(consumers):
            start = per * i + min(i, extra)
            length = per + (1 if i < extra else 0)
            assignment[member].extend(
                TopicPartition(topic, p) for p in range(start, start + length)
            )
    return assignment


def roundrobin_assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    owned: Mapping[str, Iterable[TopicPartition]] | None = None,
) -> Assignment:
    """Kafka's ``RoundRobinAssignor``: deal all partitions, sorted, to members in id order.

    >>> roundrobin_assign({"c0": ["t0", "t1"], "c1": ["t0", "t1"]}, {"t0": 3, "t1": 3})
    {'c0': [t0-0, t0-2, t1-1], 'c1': [t0-1, t1-0, t1-2]}
    """
    _check_assignor_input(subscriptions, partitions_per_topic)
    assignment = _empty(subscriptions)
    members = sorted(subscriptions)
    if not members:
        return assignment
    turn = 0
    for topic in sorted({t for ts in subscriptions.values() for t in ts}):
        for p in range(partitions_per_topic.get(topic, 0)):
            while topic not in subscriptions[members[turn % len(members)]]:
                turn += 1
            assignment[members[turn % len(members)]].append(TopicPartition(topic, p))
            turn += 1
    return assignment


def sticky_assign(
    subscriptions: Mapping[str, Collection[str]],
    partitions_per_topic: Mapping[str, int],
    owned: Mapping[str, Iterable[TopicPartition]] | None = None,
) -> Assignment:
    """A sticky assignment: balanced, and moving as few owned partitions as it can.

    1. Every member keeps what it owned, if it still subscribes to the topic (a partition
       claimed by two members goes to the first in id order).
    2. Partitions nobody keeps go, one by one, to the least-loaded member subscribed to the
       topic (ties: member id). Topics with the fewest subscribers go first, as Kafka's
       ``GeneralAssignmentBuilder`` sorts them (``TopicComparator``), so that a member with a
       narrow subscription is served before the members that can take anything.
    3. While a member has at least 2 more partitions than a member it can reach, it hands one
       over along the way: directly if the other member subscribes to one of its topics, else
       along a chain in which each member passes one partition to the next (see
       :func:`_balancing_chain`). Partitions a member got in this rebalance move before the
       ones it kept.

    The result meets Kafka's balance rule (``AbstractStickyAssignor.isBalanced()``: no
    partition could move to a subscriber with 2 or more fewer), and more: since no chain can
    improve it either, no other assignment of these subscriptions is better balanced. With
    equal subscriptions the counts differ by at most 1, and the number of owned partitions
    taken away is the minimum possible (only the excess above the fair share).

    Example from issue 9 (Kafka gives each member one partition):

    >>> sticky_assign({"a": ["t0", "t1", "t2"], "b": ["t0", "t1"], "c": ["t1"]},
    ...               {"t0": 1, "t1": 1, "t2": 1})
    {'a': [t2-0], 'b': [t0-0], 'c': [t1-0]}

    >>> sticky_assign({"a": ["t"], "b": ["t"], "c": ["t"]}, {"t": 6},
    ...               owned={"a": [("t", 0), ("t", 1), ("t", 2)], "b": [("t", 3), ("t", 4), ("t", 5)]})
    {'a': [t-0, t-1], 'b': [t-3, t-4], 'c': [t-2, t-5]}

    Deliberate difference: Kafka moves one partition at a time (``performReassignments``), so
    it may stop at an assignment a chain would still improve; this model takes the chain.
    """
    _check_assignor_input(subscriptions, partitions_per_topic)
    members = sorted(subscriptions)
    assignment = _empty(subscriptions)
    eligible: dict[TopicPartition, list[str]] = {}
    for topic in sorted({t for ts in subscriptions.values() for t in ts}):
        subscribers = [m for m in members if topic in subscriptions[m]]
        for p in range(partitions_per_topic.get(topic, 0)):
            eligible[TopicPartition(topic, p)] = subscribers
    # 1. keep what is owned
    owner: dict[TopicPartition, str] = {}
    for member in members:
        for tp in sorted(TopicPartition(*tp) for tp in (owned or {}).get(member, ())):
            if tp not in owner and member in eligible.get(tp, ()):
                owner[tp] = member
                assignment[member].append(tp)
    kept = {m: set(assignment[m]) for m in members}
    # 2. hand out the rest, the partitions with the fewest possible owners first
    unowned = [tp for tp in eligible if tp not in owner]
    for tp in sorted(unowned, key=lambda tp: (len(eligible[tp]), tp)):
        member = min(eligible[tp], key=lambda m: (len(assignment[m]), m))
        owner[tp] = member
        assignment[member].append(tp)
    # 3. balance
    while (chain := _balancing_chain(assignment, eligible, kept)) is not None:
        for tp, giver, taker in chain:
            assignment[giver].remove(tp)
            assignment[taker].append(tp)
    return {m: sorted(tps) for m, tps in assignment.items()}


def _balancing_chain(
    assignment: Assignment, eligible: dict[TopicPartition, list[str]], kept: dict[str, set]
) -> list[tuple[TopicPartition, str, str]] | None:
    """Moves ``(partition, from, to)`` that take one partition off the most loaded member that
    can give one, and put one on a member with at least 2 fewer; ``None`` if there are none.

    The moves form a chain: the donor gives a partition to a member subscribed to its topic,
    that member gives one of its own to the next, and so on; only the two ends change their
    counts. Among the chains to the least-loaded reachable member, the one that takes the
    fewest *kept* partitions away wins, then the shortest (a search over members, cheapest
    first, where moving a kept partition costs 1 and a new one 0).
    """
    for donor in sorted(assignment, key=lambda m: (-len(assignment[m]), m)):
        load = len(assignment[donor])
        best: dict[str, tuple[int, int]] = {donor: (0, 0)}  # member -> (kept moved, hops)
        came_from: dict[str, tuple[str, TopicPartition]] = {}
        queue = [(0, 0, donor)]
        done: set[str] = set()
        while queue:
            cost, hops, member = heapq.heappop(queue)
            if member in done:
                continue
            done.add(member)
            for tp in _handover_order(assignment[member], kept[member]):
                step = cost + (tp in kept[member])
                for taker in eligible[tp]:
                    if taker != member and (step, hops + 1) < best.get(taker, (step + 1, 0)):
                        best[taker] = (step, hops + 1)
                        came_from[taker] = (member, tp)
                        heapq.heappush(queue, (step, hops + 1, taker))
        targets = [m for m in best if len(assignment[m]) <= load - 2]
        if targets:
            target = min(targets, key=lambda m: (len(assignment[m]), best[m], m))
            chain = []
            while target != donor:
                giver, tp = came_from[target]
                chain.append((tp, giver, target))
                target = giver
            return chain[::-1]
    return None


def _handover_order(tps: list[TopicPartition], kept: set) -> list[TopicPartition]:
    """The order in which a member offers its partitions: the ones it got in this rebalance
    first (moving those revokes nothing), then the ones it kept, last first."""
    return [tp for tp in tps if tp not in kept] + sorted(
        (tp for tp in tps if tp in kept), reverse=True
    )


#: name -> (assign function, rebalance protocol)
ASSIGNORS: dict[str, tuple[Callable[..., Assignment], str]] = {
    "range": (range_assign, "eager"),
    "roundrobin": (roundrobin_assign, "eager"),
    "sticky": (sticky_assign, "eager"),
    "cooperative-sticky": (sticky_assign, "cooperative"),
}


# --- what a group remembers ---------------------------------------------------------------------


def _tps(tps: Iterable[TopicPartition]) -> str:
    return "[" + ", ".join(repr(tp) for tp in tps) + "]"


@dataclass(frozen=True)
class RebalanceEvent:
    """One rebalance of a group: who had what before, who has what after.

    ``lost`` and ``got`` are the net moves per member (departed members appear in ``lost``).
    ``revoked`` is what each remaining member's ``on_partitions_revoked`` would be given:
    everything it had under the eager protocol, only what moves away under the cooperative one.
    """

    time: float
    group: str
    generation: int
    reason: str
    protocol: str
    before: dict[str, tuple[TopicPartition, ...]]
    after: dict[str, tuple[TopicPartition, ...]]
    revoked: dict[str, tuple[TopicPartition, ...]] = field(default_factory=dict)

    @property
    def lost(self) -> dict[str, tuple[TopicPartition, ...]]:
        out = {}
        for m, tps in self.before.items():
            gone = tuple(tp for tp in tps if tp not in set(self.after.get(m, ())))
            if gone:
                out[m] = gone
        return out

    @property
    def got(self) -> dict[str, tuple[TopicPartition, ...]]:
        out = {}
        for m, tps in self.after.items():
            new = tuple(tp for tp in tps if tp not in set(self.before.get(m, ())))
            if new:
                out[m] = new
        return out

    def __repr__(self) -> str:
        moves = [f"{m} lost {_tps(t)}" for m, t in self.lost.items()]
        moves += [f"{m} got {_tps(t)}" for m, t in self.got.items()]
        return (
            f"RebalanceEvent(t={self.time:g}s, {self.group!r} generation {self.generation}, "
            f"{self.reason}: {'; '.join(moves) or 'no change'})"
        )


class Commit(NamedTuple):
    """One offset commit: when, by whom (member, or ``'txn:<id>'``), and the offsets."""

    time: float
    member: str
    offsets: dict[TopicPartition, int]

    def __repr__(self) -> str:
        offs = ", ".join(f"{tp!r}: {o}" for tp, o in self.offsets.items())
        return f"Commit(t={self.time:g}s, {self.member}, {{{offs}}})"


class _Member:
    __slots__ = ("consumer", "topics", "assignment", "alive", "last_heartbeat", "last_poll")

    def __init__(self, consumer: Consumer, topics: tuple[str, ...], now: float) -> None:
        self.consumer = consumer
        self.topics = topics
        self.assignment: list[TopicPartition] = []
        self.alive = True
        self.last_heartbeat = now
        self.last_poll = now

    def __repr__(self) -> str:
        state = "" if self.alive else ", crashed"
        return f"Member({self.consumer.name!r}, {_tps(self.assignment)}{state})"


def check_offsets(log: Log, offsets: Any, name: str = "offsets") -> dict[TopicPartition, int]:
    """Validate ``{(topic, partition): offset}``; return it with TopicPartition keys."""
    if not isinstance(offsets, Mapping):
        raise InvalidType(
            f"{name}={offsets!r} is a {type(offsets).__name__}: pass a dict of partition -> next "
            "offset to read, e.g. {('orders', 0): 42}."
        )
    out: dict[TopicPartition, int] = {}
    for tp, offset in offsets.items():
        part = log.partition(tp, "partition")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise InvalidType(
                f"offset={offset!r} for {part.tp!r} is a {type(offset).__name__}: an offset is an int >= 0."
            )
        if offset < 0:
            raise OutOfRange(
                f"offset={offset} for {part.tp!r} is negative: a committed offset is the next "
                f"offset to read, 0 or more. Pass e.g. {part.log_end_offset} (the log end) or the "
                "position after the last record you processed."
            )
        out[part.tp] = offset
    return out


# --- the group ----------------------------------------------------------------------------------


class Group:
    """A consumer group: its members, their assignment, its committed offsets, its history.

    Get it with ``log.group("billing")``. ``events`` lists every rebalance, ``commits`` every
    commit, ``committed`` the current committed offset per partition.
    """

    def __init__(self, log: Log, name: str) -> None:
        self._log = log
        self.name = name
        self.members: dict[str, _Member] = {}
        self.assignor: str | None = None
        self.generation = 0
        self.committed: dict[TopicPartition, int] = {}
        self.events: list[RebalanceEvent] = []
        self.commits: list[Commit] = []

    @property
    def protocol(self) -> str | None:
        """``'eager'`` or ``'cooperative'`` (from the assignor), ``None`` while empty."""
        return ASSIGNORS[self.assignor][1] if self.assignor else None

    def assignment(self) -> dict[str, list[TopicPartition]]:
        """Member id -> the partitions it owns now."""
        self._log._maintain()
        return {m: list(mem.assignment) for m, mem in sorted(self.members.items())}

    def lag(self) -> dict[TopicPartition, int | None]:
        """Per partition: log end offset minus committed offset (``None`` if nothing is committed),
        as ``kafka-consumer-groups --describe`` shows it. Covers every partition of the topics the
        members subscribe to, and every partition with a committed offset."""
        return {row["partition"]: row["lag"] for row in self.describe()}

    def describe(self) -> list[dict[str, Any]]:
        """One row per partition like ``kafka-consumer-groups --describe``: partition,
        committed offset, log end offset, lag, owner."""
        self._log._maintain()
        tps = set(self.committed)
        for mem in self.members.values():
            for topic in mem.topics:
                tps.update(
                    TopicPartition(topic, i)
                    for i in range(len(self._log._topics[topic].partitions))
                )
        owners = {tp: m for m, mem in self.members.items() for tp in mem.assignment}
        rows = []
        for tp in sorted(tps):
            part = self._log.partition(tp)
            committed = self.committed.get(tp)
            rows.append(
                {
                    "partition": tp,
                    "committed": committed,
                    "log_end_offset": part.log_end_offset,
                    "lag": None if committed is None else max(0, part.log_end_offset - committed),
                    "member": owners.get(tp),
                }
            )
        return rows

    # --- membership ----------------------------------------------------------------------------

    def _check_protocol(self, consumer: Consumer) -> None:
        others = [m for m in self.members if m != consumer.name]
        if others and self.assignor != consumer.assignor:
            raise InconsistentGroupProtocol(
                f"assignor={consumer.assignor!r} does not match group {self.name!r}, whose members "
                f"use {self.assignor!r} (Kafka: InconsistentGroupProtocolException). Make the "
                f"consumer with assignor={self.assignor!r}, or use another group."
            )

    def _join(self, consumer: Consumer, topics: tuple[str, ...], reason: str, now: float) -> None:
        self._check_protocol(consumer)
        if not self.members:
            self.assignor = consumer.assignor
        self.members[consumer.name] = _Member(consumer, topics, now)
        self._rebalance(reason, now)

    def _leave(self, member_id: str, reason: str, at: float) -> None:
        member = self.members.pop(member_id)
        self._rebalance(reason, at, departed={member_id: tuple(member.assignment)})

    def _expire(self, now: float) -> None:
        """Remove members whose session or poll interval ran out, one at a time, in time order."""
        while self.members:
            due = []
            for member_id, mem in self.members.items():
                c = mem.consumer
                if not mem.alive:
                    due.append(
                        (mem.last_heartbeat + c.session_timeout_ms / 1000.0, member_id, "session")
                    )
                elif c.max_poll_interval_ms is not None:
                    due.append((mem.last_poll + c.max_poll_interval_ms / 1000.0, member_id, "poll"))
            due = [d for d in due if now >= d[0]]
            if not due:
                return
            at, member_id, why = min(due)
            c = self.members[member_id].consumer
            if why == "session":
                reason = f"{member_id} missed the session timeout ({c.session_timeout_ms} ms)"
            else:
                reason = f"{member_id} did not poll within max.poll.interval.ms ({c.max_poll_interval_ms} ms)"
                c._positions.clear()
            self._leave(member_id, reason, at)

    def _rebalance(self, reason: str, at: float, departed: dict[str, tuple] | None = None) -> None:
        log = self._log
        before = {m: tuple(mem.assignment) for m, mem in self.members.items()}
        before.update(departed or {})
        if self.members:
            assign, protocol = ASSIGNORS[self.assignor]
            subscriptions = {m: mem.topics for m, mem in self.members.items()}
            counts = {
                t: len(log._topics[t].partitions) for ts in subscriptions.values() for t in ts
            }
            owned = {m: mem.assignment for m, mem in self.members.items()}
            new = assign(subscriptions, counts, owned)
        else:
            protocol = self.protocol or "eager"
            new = {}
        # Kafka's onJoinPrepare: live members with auto-commit commit their positions first.
        for mem in self.members.values():
            if mem.alive:
                mem.consumer._commit_before_rebalance(at)
        revoked: dict[str, tuple[TopicPartition, ...]] = {}
        for member_id, mem in self.members.items():
            old = set(mem.assignment)
            now_owned = set(new[member_id])
            gone = old if protocol == "eager" else old - now_owned
            if gone:
                revoked[member_id] = tuple(sorted(gone))
                mem.consumer._revoked(gone)
            mem.assignment = sorted(now_owned)
        self.generation += 1
        after = {m: tuple(mem.assignment) for m, mem in sorted(self.members.items())}
        event = RebalanceEvent(
            at,
            self.name,
            self.generation,
            reason,
            protocol,
            dict(sorted(before.items())),
            after,
            revoked,
        )
        self.events.append(event)
        if not self.members:
            self.assignor = None
        if log.history is not None:
            log.history.record(
                at,
                self.name,
                "rebalance",
                generation=self.generation,
                reason=reason,
                assignment={m: [repr(tp) for tp in tps] for m, tps in after.items()},
            )

    # --- offsets -------------------------------------------------------------------------------

    def _store_commit(self, offsets: dict[TopicPartition, int], who: str, at: float) -> None:
        if not offsets:
            return
        self.committed.update(offsets)
        self.commits.append(Commit(at, who, dict(offsets)))
        history = self._log.history
        if history is not None:
            for tp, offset in offsets.items():
                history.record(
                    at,
                    who,
                    "commit",
                    partition=tp.partition,
                    offset=offset,
                    topic=tp.topic,
                    group=self.name,
                )

    def __repr__(self) -> str:
        n = len(self.members)
        assignor = f", {self.assignor}" if self.assignor else ""
        return f"Group({self.name!r}: {n} member{'s' if n != 1 else ''}, generation {self.generation}{assignor})"


# --- the consumer -------------------------------------------------------------------------------

_RESETS = ("earliest", "latest", "none")
_ISOLATION = ("read_uncommitted", "read_committed")


class Consumer:
    """Reads records from a :class:`~brokerlab.log.Log`. Make one with ``log.consumer(...)``.

    Settings (Kafka's names, snake_case as in kafka-python; defaults are Kafka's):

    - ``group``: the group id (Kafka ``group.id``); needed for ``subscribe`` and ``commit``;
    - ``auto_offset_reset='latest'``: where to start without a committed offset, or when the
      position fell out of the retained log: ``'earliest'``, ``'latest'`` or ``'none'`` (raise);
    - ``enable_auto_commit=True``, ``auto_commit_interval_ms=5000``: commit the positions
      inside ``poll`` once the interval has passed (and before a rebalance, and on close);
    - ``isolation_level='read_uncommitted'`` or ``'read_committed'``;
    - ``max_poll_records=500``; ``session_timeout_ms=45000`` (the broker allows
      6000..1800000); ``max_poll_interval_ms=300000`` (``None`` switches the rule off: a
      model-only convenience);
    - ``assignor='range'``: ``'range'``, ``'roundrobin'``, ``'sticky'`` or
      ``'cooperative-sticky'``;
    - ``name``: the member id (default ``consumer-N``), unique per log.
    """

    def __init__(
        self,
        log: Log,
        *,
        group: str | None = None,
        name: str | None = None,
        auto_offset_reset: str = "latest",
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        isolation_level: str = "read_uncommitted",
        max_poll_records: int = 500,
        session_timeout_ms: int = 45_000,
        max_poll_interval_ms: int | None = 300_000,
        assignor: str = "range",
    ) -> None:
        if group is not None and (not isinstance(group, str) or not group):
            raise InvalidType(f"group={group!r}: a group id is a non-empty str, e.g. 'billing'.")
        check_choice("auto_offset_reset", auto_offset_reset, _RESETS)
        check_choice("isolation_level", isolation_level, _ISOLATION)
        check_choice("assignor", assignor, tuple(ASSIGNORS))
        if not isinstance(enable_auto_commit, bool):
            raise InvalidType(f"enable_auto_commit={enable_auto_commit!r}: pass True or False.")
        _check_int("auto_commit_interval_ms", auto_commit_interval_ms, 0, 2**31 - 1, 5000)
        _check_int("max_poll_records", max_poll_records, 1, 2**31 - 1, 500)
        _check_int(
            "session_timeout_ms",
            session_timeout_ms,
            6000,
            1_800_000,
            45_000,
            who="the broker (group.min/max.session.timeout.ms)",
        )
        if max_poll_interval_ms is not None:
            _check_int("max_poll_interval_ms", max_poll_interval_ms, 1, 2**31 - 1, 300_000)
        if name is None:
            log._consumer_count += 1
            name = f"consumer-{log._consumer_count}"
            while name in log._consumer_names:
                log._consumer_count += 1
                name = f"consumer-{log._consumer_count}"
        elif not isinstance(name, str) or not name:
            raise InvalidType(
                f"name={name!r}: a consumer name is a non-empty str, e.g. 'worker-1'."
            )
        elif name in log._consumer_names:
            raise InvalidArgument(
                f"name={name!r} is taken: another consumer of this log has it, and a member id must "
                f"be unique. Pick another, e.g. {name + '-b'!r}."
            )
        log._consumer_names.add(name)
        self.log = log
        self.name = name
        self.group = group
        self.auto_offset_reset = auto_offset_reset
        self.enable_auto_commit = enable_auto_commit
        self.auto_commit_interval_ms = auto_commit_interval_ms
        self.isolation_level = isolation_level
        self.max_poll_records = max_poll_records
        self.session_timeout_ms = session_timeout_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.assignor = assignor
        self.state = "open"  # 'open', 'closed' or 'crashed'
        self._positions: dict[TopicPartition, int] = {}
        self._manual: list[TopicPartition] | None = None
        self._subscription: tuple[str, ...] = ()
        self._next_auto_commit = log.clock.now() + auto_commit_interval_ms / 1000.0
        self._rotation = 0

    # --- state ---------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self.state != "open":
            fix = (
                "A crashed process makes no calls; start a new consumer in the same group to take over."
                if self.state == "crashed"
                else "Make a new consumer with log.consumer(...)."
            )
            raise ConsumerClosed(f"consumer {self.name!r} is {self.state}. {fix}")

    @property
    def _group_obj(self) -> Group | None:
        return self.log._groups.get(self.group) if self.group else None

    @property
    def member(self) -> _Member | None:
        """This consumer's membership in its group, or ``None`` (not subscribed, or removed)."""
        group = self._group_obj
        mem = group.members.get(self.name) if group else None
        return mem if mem is not None and mem.consumer is self else None

    def subscription(self) -> list[str]:
        """The topics this consumer subscribed to."""
        return list(self._subscription)

    def assignment(self) -> list[TopicPartition]:
        """The partitions this consumer owns now (from its group, or from :meth:`assign`)."""
        self.log._maintain()
        return self._assigned()

    def _assigned(self) -> list[TopicPartition]:
        if self._manual is not None:
            return list(self._manual)
        mem = self.member
        return list(mem.assignment) if mem else []

    # --- joining -------------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str] | str) -> None:
        """Join the group and get partitions of ``topics`` (a list of names, or one name).

        The group rebalances at once; see :attr:`Group.events`. Subscribing again with other
        topics changes the subscription (another rebalance); an empty list unsubscribes.
        """
        self._check_usable()
        log = self.log
        log._maintain()
        if self.group is None:
            raise InvalidArgument(
                f"consumer {self.name!r} has no group: subscribe() needs one. Make the consumer with "
                "log.consumer(group='billing'), or pick partitions yourself with assign()."
            )
        if isinstance(topics, str):
            topics = [topics]
        if not isinstance(topics, Iterable):
            raise InvalidType(f"topics={topics!r}: pass a list of topic names, e.g. ['orders'].")
        names = list(topics)
        for t in names:
            log._topic(t, "topics")
        if self._manual is not None:
            raise InvalidArgument(
                f"consumer {self.name!r} uses assign(): subscribe() and assign() exclude each other "
                "(Kafka: IllegalStateException). Call unsubscribe() first."
            )
        if not names:
            self.unsubscribe()
            return
        wanted = tuple(sorted(set(names)))
        group = log._group(self.group)
        now = log.clock.now()
        mem = self.member
        if mem is not None:
            if wanted != mem.topics:
                self._subscription = wanted
                mem.topics = wanted
                group._rebalance(f"{self.name} changed its subscription to {list(wanted)}", now)
            return
        group._join(self, wanted, f"{self.name} joined", now)
        self._subscription = wanted

    def unsubscribe(self) -> None:
        """Leave the group (it rebalances) and drop any manual assignment."""
        self._check_usable()
        self.log._maintain()
        self._leave("left (unsubscribe)")
        self._manual = None
        self._positions.clear()

    def _leave(self, how: str) -> None:
        mem = self.member
        self._subscription = ()
        if mem is not None:
            self._group_obj._leave(self.name, f"{self.name} {how}", self.log.clock.now())

    def assign(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Take these partitions yourself, without a group rebalance (Kafka's ``assign``).

        Positions come from the group's committed offsets if ``group`` is set, else from
        ``auto_offset_reset``. Commits are allowed if ``group`` is set.
        """
        self._check_usable()
        log = self.log
        log._maintain()
        if (
            isinstance(partitions, tuple)
            and len(partitions) == 2
            and isinstance(partitions[0], str)
        ):
            partitions = [partitions]
        tps = sorted({log.partition(tp, "partitions").tp for tp in partitions})
        if self._subscription:
            raise InvalidArgument(
                f"consumer {self.name!r} is subscribed to {list(self._subscription)}: subscribe() "
                "and assign() exclude each other. Call unsubscribe() first."
            )
        for tp in list(self._positions):
            if tp not in tps:
                del self._positions[tp]
        self._manual = tps

    # --- reading -------------------------------------------------------------------------------

    def poll(self, max_records: int | None = None) -> ConsumerRecords:
        """Fetch up to ``max_records`` (default ``max_poll_records``, 500) records.

        In order: apply the time rules; rejoin the group if this member was removed; auto-commit
        the *current* positions if the interval has passed; find a position for every newly
        assigned partition (committed offset, else ``auto_offset_reset``); read forward from
        the positions, partition by partition. Returns :class:`~brokerlab.log.ConsumerRecords`
        (a list-like of :class:`~brokerlab.log.Record`). Never blocks: an empty result means
        nothing new.
        """
        self._check_usable()
        log = self.log
        log._maintain()
        if max_records is None:
            max_records = self.max_poll_records
        else:
            _check_int("max_records", max_records, 1, 2**31 - 1, 500)
        if self._manual is None and not self._subscription:
            raise NotAssigned(
                f"consumer {self.name!r} has nothing to poll: it is not subscribed and has no "
                "partitions (Kafka: IllegalStateException). Call subscribe(['orders']) or "
                "assign([('orders', 0)]) first."
            )
        now = log.clock.now()
        if self._subscription and self.member is None:
            log._group(self.group)._join(self, self._subscription, f"{self.name} rejoined", now)
        assigned = self._assigned()
        updates = self._resolve_positions(assigned)  # may raise; nothing changed yet
        mem = self.member
        if mem is not None:
            mem.last_poll = now
        if self.enable_auto_commit and now >= self._next_auto_commit:
            self._auto_commit(now)
            self._next_auto_commit = now + self.auto_commit_interval_ms / 1000.0
        self._positions.update(updates)
        # Read the assigned partitions in turn, starting after the one the last poll ended on,
        # as Kafka's fetcher does, so that no partition starves.
        records: list[Record] = []
        committed_only = self.isolation_level == "read_committed"
        n = len(assigned)
        for k in range(n):
            tp = assigned[(self._rotation + k) % n]
            partition = log.partition(tp)
            got, self._positions[tp] = partition.read(
                self._positions[tp], max_records - len(records), committed_only
            )
            records.extend(got)
            if len(records) >= max_records:
                self._rotation = (self._rotation + k + 1) % n
                break
        result = ConsumerRecords(records)
        if log.history is not None:
            for r in result:
                log.history.record(
                    now,
                    self.name,
                    "deliver",
                    f"{r.topic}-{r.partition}@{r.offset}",
                    key=None if r.key is None else r.key.decode("utf-8", "replace"),
                    partition=r.partition,
                    offset=r.offset,
                    topic=r.topic,
                )
        return result

    def _reset_target(self, part: Partition, why: str) -> int:
        policy = self.auto_offset_reset
        if policy == "earliest":
            return part.log_start_offset
        if policy == "latest":
            return (
                part.last_stable_offset
                if self.isolation_level == "read_committed"
                else part.log_end_offset
            )
        if why == "none":
            raise NoOffsetForPartition(
                f"auto_offset_reset='none' and group {self.group!r} has no committed offset for "
                f"{part.tp!r} (Kafka: NoOffsetForPartitionException). Commit or seek() to an "
                "offset first, or use auto_offset_reset='earliest' or 'latest'."
            )
        raise OffsetOutOfRange(
            f"auto_offset_reset='none' and the position {why} of {part.tp!r} is outside the retained "
            f"log {part.log_start_offset}..{part.log_end_offset} (Kafka: OffsetOutOfRangeException). "
            "seek() to a retained offset, or use auto_offset_reset='earliest' or 'latest'."
        )

    def _resolve_positions(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Positions to set before fetching: committed offset or reset for new partitions, reset
        for positions outside the retained log. Raises for ``auto_offset_reset='none'``."""
        updates: dict[TopicPartition, int] = {}
        group = self._group_obj
        for tp in assigned:
            part = self.log.partition(tp)
            pos = self._positions.get(tp)
            if pos is None:
                pos = group.committed.get(tp) if group is not None else None
                if pos is None:
                    updates[tp] = self._reset_target(part, "none")
                    continue
                updates[tp] = pos
            if not part.log_start_offset <= pos <= part.log_end_offset:
                updates[tp] = self._reset_target(part, str(pos))
        return updates

    def position(self, tp: tuple[str, int]) -> int:
        """The offset of the next record this consumer will read from ``tp`` (looked up from
        the committed offset or ``auto_offset_reset`` if not known yet)."""
        self._check_usable()
        self.log._maintain()
        tp = self._owned_tp(tp, "position")
        self._positions.update(self._resolve_positions([tp]))
        return self._positions[tp]

    def positions(self) -> dict[TopicPartition, int]:
        """Every known position (partitions polled, sought or looked up since assignment)."""
        return {tp: self._positions[tp] for tp in self._assigned() if tp in self._positions}

    def committed(self, tp: tuple[str, int]) -> int | None:
        """The group's committed offset for ``tp`` (the next offset to read), or ``None``."""
        self.log._maintain()
        tp = self.log.partition(tp, "tp").tp
        group = self._group_obj
        return group.committed.get(tp) if group is not None else None

    def lag(self) -> dict[TopicPartition, int | None]:
        """Per assigned partition: records between the position and the end of what this
        consumer may read (high watermark, or LSO for ``read_committed``). Before the first
        poll the position is the committed offset or the reset target; ``None`` if unknown
        (``auto_offset_reset='none'`` without a commit)."""
        self._check_usable()
        self.log._maintain()
        out: dict[TopicPartition, int | None] = {}
        group = self._group_obj
        for tp in self._assigned():
            part = self.log.partition(tp)
            end = (
                part.last_stable_offset
                if self.isolation_level == "read_committed"
                else part.high_watermark
            )
            pos = self._positions.get(tp)
            if pos is None and group is not None:
                pos = group.committed.get(tp)
            if pos is None and self.auto_offset_reset != "none":
                pos = self._reset_target(part, "none")
            out[tp] = None if pos is None else max(0, end - pos)
        return out

    # --- moving the position -------------------------------------------------------------------

    def _owned_tp(self, tp: Any, what: str) -> TopicPartition:
        tp = self.log.partition(tp, "tp").tp
        if tp not in self._assigned():
            raise NotAssigned(
                f"tp={tp!r} is not assigned to consumer {self.name!r} (it has {_tps(self._assigned())}): "
                f"{what} works only on its own partitions. Pick one of those, or assign() it."
            )
        return tp

    def seek(self, tp: tuple[str, int], offset: int) -> None:
        """Make ``offset`` the next offset to read from ``tp``: replay, or skip ahead.

        An offset outside the retained log is accepted here and handled at the next poll by
        ``auto_offset_reset``, as in Kafka."""
        self._check_usable()
        self.log._maintain()
        tp = self._owned_tp(tp, "seek()")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise InvalidType(
                f"offset={offset!r} is a {type(offset).__name__}: an offset is an int >= 0."
            )
        if offset < 0:
            raise OutOfRange(
                f"offset={offset} is negative: offsets count from 0 (Kafka: 'seek offset must not "
                "be a negative number'). Pass 0 or more, or use seek_to_beginning()."
            )
        self._positions[tp] = offset

    def _tps_or_all(
        self, partitions: Iterable[tuple[str, int]] | None, what: str
    ) -> list[TopicPartition]:
        if partitions is None:
            return self._assigned()
        return [self._owned_tp(tp, what) for tp in partitions]

    def seek_to_beginning(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Move to the first retained offset (``log_start_offset``) of these (default: all
        assigned) partitions: replay everything that is retained."""
        self._check_usable()
        self.log._maintain()
        tps = self._tps_or_all(partitions, "seek_to_beginning()")
        for tp in tps:
            self._positions[tp] = self.log.partition(tp).log_start_offset

    def seek_to_end(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Move to the end (LEO, or LSO for ``read_committed``): skip what is there now."""
        self._check_usable()
        self.log._maintain()
        tps = self._tps_or_all(partitions, "seek_to_end()")
        for tp in tps:
            part = self.log.partition(tp)
            self._positions[tp] = (
                part.last_stable_offset
                if self.isolation_level == "read_committed"
                else part.log_end_offset
            )

    def seek_to_time(
        self, timestamp_ms: int, partitions: Iterable[tuple[str, int]] | None = None
    ) -> None:
        """Move to the first record at or after ``timestamp_ms`` (Kafka's ``offsetsForTimes``
        followed by ``seek``): replay from a point in time."""
        self._check_usable()
        self.log._maintain()
        _check_int("timestamp_ms", timestamp_ms, 0, 2**63 - 1, 0)
        tps = self._tps_or_all(partitions, "seek_to_time()")
        for tp in tps:
            self._positions[tp] = self.log.partition(tp).offset_for_time(timestamp_ms)

    # --- committing ----------------------------------------------------------------------------

    def _check_commit_offsets(self, offsets: Any) -> dict[TopicPartition, int]:
        self._check_can_commit()
        checked = check_offsets(self.log, offsets)
        owned = set(self._assigned())
        for tp in checked:
            if tp not in owned:
                raise NotAssigned(
                    f"partition {tp!r} is not assigned to consumer {self.name!r} (it has "
                    f"{_tps(sorted(owned))}): a member commits only its own partitions. Commit "
                    "those, or let the owner commit."
                )
        return checked

    def _check_can_commit(self) -> None:
        if self.group is None:
            raise InvalidArgument(
                f"consumer {self.name!r} has no group: commits are stored per group. Make it with "
                "log.consumer(group='billing')."
            )
        if self._subscription and self.member is None:
            raise CommitFailed(
                f"consumer {self.name!r} is no longer a member of group {self.group!r}: it was removed "
                "(it did not poll within max_poll_interval_ms) and its partitions went to other "
                "members (Kafka: CommitFailedException). Poll again to rejoin; the records since "
                "the last commit will be read again."
            )

    def commit(
        self, offsets: Mapping[tuple[str, int], int] | None = None
    ) -> dict[TopicPartition, int]:
        """Commit offsets to the group (Kafka's ``commitSync``); return what was committed.

        Without arguments: the current positions, i.e. just after the records the last polls
        returned. With ``offsets``: ``{(topic, partition): next_offset_to_read}``.
        """
        self._check_usable()
        self.log._maintain()
        if offsets is None:
            self._check_can_commit()
            checked = self.positions()
        else:
            checked = self._check_commit_offsets(offsets)
        self._group_obj_or_create()._store_commit(checked, self.name, self.log.clock.now())
        return checked

    def _group_obj_or_create(self) -> Group:
        return self.log._group(self.group)

    def _auto_commit(self, at: float) -> None:
        if self.group is None:
            return
        if self._subscription and self.member is None:
            return
        self._group_obj_or_create()._store_commit(self.positions(), self.name, at)

    def _commit_before_rebalance(self, at: float) -> None:
        if self.state == "open" and self.enable_auto_commit:
            self._auto_commit(at)

    def _revoked(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._positions.pop(tp, None)

    def group_metadata(self) -> tuple[str | None, str, int]:
        """``(group id, member id, generation)``: what Kafka's ``sendOffsetsToTransaction`` takes."""
        group = self._group_obj
        return (self.group, self.name, group.generation if group else -1)

    # --- ending --------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit the positions (if auto-commit is on), leave the group (it rebalances at once)."""
        self._check_usable()
        self.log._maintain()
        if self.enable_auto_commit:
            self._auto_commit(self.log.clock.now())
        self._leave("left (close)")
        self.state = "closed"
        self._positions.clear()

    def crash(self) -> None:
        """The process dies: no commit, no goodbye. The group notices only when the session
        times out (``session_timeout_ms``); until then nobody reads this member's partitions."""
        self._check_usable()
        log = self.log
        log._maintain()
        now = log.clock.now()
        mem = self.member
        if mem is not None:
            mem.alive = False
            mem.last_heartbeat = now
        self.state = "crashed"
        if log.history is not None:
            log.history.record(now, self.name, "crash")

    def __repr__(self) -> str:
        group = f", group={self.group!r}" if self.group else ""
        state = f", {self.state}" if self.state != "open" else ""
        return f"Consumer({self.name!r}{group}, {_tps(self._assigned())}{state})"


def _check_int(name: str, value: Any, low: int, high: int, example: int, who: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: pass an int, e.g. {example}."
        )
    return check_range(name, value, low, high, who=who, example=example)
