"""Issue 9's checker defects, each from its reproduction: losses to retention and TTL, groups
judged on their own, topics kept apart, linear in consumer names, a fault aimed at one queue,
and only the same group and partition excusing a delivery going back."""

from __future__ import annotations

import sys

import pytest

from brokerlab.checker import check
from brokerlab.clock import VirtualClock
from brokerlab.counterexample import Counterexample, fault_points, shortest_counterexample
from brokerlab.errors import InvalidType, ScenarioError
from brokerlab.faults import Fault
from brokerlab.history import History
from brokerlab.log import Log
from brokerlab.queue import Queue
from brokerlab.scenario import BrokerSetup, Consumers, Scenario
from brokerlab.simulation import simulate

# --- 1. deleted by retention or TTL before it was processed: lost, not "still held" ---------------


def test_log_retention_of_unread_records_is_a_loss():
    # The reproduction: no faults, but each record takes an hour, so retention.ms (7 days)
    # deletes records the group has not read yet.
    run = simulate(
        Scenario(messages=200, broker="log", consumers=Consumers(processing_time=3600, batch=1))
    )
    r = run.report
    deleted = sum(p.log_start_offset for p in run.broker.topic("orders").partitions)
    assert deleted == 200  # the log holds none of them any more
    assert r.unfinished == []  # so none is "still held by the broker"
    assert r.lost and all(a.what == "dropped" and "retention" in a.reason for a in r.lost)
    assert not r.ok("at-least-once")
    # every message is accounted for: processed or lost (some also dead-lettered)
    assert r.processed + len(r.lost) == r.messages == 200
    assert f"{len(r.lost)} lost" in repr(run) and "0 unfinished" in repr(run)
    # each loss quotes the deletion, recorded by the broker as a lost message
    for a in r.lost:
        assert a.events[-1].kind == "lost" and a.events[-1].get("what") == "message"


@pytest.mark.parametrize("kind", ["queue", "sqs"])
def test_queue_retention_before_processing_is_a_loss(kind):
    # The reproduction: 400 one-hour messages outlive the longest SQS retention (14 days).
    run = simulate(Scenario(messages=400, broker=kind, consumers=Consumers(processing_time=3600)))
    r = run.report
    expired = run.broker.stats()["expired"]
    assert expired == 64
    assert r.unfinished == []
    assert {a.what for a in r.lost} == {"dropped"}
    # one expired message was in flight and had taken effect: it is not lost
    assert len(r.lost) == expired - 1
    assert r.processed + len(r.lost) == 400
    assert "unfinished" in repr(run)


def test_run_repr_shows_the_unfinished_count():
    run = simulate(Scenario(messages=20, duration=0.5))
    assert run.counts["unfinished"] > 0
    assert f"{run.counts['unfinished']} unfinished" in repr(run)


def discarded(queue_kwargs, act):
    clock = VirtualClock()
    seen = []
    q = Queue("q", clock=clock, on_discard=lambda m, why: seen.append((m.id, why)), **queue_kwargs)
    act(q, clock)
    return seen


def test_queue_on_discard_names_every_way_a_message_leaves_unseen():
    def retention(q, clock):
        q.publish("a", id="m1")
        clock.advance(61)
        len(q)

    def ttl(q, clock):
        q.publish("a", id="m1")
        clock.advance(11)
        len(q)

    def maxlen(q, clock):
        q.publish("a", id="m1")
        q.publish("b", id="m2")

    def purge(q, clock):
        q.publish("a", id="m1")
        q.purge()

    assert discarded({"retention": 60}, retention) == [("m1", "retention")]
    assert discarded({"message_ttl": 10}, ttl) == [("m1", "expired")]
    assert discarded({"max_length": 1}, maxlen) == [("m1", "maxlen")]
    assert discarded({}, purge) == [("m1", "purged")]
    # a dead-lettered message is not discarded: the dead letter says where it went
    dlq = Queue("dlq")
    assert discarded({"message_ttl": 10, "dead_letter": dlq}, ttl) == []
    with pytest.raises(InvalidType, match="on_discard"):
        Queue("q", on_discard="print")


