"""The log: Kafka's partitioned, append-only log with offsets, retention and replay.

A **topic** is split into **partitions**. Each partition is an append-only list of records;
a record's position in it is its **offset** (0, 1, 2, ...), and it never changes. Producers
append at the end; consumers read forward from an offset they choose and remember ("commit")
how far they got. Reading does not remove anything: records stay until **retention** deletes
the oldest ones, so any consumer can seek back and **replay** what is still there.

>>> from brokerlab.clock import VirtualClock
>>> log = Log(VirtualClock())
>>> log.create_topic("orders", partitions=3)
Topic('orders': 3 partitions, 0 records)
>>> p = log.producer()
>>> p.send("orders", b"order #1", key=b"alice")
RecordMetadata(orders-0@0)
>>> c = log.consumer(group="billing", auto_offset_reset="earliest")
>>> c.subscribe(["orders"])
>>> [r.value for r in c.poll()]
[b'order #1']

Time comes from the injected clock (seconds); Kafka's timestamps and settings are in
milliseconds, so records carry ``clock.now_ms()`` and settings keep Kafka's ``*_ms`` names.
Time rules (retention, session timeouts, transaction timeouts) are applied lazily at the start
of every call, and explicitly by :meth:`Log.tick`.

The log's modules, each readable on its own, import in one direction::

    partition  <-  consumer_group  <-  transactions  <-  log
    partition  <-  producer        <-  transactions

:mod:`brokerlab.partition` stores records (:class:`Partition`, :class:`Topic`, offsets,
retention); :mod:`brokerlab.producer` is the idempotent producer, :mod:`brokerlab.consumer_group`
the consumers, groups and assignors, :mod:`brokerlab.transactions` the transaction coordinator,
and :mod:`brokerlab.partitioning` the key hash. This module's :class:`Log` puts them together:
it owns the topics, groups and coordinator, and hands out producers and consumers. The names of
:mod:`brokerlab.partition` can also be imported from here.

Sources: Apache Kafka documentation, *Topic Configs* (``retention.ms``, ``retention.bytes``,
``segment.bytes``, ``segment.ms``) and *Broker Configs* (``num.partitions``); Kafka's
``UnifiedLog`` (log start offset, high watermark, last stable offset) and
``ProducerStateManager`` (idempotence bookkeeping).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .clock import Clock, VirtualClock
from .consumer_group import Consumer, Group
from .errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidType,
    UnknownGroup,
    UnknownTopic,
    check_range,
    out_of_range,
)
from .partition import (
    BATCHES_TO_RETAIN,
    DEFAULT_RETENTION_BYTES,
    DEFAULT_RETENTION_MS,
    ConsumerRecords,
    ControlMarker,
    Partition,
    Record,
    RecordMetadata,
    Topic,
    TopicPartition,
    check_partition_index,
    record_size,
)
from .producer import Producer
from .transactions import TransactionCoordinator

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from .history import History

__all__ = [
    "BATCHES_TO_RETAIN",
    "DEFAULT_RETENTION_BYTES",
    "DEFAULT_RETENTION_MS",
    "ConsumerRecords",
    "ControlMarker",
    "Log",
    "Partition",
    "Record",
    "RecordMetadata",
    "Topic",
    "TopicPartition",
    "record_size",
]

#: The most partitions a topic may have here (Kafka has no fixed limit; a course needs few).
MAX_PARTITIONS = 10_000

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def _check_retention(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}: pass an int, or -1 for unlimited."
        )
    if value < -1:
        raise out_of_range(name, value, -1, 2**63 - 1, who="Kafka", example=-1)
    return value


# --- the whole log ------------------------------------------------------------------------------


class Log:
    """A Kafka-like cluster in one object: topics, producers, consumers and groups.

    ``Log(clock)`` uses the given clock (a :class:`~brokerlab.clock.VirtualClock` if omitted).
    Pass ``history=`` to record ``publish``, ``deliver``, ``commit``, ``rebalance`` and
    ``crash`` events for the checker.
    """

    def __init__(self, clock: Clock | None = None, *, history: History | None = None) -> None:
        if clock is None:
            clock = VirtualClock()
        if not isinstance(clock, Clock):
            raise InvalidType(
                f"clock={clock!r} is a {type(clock).__name__}: pass a brokerlab Clock, "
                "e.g. VirtualClock()."
            )
        self.clock = clock
        self.history = history
        self._topics: dict[str, Topic] = {}
        self._groups: dict[str, Group] = {}
        self._producer_count = 0
        self._consumer_count = 0
        self._next_producer_id = 0
        self._consumer_names: set[str] = set()
        self._maintained_at = clock.now()
        self.transactions = TransactionCoordinator(self)
        # on_retention(tp, first, end): called after retention deleted offsets first..end-1.
        self.on_retention: Any = None

    # --- topics --------------------------------------------------------------------------------

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        retention_ms: int = DEFAULT_RETENTION_MS,
        retention_bytes: int = DEFAULT_RETENTION_BYTES,
    ) -> Topic:
        """Create a topic with ``partitions`` partitions (Kafka's ``num.partitions`` default is 1).

        ``retention_ms`` (default 7 days) and ``retention_bytes`` (per partition, default -1 =
        unlimited) are Kafka's topic settings; -1 means keep forever. Names follow Kafka's rule:
        1..249 characters from ``a-z A-Z 0-9 . _ -``.
        """
        self._maintain()
        if not isinstance(name, str):
            raise InvalidType(
                f"name={name!r} is a {type(name).__name__}: a topic name is a str, e.g. 'orders'."
            )
        if not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise InvalidArgument(
                f"name={name!r} is not a legal topic name: Kafka allows 1..249 characters from "
                "a-z, A-Z, 0-9, '.', '_' and '-' (and not '.' or '..'). Pick e.g. 'orders'."
            )
        if name in self._topics:
            raise AlreadyExists(
                f"name={name!r}: the topic already exists (Kafka: TopicExistsException). "
                f"Use log.topic({name!r}), or increase_partitions() to grow it."
            )
        if isinstance(partitions, bool) or not isinstance(partitions, int):
            raise InvalidType(
                f"partitions={partitions!r} is a {type(partitions).__name__}: pass an int, e.g. 3."
            )
        check_range("partitions", partitions, 1, MAX_PARTITIONS, who="this model", example=3)
        _check_retention("retention_ms", retention_ms)
        _check_retention("retention_bytes", retention_bytes)
        topic = Topic(name, partitions, retention_ms, retention_bytes)
        self._topics[name] = topic
        return topic

    def topic(self, name: str) -> Topic:
        """The topic called ``name``; :class:`~brokerlab.errors.UnknownTopic` if there is none."""
        self._maintain()
        return self._topic(name)

    def _topic(self, name: Any, param: str = "topic") -> Topic:
        topic = self._topics.get(name) if isinstance(name, str) else None
        if topic is None:
            if not isinstance(name, str):
                raise InvalidType(
                    f"{param}={name!r} is a {type(name).__name__}: a topic name is a str, e.g. 'orders'."
                )
            known = ", ".join(repr(t) for t in self._topics) or "none yet"
            raise UnknownTopic(
                f"{param}={name!r} is not a topic (known: {known}). Create it first: "
                f"log.create_topic({name!r}, partitions=3). (Real brokers may auto-create "
                "topics; this model never does.)"
            )
        return topic

    @property
    def topics(self) -> dict[str, Topic]:
        """All topics by name (a copy)."""
        return dict(self._topics)

    def partition(self, tp: tuple[str, int], param: str = "tp") -> Partition:
        """The :class:`Partition` at ``tp`` = ``(topic, partition)``, validated."""
        topic, index = _split_tp(tp, param)
        t = self._topic(topic, param)
        return t.partitions[check_partition_index(t, index, param)]

    def increase_partitions(self, name: str, to: int) -> Topic:
        """Grow topic ``name`` to ``to`` partitions (Kafka's ``CreatePartitions``; it can
        never shrink). Existing records stay where they are, but keys now hash over more
        partitions, so a key's *new* records may land elsewhere. Groups subscribed to the
        topic rebalance."""
        self._maintain()
        topic = self._topic(name, "name")
        n = len(topic.partitions)
        if isinstance(to, bool) or not isinstance(to, int):
            raise InvalidType(
                f"to={to!r} is a {type(to).__name__}: pass the new partition count as an int."
            )
        check_range("to", to, 1, MAX_PARTITIONS, who="this model", example=n + 1)
        if to <= n:
            raise InvalidArgument(
                f"to={to} is not more than the {n} partitions topic {name!r} has: Kafka can only "
                f"add partitions, never remove them. Pass a number above {n}, e.g. {n + 1}."
            )
        topic.partitions.extend(Partition(topic, i) for i in range(n, to))
        now = self.clock.now()
        for group in self._groups.values():
            if any(name in m.topics for m in group.members.values()):
                group._rebalance(f"topic {name!r} grew to {to} partitions", now)
        return topic

    # --- clients -------------------------------------------------------------------------------

    def producer(self, **config: Any) -> Producer:
        """A new :class:`~brokerlab.producer.Producer`; see its docstring for the settings."""
        self._maintain()
        producer = Producer(self, index=self._producer_count + 1, **config)
        self._producer_count += 1  # only once the settings were accepted
        return producer

    def consumer(self, **config: Any) -> Consumer:
        """A new :class:`~brokerlab.consumer_group.Consumer`; see its docstring for settings."""
        self._maintain()
        return Consumer(self, **config)

    def group(self, name: str) -> Group:
        """The consumer group ``name`` (it exists once a member joined or offsets were committed)."""
        self._maintain()
        if not isinstance(name, str):
            raise InvalidType(
                f"group={name!r} is a {type(name).__name__}: a group id is a str, e.g. 'billing'."
            )
        group = self._groups.get(name)
        if group is None:
            known = ", ".join(repr(g) for g in self._groups) or "none yet"
            raise UnknownGroup(
                f"group={name!r} is not a consumer group (known: {known}). A group appears when "
                f"a consumer made with log.consumer(group={name!r}) subscribes or commits."
            )
        return group

    def _group(self, name: str) -> Group:
        """Get or create a group (internal)."""
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Group(self, name)
        return group

    @property
    def groups(self) -> dict[str, Group]:
        """All consumer groups by name (a copy)."""
        return dict(self._groups)

    def _new_producer_id(self) -> int:
        pid = self._next_producer_id
        self._next_producer_id += 1
        return pid

    # --- time ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply every time rule up to now: retention, transaction timeouts, session timeouts
        and ``max.poll.interval.ms``. Every other call does this first anyway."""
        self._maintained_at = None  # force
        self._maintain()

    def _maintain(self) -> None:
        now = self.clock.now()
        if now == self._maintained_at:
            return
        self._maintained_at = now
        self.transactions._expire(now)
        for group in list(self._groups.values()):
            group._expire(now)
        now_ms = self.clock.now_ms()
        for topic in self._topics.values():
            for p in topic.partitions:
                start = p.log_start_offset
                if p.apply_retention(now_ms, topic.retention_ms, topic.retention_bytes):
                    self._retention_deleted(p, start)

    def _retention_deleted(self, p: Partition, start: int) -> None:
        """Retention deleted offsets ``start..log_start_offset - 1`` of ``p``. With a history,
        record a ``lost`` message for each one not every group had committed past: if it was
        never processed, the checker names the loss (Kafka deletes unread records too)."""
        end = p.log_start_offset
        if self.history is not None:
            commits = [g.committed[p.tp] for g in self._groups.values() if p.tp in g.committed]
            now = self.clock.now()
            for offset in range(max(start, min(commits, default=start)), end):
                self.history.record(
                    now,
                    "broker",
                    "lost",
                    f"{p.tp!r}@{offset}",
                    partition=p.index,
                    offset=offset,
                    topic=p.topic,
                    what="message",
                    reason="retention",
                )
        if self.on_retention is not None:
            self.on_retention(p.tp, start, end)

    # --- pictures and printing -----------------------------------------------------------------

    def graph(self) -> nx.DiGraph:
        """The topology as a ``networkx.DiGraph``: topic -> partition -> group member.

        Nodes have ``kind`` (``'topic'``, ``'partition'``, ``'group'``, ``'member'``) and
        ``label``; partitions also ``log_start_offset`` and ``log_end_offset``. Edges run
        topic -> partition, group -> member, and partition -> member for every assignment
        (with ``group``, ``committed`` and ``lag``).
        """
        import networkx as nx

        self._maintain()
        g = nx.DiGraph()
        for topic in self._topics.values():
            tnode = f"topic:{topic.name}"
            g.add_node(tnode, kind="topic", label=topic.name, partitions=len(topic.partitions))
            for p in topic.partitions:
                pnode = f"{topic.name}-{p.index}"
                g.add_node(
                    pnode,
                    kind="partition",
                    label=pnode,
                    topic=topic.name,
                    partition=p.index,
                    log_start_offset=p.log_start_offset,
                    log_end_offset=p.log_end_offset,
                )
                g.add_edge(tnode, pnode)
        for group in self._groups.values():
            gnode = f"group:{group.name}"
            g.add_node(
                gnode,
                kind="group",
                label=group.name,
                assignor=group.assignor,
                generation=group.generation,
            )
            for member_id, member in group.members.items():
                mnode = f"member:{group.name}/{member_id}"
                g.add_node(
                    mnode, kind="member", label=member_id, group=group.name, alive=member.alive
                )
                g.add_edge(gnode, mnode)
                for tp in member.assignment:
                    committed = group.committed.get(tp)
                    end = self._topics[tp.topic].partitions[tp.partition].log_end_offset
                    g.add_edge(
                        f"{tp.topic}-{tp.partition}",
                        mnode,
                        group=group.name,
                        committed=committed,
                        lag=None if committed is None else max(0, end - committed),
                    )
        return g

    def __repr__(self) -> str:
        nt, ng = len(self._topics), len(self._groups)
        parts = sum(len(t.partitions) for t in self._topics.values())
        return (
            f"Log({nt} topic{'s' if nt != 1 else ''}, {parts} partition{'s' if parts != 1 else ''}, "
            f"{ng} group{'s' if ng != 1 else ''}, t={self.clock.now():g}s)"
        )


def _split_tp(tp: Any, param: str = "tp") -> tuple[str, int]:
    if isinstance(tp, tuple) and len(tp) == 2:
        return tp[0], tp[1]
    raise InvalidType(
        f"{param}={tp!r} is not a partition address: pass TopicPartition('orders', 0) or a "
        "tuple ('orders', 0)."
    )
