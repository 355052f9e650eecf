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

What each partition keeps track of (Kafka's names):

- ``log_start_offset``: the first offset still retained (0 until retention deletes some);
- ``log_end_offset`` (LEO): the offset the *next* record will get;
- ``high_watermark``: the end of what consumers may read. This model has one broker and one
  replica, so it equals the LEO (with replication it trails the LEO until followers catch up);
- ``last_stable_offset`` (LSO): the first offset of the oldest transaction still open, or the
  high watermark if none is open. ``read_committed`` consumers read only below it.

Time comes from the injected clock (seconds); Kafka's timestamps and settings are in
milliseconds, so records carry ``clock.now_ms()`` and settings keep Kafka's ``*_ms`` names.
Time rules (retention, session timeouts, transaction timeouts) are applied lazily at the start
of every call, and explicitly by :meth:`Log.tick`.

Modules: this one holds the storage (:class:`Partition`, :class:`Topic`, :class:`Log`);
:mod:`brokerlab.producer` the idempotent producer, :mod:`brokerlab.transactions` the
transaction coordinator, :mod:`brokerlab.consumer_group` consumers, groups and assignors,
:mod:`brokerlab.partitioning` the key hash.

Sources: Apache Kafka documentation, *Topic Configs* (``retention.ms``, ``retention.bytes``,
``segment.bytes``, ``segment.ms``) and *Broker Configs* (``num.partitions``); Kafka's
``UnifiedLog`` (log start offset, high watermark, last stable offset) and
``ProducerStateManager`` (idempotence bookkeeping).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, NamedTuple

from .clock import Clock, VirtualClock
from .errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidType,
    OffsetOutOfRange,
    OutOfOrderSequence,
    ProducerFenced,
    UnknownGroup,
    UnknownTopic,
    check_range,
    out_of_range,
)
from .message import body_bytes

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from .consumer_group import Consumer, Group
    from .history import History
    from .producer import Producer

__all__ = [
    "DEFAULT_RETENTION_MS",
    "ControlMarker",
    "ConsumerRecords",
    "Log",
    "Partition",
    "Record",
    "RecordMetadata",
    "Topic",
    "TopicPartition",
]

#: ``retention.ms`` default: 7 days (Kafka topic config; broker ``log.retention.hours=168``).
DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
#: ``retention.bytes`` default: -1, unlimited (Kafka topic config).
DEFAULT_RETENTION_BYTES = -1
#: How many recent batches per producer and partition the broker remembers to spot a resend
#: (Kafka ``ProducerStateEntry.NUM_BATCHES_TO_RETAIN``; the reason for
#: ``max.in.flight.requests.per.connection <= 5`` with idempotence).
BATCHES_TO_RETAIN = 5

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_NO_HEADERS: tuple = ()
_tuple_new = tuple.__new__


# --- the small value types ------------------------------------------------------------------------


class TopicPartition(NamedTuple):
    """A partition's address: topic name and partition number. Prints as Kafka does: ``orders-0``.

    Any ``(topic, partition)`` tuple is accepted wherever a TopicPartition is expected.
    """

    topic: str
    partition: int

    def __repr__(self) -> str:
        return f"{self.topic}-{self.partition}"