def test_log_with_history_records_retention_of_unread_records_only():
    h, clock = History(), VirtualClock()
    log = Log(clock, history=h)
    log.create_topic("a", partitions=1, retention_ms=60_000)
    p = log.producer(name="p")
    p.send("a", b"x0")
    p.send("a", b"x1")
    p.flush()
    c = log.consumer(name="c", group="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.subscribe(["a"])
    c.poll()
    c.commit()  # offsets 0 and 1 were read
    p.send("a", b"late")
    p.flush()
    clock.advance(120)
    log.tick()
    deleted = [e for e in h if e.kind == "lost"]
    assert [(e.msg, e.get("reason")) for e in deleted] == [("a-0@2", "retention")]
    (a,) = [x for x in check(h).lost if x.msg == "a-0@2"]
    assert a.what == "dropped" and a.topic == "a" and a.partition == 0


# --- 2. a dead letter in one group hides a loss in no other group ---------------------------------


def test_fanout_dead_letter_in_one_queue_does_not_hide_a_loss_in_the_other():
    s = Scenario(
        messages=1,
        broker=BrokerSetup(kind="exchange", exchange_type="fanout", queues=2, max_receive_count=1),
        consumers=Consumers(mode="at-most-once"),
        faults=[
            Fault("lost_ack", msg="m1", delivery=2),
            Fault("crash_before_processing", msg="m1", delivery=2),
        ],
    )
    r = simulate(s).report
    (lost,) = r.lost
    assert (lost.msg, lost.group, lost.what) == ("m1", "q2", "acked")
    (dead,) = r.dead_lettered
    assert (dead.msg, dead.group) == ("m1", "q1")
    assert not r.ok("at-least-once")


def two_groups() -> History:
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "a-1", "deliver", "m1", group="a")
    h.record(1, "b-1", "deliver", "m1", group="b")
    h.record(2, "b-1", "ack", "m1")
    h.record(2, "b-1", "crash")
    return h


def test_a_dead_letter_counts_only_in_the_group_it_names():
    h = two_groups()
    h.record(3, "broker", "dead_letter", "m1", reason="rejected", group="a")
    r = check(h)
    assert [(x.msg, x.group) for x in r.lost] == [("m1", "b")]
    assert [(x.msg, x.group) for x in r.dead_lettered] == [("m1", "a")]
    # a dead letter that names no group still sets the message aside in every group
    h = two_groups()
    h.record(3, "broker", "dead_letter", "m1", reason="rejected")
    r = check(h)
    assert r.lost == [] and [x.group for x in r.dead_lettered] == [None]


def test_a_drop_counts_only_in_the_group_it_names():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "a-1", "deliver", "m1", group="a")
    h.record(1, "b-1", "deliver", "m1", group="b")
    h.record(2, "b-1", "process", "m1")
    h.record(3, "broker", "lost", "m1", what="message", reason="expired", group="a")
    r = check(h)
    assert [(x.msg, x.group, x.what) for x in r.lost] == [("m1", "a", "dropped")]
    assert "in group a (expired)" in r.lost[0].reason
    assert r.processed == 1


# --- 3. the topic is part of a partition's name ---------------------------------------------------


def test_one_group_reading_two_topics_has_no_offsets_anomalies():
    h, clock = History(), VirtualClock()
    log = Log(clock, history=h)
    log.create_topic("a", partitions=1)
    log.create_topic("b", partitions=1)
    p = log.producer(name="p")
    for i in range(2):
        p.send("a", f"x{i}".encode())
        p.send("b", f"y{i}".encode())
    p.flush()
    c = log.consumer(name="c", group="g", auto_offset_reset="earliest", enable_auto_commit=False)
    c.subscribe(["a", "b"])
    assert len(c.poll()) == 4  # a-0@0, a-0@1, then b-0@0: not "going back" to offset 0
    c.commit()
    assert check(h).offsets == []


