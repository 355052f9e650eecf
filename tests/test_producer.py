"""The idempotent producer: retries never duplicate, gaps are caught."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.errors import (
    ConsumerClosed,
    InvalidArgument,
    InvalidType,
    OutOfOrderSequence,
    ProducerFenced,
)
from brokerlab.log import BATCHES_TO_RETAIN, Log
from brokerlab.producer import BatchMetadata
from log_state import log_state


def values(partition):
    """The values a partition holds, in offset order."""
    return [r.value for r in partition.records()]


def _log(partitions: int = 2) -> Log:
    log = Log()
    log.create_topic("t", partitions=partitions)
    return log


def test_a_retry_gets_the_original_offsets_and_writes_nothing():
    log = _log()
    p = log.producer()
    batch = p.build_batch("t", [b"a", b"b"], partition=0)
    first = p.deliver(batch)
    assert [m.offset for m in first] == [0, 1]
    assert p.retry(batch) == first
    assert p.retry(batch) == first
    assert values(log.topic("t").partition(0)) == [b"a", b"b"]
    assert repr(batch) == "ProducerBatch(t-0, 2 records, producer 0 seq 0..1)"


def test_without_idempotence_a_retry_duplicates():
    log = _log()
    p = log.producer(enable_idempotence=False)
    batch = p.build_batch("t", [b"a"], partition=0)
    assert p.deliver(batch)[0].offset == 0
    assert p.retry(batch)[0].offset == 1  # at-least-once: the record is there twice
    assert values(log.topic("t").partition(0)) == [b"a", b"a"]
    assert p.producer_id == -1 and "not idempotent" in repr(p)


def test_a_gap_is_refused_until_the_missing_batch_arrives():
    log = _log()
    p = log.producer()
    b1 = p.build_batch("t", [b"1"], partition=0)
    b2 = p.build_batch("t", [b"2"], partition=0)
    before = log_state(log)
    with pytest.raises(OutOfOrderSequence, match="must start at sequence 0"):
        p.deliver(b2)
    assert log_state(log) == before
    p.deliver(b1)
    b3 = p.build_batch("t", [b"3"], partition=0)
    with pytest.raises(OutOfOrderSequence, match="expected 1 .*resend the missing batch"):
        p.deliver(b3)
    assert [m.offset for m in p.deliver(b2) + p.deliver(b3)] == [1, 2]
    assert values(log.topic("t").partition(0)) == [b"1", b"2", b"3"]


def test_only_the_last_5_batches_are_remembered():
    log = _log()
    p = log.producer()
    batches = [p.build_batch("t", [bytes([i])], partition=0) for i in range(BATCHES_TO_RETAIN + 1)]
    for b in batches:
        p.deliver(b)
    for b in batches[1:]:
        assert p.retry(b)[0].offset == b.values[0][0]
    with pytest.raises(OutOfOrderSequence, match="last 5 batches"):
        p.retry(batches[0])
    assert len(log.topic("t").partition(0)) == BATCHES_TO_RETAIN + 1


def test_sequences_are_per_partition_and_producer_ids_are_per_producer():
    log = _log()
    p, q = log.producer(), log.producer()
    assert (p.producer_id, q.producer_id) == (0, 1)
    a = p.build_batch("t", [b"x", b"y"], partition=0)
    b = p.build_batch("t", [b"z"], partition=1)
    c = q.build_batch("t", [b"w"], partition=0)
    assert (a.base_sequence, b.base_sequence, c.base_sequence) == (0, 0, 0)
    p.deliver(b)
    q.deliver(c)
    p.deliver(a)
    assert values(log.topic("t").partition(0)) == [b"w", b"x", b"y"]


# Operations: ("new", partition, size) builds and delivers a batch; ("retry", k) resends the
# k-th most recent batch of some partition (maybe lost acks, maybe network duplicates).
ops = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.integers(0, 2), st.integers(1, 4)),
        st.tuples(st.just("retry"), st.integers(0, 2), st.integers(0, BATCHES_TO_RETAIN - 1)),
    ),
    max_size=40,
)


@given(ops)
def test_retries_never_duplicate(operations):
    log = _log(partitions=3)
    p = log.producer()
    sent: dict[int, list] = {0: [], 1: [], 2: []}
    results: dict[int, list] = {0: [], 1: [], 2: []}
    counter = 0
    for op in operations:
        if op[0] == "new":
            _, part, size = op
            numbers = [counter + i for i in range(size)]
            counter += size
            batch = p.build_batch("t", numbers, partition=part)
            results[part].append((batch, p.deliver(batch)))
            sent[part].extend(numbers)
        else:
            _, part, k = op
            if k < len(results[part]):
                batch, original = results[part][-1 - k]
                assert p.retry(batch) == original
    for part, expected in sent.items():
        stored = values(log.topic("t").partition(part))
        assert stored == expected  # every record once, in order


def test_send_batch_returns_one_metadata_per_partition_batch():
    log = _log(partitions=1)
    p = log.producer()
    metas = p.send_batch("t", [b"a", b"b", b"c"])
    assert metas == [BatchMetadata("t", 0, 0, 3, 0)]
    assert list(metas[0].offsets) == [0, 1, 2] and repr(metas[0]) == "BatchMetadata(t-0@0..2)"
    assert p.send_batch("t", ["text", {"json": 1}])[0].base_offset == 3
    assert p.send_batch("t", []) == []


def test_producer_bad_input_changes_nothing():
    log = _log()
    p = log.producer()
    q = log.producer()
    foreign = q.build_batch("t", [b"x"], partition=0)
    before = log_state(log)
    cases = [
        (InvalidArgument, "was not built by this producer", lambda: p.deliver(foreign)),
        (
            InvalidArgument,
            "one key per value",
            lambda: p.send_batch("t", [b"a"], keys=[b"k", b"l"]),
        ),
        (InvalidType, "non-empty list", lambda: p.build_batch("t", [])),
        (InvalidType, "headers=", lambda: p.send("t", b"x", headers={"h": 3})),
        (InvalidArgument, "timestamp=-1", lambda: p.send("t", b"x", timestamp=-1)),
        (InvalidArgument, "partitioner='java'", lambda: log.producer(partitioner="java")),
        (
            InvalidArgument,
            "transactions are built on the idempotent producer",
            lambda: log.producer(enable_idempotence=False, transactional_id="x"),
        ),
    ]
    for error, pattern, call in cases:
        with pytest.raises(error, match=pattern):
            call()
        assert log_state(log) == before, pattern
    p.close()
    with pytest.raises(ConsumerClosed, match="closed"):
        p.send("t", b"x")


def test_a_stale_epoch_is_fenced_at_the_partition():
    log = _log()
    p = log.producer()
    old = p.build_batch("t", [b"a"], partition=0)
    p.epoch = 1  # as after a bump: sequences restart at 0 with the new epoch
    p._sequences.clear()
    p.deliver(p.build_batch("t", [b"b"], partition=0))
    with pytest.raises(ProducerFenced, match="zombie"):
        p.deliver(old)
