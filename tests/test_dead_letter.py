"""Dead letters: the x-death history, targets, and redrive."""

from __future__ import annotations

import pytest

from brokerlab.clock import VirtualClock
from brokerlab.dead_letter import (
    REASONS,
    DeadLetterTarget,
    death_count,
    record_death,
    source_queue,
)
from brokerlab.errors import DeadLetterConfigError, InvalidArgument, InvalidType
from brokerlab.message import Message
from brokerlab.queue import Queue


def test_first_death_adds_an_entry_and_first_and_last_headers():
    m = record_death(Message("m1", "x", key="k"), queue="jobs", reason="rejected", time=3.0)
    assert m.deaths == [
        {
            "queue": "jobs",
            "reason": "rejected",
            "count": 1,
            "time": 3.0,
            "exchange": "",
            "routing-keys": ["k"],
        }
    ]
    assert m.headers["x-first-death-queue"] == "jobs"
    assert m.headers["x-last-death-reason"] == "rejected"


def test_deaths_merge_per_queue_and_reason_newest_first():
    m = Message("m1", "x")
    m = record_death(m, queue="a", reason="rejected", time=1.0)
    m = record_death(m, queue="b", reason="expired", time=2.0)
    m = record_death(m, queue="a", reason="rejected", time=3.0)
    assert [(d["queue"], d["reason"], d["count"], d["time"]) for d in m.deaths] == [
        ("a", "rejected", 2, 1.0),  # moved to the front, count 2, first time kept (RabbitMQ)
        ("b", "expired", 1, 2.0),
    ]
    assert m.headers["x-first-death-queue"] == "a"
    assert m.headers["x-last-death-queue"] == "a"
    assert death_count(m) == 3 and death_count(m, queue="a") == 2
    assert death_count(m, reason="expired") == 1


def test_each_death_records_the_exchange_it_came_through_and_a_merge_keeps_the_first():
    # RabbitMQ's mc:record_death: a new (queue, reason) entry takes the message's current
    # exchange and routing keys; a repeat only adds to the count, keeping the first ones;
    # x-first-death-* are set once, x-last-death-* at every death.
    m = Message("m1", "x", key="resize")
    m = record_death(m, queue="work", reason="rejected", time=1.0, exchange="images")
    m.key = "retry"  # the DLX re-keyed it (x-dead-letter-routing-key)
    m = record_death(m, queue="wait", reason="expired", time=2.0, exchange="retry")
    m.key = "resize"
    m = record_death(m, queue="work", reason="rejected", time=3.0, exchange="back")
    assert [
        (d["queue"], d["reason"], d["count"], d["time"], d["exchange"], d["routing-keys"])
        for d in m.deaths
    ] == [
        ("work", "rejected", 2, 1.0, "images", ["resize"]),
        ("wait", "expired", 1, 2.0, "retry", ["retry"]),
    ]
    first = [m.headers[f"x-first-death-{k}"] for k in ("queue", "reason", "exchange")]
    last = [m.headers[f"x-last-death-{k}"] for k in ("queue", "reason", "exchange")]
    assert first == ["work", "rejected", "images"]
    assert last == ["work", "rejected", "back"]


@pytest.mark.parametrize("exchange", [None, 3, b"dlx"])
def test_record_death_refuses_an_exchange_that_is_not_a_str(exchange):
    original = Message("m1", "x")
    with pytest.raises(InvalidType, match=f"exchange={exchange!r}.*a str"):
        record_death(original, queue="a", reason="rejected", time=0, exchange=exchange)
    assert original.headers == {}


def test_record_death_does_not_change_the_original_message():
    original = Message("m1", "x", headers={"h": 1})
    record_death(original, queue="a", reason="maxlen", time=0.0)
    assert original.headers == {"h": 1}


def test_unknown_reason_is_refused():
    with pytest.raises(InvalidArgument, match="delivery_limit"):
        record_death(Message("m", "x"), queue="a", reason="poison", time=0)
    assert REASONS == ("rejected", "expired", "maxlen", "delivery_limit")


def test_source_queue_is_the_last_death():
    m = record_death(Message("m", "x"), queue="a", reason="expired", time=0)
    m = record_death(m, queue="b", reason="maxlen", time=1)
    assert source_queue(m) == "b"
    assert source_queue(Message("n", "y")) is None


