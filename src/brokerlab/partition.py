"""The log's storage: records, partitions and topics, with offsets and retention.

This is the bottom of the log's modules. It knows records and where they are stored, and
nothing about who writes or reads them::

    partition  <-  consumer_group  <-  transactions  <-  log
    partition  <-  producer        <-  transactions

(:mod:`brokerlab.producer` writes with :meth:`Partition.append`, :mod:`brokerlab.consumer_group`
reads with :meth:`Partition.read`, :mod:`brokerlab.transactions` writes the markers, and
:class:`brokerlab.log.Log` puts them all together.)

A **partition** is an append-only list of records; a record's position in it is its
**offset** (0, 1, 2, ...), and it never changes. What a partition keeps track of (Kafka's
names):

- ``log_start_offset``: the first offset still retained (0 until retention deletes some);
- ``log_end_offset`` (LEO): the offset the *next* record will get;
- ``high_watermark``: the end of what consumers may read. This model has one broker and one
  replica, so it equals the LEO (with replication it trails the LEO until followers catch up);
- ``last_stable_offset`` (LSO): the first offset of the oldest transaction still open, or the
  high watermark if none is open. ``read_committed`` consumers read only below it.

Sources: Apache Kafka documentation, *Topic Configs* (``retention.ms``, ``retention.bytes``,
``segment.bytes``, ``segment.ms``); Kafka's ``UnifiedLog`` (log start offset, high watermark,
last stable offset) and ``ProducerStateManager`` (idempotence bookkeeping).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from .errors import (
    InvalidType,
    OffsetOutOfRange,
    OutOfOrderSequence,
    ProducerFenced,
    out_of_range,
)
from .message import body_size

__all__ = [
    "BATCHES_TO_RETAIN",
    "DEFAULT_RETENTION_BYTES",
    "DEFAULT_RETENTION_MS",
    "ConsumerRecords",
    "ControlMarker",
    "Partition",
    "Record",
    "RecordMetadata",
    "Topic",
    "TopicPartition",
    "check_partition_index",
    "record_size",
]

#: ``retention.ms`` default: 7 days (Kafka topic config; broker ``log.retention.hours=168``).
DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
#: ``retention.bytes`` default: -1, unlimited (Kafka topic config).
DEFAULT_RETENTION_BYTES = -1
#: How many recent batches per producer and partition the broker remembers to spot a resend
#: (Kafka ``ProducerStateEntry.NUM_BATCHES_TO_RETAIN``; the reason for
#: ``max.in.flight.requests.per.connection <= 5`` with idempotence).
BATCHES_TO_RETAIN = 5


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
    (:func:`brokerlab.message.body_size`); a transaction marker counts 0. Kafka's per-record
    overhead is left out.
    """
    size = 0 if isinstance(value, ControlMarker) else body_size(value)
    return size if key is None else size + len(key)


# --- a poll's result ----------------------------------------------------------------------------


