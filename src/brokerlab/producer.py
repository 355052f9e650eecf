"""The producer: sends records to the log, and (by default) never duplicates them on retry.

The **idempotent producer** (Kafka's default since 3.0, KIP-679: ``enable.idempotence=true``,
``acks=all``) gets a *producer id* from the broker and numbers the records it sends to each
partition: 0, 1, 2, ... A batch carries the sequence number of its first record. The broker
appends a batch only if it starts right after the last one it has from that producer on that
partition. If the producer resends a batch (because the acknowledgement was lost, say), the
broker finds it among the last 5 batches it remembers and answers with the *original* offsets
instead of writing it again. A batch that starts further on means one in between was lost:
the broker refuses it with :class:`~brokerlab.errors.OutOfOrderSequence`.

>>> from brokerlab.log import Log
>>> log = Log(); _ = log.create_topic("payments")
>>> p = log.producer()
>>> batch = p.build_batch("payments", [b"pay 10"], partition=0)
>>> p.deliver(batch)                  # the first attempt is written, but say the ack is lost
[RecordMetadata(payments-0@0)]
>>> p.retry(batch)                    # the retry gets the same offset back: no duplicate
[RecordMetadata(payments-0@0)]
>>> len(log.topic("payments").partition(0))
1

With ``enable_idempotence=False`` the same retry writes the record twice (at-least-once).

Sending is synchronous here: :meth:`Producer.send` returns when the record is in the log, so
``linger.ms``, ``max.in.flight.requests.per.connection`` (5) and ``retries`` (effectively
unbounded) have nothing to act on; retries are made explicit with :meth:`Producer.retry`.

Transactions (``transactional_id=``) are in :mod:`brokerlab.transactions`; the producer's
``init_transactions``, ``begin_transaction``, ``send_offsets_to_transaction``,
``commit_transaction`` and ``abort_transaction`` call into it.

Sources: Apache Kafka documentation, *Producer Configs* (``enable.idempotence``, ``acks``,
``retries``, ``batch.size``, ``max.in.flight.requests.per.connection``,
``transaction.timeout.ms``); KIP-98 (idempotent producer and transactions), KIP-679
(idempotence on by default); Kafka's ``ProducerStateEntry.NUM_BATCHES_TO_RETAIN`` = 5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import (
    ConsumerClosed,
    InvalidArgument,
    InvalidType,
    check_range,
)
from .message import check_payload
from .partition import RecordMetadata, TopicPartition, check_partition_index, record_size
from .partitioning import make_partitioner

if TYPE_CHECKING:  # pragma: no cover
    from .consumer_group import Consumer
    from .log import Log  # a hint only: the Log makes producers and passes itself in

__all__ = ["BatchMetadata", "Producer", "ProducerBatch"]

_NO_HEADERS: tuple = ()


class BatchMetadata(NamedTuple):
    """Where a batch from :meth:`Producer.send_batch` landed: ``count`` records from
    ``base_offset`` on, in one partition."""

    topic: str
    partition: int
    base_offset: int
    count: int
    timestamp: int

    @property
    def offsets(self) -> range:
        return range(self.base_offset, self.base_offset + self.count)

    def __repr__(self) -> str:
        last = self.base_offset + self.count - 1
        return f"BatchMetadata({self.topic}-{self.partition}@{self.base_offset}..{last})"


@dataclass(eq=False, repr=False)
class ProducerBatch:
    """Records for one partition, numbered for idempotence: what a produce request carries.

    Made by :meth:`Producer.build_batch`; send it with :meth:`Producer.deliver` and resend the
    very same object with :meth:`Producer.retry` to model a retry after a lost ack.
    """

    producer: Producer
    topic: str
    partition: int
    keys: list[bytes | None]
    values: list[Any]
    timestamps: list[int]
    headers: list[tuple]
    producer_id: int
    epoch: int
    base_sequence: int  # -1 for a producer without idempotence

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def last_sequence(self) -> int:
        return self.base_sequence + len(self.values) - 1 if self.base_sequence >= 0 else -1

    def __repr__(self) -> str:
        seq = (
            f", producer {self.producer_id} seq {self.base_sequence}..{self.last_sequence}"
            if self.base_sequence >= 0
            else ", not idempotent"
        )
        return f"ProducerBatch({self.topic}-{self.partition}, {self.count} records{seq})"


def _key_bytes(key: Any, name: str = "key") -> bytes | None:
    if key is None or type(key) is bytes:
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise InvalidType(
        f"{name}={key!r} is a {type(key).__name__}: a key is bytes, str (sent as UTF-8) or None. "
        "Convert it first, e.g. str(user_id)."
    )


def _headers(headers: Any) -> tuple:
    if headers is None:
        return _NO_HEADERS
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    try:
        for name, value in items:
            if not isinstance(name, str):
                raise TypeError
            if isinstance(value, str):
                value = value.encode("utf-8")
            elif value is not None and not isinstance(value, bytes):
                raise TypeError
            out.append((name, value))
    except (TypeError, ValueError):
        raise InvalidType(
            f"headers={headers!r} are not Kafka headers: pass a dict or a list of (name, value) "
            "pairs with str names and bytes/str/None values, e.g. {'trace-id': b'abc'}."
        ) from None
    return tuple(out)


class Producer:
    """Sends records to a :class:`~brokerlab.log.Log`. Make one with ``log.producer(...)``.

    Settings (Kafka's names; defaults are Kafka's):

    - ``partitioner``: ``'default'`` (Java client: murmur2 for keys, sticky for no key),
      ``'consistent_random'`` (librdkafka's default: CRC32) or ``'murmur2_random'``;
    - ``enable_idempotence=True`` (default since Kafka 3.0, KIP-679);
    - ``transactional_id=None``: set it to use transactions (needs idempotence);
    - ``batch_size=16384`` bytes: when the sticky partitioner moves on (``batch.size``);
    - ``transaction_timeout_ms=60000``: the coordinator aborts a transaction open longer
      (``transaction.timeout.ms``; the broker caps it at ``transaction.max.timeout.ms`` =
      900000);
    - ``name``: the client id (default ``producer-N``); ``seed``: for the partitioner's random
      choices (default: N, so every producer differs but runs repeat).
    """

    def __init__(
        self,
        log: Log,
        *,
        index: int = 1,
        name: str | None = None,
        partitioner: str = "default",
        enable_idempotence: bool = True,
        transactional_id: str | None = None,
        batch_size: int = 16384,
        transaction_timeout_ms: int = 60_000,
        seed: int | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise InvalidType(
                f"name={name!r} is a {type(name).__name__}: pass a str, e.g. 'checkout'."
            )
        if not isinstance(enable_idempotence, bool):
            raise InvalidType(f"enable_idempotence={enable_idempotence!r}: pass True or False.")
        if transactional_id is not None:
            if not isinstance(transactional_id, str) or not transactional_id:
                raise InvalidType(
                    f"transactional_id={transactional_id!r}: pass a non-empty str that stays the "
                    "same across restarts of this producer, e.g. 'billing-tx-1'."
                )
            if not enable_idempotence:
                raise InvalidArgument(
                    "enable_idempotence=False cannot be combined with transactional_id: Kafka "
                    "transactions are built on the idempotent producer. Leave "
                    "enable_idempotence=True."
                )
        check_range(
            "transaction_timeout_ms",
            transaction_timeout_ms,
            1,
            900_000,
            "ms",
            who="Kafka (transaction.max.timeout.ms)",
            example=60_000,
        )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidType(f"seed={seed!r}: pass an int or None.")
        self._partitioner = make_partitioner(
            partitioner, seed=index if seed is None else seed, batch_size=batch_size
        )
        self.log = log
        self.name = name if name is not None else f"producer-{index}"
        self.partitioner = partitioner
        self.enable_idempotence = enable_idempotence
        self.transactional_id = transactional_id
        self.transaction_timeout_ms = transaction_timeout_ms
        self._sequences: dict[TopicPartition, int] = {}
        self._closed = False
        self.producer_id = -1
        self.epoch = 0
        #: 'uninitialized' | 'ready' | 'in_transaction' | 'fenced' (transactional producers)
        self.transaction_state = "uninitialized" if transactional_id else "none"
        if enable_idempotence and transactional_id is None:
            self.producer_id = log._new_producer_id()

    # --- building and delivering batches -------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConsumerClosed(
                f"producer {self.name!r} is closed. Make a new one with log.producer()."
            )

    def _check_transaction(self) -> None:
        """A transactional producer may only send inside a transaction (checked before any
        sequence number is used, so a refused send leaves no gap)."""
        if self.transactional_id is not None:
            self.log.transactions._check_send(self)

    def build_batch(
        self,
        topic: str,
        values: Sequence[Any],
        *,
        key: bytes | str | None = None,
        partition: int | None = None,
        headers: Any = None,
        timestamp: int | None = None,
    ) -> ProducerBatch:
        """Number ``values`` as one batch for one partition, without sending it.

        The partition is ``partition`` if given, else the key's partition, else the current
        sticky partition. Every record gets ``key`` and ``headers``. The batch takes the next
        sequence numbers of this producer for that partition, so delivering it out of order
        (or never) leaves a gap the broker will refuse.
        """
        self._check_open()
        self.log._maintain()
        t = self.log._topic(topic)
        self._check_transaction()
        if not isinstance(values, (list, tuple)) or not values:
            raise InvalidType(
                f"values={values!r} is not a non-empty list: a batch needs at least one value, "
                "e.g. [b'hello']."
            )
        values = [check_payload(v, "value") for v in values]
        kb = _key_bytes(key)
        hdrs = _headers(headers)
        if timestamp is not None:
            if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
                raise InvalidArgument(
                    f"timestamp={timestamp!r} is not a timestamp: pass milliseconds as an int >= 0, "
                    "or leave it out to use the clock."
                )
        n = len(t.partitions)
        if partition is not None:
            index = check_partition_index(t, partition)
        elif kb is not None:
            index = self._partitioner.for_key(kb, n)
        else:
            # The whole batch goes to the current sticky partition; its bytes count towards
            # the switch.
            size = sum(record_size(None, v) for v in values)
            index = self._partitioner.unkeyed(t.name, n, [size], self.log.clock.now())[0][0]
        stamp = self.log.clock.now_ms() if timestamp is None else timestamp
        count = len(values)
        return self._batch(t.name, index, [kb] * count, values, [stamp] * count, [hdrs] * count)

    def _batch(self, topic, index, keys, values, stamps, headers) -> ProducerBatch:
        tp = TopicPartition(topic, index)
        if self.enable_idempotence:
            seq = self._sequences.get(tp, 0)
            self._sequences[tp] = seq + len(values)
        else:
            seq = -1
        return ProducerBatch(
            self, topic, index, keys, values, stamps, headers, self.producer_id, self.epoch, seq
        )

    def deliver(self, batch: ProducerBatch) -> list[RecordMetadata]:
        """Send ``batch`` to its partition; return where each record is.

        An idempotent producer's resend of one of the last 5 batches returns the original
        offsets and writes nothing. Raises :class:`~brokerlab.errors.OutOfOrderSequence` if an
        earlier batch of this producer for that partition has not arrived yet.
        """
        base = self._deliver(batch)
        return [
            RecordMetadata(batch.topic, batch.partition, base + i, stamp)
            for i, stamp in enumerate(batch.timestamps)
        ]

    def retry(self, batch: ProducerBatch) -> list[RecordMetadata]:
        """Resend a batch, as Kafka's producer does when an acknowledgement does not arrive.
        The same as :meth:`deliver`; the name says what is being modelled."""
        return self.deliver(batch)

    def _deliver(self, batch: ProducerBatch) -> int:
        self._check_open()
        if not isinstance(batch, ProducerBatch) or batch.producer is not self:
            raise InvalidArgument(
                f"batch={batch!r} was not built by this producer ({self.name!r}): build it with "
                "this producer's build_batch()."
            )
        log = self.log
        log._maintain()
        tp = TopicPartition(batch.topic, batch.partition)
        part = log.partition(tp)
        if self.transactional_id is not None:
            log.transactions._check_send(self, tp)
        base, duplicate = part.append(
            batch.keys,
            batch.values,
            batch.timestamps,
            batch.headers,
            batch.producer_id,
            batch.epoch,
            batch.base_sequence,
        )
        if self.transactional_id is not None and not duplicate:
            log.transactions._record_append(self, tp, base, len(batch.values))
        history = log.history
        if history is not None:
            now = log.clock.now()
            for i, key in enumerate(batch.keys):
                history.record(
                    now,
                    self.name,
                    "publish",
                    f"{tp!r}@{base + i}",
                    key=None if key is None else key.decode("utf-8", "replace"),
                    partition=batch.partition,
                    offset=base + i,
                    topic=batch.topic,
                    duplicate=duplicate,
                )
        return base

    # --- the everyday calls --------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
        headers: Any = None,
        timestamp: int | None = None,
    ) -> RecordMetadata:
        """Send one record; return its :class:`~brokerlab.log.RecordMetadata` (topic, partition,
        offset, timestamp).

        ``key`` may be bytes or str (encoded as UTF-8, as Kafka's ``StringSerializer`` does).
        ``value`` may be bytes, str or JSON data. ``timestamp`` defaults to the clock, in ms.
        """
        batch = self.build_batch(
            topic, [value], key=key, partition=partition, headers=headers, timestamp=timestamp
        )
        base = self._deliver(batch)
        return RecordMetadata(batch.topic, batch.partition, base, batch.timestamps[0])

    def send_batch(
        self,
        topic: str,
        values: Sequence[Any],
        keys: Sequence[Any] | None = None,
        *,
        partition: int | None = None,
    ) -> list[BatchMetadata]:
        """Send many records at once (the fast path for benchmarks and big demos).

        Records are split into one batch per partition exactly as :meth:`send` would place them
        one by one (explicit partition, else key hash, else sticky). Returns one
        :class:`BatchMetadata` per batch written, in order. Values are bytes, str or JSON data
        as for :meth:`send`.
        """
        self._check_open()
        log = self.log
        log._maintain()
        t = log._topic(topic)
        self._check_transaction()
        if not isinstance(values, (list, tuple)):
            raise InvalidType(
                f"values is a {type(values).__name__}: pass a list of values, e.g. [b'a', b'b']."
            )
        count = len(values)
        if not count:
            return []
        values = [check_payload(v, f"values[{i}]") for i, v in enumerate(values)]
        n = len(t.partitions)
        if keys is not None:
            if not isinstance(keys, (list, tuple)) or len(keys) != count:
                raise InvalidArgument(
                    f"keys has {len(keys) if isinstance(keys, (list, tuple)) else 'no'} entries "
                    f"for {count} values: pass one key per value (None for no key), or keys=None."
                )
            keys = [_key_bytes(k) for k in keys]
        if partition is not None:
            check_partition_index(t, partition)
        now = log.clock.now()
        stamp = log.clock.now_ms()
        # Decide runs of (partition, start, end) before anything is written.
        if partition is not None:
            runs = [(partition, 0, count)]
        elif keys is not None:
            runs = self._keyed_runs(t.name, n, keys, values, now)
        elif n == 1:
            runs = [(0, 0, count)]  # one partition: nothing to choose
        else:
            runs = self._unkeyed_runs(t.name, n, values, 0, now)
        if keys is None:
            keys = [None] * count
        out: list[BatchMetadata] = []
        for index, lo, hi in runs:
            m = hi - lo
            batch = self._batch(
                t.name, index, keys[lo:hi], values[lo:hi], [stamp] * m, [_NO_HEADERS] * m
            )
            base = self._deliver(batch)
            out.append(BatchMetadata(t.name, index, base, m, stamp))
        return out

    def _unkeyed_runs(self, topic, n, values, start, now) -> list[tuple[int, int, int]]:
        """Runs for records without a key, placed by the sticky partitioner by their size."""
        sizes = [record_size(None, v) for v in values]
        runs = []
        for index, run in self._partitioner.unkeyed(topic, n, sizes, now):
            runs.append((index, start, start + run))
            start += run
        return runs

    def _keyed_runs(self, topic, n, keys, values, now) -> list[tuple[int, int, int]]:
        """Runs of consecutive records that go to one partition: keyed records by their key's
        hash, runs of unkeyed records by the sticky partitioner."""
        part = self._partitioner
        runs: list[tuple[int, int, int]] = []
        i = 0
        count = len(keys)
        while i < count:
            key = keys[i]
            if key is None:
                j = i
                while j < count and keys[j] is None:
                    j += 1
                runs.extend(self._unkeyed_runs(topic, n, values[i:j], i, now))
                i = j
                continue
            index = part.for_key(key, n)
            if runs and runs[-1][0] == index and runs[-1][2] == i:
                runs[-1] = (index, runs[-1][1], i + 1)
            else:
                runs.append((index, i, i + 1))
            i += 1
        return runs

    def flush(self) -> None:
        """Nothing is buffered in this model: every send is already in the log."""
        self._check_open()

    def close(self) -> None:
        """Close the producer. An open transaction stays open until the coordinator aborts it
        after ``transaction_timeout_ms`` (as when a real producer process dies)."""
        self._closed = True

    # --- transactions (see brokerlab.transactions) ---------------------------------------------

    def init_transactions(self) -> None:
        """Register ``transactional_id`` with the coordinator and get a producer id and epoch.

        An older producer with the same id is *fenced*: its epoch is now stale, its open
        transaction is aborted, and its next call raises
        :class:`~brokerlab.errors.ProducerFenced` (zombie fencing, KIP-98).
        """
        self._check_open()
        self.log._maintain()
        self.log.transactions._init(self)

    def begin_transaction(self) -> None:
        """Start a transaction: every send until commit/abort belongs to it."""
        self._check_open()
        self.log._maintain()
        self.log.transactions._begin(self)

    def send_offsets_to_transaction(
        self, offsets: Mapping[tuple[str, int], int], group: str | Consumer
    ) -> None:
        """Commit a consumer group's offsets as part of this transaction (consume-transform-
        produce). ``offsets`` maps partitions to the *next* offset to read; ``group`` is the
        group id, or the :class:`~brokerlab.consumer_group.Consumer` (then it must still own
        those partitions, as Kafka checks its generation, KIP-447). They take effect only if
        the transaction commits."""
        self._check_open()
        self.log._maintain()
        self.log.transactions._add_offsets(self, offsets, group)

    def commit_transaction(self) -> None:
        """Commit: write a COMMIT marker to every partition the transaction wrote to and apply
        its offsets. ``read_committed`` consumers can now read its records."""
        self._check_open()
        self.log._maintain()
        self.log.transactions._end(self, commit=True)

    def abort_transaction(self) -> None:
        """Abort: write an ABORT marker to every partition it wrote to; its records stay in the
        log (they have offsets) but ``read_committed`` consumers never see them."""
        self._check_open()
        self.log._maintain()
        self.log.transactions._end(self, commit=False)

    def __repr__(self) -> str:
        bits = [repr(self.name)]
        if self.transactional_id is not None:
            bits.append(f"transactional_id={self.transactional_id!r}, {self.transaction_state}")
        if self.producer_id >= 0:
            bits.append(f"producer_id={self.producer_id}, epoch={self.epoch}")
        elif not self.enable_idempotence:
            bits.append("not idempotent")
        if self._closed:
            bits.append("closed")
        return f"Producer({', '.join(bits)})"
