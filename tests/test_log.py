"""The partitioned log: topics, offsets, reading, retention, replay, bad input, pictures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidType,
    NoOffsetForPartition,
    NotAssigned,
    OffsetOutOfRange,
    OutOfRange,
    UnknownGroup,
    UnknownTopic,
)
from brokerlab.history import History
from brokerlab.log import DEFAULT_RETENTION_MS, ConsumerRecords, Log, Record, TopicPartition
from log_state import log_state

DAY = 24 * 3600


@pytest.fixture
def log(clock):
    log = Log(clock)
    log.create_topic("orders", partitions=3)
    return log


# --- topics and offsets ------------------------------------------------------------------------------


def test_offsets_count_up_per_partition_and_keys_keep_their_partition(log):
    p = log.producer()
    metas = [p.send("orders", f"v{i}".encode(), key=f"user-{i % 4}") for i in range(40)]
    by_key: dict[str, set[int]] = {}
    for i, m in enumerate(metas):
        by_key.setdefault(f"user-{i % 4}", set()).add(m.partition)
    assert all(len(parts) == 1 for parts in by_key.values())
    for part in log.topic("orders").partitions:
        offsets = [m.offset for m in metas if m.partition == part.index]
        assert offsets == list(range(len(offsets)))
        assert part.log_end_offset == part.high_watermark == part.last_stable_offset == len(offsets)
        assert part.log_start_offset == 0


def test_a_record_carries_what_was_sent(log, clock):
    clock.advance(12.5)
    p = log.producer()
    meta = p.send("orders", {"id": 7}, key="alice", headers={"trace": "abc"})
    assert meta.timestamp == 12_500
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.subscribe(["orders"])
    (rec,) = c.poll()
    assert rec == Record(
        "orders", meta.partition, 0, b"alice", {"id": 7}, 12_500, (("trace", b"abc"),)
    )
    assert rec.tp == TopicPartition("orders", meta.partition)
    assert (
        repr(rec)
        == f"Record(orders-{meta.partition}@0, key=b'alice', value={{'id': 7}}, headers=(('trace', b'abc'),))"
    )


def test_per_partition_order_is_the_send_order(log):
    p = log.producer()
    sent = [(f"k{i % 5}", i) for i in range(100)]
    for key, i in sent:
        p.send("orders", i, key=key)
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.subscribe("orders")
    got = list(c.poll(max_records=1000))
    assert len(got) == 100
    for key in {k for k, _ in sent}:
        assert [r.value for r in got if r.key == key.encode()] == [i for k, i in sent if k == key]


def test_reading_does_not_remove_and_groups_do_not_interfere(log):
    p = log.producer()
    for i in range(10):
        p.send("orders", i, partition=0)
    readers = [log.consumer(group=f"g{i}", auto_offset_reset="earliest") for i in range(3)]
    for r in readers:
        r.subscribe(["orders"])
        assert [x.value for x in r.poll()] == list(range(10))
    assert len(log.topic("orders").partition(0)) == 10


def test_poll_returns_at_most_max_records_and_continues_where_it_stopped(log):
    p = log.producer()
    p.send_batch("orders", [bytes([i]) for i in range(50)], partition=1)
    c = log.consumer(group="g", auto_offset_reset="earliest", max_poll_records=20)
    c.subscribe(["orders"])
    seen = []
    for expected in (20, 20, 10, 0):
        batch = c.poll()
        assert len(batch) == expected
        seen += batch.offsets()
    assert seen == list(range(50))
    assert c.position(("orders", 1)) == 50


def test_consumer_records_behaves_like_a_list():
    recs = ConsumerRecords(
        [
            Record("t", 0, 3, None, b"a", 1, ()),
            Record("t", 0, 4, b"k", b"b", 2, ()),
            Record("t", 1, 7, None, b"c", 3, ()),
        ]
    )
    assert len(recs) == recs.count() == 3
    assert recs[0] == Record("t", 0, 3, None, b"a", 1, ())
    assert recs[-1].offset == 7 and recs[1].key == b"k"
    assert recs[1:] == list(recs)[1:]
    assert recs.values() == [b"a", b"b", b"c"] and recs.keys() == [None, b"k", None]
    assert recs.offsets() == [3, 4, 7] and recs.partitions() == [("t", 0), ("t", 1)]
    assert recs.records(("t", 1)) == [Record("t", 1, 7, None, b"c", 3, ())]
    assert recs == list(recs) and ConsumerRecords() == []
    with pytest.raises(IndexError):
        recs[3]


# --- auto.offset.reset and replay ----------------------------------------------------------------------


def test_latest_is_the_default_and_skips_what_is_already_there(log):
    p = log.producer()
    p.send("orders", b"old", partition=0)
    c = log.consumer(group="g")
    c.assign([("orders", 0)])
    assert c.poll() == []
    p.send("orders", b"new", partition=0)
    assert [r.value for r in c.poll()] == [b"new"]


def test_none_raises_without_a_committed_offset_and_changes_nothing(log):
    log.producer().send("orders", b"x", partition=0)
    c = log.consumer(group="g", auto_offset_reset="none")
    c.assign([("orders", 0)])
    before = log_state(log)
    with pytest.raises(NoOffsetForPartition, match="auto_offset_reset='none'.*orders-0.*earliest"):
        c.poll()
    assert log_state(log) == before and c.positions() == {}
    c.seek(("orders", 0), 0)
    assert [r.value for r in c.poll()] == [b"x"]


def test_committed_offset_is_the_next_offset_to_read(log):
    p = log.producer()
    for i in range(5):
        p.send("orders", i, partition=0)
    c = log.consumer(group="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.assign([("orders", 0)])
    assert len(c.poll(max_records=3)) == 3
    assert c.commit() == {("orders", 0): 3}
    c.close()
    d = log.consumer(group="g", auto_offset_reset="none")
    d.assign([("orders", 0)])
    assert [r.value for r in d.poll()] == [3, 4]


def test_seek_replays_any_retained_offset(log):
    p = log.producer()
    for i in range(6):
        p.send("orders", i, partition=2)
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.assign([("orders", 2)])
    assert len(c.poll()) == 6
    c.seek(("orders", 2), 2)
    assert [r.offset for r in c.poll()] == [2, 3, 4, 5]
    c.seek_to_beginning()
    assert len(c.poll()) == 6
    c.seek_to_end()
    assert c.poll() == []


def test_seek_to_time_replays_from_a_point_in_time(log, clock):
    p = log.producer()
    for i in range(5):
        p.send("orders", i, partition=0)
        clock.advance(10)
    c = log.consumer(group="g")
    c.assign([("orders", 0)])
    c.seek_to_time(20_000)  # t = 20 s
    assert [r.value for r in c.poll()] == [2, 3, 4]


# --- retention ------------------------------------------------------------------------------------------


def test_retention_ms_defaults_to_7_days_on_the_virtual_clock(log, clock):
    assert log.topic("orders").retention_ms == DEFAULT_RETENTION_MS == 604_800_000
    p = log.producer()
    p.send("orders", b"day0", partition=0)
    clock.advance(3 * DAY)
    p.send("orders", b"day3", partition=0)
    clock.advance(4 * DAY)  # the first record is exactly 7 days old: still kept (> is needed)
    part = log.topic("orders").partition(0)
    assert part.log_start_offset == 0 and len(part) == 2
    clock.advance(0.001)
    log.tick()
    assert part.log_start_offset == 1 and len(part) == 1 and part.log_end_offset == 2
    clock.advance(3 * DAY)
    log.tick()
    assert len(part) == 0 and part.log_start_offset == part.log_end_offset == 2


def test_retention_bytes_keeps_the_newest_records(clock):
    log = Log(clock)
    log.create_topic("t", retention_bytes=250, retention_ms=-1)
    p = log.producer()
    for _i in range(5):
        p.send("t", bytes(100), partition=0)
    clock.advance(1)
    log.tick()
    part = log.topic("t").partition(0)
    assert (part.log_start_offset, len(part), part.size_bytes) == (3, 2, 200)


def test_retention_minus_one_keeps_forever(clock):
    log = Log(clock)
    log.create_topic("t", retention_ms=-1)
    log.producer().send("t", b"x")
    clock.advance(10_000 * DAY)
    assert len(log.topic("t").partition(0)) == 1


def test_a_consumer_behind_retention_is_reset(log, clock):
    p = log.producer()
    for i in range(3):
        p.send("orders", i, partition=0)
    slow = log.consumer(group="slow", auto_offset_reset="earliest", enable_auto_commit=False)
    slow.assign([("orders", 0)])
    assert len(slow.poll(max_records=1)) == 1
    slow.commit()
    strict = log.consumer(group="slow2", auto_offset_reset="none")
    strict.assign([("orders", 0)])
    strict.seek(("orders", 0), 1)
    clock.advance(8 * DAY)
    p.send("orders", 3, partition=0)  # the three old records expire
    assert log.topic("orders").partition(0).log_start_offset == 3
    assert [r.value for r in slow.poll()] == [3]  # position 1 is gone: earliest = 3
    before = log_state(log)
    with pytest.raises(OffsetOutOfRange, match="outside the retained log 3..4"):
        strict.poll()
    assert log_state(log) == before


# --- growing a topic ---------------------------------------------------------------------------------


def test_increase_partitions_moves_new_records_of_a_key_and_rebalances(log):
    p = log.producer()
    keys = [f"user-{i}" for i in range(20)]
    before = {k: p.send("orders", b"a", key=k).partition for k in keys}
    c = log.consumer(group="g")
    c.subscribe(["orders"])
    log.increase_partitions("orders", to=6)
    after = {k: p.send("orders", b"b", key=k).partition for k in keys}
    assert any(before[k] != after[k] for k in keys)
    assert len(c.assignment()) == 6
    assert "grew to 6" in log.group("g").events[-1].reason
    with pytest.raises(InvalidArgument, match="can only add partitions"):
        log.increase_partitions("orders", to=6)


# --- bad input ------------------------------------------------------------------------------------------


def test_bad_topic_and_partition_input_names_the_fix_and_changes_nothing(log):
    p = log.producer()
    p.send("orders", b"x", partition=0)
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.assign([("orders", 0)])
    c.poll()
    before = log_state(log)
    cases = [
        (UnknownTopic, "create_topic\\('ordrs'", lambda: p.send("ordrs", b"x")),
        (
            OutOfRange,
            "partition=3 is out of range: topic 'orders' allows 0..2",
            lambda: p.send("orders", b"x", partition=3),
        ),
        (InvalidType, "partition=", lambda: p.send("orders", b"x", partition="0")),
        (OutOfRange, "offset=-1 is negative.*seek_to_beginning", lambda: c.seek(("orders", 0), -1)),
        (NotAssigned, "not assigned to consumer", lambda: c.seek(("orders", 1), 0)),
        (UnknownTopic, "is not a topic", lambda: c.assign([("nope", 0)])),
        (OutOfRange, "allows 0..2", lambda: c.assign([("orders", 9)])),
        (InvalidType, "tuple", lambda: c.seek("orders-0", 0)),
        (AlreadyExists, "already exists", lambda: log.create_topic("orders")),
        (InvalidArgument, "not a legal topic name", lambda: log.create_topic("bad name!")),
        (OutOfRange, "partitions=0", lambda: log.create_topic("t0", partitions=0)),
        (OutOfRange, "retention_ms=-5", lambda: log.create_topic("t1", retention_ms=-5)),
        (UnknownGroup, "not a consumer group", lambda: log.group("nobody")),
        (
            InvalidArgument,
            "auto_offset_reset='smallest' is not allowed",
            lambda: log.consumer(auto_offset_reset="smallest"),
        ),
        (InvalidType, "key=", lambda: p.send("orders", b"x", key=12)),
        (InvalidType, "cannot be sent", lambda: p.send("orders", object())),
    ]
    for error, pattern, call in cases:
        with pytest.raises(error, match=pattern):
            call()
        assert log_state(log) == before, pattern
    assert "t0" not in log.topics and "t1" not in log.topics


# --- pictures, printing, history -----------------------------------------------------------------------


def test_graph_shows_topic_partitions_and_members(log):
    log.producer().send("orders", b"x", partition=0)
    for _ in range(2):
        log.consumer(group="billing").subscribe(["orders"])
    g = log.graph()
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    assert sorted(kinds.values()) == [
        "group",
        "member",
        "member",
        "partition",
        "partition",
        "partition",
        "topic",
    ]
    assert all("label" in d for _, d in g.nodes(data=True))
    for i in range(3):
        assert g.has_edge("topic:orders", f"orders-{i}")
        owners = [v for v in g.successors(f"orders-{i}") if kinds[v] == "member"]
        assert len(owners) == 1
    assert g.nodes["orders-0"]["log_end_offset"] == 1


def test_reprs_are_short(log, clock):
    p = log.producer()
    p.send("orders", b"x", partition=1)
    c = log.consumer(group="billing")
    c.subscribe(["orders"])
    clock.advance(2)
    assert repr(log) == "Log(1 topic, 3 partitions, 1 group, t=2s)"
    assert repr(log.topic("orders")) == "Topic('orders': 3 partitions, 1 records)"
    assert repr(log.topic("orders").partition(1)) == "Partition(orders-1: offsets 0..0, hw=1)"
    assert repr(log.topic("orders").partition(0)) == "Partition(orders-0: empty, next offset 0)"
    assert repr(c) == "Consumer('consumer-1', group='billing', [orders-0, orders-1, orders-2])"
    assert repr(log.group("billing")) == "Group('billing': 1 member, generation 1, range)"
    assert repr(p) == "Producer('producer-1', producer_id=0, epoch=0)"


def test_history_records_publish_deliver_commit_rebalance_and_crash(clock):
    history = History()
    log = Log(clock, history=history)
    log.create_topic("t")
    log.producer().send("t", b"x", key="k")
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.subscribe(["t"])
    c.poll()
    c.commit()
    c.crash()
    kinds = [e.kind for e in history]
    assert kinds == ["publish", "rebalance", "deliver", "commit", "crash"]
    assert history[0].msg == history[2].msg == "t-0@0"
    assert history[3].offset == 1
    History.from_jsonl(history.to_jsonl())  # serialisable


@given(
    st.lists(st.tuples(st.sampled_from([None, "a", "b", "c"]), st.binary(max_size=8)), max_size=40)
)
def test_send_batch_places_records_like_single_sends(records):
    log_a, log_b = Log(), Log()
    for log in (log_a, log_b):
        log.create_topic("t", partitions=4)
    one, many = log_a.producer(seed=7), log_b.producer(seed=7)
    for key, value in records:
        one.send("t", value, key=key)
    many.send_batch("t", [v for _, v in records], keys=[k for k, _ in records])
    for pa, pb in zip(log_a.topic("t").partitions, log_b.topic("t").partitions, strict=True):
        assert pa.records() == pb.records()


def test_reading_outside_the_retained_log_is_refused(log):
    log.producer().send("orders", b"x", partition=0)
    part = log.topic("orders").partition(0)
    with pytest.raises(OffsetOutOfRange, match="outside orders-0's retained log 0..1"):
        part.read(2, 10)
    assert part.read(1, 10) == ([], 1)
    records, after = part.read(0, 10)
    assert [r.value for r in records] == [b"x"] and after == 1


def test_a_refused_client_does_not_use_up_a_name(log):
    with pytest.raises(InvalidArgument):
        log.producer(partitioner="nope")
    assert log.producer().name == "producer-1"
