"""Transactions: write to several partitions, and commit consumer offsets, all or nothing.

Kafka's exactly-once path (KIP-98, KIP-447) has three parts:

1. the **idempotent producer** (:mod:`brokerlab.producer`): retries never duplicate;
2. **transactions**: a producer with a ``transactional_id`` groups its sends, *and* the
   consumer offsets of the records it processed, into one atomic unit;
3. **read_committed** consumers: they read only records of committed transactions.

The life of a transaction::

    p = log.producer(transactional_id="billing-tx")
    p.init_transactions()                 # get producer id + epoch; fence older instances
    p.begin_transaction()
    p.send("invoices", b"...")            # records are in the log at once, but not yet stable
    p.send_offsets_to_transaction({("orders", 0): 42}, consumer)   # offsets ride along
    p.commit_transaction()                # COMMIT markers; offsets applied

While a transaction is open, every partition it wrote to has a **last stable offset** (LSO) at
its first record there; ``read_committed`` consumers stop at the LSO, so an open transaction
holds them back, even for records of other producers after it. Commit and abort write a
**control marker** to each partition. A marker takes up an offset, as in Kafka, which is why
offsets of a transactional topic have gaps as seen by consumers. Aborted records stay in the
log; ``read_committed`` consumers skip them, ``read_uncommitted`` ones (the default) see them.

**Fencing.** ``init_transactions()`` with a transactional id that is already registered bumps
its *epoch* and aborts the open transaction of the old instance. The old instance (a "zombie",
e.g. a process that was paused and came back) gets :class:`~brokerlab.errors.ProducerFenced`
on its next call. The coordinator also aborts, and fences, a transaction open longer than
``transaction.timeout.ms`` (default 60000 ms).

Deliberate simplifications: the coordinator is not a partition of ``__transaction_state``; the
two-phase commit (PrepareCommit, markers, CompleteCommit) happens at one instant; the fenced
error after a timeout is :class:`~brokerlab.errors.ProducerFenced` (Kafka >= 2.7 reports
``InvalidProducerEpochException`` there, KIP-588).

Sources: KIP-98 (exactly-once delivery and transactional messaging), KIP-447 (exactly-once with
consumer-group offsets), KIP-588; Apache Kafka documentation, *Producer Configs*
(``transactional.id``, ``transaction.timeout.ms`` = 60000), *Broker Configs*
(``transaction.max.timeout.ms`` = 900000) and *Consumer Configs* (``isolation.level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .consumer_group import Consumer, check_offsets
from .errors import InvalidArgument, InvalidType, ProducerFenced, TransactionStateError
from .partition import TopicPartition
from .producer import Producer

if TYPE_CHECKING:  # pragma: no cover
    from .log import Log  # a hint only: the Log makes the coordinator and passes itself in

__all__ = ["Transaction", "TransactionCoordinator", "TransactionOutcome"]


class Transaction:
    """One open transaction: what it wrote where, and the offsets it will commit."""

    __slots__ = (
        "transactional_id",
        "producer_id",
        "epoch",
        "started",
        "timeout_ms",
        "ranges",
        "offsets",
    )

    def __init__(
        self, transactional_id: str, producer_id: int, epoch: int, started: float, timeout_ms: int
    ) -> None:
        self.transactional_id = transactional_id
        self.producer_id = producer_id
        self.epoch = epoch
        self.started = started
        self.timeout_ms = timeout_ms
        #: partition -> [start, end) offset ranges this transaction appended there
        self.ranges: dict[TopicPartition, list[tuple[int, int]]] = {}
        #: group id -> {partition: next offset to read}
        self.offsets: dict[str, dict[TopicPartition, int]] = {}

    def __repr__(self) -> str:
        parts = ", ".join(repr(tp) for tp in sorted(self.ranges)) or "no partitions yet"
        return f"Transaction({self.transactional_id!r}, producer {self.producer_id} epoch {self.epoch}: {parts})"


class TransactionOutcome(NamedTuple):
    """How a transaction ended: ``'committed'``, ``'aborted'`` or ``'timed out'`` (aborted by
    the coordinator) or ``'fenced'`` (aborted because a newer producer took the id)."""

    time: float
    transactional_id: str
    producer_id: int
    outcome: str
    partitions: tuple[TopicPartition, ...]

    def __repr__(self) -> str:
        parts = ", ".join(repr(tp) for tp in self.partitions)
        return f"TransactionOutcome(t={self.time:g}s, {self.transactional_id!r} {self.outcome}: [{parts}])"


class TransactionCoordinator:
    """Keeps transactional ids, their producer ids and epochs, and open transactions.

    ``log.transactions`` is the one coordinator of a log. ``outcomes`` lists every finished
    transaction in order.
    """

    def __init__(self, log: Log) -> None:
        self._log = log
        self._ids: dict[str, tuple[int, int]] = {}  # transactional id -> (producer id, epoch)
        self._open: dict[str, Transaction] = {}
        self.outcomes: list[TransactionOutcome] = []

    @property
    def open_transactions(self) -> list[Transaction]:
        """Transactions begun and not yet committed or aborted."""
        return list(self._open.values())

    # --- checks --------------------------------------------------------------------------------

    def _check_current(self, producer: Producer) -> None:
        tid = producer.transactional_id
        if producer.transaction_state == "uninitialized":
            raise TransactionStateError(
                f"producer {producer.name!r} has not called init_transactions(): a transactional "
                "producer must call it once, before its first transaction."
            )
        current = self._ids.get(tid)
        if producer.transaction_state == "fenced" or current != (
            producer.producer_id,
            producer.epoch,
        ):
            producer.transaction_state = "fenced"
            raise ProducerFenced(
                f"producer {producer.name!r} (transactional_id={tid!r}, epoch {producer.epoch}) "
                "is fenced: a newer producer with the same transactional id called "
                "init_transactions(), or the coordinator aborted this producer's transaction "
                "after transaction_timeout_ms. Close it; the newest instance owns the id."
            )

    def _check_send(self, producer: Producer, tp: TopicPartition | None = None) -> None:
        self._check_current(producer)
        if producer.transaction_state != "in_transaction":
            raise TransactionStateError(
                f"producer {producer.name!r} is transactional and has no open transaction: call "
                "begin_transaction() before send() (Kafka: 'Cannot call send in state READY')."
            )

    # --- the transaction's life ----------------------------------------------------------------

    def _init(self, producer: Producer) -> None:
        tid = producer.transactional_id
        if tid is None:
            raise TransactionStateError(
                f"producer {producer.name!r} has no transactional_id: make it with "
                "log.producer(transactional_id='my-app-1') to use transactions."
            )
        if producer.transaction_state != "uninitialized":
            self._check_current(producer)  # a fenced producer learns it here
            raise TransactionStateError(
                f"producer {producer.name!r} already called init_transactions(): it is called "
                "once per producer (Kafka: IllegalStateException). Start a transaction with "
                "begin_transaction()."
            )
        now = self._log.clock.now()
        if tid in self._ids:
            pid, epoch = self._ids[tid]
            if tid in self._open:
                self._finish(self._open[tid], commit=False, now=now, outcome="fenced")
            epoch += 1
        else:
            pid, epoch = self._log._new_producer_id(), 0
        self._ids[tid] = (pid, epoch)
        producer.producer_id = pid
        producer.epoch = epoch
        producer._sequences.clear()
        producer.transaction_state = "ready"

    def _begin(self, producer: Producer) -> None:
        self._check_current(producer)
        if producer.transaction_state == "in_transaction":
            raise TransactionStateError(
                f"producer {producer.name!r} already has an open transaction: commit_transaction() "
                "or abort_transaction() it first."
            )
        tid = producer.transactional_id
        self._open[tid] = Transaction(
            tid,
            producer.producer_id,
            producer.epoch,
            self._log.clock.now(),
            producer.transaction_timeout_ms,
        )
        producer.transaction_state = "in_transaction"

    def _record_append(self, producer: Producer, tp: TopicPartition, base: int, count: int) -> None:
        txn = self._open[producer.transactional_id]
        ranges = txn.ranges.setdefault(tp, [])
        if not ranges:
            part = self._log.partition(tp)
            part._open.setdefault(txn.producer_id, base)
        if ranges and ranges[-1][1] == base:
            ranges[-1] = (ranges[-1][0], base + count)
        else:
            ranges.append((base, base + count))

    def _add_offsets(self, producer: Producer, offsets: Mapping[Any, int], group: Any) -> None:

        self._check_send(producer)
        if isinstance(group, Consumer):
            consumer = group
            if consumer.group is None:
                raise InvalidArgument(
                    f"group={consumer!r} has no group: offsets belong to a consumer group. Make "
                    "the consumer with log.consumer(group='...')."
                )
            checked = consumer._check_commit_offsets(offsets)
            group_id = consumer.group
        elif isinstance(group, str) and group:
            group_id = group
            checked = check_offsets(self._log, offsets)
        else:
            raise InvalidType(
                f"group={group!r} is a {type(group).__name__}: pass the group id (str) or the "
                "consumer whose offsets these are."
            )
        txn = self._open[producer.transactional_id]
        txn.offsets.setdefault(group_id, {}).update(checked)

    def _end(self, producer: Producer, commit: bool) -> None:
        self._check_current(producer)
        if producer.transaction_state != "in_transaction":
            what = "commit_transaction" if commit else "abort_transaction"
            raise TransactionStateError(
                f"{what}() needs an open transaction, and producer {producer.name!r} has none: "
                "call begin_transaction() first."
            )
        txn = self._open[producer.transactional_id]
        self._finish(
            txn,
            commit=commit,
            now=self._log.clock.now(),
            outcome="committed" if commit else "aborted",
        )
        producer.transaction_state = "ready"

    def _finish(self, txn: Transaction, commit: bool, now: float, outcome: str) -> None:
        """Write the markers, release the LSO, apply (or drop) the offsets."""
        log = self._log
        stamp = int(round(now * 1000))
        for tp in sorted(txn.ranges):
            part = log.partition(tp)
            if not commit:
                part.mark_aborted(txn.ranges[tp])
            part.append_marker("COMMIT" if commit else "ABORT", txn.producer_id, stamp)
            part._open.pop(txn.producer_id, None)
        if commit:
            for group_id, offsets in txn.offsets.items():
                log._group(group_id)._store_commit(offsets, txn.transactional_id, now)
        del self._open[txn.transactional_id]
        self.outcomes.append(
            TransactionOutcome(
                now, txn.transactional_id, txn.producer_id, outcome, tuple(sorted(txn.ranges))
            )
        )

    def _expire(self, now: float) -> None:
        """Abort transactions open longer than their timeout, and fence their producers."""
        for txn in sorted(self._open.values(), key=lambda t: t.started):
            deadline = txn.started + txn.timeout_ms / 1000.0
            if now >= deadline:
                self._finish(txn, commit=False, now=deadline, outcome="timed out")
                pid, epoch = self._ids[txn.transactional_id]
                self._ids[txn.transactional_id] = (pid, epoch + 1)

    def __repr__(self) -> str:
        return f"TransactionCoordinator({len(self._ids)} transactional ids, {len(self._open)} open)"