def test_commits_on_two_topics_are_followed_apart():
    h = History()
    for topic in ("a", "b"):
        for o in range(3):
            h.record(0, "p", "publish", f"{topic}{o}", partition=0, offset=o, topic=topic)
    for o in range(3):
        h.record(1, "c", "deliver", f"a{o}", partition=0, offset=o, topic="a", group="g")
        h.record(1, "c", "process", f"a{o}")
    h.record(2, "c", "commit", partition=0, offset=3, topic="a")
    h.record(3, "c", "deliver", "b0", partition=0, offset=0, topic="b")
    h.record(3, "c", "process", "b0")
    h.record(4, "c", "commit", partition=0, offset=1, topic="b")  # not a commit going back
    r = check(h)
    assert r.offsets == [] and r.order == []
    # b1 and b2 were never read: unfinished, in b's partition
    assert [(a.msg, a.topic, a.partition) for a in r.unfinished] == [("b1", "b", 0), ("b2", "b", 0)]
    # going back within one topic is still found, and named by topic
    h.record(5, "c", "commit", partition=0, offset=0, topic="b")
    (back,) = check(h).offsets
    assert back.what == "commit went back" and "partition b-0" in back.reason
    assert back.topic == "b"


# --- 4. linear in the number of consumer names ----------------------------------------------------


def calls_to_check(n: int) -> int:
    """Python-level calls (generators' steps included) one check makes on a history of ``n``
    records, each read by a consumer of a new name that joins the group on its first event."""
    h = History()
    for i in range(n):
        h.record(i, "p", "publish", f"m{i}", partition=0, offset=i)
        h.record(i, f"c{i}", "deliver", f"m{i}", partition=0, offset=i, group="g")
        h.record(i, f"c{i}", "process", f"m{i}")
        h.record(i, f"c{i}", "commit", partition=0, offset=i + 1)
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        check(h)
    finally:
        sys.setprofile(None)
    return calls


def test_many_consumer_names_cost_the_same_per_event():
    # (a count of calls, not a timing: the old checker scanned every earlier commit for each
    # new name, so four times the names cost about sixteen times the calls)
    small, large = calls_to_check(250), calls_to_check(1000)
    assert large < 4 * small * 1.2


# --- 5. a fault aimed at one queue's delivery --------------------------------------------------------


def fanout(**kw) -> BrokerSetup:
    return BrokerSetup(kind="exchange", exchange_type="fanout", queues=2, **kw)


def test_a_fault_can_strike_the_second_queues_first_delivery():
    s = Scenario(
        messages=1,
        broker=fanout(),
        consumers=Consumers(mode="at-most-once"),
        faults=[Fault("crash_before_processing", msg="m1", delivery=1, group="q2")],
    )
    r = simulate(s).report
    assert [(a.msg, a.group) for a in r.lost] == [("m1", "q2")]
    # without group=, delivery counts across both queues: the first delivery of m1 is over
    # (both queues have it) before either consumer works on it, so delivery=1 never strikes
    s1 = Scenario(
        messages=1,
        broker=fanout(),
        consumers=Consumers(mode="at-most-once"),
        faults=[Fault("crash_before_processing", msg="m1", delivery=1)],
    )
    assert simulate(s1).report.lost == []


def test_the_search_reaches_a_bug_in_one_queue_only():
    def careless_in_q2(delivery, ctx):  # consumer-2 reads q2 and acks before the work
        if ctx.consumer == "consumer-2":
            ctx.ack()
            ctx.effect()
        else:
            ctx.effect()
            ctx.ack()

    cx = shortest_counterexample(careless_in_q2, "at-least-once", setup=fanout(), max_faults=1)
    assert isinstance(cx, Counterexample)
    assert cx.faults == (Fault("crash_before_processing", msg="m1", group="q2"),)
    assert (cx.anomaly.msg, cx.anomaly.group) == ("m1", "q2")