class ConsumerRecords(Sequence):
    """What :meth:`Consumer.poll` returns: the records, partition by partition (Kafka's
    ``ConsumerRecords``).

    It behaves like a list of :class:`Record` (``len``, index, iterate, compare with a list);
    ``partitions()`` and ``records(tp)`` group them as Kafka's class does, and ``values()``,
    ``keys()`` and ``offsets()`` give one field of every record.
    """

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self._records = list(records)

    def __len__(self) -> int:
        return len(self._records)

    def count(self) -> int:  # type: ignore[override]  # Kafka's ConsumerRecords.count()
        """The number of records (same as ``len``)."""
        return len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __getitem__(self, index):  # type: ignore[override]
        return self._records[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ConsumerRecords, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def partitions(self) -> list[TopicPartition]:
        """The partitions that have records in this result, in order."""
        return list(dict.fromkeys(r.tp for r in self._records))

    def records(self, tp: tuple[str, int]) -> list[Record]:
        """The records of one partition."""
        return [r for r in self._records if r.tp == tuple(tp)]

    def values(self) -> list:
        """All values, in order."""
        return [r.value for r in self._records]

    def keys(self) -> list:
        """All keys, in order."""
        return [r.key for r in self._records]

    def offsets(self) -> list[int]:
        """All offsets, in order."""
        return [r.offset for r in self._records]

    def __repr__(self) -> str:
        if len(self._records) <= 5:
            return repr(self._records)
        parts = []
        for tp in self.partitions():
            offsets = [r.offset for r in self.records(tp)]
            parts.append(f"{tp!r}@{offsets[0]}..{offsets[-1]}")
        return f"ConsumerRecords({len(self._records)} records: {', '.join(parts)})"


# --- one partition --------------------------------------------------------------------------------


class _ProducerState:
    """What a partition remembers about one idempotent producer (Kafka ``ProducerStateEntry``)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.last_seq = -1
        # (first_seq, last_seq, base_offset) of the last 5 batches
        self.batches: deque[tuple[int, int, int]] = deque(maxlen=BATCHES_TO_RETAIN)


class Partition:
    """One partition: an append-only list of records, addressed by offset.

    ``records_held`` is a list of :class:`Record`; the record at list index ``i`` has offset
    ``log_start_offset + i`` (retention deletes from the front and moves the start up).
    """

    def __init__(self, topic: Topic, index: int) -> None:
        self.topic = topic.name
        self.index = index
        self._topic = topic
        self.log_start_offset = 0
        self._records: list[Record] = []
        self._bytes = 0  # what the records held count for retention.bytes
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
        return self.log_start_offset + len(self._records)

    @property
    def high_watermark(self) -> int:
        """The end of what consumers may read: the LEO here (one replica; see module doc)."""
        return self.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """First offset of the oldest open transaction on this partition, else the high
        watermark. ``read_committed`` consumers read only below it."""
        if self._open:
            return min(self._open.values())
        return self.high_watermark

    def __len__(self) -> int:
        """Records retained, transaction markers included."""
        return len(self._records)

    @property
    def size_bytes(self) -> int:
        """Bytes retained, counted as :func:`record_size` (what ``retention.bytes`` limits)."""
        return self._bytes

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
        for first_seq, last_seq, base_offset in state.batches:
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

    def _add(self, key: bytes | None, value: Any, timestamp: int, headers: tuple) -> int:
        """Append one record at the end; return its offset."""
        offset = self.log_end_offset
        self._records.append(Record(self.topic, self.index, offset, key, value, timestamp, headers))
        self._bytes += record_size(key, value)
        return offset

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
        base = self.log_end_offset
        for key, value, timestamp, header in zip(keys, values, timestamps, headers, strict=True):
            self._add(key, value, timestamp, header)
        if producer_id >= 0:
            state = self._producers.get(producer_id)
            if state is None or epoch > state.epoch:
                state = self._producers[producer_id] = _ProducerState(epoch)
            state.last_seq = base_sequence + count - 1
            state.batches.append((base_sequence, state.last_seq, base))
        return base, False

    def append_marker(self, kind: str, producer_id: int, timestamp: int) -> int:
        """Write a COMMIT or ABORT marker for ``producer_id``'s transaction; return its offset."""
        return self._add(None, ControlMarker(kind, producer_id), timestamp, ())

    def mark_aborted(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Record that the records in these ``[start, end)`` offset ranges were aborted."""
        self._aborted.extend(ranges)

    # --- reading -------------------------------------------------------------------------------

    def _aborted_offset(self, offset: int) -> bool:
        return any(start <= offset < end for start, end in self._aborted)

    def _visible(self, record: Record, committed_only: bool) -> bool:
        """Whether a consumer receives ``record``: never a transaction marker, and for
        ``read_committed`` never a record of an aborted transaction."""
        if isinstance(record.value, ControlMarker):
            return False
        return not (committed_only and self._aborted_offset(record.offset))

    def read(
        self, position: int, max_records: int, committed_only: bool = False
    ) -> tuple[list[Record], int]:
        """Up to ``max_records`` offsets from ``position`` on: ``(records, next_position)``.

        The records a consumer may see (markers left out, and for ``read_committed`` the
        aborted records); ``next_position`` is the offset after the last one looked at, so the
        hidden ones are skipped too. Reads stop at the high watermark, or at the last stable
        offset when ``committed_only``."""
        if not self.log_start_offset <= position <= self.log_end_offset:
            raise OffsetOutOfRange(
                f"position={position} is outside {self.tp!r}'s retained log "
                f"{self.log_start_offset}..{self.log_end_offset}. Read from an offset in that range."
            )
        upper = self.last_stable_offset if committed_only else self.high_watermark
        end = max(position, min(upper, position + max_records))
        looked_at = self.records(position, end)
        return [r for r in looked_at if self._visible(r, committed_only)], end

    def records(self, start: int | None = None, end: int | None = None) -> list[Record]:
        """Every retained record in ``[start, end)`` as stored, transaction markers included
        (their value is a :class:`ControlMarker`): what ``kafka-dump-log`` would show."""
        base = self.log_start_offset
        start = base if start is None else max(start, base)
        end = self.log_end_offset if end is None else min(end, self.log_end_offset)
        return self._records[start - base : max(start, end) - base]

    def offset_for_time(self, timestamp_ms: int) -> int:
        """The earliest offset whose timestamp is >= ``timestamp_ms``, or the LEO if none
        (Kafka's ``offsetsForTimes``, used to replay from a point in time)."""
        for record in self._records:
            if record.timestamp >= timestamp_ms:
                return record.offset
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
        held = self._bytes
        k = 0
        for record in self._records:
            too_old = retention_ms >= 0 and now_ms - record.timestamp > retention_ms
            too_big = retention_bytes >= 0 and held > retention_bytes
            if not (too_old or too_big) or record.offset >= self.last_stable_offset:
                break
            held -= record_size(record.key, record.value)
            k += 1
        if k:
            self._delete_prefix(k)
        return k

    def _delete_prefix(self, k: int) -> None:
        self._bytes -= sum(record_size(r.key, r.value) for r in self._records[:k])
        del self._records[:k]
        self.log_start_offset += k
        start = self.log_start_offset
        self._aborted = [(max(a, start), b) for a, b in self._aborted if b > start]

    def __repr__(self) -> str:
        if not self._records:
            return f"Partition({self.topic}-{self.index}: empty, next offset {self.log_end_offset})"
        lso = self.last_stable_offset
        extra = f", lso={lso}" if lso != self.high_watermark else ""
        return (
            f"Partition({self.topic}-{self.index}: offsets {self.log_start_offset}.."
            f"{self.log_end_offset - 1}, hw={self.high_watermark}{extra})"
        )


# --- a topic --------------------------------------------------------------------------------------


class Topic:
    """A named set of partitions plus its retention settings."""

    def __init__(self, name: str, partitions: int, retention_ms: int, retention_bytes: int) -> None:
        self.name = name
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.partitions: list[Partition] = [Partition(self, i) for i in range(partitions)]

    def partition(self, index: int) -> Partition:
        """Partition ``index``, validated."""
        return self.partitions[check_partition_index(self, index)]

    def apply_retention(self, now_ms: int) -> None:
        """Apply this topic's ``retention.ms`` and ``retention.bytes`` to every partition."""
        for p in self.partitions:
            p.apply_retention(now_ms, self.retention_ms, self.retention_bytes)

    def __len__(self) -> int:
        """Records retained in all partitions (markers included)."""
        return sum(len(p) for p in self.partitions)

    def __repr__(self) -> str:
        n = len(self.partitions)
        return f"Topic({self.name!r}: {n} partition{'s' if n != 1 else ''}, {len(self)} records)"


def check_partition_index(topic: Topic, index: Any, name: str = "partition") -> int:
    """Return ``index`` if it is a partition number of ``topic``, else raise."""
    n = len(topic.partitions)
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidType(
            f"{name}={index!r} is a {type(index).__name__}: a partition is an int, "
            f"0..{n - 1} for topic {topic.name!r}."
        )
    if not 0 <= index < n:
        raise out_of_range(name, index, 0, n - 1, who=f"topic {topic.name!r}", example=0)
    return index