def test_a_queue_is_a_dead_letter_target_and_so_is_any_object_with_the_method():
    class Collector:
        name = "collector"

        def __init__(self):
            self.got = []

        def receive_dead_letter(self, message):
            self.got.append(message)

    col = Collector()
    assert isinstance(col, DeadLetterTarget) and isinstance(Queue("q"), DeadLetterTarget)
    q = Queue("jobs", dead_letter=col, max_length=0)
    q.publish("x")
    assert [m.deaths[0]["reason"] for m in col.got] == ["maxlen"]


def test_bad_dead_letter_target_is_refused():
    with pytest.raises(InvalidType):
        Queue("jobs", dead_letter="jobs.dlq")


def test_repeated_deaths_in_one_queue_are_counted_after_redrive():
    clock = VirtualClock()
    dlq = Queue("jobs.dlq", clock=clock)
    q = Queue("jobs", clock=clock, dead_letter=dlq)
    q.publish("poison")
    for _ in range(3):
        [d] = q.receive()
        q.reject(d, requeue=False)
        dlq.redrive()
    [d] = q.receive()
    assert d.receive_count == 1  # a redriven message starts afresh
    assert d.message.deaths[0]["count"] == 3
    assert q.stats()["dead_lettered"] == 3 and dlq.stats()["redriven"] == 3


def test_redrive_sends_each_message_back_to_its_source():
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock)
    a = Queue("a", clock=clock, dead_letter=dlq)
    b = Queue("b", clock=clock, dead_letter=dlq)
    for q, payload in ((a, "a1"), (b, "b1"), (a, "a2")):
        q.publish(payload)
        q.nack(q.receive()[0], requeue=False)
    assert [m.payload for m in dlq.peek()] == ["a1", "b1", "a2"]
    assert dlq.redrive(max_messages=2) == 2
    assert [m.payload for m in dlq.peek()] == ["a2"]
    assert dlq.redrive() == 1
    assert [m.payload for m in a.peek()] == ["a1", "a2"]
    assert [m.payload for m in b.peek()] == ["b1"]
    assert len(dlq) == 0


def test_redrive_to_an_explicit_queue():
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock)
    q = Queue("q", clock=clock, dead_letter=dlq)
    other = Queue("other", clock=clock)
    q.publish("x")
    q.nack(q.receive()[0], requeue=False)
    assert dlq.redrive(to=other) == 1
    assert [m.payload for m in other.peek()] == ["x"]


def test_redrive_without_a_known_source_moves_nothing():
    dlq = Queue("dlq")
    dlq.receive_dead_letter(
        record_death(Message("m1", "x"), queue="gone", reason="rejected", time=0)
    )
    before = dlq.stats()
    with pytest.raises(DeadLetterConfigError, match="gone"):
        dlq.redrive()
    assert dlq.stats() == before


def test_standard_dlq_keeps_the_original_timestamp_for_retention():
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock, retention=100)
    q = Queue("q", clock=clock, dead_letter=dlq, retention=1000)
    q.publish("x")
    clock.advance(90)
    q.nack(q.receive()[0], requeue=False)
    assert len(dlq) == 1
    clock.advance(10)  # 100 s after the ORIGINAL publish (SQS standard DLQ rule)
    assert len(dlq) == 0 and dlq.stats()["expired"] == 1


def test_fifo_dlq_restarts_retention():
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock, retention=100, fifo=True)
    q = Queue("q", clock=clock, dead_letter=dlq, fifo=True, content_based_dedup=True)
    q.publish("x", group="g")
    clock.advance(90)
    q.nack(q.receive()[0], requeue=False)
    clock.advance(99)
    assert len(dlq) == 1
    clock.advance(1)
    assert len(dlq) == 0


def test_dead_letter_chain():
    clock = VirtualClock()
    last = Queue("last", clock=clock)
    mid = Queue("mid", clock=clock, dead_letter=last, message_ttl=5)
    first = Queue("first", clock=clock, dead_letter=mid)
    first.publish("x")
    first.nack(first.receive()[0], requeue=False)
    clock.advance(5)
    [m] = last.peek()
    assert [(d["queue"], d["reason"]) for d in m.deaths] == [
        ("mid", "expired"),
        ("first", "rejected"),
    ]
