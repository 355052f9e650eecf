"""Consumer groups: assignors, rebalances, timeouts on the virtual clock, commits, pub/sub."""

from __future__ import annotations

import pytest

from brokerlab.consumer_group import range_assign, roundrobin_assign, sticky_assign
from brokerlab.errors import (
    CommitFailed,
    ConsumerClosed,
    InconsistentGroupProtocol,
    InvalidArgument,
    NotAssigned,
    OutOfRange,
)
from brokerlab.log import Log, TopicPartition
from log_state import log_state


def tps(*names: str) -> list[TopicPartition]:
    out = []
    for name in names:
        topic, _, p = name.rpartition("-")
        out.append(TopicPartition(topic, int(p)))
    return out


@pytest.fixture
def log(clock):
    log = Log(clock)
    log.create_topic("orders", partitions=4)
    return log


# --- assignors: Kafka's own examples -----------------------------------------------------------------


def test_range_assignor_javadoc_example():
    # RangeAssignor.java: C0: [t0p0, t0p1, t1p0, t1p1], C1: [t0p2, t1p2]
    subs = {"C0": ["t0", "t1"], "C1": ["t0", "t1"]}
    assert range_assign(subs, {"t0": 3, "t1": 3}) == {
        "C0": tps("t0-0", "t0-1", "t1-0", "t1-1"),
        "C1": tps("t0-2", "t1-2"),
    }


def test_roundrobin_assignor_javadoc_examples():
    subs = {"C0": ["t0", "t1"], "C1": ["t0", "t1"]}
    assert roundrobin_assign(subs, {"t0": 3, "t1": 3}) == {
        "C0": tps("t0-0", "t0-2", "t1-1"),
        "C1": tps("t0-1", "t1-0", "t1-2"),
    }
    # different subscriptions: C0 [t0], C1 [t0, t1], C2 [t0, t1, t2]
    subs = {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]}
    assert roundrobin_assign(subs, {"t0": 1, "t1": 2, "t2": 3}) == {
        "C0": tps("t0-0"),
        "C1": tps("t1-0"),
        "C2": tps("t1-1", "t2-0", "t2-1", "t2-2"),
    }


def test_range_is_balanced_per_topic_but_not_overall():
    # With T topics the first member gets the extra partition of each: totals differ by T.
    subs = {"a": ["t1", "t2", "t3"], "b": ["t1", "t2", "t3"]}
    got = range_assign(subs, {"t1": 1, "t2": 1, "t3": 1})
    assert (len(got["a"]), len(got["b"])) == (3, 0)
    assert {len(v) for v in roundrobin_assign(subs, {"t1": 1, "t2": 1, "t3": 1}).values()} == {1, 2}


def test_members_sort_as_strings_like_kafka_member_ids():
    subs = {"consumer-10": ["t"], "consumer-2": ["t"]}
    # "consumer-10" < "consumer-2" as strings, so it gets the first range.
    assert range_assign(subs, {"t": 2}) == {"consumer-10": tps("t-0"), "consumer-2": tps("t-1")}


def test_sticky_keeps_owned_partitions_and_moves_only_the_excess():
    owned = {"a": tps("t-0", "t-1", "t-2"), "b": tps("t-3", "t-4", "t-5")}
    got = sticky_assign({"a": ["t"], "b": ["t"], "c": ["t"]}, {"t": 6}, owned)
    assert set(got["a"]) < set(owned["a"]) and set(got["b"]) < set(owned["b"])
    assert [len(got[m]) for m in "abc"] == [2, 2, 2]


# --- rebalances ---------------------------------------------------------------------------------------


def test_join_and_leave_rebalance_with_events(log):
    a = log.consumer(group="g", name="a")
    a.subscribe(["orders"])
    b = log.consumer(group="g", name="b")
    b.subscribe(["orders"])
    assert a.assignment() == tps("orders-0", "orders-1") and b.assignment() == tps(
        "orders-2", "orders-3"
    )
    event = log.group("g").events[-1]
    assert event.reason == "b joined" and event.generation == 2 and event.protocol == "eager"
    assert event.lost == {"a": tuple(tps("orders-2", "orders-3"))}
    assert event.got == {"b": tuple(tps("orders-2", "orders-3"))}
    assert event.revoked == {
        "a": tuple(tps("orders-0", "orders-1", "orders-2", "orders-3"))
    }  # eager
    b.close()
    event = log.group("g").events[-1]
    assert event.reason == "b left (close)" and a.assignment() == tps(
        *(f"orders-{i}" for i in range(4))
    )
    assert "b lost [orders-2, orders-3]" in repr(event) and "a got [orders-2, orders-3]" in repr(
        event
    )