def test_fault_points_per_queue_and_the_old_meaning_with_one_queue():
    one = fault_points(["lost_ack"], 1, max_delivery=1)
    assert one == [Fault("lost_ack", msg="m1")]
    two = fault_points(["lost_ack", "producer_retry"], 1, max_delivery=1, groups=("q1", "q2"))
    assert two == [
        Fault("lost_ack", msg="m1", group="q1"),
        Fault("lost_ack", msg="m1", group="q2"),
        Fault("producer_retry", msg="m1"),
    ]
    assert repr(two[1]) == "Fault('lost_ack', msg='m1', group='q2')"


@pytest.mark.parametrize(
    "fault, broker, match",
    [
        (Fault("lost_ack", msg="m1", group="q3"), fanout(), "queues are q1, q2"),
        (Fault("lost_ack", msg="m1", group="q1"), BrokerSetup(), "one group of consumers"),
    ],
)
def test_a_fault_names_a_queue_of_the_setup(fault, broker, match):
    with pytest.raises(ScenarioError, match=match):
        Scenario(messages=1, broker=broker, faults=[fault])


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"kind": "lost_ack", "msg": "m1", "group": 2}, "is not a queue name"),
        ({"kind": "lost_ack", "msg": "m1", "group": ""}, "is not a queue name"),
        ({"kind": "producer_retry", "msg": "m1", "group": "q1"}, "only the faults that strike"),
    ],
)
def test_fault_group_is_checked(kw, match):
    with pytest.raises(ScenarioError, match=match):
        Fault(**kw)


# --- 6. only the same group and partition excuse a delivery going back ---------------------------


def reading_twice(between) -> History:
    """Group g reads offsets 0 and 1 of partition 0, then offset 0 again, with ``between``
    recorded in the middle."""
    h = History()
    for o in range(2):
        h.record(0, "p", "publish", f"m{o}", partition=0, offset=o)
    h.record(0, "p", "publish", "x0", partition=1, offset=0)
    h.record(1, "c", "deliver", "m0", partition=0, offset=0, group="g")
    h.record(1, "c", "deliver", "m1", partition=0, offset=1)
    h.record(1, "other", "deliver", "x0", partition=1, offset=0, group="h")
    h.record(1, "mine", "deliver", "x0", partition=1, offset=0, group="g")
    between(h)
    h.record(3, "c", "deliver", "m0", partition=0, offset=0)
    return h


@pytest.mark.parametrize(
    "between",
    [
        lambda h: h.record(2, "p", "crash"),  # a producer
        lambda h: h.record(2, "other", "crash"),  # a consumer of another group
        lambda h: h.record(2, "other", "nack", "x0"),  # another group's nack
        lambda h: h.record(2, "mine", "nack", "x0"),  # the group's nack, another partition
        lambda h: h.record(2, "broker", "redeliver", "x0"),  # a redelivery, another partition
        lambda h: h.record(2, "broker", "redeliver", "m1", group="h"),  # ... for another group
        lambda h: h.record(2, "h", "rebalance"),  # another group's rebalance
        lambda h: h.record(2, "p", "lost", "m1", what="confirm"),  # the producer's
    ],
)
def test_events_elsewhere_do_not_excuse_going_back(between):
    (a,) = check(reading_twice(between)).offsets
    assert a.what == "delivery went back" and a.group == "g"


@pytest.mark.parametrize(
    "between",
    [
        lambda h: h.record(2, "c", "crash"),  # the reader itself
        lambda h: h.record(2, "mine", "restart"),  # another member of the group
        lambda h: h.record(2, "g", "rebalance"),  # the group (recorded by the group)
        lambda h: h.record(2, "broker", "restart"),  # the broker: every group
        lambda h: h.record(2, "broker", "redeliver", "m1"),  # a redelivery on that partition
        lambda h: h.record(2, "broker", "redeliver", "m1", group="g"),
    ],
)
def test_events_of_the_same_group_and_partition_excuse_it(between):
    assert check(reading_twice(between)).offsets == []
