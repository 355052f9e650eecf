"""Transactions: all-or-nothing writes, read_committed, LSO, markers, fencing, exactly-once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.clock import VirtualClock
from brokerlab.errors import NotAssigned, ProducerFenced, TransactionStateError
from brokerlab.log import ControlMarker, Log
from log_state import log_state


@pytest.fixture
def log(clock):
    log = Log(clock)
    log.create_topic("in", partitions=2)
    log.create_topic("out", partitions=2)
    return log


def _reader(log, isolation, group):
    c = log.consumer(group=group, auto_offset_reset="earliest", isolation_level=isolation)
    c.subscribe(["out"])
    return c


def test_read_committed_sees_records_only_after_commit(log):
    tx = log.producer(transactional_id="tx")
    tx.init_transactions()
    committed = _reader(log, "read_committed", "rc")
    uncommitted = _reader(log, "read_uncommitted", "ru")
    tx.begin_transaction()
    tx.send("out", b"a", partition=0)
    tx.send("out", b"b", partition=1)
    assert committed.poll() == []
    assert sorted(r.value for r in uncommitted.poll()) == [b"a", b"b"]
    assert committed.lag() == {("out", 0): 0, ("out", 1): 0}  # nothing stable yet
    tx.commit_transaction()
    assert sorted(r.value for r in committed.poll()) == [b"a", b"b"]


def test_an_open_transaction_holds_back_later_records_of_other_producers(log):
    tx = log.producer(transactional_id="tx")
    tx.init_transactions()
    plain = log.producer()
    plain.send("out", b"before", partition=0)
    tx.begin_transaction()
    tx.send("out", b"in-txn", partition=0)
    plain.send("out", b"after", partition=0)
    part = log.topic("out").partition(0)
    assert (part.last_stable_offset, part.high_watermark) == (1, 3)
    assert "lso=1" in repr(part)
    reader = _reader(log, "read_committed", "rc")
    assert [r.value for r in reader.poll()] == [b"before"]
    tx.abort_transaction()
    assert [r.value for r in reader.poll()] == [b"after"]


def test_markers_take_offsets_and_are_never_delivered(log):
    tx = log.producer(transactional_id="tx")
    tx.init_transactions()
    tx.begin_transaction()
    tx.send("out", b"a", partition=0)
    tx.commit_transaction()
    tx.begin_transaction()
    tx.send("out", b"b", partition=0)
    tx.abort_transaction()
    part = log.topic("out").partition(0)
    stored = part.records()
    assert [r.offset for r in stored] == [0, 1, 2, 3]
    assert stored[1].value == ControlMarker("COMMIT", tx.producer_id)
    assert stored[3].value == ControlMarker("ABORT", tx.producer_id)
    assert repr(stored[1].value) == f"<COMMIT marker, producer {tx.producer_id}>"
    rc = _reader(log, "read_committed", "rc")
    ru = _reader(log, "read_uncommitted", "ru")
    assert [(r.offset, r.value) for r in rc.poll()] == [(0, b"a")]
    assert [(r.offset, r.value) for r in ru.poll()] == [(0, b"a"), (2, b"b")]
    assert rc.position(("out", 0)) == ru.position(("out", 0)) == 4


def test_consume_transform_produce_is_exactly_once_across_a_crash(log, clock):
    src = log.producer()
    for i in range(10):
        src.send("in", i, key=f"k{i}")

    def worker(name):
        c = log.consumer(
            group="etl",
            name=name,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        c.subscribe(["in"])
        p = log.producer(transactional_id="etl-0")
        p.init_transactions()
        return c, p

    c, p = worker("w1")
    records = c.poll(max_records=6)
    p.begin_transaction()
    for r in records:
        p.send("out", r.value * 10, key=r.key)
    p.send_offsets_to_transaction(c.positions(), c)
    p.commit_transaction()
    records = c.poll()  # the rest...
    p.begin_transaction()
    for r in records:
        p.send("out", r.value * 10, key=r.key)
    c.crash()  # ...processed, but the process dies before the commit
    c2, p2 = worker("w2")  # fences the zombie: its open transaction is aborted
    with pytest.raises(ProducerFenced):
        p.commit_transaction()
    clock.advance(45)  # w1's session times out; w2 gets every partition
    records = c2.poll()
    p2.begin_transaction()
    for r in records:
        p2.send("out", r.value * 10, key=r.key)
    p2.send_offsets_to_transaction(c2.positions(), c2)
    p2.commit_transaction()
    out = _reader(log, "read_committed", "check").poll()
    assert sorted(r.value for r in out) == [i * 10 for i in range(10)]  # each exactly once
    dirty = _reader(log, "read_uncommitted", "dirty").poll()
    assert len(dirty) > 10  # the aborted attempt is in the log, just not visible
    assert [o.outcome for o in log.transactions.outcomes] == ["committed", "fenced", "committed"]


def test_offsets_in_an_aborted_transaction_are_not_committed(log):
    log.producer().send("in", b"x", partition=0)
    c = log.consumer(group="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.subscribe(["in"])
    c.poll()
    p = log.producer(transactional_id="tx")
    p.init_transactions()
    p.begin_transaction()
    p.send_offsets_to_transaction({("in", 0): 1}, "g")
    assert log.group("g").committed == {}
    p.abort_transaction()
    assert log.group("g").committed == {}
    p.begin_transaction()
    p.send_offsets_to_transaction({("in", 0): 1}, c)
    p.commit_transaction()
    assert log.group("g").committed == {("in", 0): 1}
    assert log.group("g").commits[-1].member == "tx"


def test_the_coordinator_aborts_a_transaction_after_its_timeout(log, clock):
    p = log.producer(transactional_id="slow", transaction_timeout_ms=10_000)
    p.init_transactions()
    p.begin_transaction()
    p.send("out", b"x", partition=0)
    clock.advance(9.999)
    assert log.transactions.open_transactions
    clock.advance(0.001)
    log.tick()
    assert not log.transactions.open_transactions
    assert log.transactions.outcomes[-1].outcome == "timed out"
    assert log.topic("out").partition(0).last_stable_offset == 2  # released
    with pytest.raises(ProducerFenced, match="fenced"):
        p.send("out", b"y", partition=0)


def test_transaction_calls_in_the_wrong_state_change_nothing(log):
    p = log.producer(transactional_id="tx")
    c = log.consumer(group="g")
    c.subscribe(["in"])
    other = log.consumer(group="h")
    other.assign([("in", 1)])
    before = log_state(log)
    with pytest.raises(TransactionStateError, match="init_transactions"):
        p.begin_transaction()
    p.init_transactions()
    with pytest.raises(TransactionStateError, match="begin_transaction\\(\\) before send"):
        p.send("out", b"x")
    with pytest.raises(TransactionStateError, match="needs an open transaction"):
        p.commit_transaction()
    with pytest.raises(TransactionStateError, match="once per producer"):
        p.init_transactions()
    p.begin_transaction()
    with pytest.raises(TransactionStateError, match="already has an open transaction"):
        p.begin_transaction()
    with pytest.raises(NotAssigned, match="in-1 is not assigned"):
        p.send_offsets_to_transaction({("in", 1): 3}, log.consumer(group="g2"))
    assert log_state(log) == before
    p.send("out", b"ok", partition=0)  # no sequence number was wasted by the refusals
    p.commit_transaction()
    with pytest.raises(TransactionStateError, match="no transactional_id"):
        log.producer().init_transactions()


# Random interleavings of two transactional producers and a plain one.
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["begin", "commit", "abort"]), st.integers(0, 1)),
        st.tuples(st.just("send"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("poll"), st.integers(1, 4)),
    ),
    max_size=50,
)


@given(steps)
def test_aborted_records_are_never_visible_to_read_committed(script):
    log = Log(VirtualClock())
    log.create_topic("out", partitions=2)
    txs = [log.producer(transactional_id=f"tx{i}") for i in range(2)]
    for p in txs:
        p.init_transactions()
    plain = log.producer()
    rc = log.consumer(group="rc", auto_offset_reset="earliest", isolation_level="read_committed")
    rc.subscribe(["out"])
    pending: dict[int, list] = {0: [], 1: []}
    committed, aborted = set(), set()
    seen: list = []
    counter = 0
    for step in script:
        if step[0] in ("begin", "commit", "abort"):
            i = step[1]
            p = txs[i]
            open_ = p.transaction_state == "in_transaction"
            if step[0] == "begin" and not open_:
                p.begin_transaction()
            elif step[0] == "commit" and open_:
                p.commit_transaction()
                committed.update(pending[i])
                pending[i] = []
            elif step[0] == "abort" and open_:
                p.abort_transaction()
                aborted.update(pending[i])
                pending[i] = []
        elif step[0] == "send":
            _, who, part = step
            counter += 1
            if who == 2:
                plain.send("out", counter, partition=part)
                committed.add(counter)
            elif txs[who].transaction_state == "in_transaction":
                txs[who].send("out", counter, partition=part)
                pending[who].append(counter)
        else:
            seen += [r.value for r in rc.poll(max_records=step[1])]
            assert not set(seen) & aborted
            for part in log.topic("out").partitions:
                assert rc._positions.get(("out", part.index), 0) <= part.last_stable_offset
    for i, p in enumerate(txs):
        if p.transaction_state == "in_transaction":
            p.commit_transaction()
            committed.update(pending[i])
    seen += [r.value for r in rc.poll(max_records=10_000)]
    assert sorted(seen) == sorted(committed)  # every committed record once, no aborted one
    for part in range(2):
        in_part = [
            r.value for r in log.topic("out").partition(part).records() if isinstance(r.value, int)
        ]
        order = [v for v in seen if v in set(in_part) and v in committed]
        assert order == [v for v in in_part if v in committed]