def test_cooperative_sticky_revokes_only_what_moves(log):
    a = log.consumer(group="g", name="a", assignor="cooperative-sticky")
    a.subscribe(["orders"])
    b = log.consumer(group="g", name="b", assignor="cooperative-sticky")
    b.subscribe(["orders"])
    event = log.group("g").events[-1]
    assert event.protocol == "cooperative"
    assert event.revoked == event.lost == {"a": event.got["b"]}
    assert len(event.got["b"]) == 2


def test_a_crashed_member_is_removed_after_the_session_timeout(log, clock):
    a = log.consumer(group="g", name="a")
    a.subscribe(["orders"])
    b = log.consumer(group="g", name="b")
    b.subscribe(["orders"])
    clock.advance(10)
    b.crash()
    clock.advance(44.999)
    assert b.name in log.group("g").assignment()  # still owns its partitions: nobody reads them
    clock.advance(0.001)  # 45 s after the crash (session.timeout.ms = 45000)
    assert a.assignment() == tps("orders-0", "orders-1", "orders-2", "orders-3")
    event = log.group("g").events[-1]
    assert event.time == 55.0 and "missed the session timeout (45000 ms)" in event.reason
    with pytest.raises(ConsumerClosed, match="crashed"):
        b.poll()


def test_max_poll_interval_removes_a_slow_member_and_its_commit_fails(log, clock):
    p = log.producer()
    p.send("orders", b"x", partition=0)
    a = log.consumer(group="g", name="a", auto_offset_reset="earliest", enable_auto_commit=False)
    a.subscribe(["orders"])
    b = log.consumer(group="g", name="b", max_poll_interval_ms=None)
    b.subscribe(["orders"])
    assert len(a.poll()) == 1
    clock.advance(301)  # a "processes" for more than max.poll.interval.ms = 300000
    log.tick()
    assert "did not poll within max.poll.interval.ms" in log.group("g").events[-1].reason
    assert b.assignment() == tps("orders-0", "orders-1", "orders-2", "orders-3")
    before = log_state(log)
    with pytest.raises(CommitFailed, match="no longer a member"):
        a.commit()
    assert log_state(log) == before
    a.poll()  # rejoins
    assert log.group("g").events[-1].reason == "a rejoined" and a.assignment()


def test_alive_members_do_not_time_out_while_polling(log, clock):
    a = log.consumer(group="g")
    a.subscribe(["orders"])
    for _ in range(100):
        clock.advance(60)
        a.poll()
    assert len(log.group("g").events) == 1


def test_inconsistent_assignor_is_refused_and_changes_nothing(log):
    log.consumer(group="g", assignor="range").subscribe(["orders"])
    c = log.consumer(group="g", assignor="cooperative-sticky")
    before = log_state(log)
    with pytest.raises(InconsistentGroupProtocol, match="assignor='range'"):
        c.subscribe(["orders"])
    assert log_state(log) == before and c.assignment() == []


def test_invalid_assignor_name_names_the_choices():
    with pytest.raises(
        InvalidArgument, match="assignor='sticky-cooperative' is not allowed: use one of 'range'"
    ):
        Log().consumer(group="g", assignor="sticky-cooperative")


# --- pub/sub: every group gets every record --------------------------------------------------------------


def test_several_groups_on_one_topic_each_get_every_record(log):
    p = log.producer()
    for i in range(60):
        p.send("orders", i, key=f"k{i % 7}")
    groups = {}
    for g, size in (("billing", 1), ("shipping", 2), ("audit", 3)):
        members = [log.consumer(group=g, auto_offset_reset="earliest") for _ in range(size)]
        for c in members:
            c.subscribe(["orders"])
        groups[g] = members
    for g, members in groups.items():
        got = [r.value for c in members for r in c.poll()]
        assert sorted(got) == list(range(60)), g
        owned = [tp for c in members for tp in c.assignment()]
        assert sorted(owned) == sorted(set(owned)) and len(owned) == 4  # exclusive within the group