class Record(NamedTuple):
    """One record as a consumer sees it (Kafka's ``ConsumerRecord``).

    ``key`` is ``bytes`` or ``None``; ``value`` is what the producer sent; ``timestamp`` is the
    producer's clock in milliseconds (Kafka's ``CreateTime``); ``headers`` a tuple of
    ``(name, bytes)`` pairs.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any
    timestamp: int
    headers: tuple = ()

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def __repr__(self) -> str:
        key = "" if self.key is None else f", key={self.key!r}"
        headers = f", headers={self.headers!r}" if self.headers else ""
        return f"Record({self.topic}-{self.partition}@{self.offset}{key}, value={self.value!r}{headers})"


class RecordMetadata(NamedTuple):
    """Where a sent record landed (Kafka's ``RecordMetadata``)."""

    topic: str
    partition: int
    offset: int
    timestamp: int

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def __repr__(self) -> str:
        return f"RecordMetadata({self.topic}-{self.partition}@{self.offset})"


class ControlMarker(NamedTuple):
    """A transaction marker: the record a transaction's commit or abort writes to each of its
    partitions. It takes up an offset, as in Kafka, but no consumer ever receives it (Kafka's
    control batches are filtered out by the client). It shows in :meth:`Partition.records`."""

    kind: str  # "COMMIT" or "ABORT"
    producer_id: int

    def __repr__(self) -> str:
        return f"<{self.kind} marker, producer {self.producer_id}>"


def record_size(key: bytes | None, value: Any) -> int:
    """Bytes a record counts for batch sizes and ``retention.bytes``: ``len(key) + len(value)``.

    Non-bytes values are measured as their UTF-8 text or canonical JSON
    (:func:`brokerlab.message.body_bytes`). Kafka's per-record overhead is left out.
    """
    if type(value) is bytes:
        size = len(value)
    elif type(value) is ControlMarker:
        size = 0
    else:
        size = len(body_bytes(value))
    return size if key is None else size + len(key)


# --- a poll's result ----------------------------------------------------------------------------


class ConsumerRecords(Sequence):
    """What :meth:`Consumer.poll` returns: the records, partition by partition (Kafka's
    ``ConsumerRecords``).

    It behaves like a list of :class:`Record` (``len``, index, iterate, compare with a list),
    but keeps the records as column slices of the log and builds :class:`Record` objects only
    when you look at them. ``values()``, ``keys()`` and ``offsets()`` give whole columns at once.
    """

    __slots__ = ("_chunks", "_count")

    def __init__(self, chunks: list[tuple] | None = None) -> None:
        # chunk: (topic, partition, offsets, keys, values, timestamps, headers)
        self._chunks = chunks or []
        self._count = sum(len(c[2]) for c in self._chunks)

    def __len__(self) -> int:
        return self._count

    def count(self) -> int:  # type: ignore[override]  # Kafka's ConsumerRecords.count()
        """The number of records (same as ``len``)."""
        return self._count

    def __iter__(self) -> Iterator[Record]:
        for topic, partition, offsets, keys, values, stamps, headers in self._chunks:
            n = len(offsets)
            yield from map(
                _tuple_new,
                repeat(Record, n),
                zip(
                    repeat(topic, n),
                    repeat(partition, n),
                    offsets,
                    keys,
                    values,
                    stamps,
                    headers,
                    strict=True,
                ),
            )

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return list(self)[index]
        n = self._count
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} records")
        for topic, partition, offsets, keys, values, stamps, headers in self._chunks:
            if index < len(offsets):
                return Record(
                    topic,
                    partition,
                    offsets[index],
                    keys[index],
                    values[index],
                    stamps[index],
                    headers[index],
                )
            index -= len(offsets)
        raise IndexError(index)  # pragma: no cover

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ConsumerRecords, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def partitions(self) -> list[TopicPartition]:
        """The partitions that have records in this result, in order."""
        return [TopicPartition(c[0], c[1]) for c in self._chunks]

    def records(self, tp: tuple[str, int]) -> list[Record]:
        """The records of one partition."""
        return [r for r in self if (r.topic, r.partition) == tuple(tp)]

    def values(self) -> list:
        """All values, in order, without building Record objects (fast)."""
        out: list = []
        for c in self._chunks:
            out.extend(c[4])
        return out

    def keys(self) -> list:
        """All keys, in order."""
        out: list = []
        for c in self._chunks:
            out.extend(c[3])
        return out

    def offsets(self) -> list[int]:
        """All offsets, in order."""
        out: list[int] = []
        for c in self._chunks:
            out.extend(c[2])
        return out

    def __repr__(self) -> str:
        if self._count <= 5:
            return repr(list(self))
        parts = ", ".join(f"{c[0]}-{c[1]}@{c[2][0]}..{c[2][-1]}" for c in self._chunks)
        return f"ConsumerRecords({self._count} records: {parts})"


# --- one partition --------------------------------------------------------------------------------


class _ProducerState:
    """What a partition remembers about one idempotent producer (Kafka ``ProducerStateEntry``)."""

    __slots__ = ("epoch", "last_seq", "batches")

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.last_seq = -1
        # (first_seq, last_seq, base_offset, timestamp) of the last 5 batches
        self.batches: deque[tuple[int, int, int, int]] = deque(maxlen=BATCHES_TO_RETAIN)


