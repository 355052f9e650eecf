"""FIFO queues: message groups, ordering within a group, deduplication (SQS FIFO)."""

from __future__ import annotations

import hashlib

import pytest

from brokerlab.clock import VirtualClock
from brokerlab.errors import DeadLetterConfigError, FifoError, InvalidArgument
from brokerlab.fifo import DEDUP_WINDOW, Deduplicator, dedup_key
from brokerlab.message import Message, body_bytes
from brokerlab.queue import Queue


def fifo(**kw):
    clock = kw.pop("clock", None) or VirtualClock()
    kw.setdefault("content_based_dedup", True)
    return Queue(kw.pop("name", "orders.fifo"), clock=clock, fifo=True, **kw), clock


def test_group_is_required_and_the_error_names_it():
    q, _ = fifo()
    with pytest.raises(FifoError, match="group"):
        q.publish("x")


def test_dedup_id_required_without_content_based_dedup():
    q, _ = fifo(content_based_dedup=False)
    with pytest.raises(FifoError, match="dedup_id"):
        q.publish("x", group="g")
    q.publish("x", group="g", dedup_id="1")


def test_per_message_delay_is_refused_but_queue_delay_works():
    q, clock = fifo(delay=5)
    with pytest.raises(FifoError, match="delay"):
        q.publish("x", group="g", delay=1)
    q.publish("x", group="g")
    assert len(q) == 0
    clock.advance(5)
    assert len(q) == 1


def test_content_based_dedup_needs_a_fifo_queue():
    with pytest.raises(InvalidArgument, match="FIFO"):
        Queue("std", content_based_dedup=True)


def test_order_within_a_group_and_group_held_while_in_flight():
    q, _ = fifo()
    for i in range(3):
        q.publish(f"a{i}", group="A")
        q.publish(f"b{i}", group="B")
    [d] = q.receive()
    assert d.payload == "a0"
    [d2] = q.receive()
    assert d2.payload == "b0"  # A is held back while a0 is in flight
    assert q.receive() == []
    q.ack(d)
    assert [x.payload for x in q.receive()] == ["a1"]


def test_one_receive_may_return_several_messages_of_one_group_in_order():
    q, _ = fifo()
    for i in range(3):
        q.publish(f"a{i}", group="A")
    q.publish("b0", group="B")
    assert [d.payload for d in q.receive(10)] == ["a0", "a1", "a2", "b0"]
    assert q.receive(10) == []


def test_timed_out_group_message_comes_back_first():
    q, clock = fifo(visibility_timeout=10)
    q.publish("a0", group="A")
    q.publish("a1", group="A")
    q.receive()
    clock.advance(10)
    [d] = q.receive()
    assert (d.payload, d.receive_count) == ("a0", 2)


def test_push_consumers_get_one_message_per_group_at_a_time():
    q, _ = fifo()
    c1, c2 = q.consume("c1"), q.consume("c2")
    for i in range(2):
        q.publish(f"a{i}", group="A")
        q.publish(f"b{i}", group="B")
    got1, got2 = c1.take(), c2.take()
    assert [d.payload for d in got1] == ["a0"] and [d.payload for d in got2] == ["b0"]
    c2.ack(got2[0])
    assert [d.payload for d in c1.take() + c2.take()] == ["b1"]


def test_duplicate_within_window_returns_the_original_and_enqueues_nothing():
    q, clock = fifo(content_based_dedup=False)
    m1 = q.publish("x", group="g", dedup_id="d1")
    clock.advance(299)
    m2 = q.publish("other body", group="g", dedup_id="d1")
    assert m2 is m1
    assert len(q) == 1 and q.stats()["deduplicated"] == 1
    clock.advance(1)  # the window is 300 s from the first send
    m3 = q.publish("x", group="g", dedup_id="d1")
    assert m3 is not m1 and len(q) == 2


def test_dedup_survives_deletion():
    q, clock = fifo()
    q.publish({"order": 1}, group="g")
    [d] = q.receive()
    q.ack(d)
    clock.advance(100)
    q.publish({"order": 1}, group="g")
    assert len(q) == 0


def test_content_based_dedup_hashes_the_body_sha256():
    m = Message("m1", {"b": 2, "a": 1})
    expected = hashlib.sha256(body_bytes(m.payload)).hexdigest()
    assert dedup_key(None, m.payload, True) == expected
    assert dedup_key("mine", m.payload, True) == "mine"
    q, _ = fifo()
    q.publish({"a": 1, "b": 2}, group="g")
    q.publish({"b": 2, "a": 1}, group="h")  # same canonical JSON body: a duplicate
    assert len(q) == 1


def test_duplicates_do_not_extend_the_window():
    dd = Deduplicator()
    m = Message("m1", "x")
    dd.remember("k", m, 0.0)
    assert dd.original("k", 299.0) is m
    assert dd.original("k", DEDUP_WINDOW) is None


def test_enqueue_applies_dedup_and_returns_none_for_a_duplicate():
    q, _ = fifo()
    m = Message("e1", "x", group="g")
    assert q.enqueue(m) is m
    assert q.enqueue(Message("e2", "x", group="g")) is None
    with pytest.raises(FifoError):
        q.enqueue(Message("e3", "y"))


def test_fifo_dead_letter_queue_must_be_fifo():
    std = Queue("std.dlq")
    with pytest.raises(DeadLetterConfigError, match="same type"):
        Queue("q.fifo", fifo=True, content_based_dedup=True, dead_letter=std)
    fdlq = Queue("f.dlq", fifo=True)
    with pytest.raises(DeadLetterConfigError):
        Queue("std", dead_letter=fdlq)


def test_fifo_dead_letters_keep_their_group_and_skip_dedup():
    dlq, clock = fifo(name="dlq.fifo")
    q, _ = fifo(clock=clock, dead_letter=dlq)
    q.publish("x", group="g")
    [d] = q.receive()
    q.nack(d, requeue=False)
    [dead] = dlq.peek()
    assert dead.group == "g"
    assert dlq.redrive() == 1
    assert [m.payload for m in q.peek()] == ["x"]  # not refused by q's dedup window


def test_dedup_id_on_a_standard_queue_is_refused():
    q = Queue("std")
    with pytest.raises(FifoError, match="FIFO"):
        q.publish("x", dedup_id="1")
    q.publish("x", group="g")  # a group is carried (SQS fair queues) but means nothing here