# --- commits -------------------------------------------------------------------------------------------------


def test_auto_commit_commits_positions_inside_poll_every_5_seconds(log, clock):
    p = log.producer()
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.assign([("orders", 0)])
    p.send("orders", b"a", partition=0)
    c.poll()
    assert log._groups.get("g") is None or log.group("g").committed == {}
    clock.advance(4.9)
    c.poll()
    assert "g" not in log.groups
    clock.advance(0.1)  # 5 s after the consumer was made: the next poll commits position 1
    p.send("orders", b"b", partition=0)
    assert [r.value for r in c.poll()] == [b"b"]
    assert log.group("g").committed == {("orders", 0): 1}  # not 2: commit comes before the fetch


def test_at_least_once_a_crash_before_the_commit_redelivers(log, clock):
    p = log.producer()
    for i in range(5):
        p.send("orders", i, partition=0)
    a = log.consumer(group="g", name="a", auto_offset_reset="earliest", enable_auto_commit=False)
    a.subscribe(["orders"])
    assert len(a.poll(max_records=2)) == 2
    a.commit()
    assert len(a.poll()) == 3  # processed, but the commit never happens:
    a.crash()
    b = log.consumer(group="g", name="b", auto_offset_reset="earliest")
    b.subscribe(["orders"])
    clock.advance(45)
    assert [r.value for r in b.poll()] == [2, 3, 4]  # read again by the new owner


def test_eager_rebalance_forgets_uncommitted_positions_cooperative_keeps_them(clock):
    for assignor, expected in (("range", [0, 1, 2]), ("cooperative-sticky", [])):
        log = Log(clock)
        log.create_topic("t", partitions=2)
        p = log.producer()
        for i in range(3):
            p.send("t", i, partition=0)
        a = log.consumer(
            group="g",
            name="a",
            assignor=assignor,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        a.subscribe(["t"])
        assert len(a.poll()) == 3  # nothing committed
        log.consumer(group="g", name="b", assignor=assignor).subscribe(["t"])
        assert ("t", 0) in a.assignment()
        assert [r.value for r in a.poll()] == expected, assignor


def test_commit_checks_ownership_and_values_and_changes_nothing(log):
    a = log.consumer(group="g", name="a")
    a.subscribe(["orders"])
    b = log.consumer(group="g", name="b")
    b.subscribe(["orders"])
    a.commit({("orders", 0): 5})
    before = log_state(log)
    with pytest.raises(NotAssigned, match="orders-3 is not assigned to consumer 'a'"):
        a.commit({("orders", 0): 6, ("orders", 3): 1})
    with pytest.raises(OutOfRange, match="offset=-2 for orders-0 is negative"):
        a.commit({("orders", 0): -2})
    with pytest.raises(InvalidArgument, match="has no group"):
        log.consumer().commit({("orders", 0): 1})
    assert log_state(log) == before and log.group("g").committed == {("orders", 0): 5}


def test_lag_per_partition(log):
    p = log.producer()
    for i in range(10):
        p.send("orders", i, partition=i % 2)
    c = log.consumer(group="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.subscribe(["orders"])
    assert c.lag() == {("orders", 0): 5, ("orders", 1): 5, ("orders", 2): 0, ("orders", 3): 0}
    c.poll(max_records=7)
    c.commit()
    assert sum(c.lag().values()) == 3
    group_lag = log.group("g").lag()
    assert sum(group_lag.values()) == 3
    assert log.group("g").describe()[0]["member"] == c.name


def test_subscribe_needs_a_group_and_a_known_topic(log):
    before = log_state(log)
    with pytest.raises(InvalidArgument, match="subscribe\\(\\) needs one"):
        log.consumer().subscribe(["orders"])
    c = log.consumer(group="g")
    with pytest.raises(Exception, match="create_topic"):
        c.subscribe(["orders", "nope"])
    assert log_state(log) == before and c.assignment() == []
    with pytest.raises(NotAssigned, match="nothing to poll"):
        c.poll()
