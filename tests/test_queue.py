"""The queue's rules, one test per rule: consumers and acks, visibility, time, length."""

from __future__ import annotations

import pytest

from brokerlab.clock import VirtualClock
from brokerlab.errors import AlreadyAcknowledged, StaleReceipt, UnknownReceipt
from brokerlab.message import Message
from brokerlab.queue import Queue


def make(**kw):
    clock = kw.pop("clock", None) or VirtualClock()
    return Queue(kw.pop("name", "jobs"), clock=clock, **kw), clock


def payloads(items):
    return [x.payload for x in items]


# --- publish and pull -------------------------------------------------------------------------


def test_publish_returns_message_with_per_queue_ids_and_clock_timestamp():
    q, clock = make()
    clock.advance(5)
    m = q.publish({"order": 1}, key="k", headers={"h": 1})
    assert isinstance(m, Message)
    assert (m.id, m.payload, m.key, m.headers, m.timestamp) == (
        "m1",
        {"order": 1},
        "k",
        {"h": 1},
        5.0,
    )
    assert q.publish("x").id == "m2"
    assert q.publish("y", id="mine").id == "mine"
    assert len(q) == 3


def test_receive_is_oldest_first_and_at_most_max_messages():
    q, _ = make()
    for i in range(12):
        q.publish(i)
    assert payloads(q.receive(10)) == list(range(10))
    assert payloads(q.receive(10)) == [10, 11]
    assert q.receive() == []


def test_receipt_handles_are_readable_and_new_on_every_receive():
    q, clock = make(visibility_timeout=10)
    q.publish("a")
    [d1] = q.receive()
    assert d1.receipt_handle == "jobs:m1:1"
    clock.advance(10)
    [d2] = q.receive()
    assert d2.receipt_handle == "jobs:m1:2"
    assert (d2.receive_count, d2.redelivered) == (2, True)
    with pytest.raises(StaleReceipt):
        q.ack(d1.receipt_handle)
    q.ack(d2.receipt_handle)
    assert q.stats()["acked"] == 1


def test_ack_twice_is_an_error():
    q, _ = make()
    q.publish("a")
    [d] = q.receive()
    q.ack(d)
    with pytest.raises(AlreadyAcknowledged):
        q.ack(d)
    with pytest.raises(AlreadyAcknowledged):
        q.ack(d.delivery_tag)


def test_unknown_receipts():
    q, _ = make()
    with pytest.raises(UnknownReceipt):
        q.ack(1)
    with pytest.raises(UnknownReceipt):
        q.ack("other:m1:1")
    with pytest.raises(UnknownReceipt):
        q.ack("jobs:m1:99")


def test_repr_names_counts_and_dlq():
    dlq, clock = make(name="jobs.dlq")
    q, _ = make(clock=clock, dead_letter=dlq)
    for i in range(4):
        q.publish(i)
    q.receive()
    assert repr(q) == "Queue('jobs': 3 ready, 1 in flight, dlq='jobs.dlq')"