class Partition:
    """One partition: an append-only log of records, addressed by offset.

    Records are stored in parallel lists (keys, values, timestamps, headers): compact, and a
    poll is a few list slices. Offsets are implicit: the record at list index ``i`` has
    offset ``log_start_offset + i``.
    """

    __slots__ = (
        "topic",
        "index",
        "_topic",
        "log_start_offset",
        "_keys",
        "_values",
        "_timestamps",
        "_headers",
        "_bytes",
        "_markers",
        "_aborted",
        "_open",
        "_producers",
    )

    def __init__(self, topic: Topic, index: int) -> None:
        self.topic = topic.name
        self.index = index
        self._topic = topic
        self.log_start_offset = 0
        self._keys: list = []
        self._values: list = []
        self._timestamps: list[int] = []
        self._headers: list[tuple] = []
        # Bytes held, kept up to date only when the topic has retention.bytes (else computed).
        self._bytes = 0
        self._markers: list[int] = []  # offsets of transaction markers, ascending
        self._aborted: list[tuple[int, int]] = []  # [start, end) ranges of aborted records
        self._open: dict[int, int] = {}  # producer id -> first offset of its open transaction here
        self._producers: dict[int, _ProducerState] = {}

    # --- offsets -------------------------------------------------------------------------------

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.index)

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record will get (LEO)."""
        return self.log_start_offset + len(self._values)

    @property
    def high_watermark(self) -> int:
        """The end of what consumers may read: the LEO here (one replica; see module doc)."""
        return self.log_start_offset + len(self._values)

    @property
    def last_stable_offset(self) -> int:
        """First offset of the oldest open transaction on this partition, else the high
        watermark. ``read_committed`` consumers read only below it."""
        if self._open:
            return min(self._open.values())
        return self.log_start_offset + len(self._values)

    def __len__(self) -> int:
        """Records retained, transaction markers included."""
        return len(self._values)

    @property
    def size_bytes(self) -> int:
        """Bytes retained, counted as :func:`record_size` (what ``retention.bytes`` limits)."""
        if self._topic.retention_bytes >= 0:
            return self._bytes
        return sum(map(record_size, self._keys, self._values))

    # --- writing -------------------------------------------------------------------------------

    def _check_sequence(
        self, producer_id: int, epoch: int, base_sequence: int, count: int
    ) -> int | None:
        """Kafka's idempotence check. Returns the original base offset for a resend of one of
        the last 5 batches, ``None`` for a batch to append, or raises. Changes nothing."""
        state = self._producers.get(producer_id)
        if state is None or epoch > state.epoch:
            if base_sequence != 0:
                raise OutOfOrderSequence(
                    f"base_sequence={base_sequence} from producer {producer_id} (epoch {epoch}) is "
                    f"out of order on {self.tp!r}: the first batch of a producer (or of a new "
                    "epoch) must start at sequence 0. An earlier batch never arrived; resend it "
                    "first."
                )
            return None
        if epoch < state.epoch:
            raise ProducerFenced(
                f"producer {producer_id} wrote with epoch {epoch} to {self.tp!r}, but epoch "
                f"{state.epoch} has written there since: this producer is a fenced zombie. "
                "Close it; the newer producer owns the transactional id."
            )
        last = base_sequence + count - 1
        for first_seq, last_seq, base_offset, _ts in state.batches:
            if first_seq == base_sequence and last_seq == last:
                return base_offset
        if base_sequence != state.last_seq + 1:
            raise OutOfOrderSequence(
                f"base_sequence={base_sequence} from producer {producer_id} is out of order on "
                f"{self.tp!r}: the broker expected {state.last_seq + 1} (the last batch ended at "
                f"{state.last_seq}), so a batch in between is missing and it is not a resend of "
                f"the last {BATCHES_TO_RETAIN} batches. Kafka raises OutOfOrderSequenceException; "
                "resend the missing batch first."
            )
        return None

    def append(
        self,
        keys: list,
        values: list,
        timestamps: list[int],
        headers: list[tuple],
        producer_id: int = -1,
        epoch: int = 0,
        base_sequence: int = -1,
    ) -> tuple[int, bool]:
        """Append a batch (lists of equal length, already validated). Returns
        ``(base_offset, duplicate)``: for an idempotent producer's resend of one of its last 5
        batches nothing is appended and the original base offset comes back with ``True``.
        """
        count = len(values)
        if producer_id >= 0:
            original = self._check_sequence(producer_id, epoch, base_sequence, count)
            if original is not None:
                return original, True
        base = self.log_start_offset + len(self._values)
        self._keys.extend(keys)
        self._values.extend(values)
        self._timestamps.extend(timestamps)
        self._headers.extend(headers)
        if self._topic.retention_bytes >= 0:
            self._bytes += sum(map(record_size, keys, values))
        if producer_id >= 0:
            state = self._producers.get(producer_id)
            if state is None or epoch > state.epoch:
                state = self._producers[producer_id] = _ProducerState(epoch)
            state.last_seq = base_sequence + count - 1
            state.batches.append(
                (base_sequence, state.last_seq, base, timestamps[0] if timestamps else 0)
            )
        return base, False

    def append_marker(self, kind: str, producer_id: int, timestamp: int) -> int:
        """Write a COMMIT or ABORT marker for ``producer_id``'s transaction; return its offset."""
        offset = self.log_start_offset + len(self._values)
        self._keys.append(None)
        self._values.append(ControlMarker(kind, producer_id))
        self._timestamps.append(timestamp)
        self._headers.append(_NO_HEADERS)
        self._markers.append(offset)
        return offset

    def mark_aborted(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Record that the records in these ``[start, end)`` offset ranges were aborted."""
        for start, end in ranges:
            i = bisect_left(self._aborted, (start, end))
            self._aborted.insert(i, (start, end))

    # --- reading -------------------------------------------------------------------------------

    def _hidden(self, start: int, end: int, committed_only: bool) -> list[tuple[int, int]]:
        """Offset ranges in ``[start, end)`` a consumer never gets: markers, and for
        ``read_committed`` the aborted records. Sorted, possibly overlapping."""
        out: list[tuple[int, int]] = []
        markers = self._markers
        i = bisect_left(markers, start)
        while i < len(markers) and markers[i] < end:
            out.append((markers[i], markers[i] + 1))
            i += 1
        if committed_only and self._aborted:
            aborted = self._aborted
            j = bisect_left(aborted, (start, start))
            if j > 0 and aborted[j - 1][1] > start:
                j -= 1
            while j < len(aborted) and aborted[j][0] < end:
                a, b = aborted[j]
                if b > start:
                    out.append((max(a, start), min(b, end)))
                j += 1
            out.sort()
        return out

    def read(self, position: int, max_records: int, committed_only: bool = False) -> tuple | None:
        """Records from ``position`` on: ``(offsets, keys, values, timestamps, headers, next)``
        or ``None`` if there is nothing to read. ``next`` is the position after them (it skips
        markers and, for ``read_committed``, aborted records). Reads stop at the high watermark,
        or at the last stable offset when ``committed_only``."""
        if not self.log_start_offset <= position <= self.log_end_offset:
            raise OffsetOutOfRange(
                f"position={position} is outside {self.tp!r}'s retained log "
                f"{self.log_start_offset}..{self.log_end_offset}. Read from an offset in that range."
            )
        upper = self.last_stable_offset if committed_only else self.log_end_offset
        end = min(upper, position + max_records)
        if end <= position:
            return None
        base = self.log_start_offset
        hidden = (
            self._hidden(position, end, committed_only) if (self._markers or self._aborted) else ()
        )
        if not hidden:
            lo, hi = position - base, end - base
            return (
                range(position, end),
                self._keys[lo:hi],
                self._values[lo:hi],
                self._timestamps[lo:hi],
                self._headers[lo:hi],
                end,
            )
        offsets: list[int] = []
        keys: list = []
        values: list = []
        stamps: list[int] = []
        headers: list = []
        cursor = position
        for a, b in [*hidden, (end, end)]:
            if a > cursor:
                lo, hi = cursor - base, a - base
                offsets.extend(range(cursor, a))
                keys.extend(self._keys[lo:hi])
                values.extend(self._values[lo:hi])
                stamps.extend(self._timestamps[lo:hi])
                headers.extend(self._headers[lo:hi])
            cursor = max(cursor, b)
        return offsets, keys, values, stamps, headers, end

    def records(self, start: int | None = None, end: int | None = None) -> list[Record]:
        """Every retained record in ``[start, end)`` as stored, transaction markers included
        (their value is a :class:`ControlMarker`): what ``kafka-dump-log`` would show."""
        base = self.log_start_offset
        start = base if start is None else max(start, base)
        end = self.log_end_offset if end is None else min(end, self.log_end_offset)
        return [
            Record(
                self.topic,
                self.index,
                o,
                self._keys[o - base],
                self._values[o - base],
                self._timestamps[o - base],
                self._headers[o - base],
            )
            for o in range(start, end)
        ]

    def offset_for_time(self, timestamp_ms: int) -> int:
        """The earliest offset whose timestamp is >= ``timestamp_ms``, or the LEO if none
        (Kafka's ``offsetsForTimes``, used to replay from a point in time)."""
        for i, ts in enumerate(self._timestamps):
            if ts >= timestamp_ms:
                return self.log_start_offset + i
        return self.log_end_offset

    # --- retention -----------------------------------------------------------------------------

    def apply_retention(self, now_ms: int, retention_ms: int, retention_bytes: int) -> int:
        """Delete the oldest records that break ``retention.ms`` or ``retention.bytes``.

        A record goes once ``now - timestamp > retention.ms``, or while the partition holds more
        than ``retention.bytes``. Deletion only ever removes a prefix, as in Kafka, so an old
        record behind a newer one waits for it. Returns the number deleted.

        Deliberate difference: Kafka deletes whole *segments* (``segment.bytes`` 1 GiB,
        ``segment.ms`` 7 days), so real records outlive ``retention.ms`` by up to a segment's
        age; here every record is its own segment. Nothing at or after the last stable offset is
        deleted.
        """
        limit = self.last_stable_offset - self.log_start_offset
        k = 0
        if retention_ms >= 0:
            cutoff = now_ms - retention_ms
            stamps = self._timestamps
            while k < limit and stamps[k] < cutoff:
                k += 1
        if 0 <= retention_bytes < self._bytes:
            keys, values = self._keys, self._values
            excess = self._bytes - retention_bytes - sum(map(record_size, keys[:k], values[:k]))
            while excess > 0 and k < limit:
                excess -= record_size(keys[k], values[k])
                k += 1
        if k:
            self._delete_prefix(k)
        return k

    def _delete_prefix(self, k: int) -> None:
        if self._topic.retention_bytes >= 0:
            self._bytes -= sum(map(record_size, self._keys[:k], self._values[:k]))
        for column in (self._keys, self._values, self._timestamps, self._headers):
            del column[:k]
        self.log_start_offset += k
        start = self.log_start_offset
        del self._markers[: bisect_left(self._markers, start)]
        self._aborted = [(max(a, start), b) for a, b in self._aborted if b > start]

    def __repr__(self) -> str:
        lso = self.last_stable_offset
        extra = f", lso={lso}" if lso != self.high_watermark else ""
        return (
            f"Partition({self.topic}-{self.index}: offsets {self.log_start_offset}.."
            f"{self.log_end_offset - 1}, hw={self.high_watermark}{extra})"
            if self._values
            else f"Partition({self.topic}-{self.index}: empty, next offset {self.log_end_offset})"
        )


# --- a topic --------------------------------------------------------------------------------------


class Topic:
    """A named set of partitions plus its retention settings."""

    __slots__ = ("name", "partitions", "retention_ms", "retention_bytes")

    def __init__(self, name: str, partitions: int, retention_ms: int, retention_bytes: int) -> None:
        self.name = name
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.partitions: list[Partition] = [Partition(self, i) for i in range(partitions)]

    def partition(self, index: int) -> Partition:
        """Partition ``index``, validated."""
        return self.partitions[_check_partition_index(self, index)]

    def __len__(self) -> int:
        """Records retained in all partitions (markers included)."""
        return sum(len(p) for p in self.partitions)

    def __repr__(self) -> str:
        n = len(self.partitions)
        return f"Topic({self.name!r}: {n} partition{'s' if n != 1 else ''}, {len(self)} records)"


def _check_partition_index(topic: Topic, index: Any, name: str = "partition") -> int:
    n = len(topic.partitions)
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidType(
            f"{name}={index!r} is a {type(index).__name__}: a partition is an int, "
            f"0..{n - 1} for topic {topic.name!r}."
        )
    if not 0 <= index < n:
        raise out_of_range(name, index, 0, n - 1, who=f"topic {topic.name!r}", example=0)
    return index


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
        from .transactions import TransactionCoordinator

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
        check_range("partitions", partitions, 1, 10_000, who="this model", example=3)
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
        return t.partitions[_check_partition_index(t, index, param)]

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
        from .producer import Producer

        self._maintain()
        producer = Producer(self, index=self._producer_count + 1, **config)
        self._producer_count += 1  # only once the settings were accepted
        return producer

    def consumer(self, **config: Any) -> Consumer:
        """A new :class:`~brokerlab.consumer_group.Consumer`; see its docstring for settings."""
        from .consumer_group import Consumer

        self._maintain()
        return Consumer(self, **config)

    def group(self, name: str) -> Group:
        """The consumer group ``name`` (it exists once a member joined or offsets were committed)."""
        self._maintain()
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
        from .consumer_group import Group

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
            if topic.retention_ms >= 0 or topic.retention_bytes >= 0:
                for p in topic.partitions:
                    start = p.log_start_offset
                    if p._values and p.apply_retention(
                        now_ms, topic.retention_ms, topic.retention_bytes
                    ):
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
