"""The queue's rules, one test per rule: consumers and acks, visibility, time, length."""

from __future__ import annotations

import pytest

from brokerlab.clock import VirtualClock
from brokerlab.errors import AlreadyAcknowledged, StaleReceipt, UnknownReceipt
from brokerlab.message import Delivery, Message
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


# --- competing consumers, prefetch, acks ---------------------------------------------------------


def test_consumers_get_messages_round_robin():
    q, _ = make()
    a, b, c = q.consume("a"), q.consume("b"), q.consume("c")
    for i in range(7):
        q.publish(i)
    assert payloads(a.take()) == [0, 3, 6]
    assert payloads(b.take()) == [1, 4]
    assert payloads(c.take()) == [2, 5]
    assert len(q) == 0 and q.stats()["in_flight"] == 7


def test_prefetch_caps_unacked_and_ack_frees_room():
    q, _ = make()
    for i in range(5):
        q.publish(i)
    a = q.consume("a", prefetch=2)
    assert payloads(a.take()) == [0, 1]
    assert len(q) == 3
    a.ack(a.unacked[0])
    assert payloads(a.take()) == [2]
    b = q.consume("b", prefetch=0)  # 0 = unlimited
    assert payloads(b.take()) == [3, 4]


def test_round_robin_skips_full_consumers():
    q, _ = make()
    a, b = q.consume("a", prefetch=1), q.consume("b", prefetch=3)
    for i in range(4):
        q.publish(i)
    assert payloads(a.take()) == [0]
    assert payloads(b.take()) == [1, 2, 3]


def test_nack_requeue_puts_message_back_at_its_original_position():
    q, _ = make()
    for i in range(3):
        q.publish(i)
    d0, d1 = q.receive(2)
    q.nack(d1)
    q.nack(d0)
    assert payloads(q.peek()) == [0, 1, 2]
    r = q.receive(3)
    assert payloads(r) == [0, 1, 2]
    assert [d.redelivered for d in r] == [True, True, False]
    assert [d.receive_count for d in r] == [2, 2, 1]


def test_reject_without_requeue_dead_letters_as_rejected():
    dlq, clock = make(name="jobs.dlq")
    q, _ = make(clock=clock, dead_letter=dlq)
    q.publish("bad")
    [d] = q.receive()
    q.reject(d, requeue=False)
    [dead] = dlq.peek()
    assert dead.payload == "bad"
    assert dead.deaths[0]["reason"] == "rejected" and dead.deaths[0]["queue"] == "jobs"
    assert q.stats()["dead_letter_reasons"]["rejected"] == 1


def test_nack_without_dead_letter_target_discards():
    q, _ = make()
    q.publish("x")
    [d] = q.receive()
    q.nack(d, requeue=False)
    s = q.stats()
    assert (s["dead_lettered"], s["discarded"], s["ready"]) == (1, 1, 0)


@pytest.mark.parametrize("how", ["close", "crash"])
def test_closed_consumer_returns_unacked_to_original_positions(how):
    q, _ = make()
    for i in range(4):
        q.publish(i)
    a = q.consume("a", prefetch=2)
    [d0, d1] = a.take()
    a.ack(d0)  # frees room: 2 is pushed to a as well
    getattr(a, how)()
    assert not a.is_open
    assert payloads(q.peek()) == [1, 2, 3]
    b = q.consume("b")
    got = b.take()
    assert payloads(got) == [1, 2, 3]
    assert [d.redelivered for d in got] == [True, True, False]
    with pytest.raises(StaleReceipt):
        q.ack(d1)


def test_consumer_cannot_settle_anothers_delivery():
    q, _ = make()
    q.publish(1)
    q.publish(2)
    a, b = q.consume("a", prefetch=1), q.consume("b", prefetch=1)
    [da], [db] = a.take(), b.take()
    with pytest.raises(UnknownReceipt):
        a.ack(db)
    q.ack(db)  # the queue itself accepts any live delivery
    a.ack(da)


def test_pull_and_push_share_one_in_flight_table():
    q, _ = make()
    a = q.consume("a", prefetch=1)
    for i in range(3):
        q.publish(i)
    assert payloads(a.take()) == [0]
    pulled = q.receive(10)
    assert payloads(pulled) == [1, 2]  # what the consumer had no room for
    assert [d.delivery_tag for d in q.in_flight()] == [1, 2, 3]
    q.ack(pulled[0])
    a.ack(a.unacked[0])
    assert q.stats()["in_flight"] == 1


# --- SQS visibility ---------------------------------------------------------------------------------


def test_visibility_timeout_hides_then_redelivers():
    q, clock = make(visibility_timeout=30)
    q.publish("a")
    [d] = q.receive()
    clock.advance(29.9)
    assert q.receive() == []
    clock.advance(0.1)
    [d2] = q.receive()
    assert (d2.receive_count, d2.redelivered) == (2, True)


def test_receive_visibility_timeout_argument_overrides_queue_default():
    q, clock = make(visibility_timeout=30)
    q.publish("a")
    q.receive(visibility_timeout=5)
    clock.advance(5)
    assert len(q.receive()) == 1


def test_change_visibility_restarts_the_countdown_from_now():
    q, clock = make(visibility_timeout=30)
    q.publish("a")
    [d] = q.receive()
    clock.advance(20)
    q.change_visibility(d, 15)  # now visible at 35, not 50
    clock.advance(14)
    assert q.receive() == []
    clock.advance(1)
    assert len(q.receive()) == 1


def test_change_visibility_zero_makes_it_visible_at_once():
    q, _ = make()
    q.publish("a")
    [d] = q.receive()
    q.change_visibility(d.receipt_handle, 0)
    assert payloads(q.peek()) == ["a"]


def test_change_visibility_is_capped_at_12_hours_after_the_receive():
    from brokerlab.errors import OutOfRange

    q, clock = make()
    q.publish("a")
    [d] = q.receive()
    clock.advance(20)
    with pytest.raises(OutOfRange, match="43200"):
        q.change_visibility(d, 43200)
    q.change_visibility(d, 43180)
    clock.advance(43179)
    assert q.receive() == []
    q.change_visibility(d, 1)  # 20 + 43179 + 1 = 43200: exactly the cap
    with pytest.raises(OutOfRange):
        q.change_visibility(d, 2)


def test_latest_handle_still_deletes_after_timeout_until_received_again():
    q, clock = make(visibility_timeout=10)
    q.publish("a")
    q.publish("b")
    [d] = q.receive()
    clock.advance(10)
    assert payloads(q.peek()) == ["a", "b"]
    q.ack(d)  # SQS: the latest receipt handle still works
    assert payloads(q.peek()) == ["b"]
    assert q.stats()["acked"] == 1


def test_change_visibility_on_a_visible_message_is_refused():
    q, clock = make(visibility_timeout=10)
    q.publish("a")
    [d] = q.receive()
    clock.advance(10)
    with pytest.raises(StaleReceipt, match="MessageNotInflight"):
        q.change_visibility(d, 5)


def test_receive_counts_rise_with_every_receive():
    q, clock = make(visibility_timeout=1)
    q.publish("a")
    counts = []
    for _ in range(4):
        [d] = q.receive()
        counts.append(d.receive_count)
        clock.advance(1)
    assert counts == [1, 2, 3, 4]
    assert q.stats()["redelivered"] == 3


# --- time: delay, TTL, retention, length --------------------------------------------------------------


def test_per_message_delay_and_queue_delay():
    q, clock = make(delay=10)
    q.publish("late")
    q.publish("now", delay=0)
    assert payloads(q.peek()) == ["now"]
    assert q.stats()["delayed"] == 1
    clock.advance(10)
    assert payloads(q.peek()) == ["late", "now"]  # its place is its arrival order


def test_ttl_expiry_dead_letters_with_reason_expired():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, message_ttl=60)
    q.publish("a")
    q.publish("b", ttl=5)  # the lower of the two applies
    clock.advance(5)
    assert payloads(q.peek()) == ["a"]
    [dead] = dlq.peek()
    assert dead.deaths[0]["reason"] == "expired"
    assert dead.deaths[0]["original-expiration"] == 5
    clock.advance(55)
    assert len(q) == 0 and len(dlq) == 2


def test_in_flight_messages_do_not_expire_until_they_come_back():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, message_ttl=10)
    q.publish("a")
    [d] = q.receive()
    clock.advance(20)
    assert len(dlq) == 0 or dlq.peek()[0].deaths[0]["reason"] == "expired"
    # it came back at t=30 (visibility timeout) already past its TTL: dead-lettered, not requeued
    clock.advance(10)
    assert len(q) == 0
    assert [m.deaths[0]["reason"] for m in dlq.peek()] == ["expired"]


def test_ttl_zero_expires_unless_a_consumer_takes_it_at_once():
    q, _ = make(message_ttl=0)
    q.publish("lost")
    assert len(q) == 0 and q.stats()["dead_letter_reasons"]["expired"] == 1
    a = q.consume("a")
    q.publish("kept")
    assert payloads(a.take()) == ["kept"]


def test_retention_deletes_silently():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, retention=60)
    q.publish("a")
    clock.advance(30)
    q.publish("b")
    [d] = q.receive()  # in flight messages are deleted too
    clock.advance(30)
    assert payloads(q.peek()) == ["b"]
    s = q.stats()
    assert (s["expired"], s["in_flight"], s["dead_lettered"], len(dlq)) == (1, 0, 0, 0)
    with pytest.raises(StaleReceipt, match="retention"):
        q.ack(d)


def test_retention_default_is_four_days():
    q, clock = make()
    q.publish("a")
    clock.advance(345599)
    assert len(q) == 1
    clock.advance(1)
    assert len(q) == 0 and q.stats()["expired"] == 1


def test_max_length_drops_the_head_as_maxlen():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, max_length=2)
    for i in range(4):
        q.publish(i)
    assert payloads(q.peek()) == [2, 3]
    assert payloads(dlq.peek()) == [0, 1]
    assert {m.deaths[0]["reason"] for m in dlq.peek()} == {"maxlen"}


def test_max_length_counts_ready_messages_only():
    q, _ = make(max_length=1)
    q.publish(0)
    q.receive()
    q.publish(1)
    assert payloads(q.peek()) == [1]
    assert q.stats()["dead_lettered"] == 0


# --- delivery limit ------------------------------------------------------------------------------


def test_delivery_limit_dead_letters_after_max_receive_count():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, max_receive_count=3, visibility_timeout=1)
    q.publish("poison")
    for expected in (1, 2, 3):
        [d] = q.receive()
        assert d.receive_count == expected
        clock.advance(1)
    assert q.receive() == []
    [dead] = dlq.peek()
    assert dead.deaths[0]["reason"] == "delivery_limit"


def test_delivery_limit_applies_to_nack_and_consumer_crash():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, max_receive_count=2)
    q.publish("p")
    a = q.consume("a")
    a.nack(a.take()[0])
    [d] = a.take()
    assert d.receive_count == 2
    a.crash()
    assert len(q) == 0 and len(dlq) == 1


def test_delivery_limit_default_is_unlimited():
    q, clock = make(visibility_timeout=1)
    q.publish("p")
    for _ in range(50):
        assert len(q.receive()) == 1
        clock.advance(1)


# --- state and display --------------------------------------------------------------------------


def test_stats_account_for_every_message():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, retention=60, delay=0)
    for i in range(6):
        q.publish(i)
    q.publish("d", delay=100)
    a, b, c = q.receive(3)
    q.ack(a)
    q.nack(b, requeue=False)
    s = q.stats()
    parts = (
        "ready",
        "in_flight",
        "delayed",
        "acked",
        "dead_lettered",
        "expired",
        "redriven",
        "purged",
    )
    assert sum(s[k] for k in parts) == s["enqueued"] == 7


def test_purge_removes_ready_only():
    q, _ = make()
    for i in range(3):
        q.publish(i)
    [d] = q.receive()
    assert q.purge() == 2
    assert len(q) == 0
    q.ack(d)


def test_repr_html_is_a_table():
    q, _ = make()
    q.publish("a")
    html = q._repr_html_()
    assert "<table>" in html and "Message(&#x27;m1&#x27;" in html


def test_consumer_repr():
    q, _ = make()
    c = q.consume("w", prefetch=2)
    assert repr(c) == "Consumer('w' on 'jobs': prefetch=2, 0 unacked)"
    c.close()
    assert repr(c).endswith("closed)")


def test_same_run_gives_same_output():
    def run():
        q, clock = make(visibility_timeout=3)
        out = []
        c = q.consume(prefetch=1)
        for i in range(5):
            q.publish(i)
            out += [d.receipt_handle for d in q.receive(2)]
            out += [d.receipt_handle for d in c.take()]
            clock.advance(2)
        return out, q.stats()

    assert run() == run()


# --- more corners ------------------------------------------------------------------------------


def test_retention_expires_each_message_at_its_own_time():
    q, clock = make(retention=60)
    q.publish("t0")
    clock.advance(30)
    q.publish("t30")
    clock.advance(30)
    assert payloads(q.peek()) == ["t30"]
    q.publish("t60")
    clock.advance(29)
    assert payloads(q.peek()) == ["t30", "t60"]
    clock.advance(1)
    assert payloads(q.peek()) == ["t60"]
    clock.advance(30)
    assert q.peek() == [] and q.stats()["expired"] == 3


def test_ttl_running_out_during_a_delay_expires_the_message():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq)
    q.publish("slow", delay=10, ttl=5)
    clock.advance(10)
    assert len(q) == 0
    assert [m.deaths[0]["reason"] for m in dlq.peek()] == ["expired"]


def test_latest_handle_after_timeout_can_reject_the_message():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, visibility_timeout=5)
    q.publish("x")
    [d] = q.receive()
    clock.advance(5)
    q.nack(d.receipt_handle, requeue=False)
    assert len(q) == 0 and len(dlq) == 1
    with pytest.raises(AlreadyAcknowledged):
        q.ack(d)


def test_in_flight_lists_pushed_and_pulled_deliveries():
    q, _ = make()
    q.publish("pushed")
    c = q.consume("c", prefetch=1)
    q.publish("pulled")
    [pulled] = q.receive()
    [pushed] = c.take()
    assert q.in_flight() == [pushed, pulled]


def test_a_dlq_shows_dead_letters_without_touching_the_source():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq, message_ttl=10)
    q.publish("x")
    clock.advance(10)
    assert len(dlq) == 1  # the DLQ brought its source up to date first


def test_receive_dead_letter_takes_a_message_directly():
    dlq, _ = make(name="dlq")
    dlq.receive_dead_letter(Message("m9", "x", headers={"x-death": []}))
    assert payloads(dlq.peek()) == ["x"] and dlq.stats()["enqueued"] == 1


def test_enqueue_takes_built_messages_with_delay_and_ttl():
    q, clock = make()
    m = Message("e1", {"a": 1}, key="k")
    assert q.enqueue(m, delay=5, ttl=100) is m
    assert len(q) == 0
    clock.advance(5)
    assert q.peek() == [m]


def test_visibility_timeouts_fire_after_acked_receipts_were_forgotten():
    # receive() drops the visibility records of settled deliveries when nothing older is in
    # flight; the deliveries still in flight must keep their deadlines.
    q, clock = make(visibility_timeout=10)
    for i in range(4):
        q.publish(i)
    [a] = q.receive()
    q.ack(a)
    [b] = q.receive()  # only b in flight: a's record is dropped here
    clock.advance(3)
    [c] = q.receive(visibility_timeout=20)  # b is still in flight: nothing is dropped
    q.ack(b)
    [d] = q.receive(visibility_timeout=2)  # a deadline earlier than c's
    clock.advance(2)
    assert [m.payload for m in q.peek()] == [3]  # d came back at its own deadline
    clock.advance(18)
    assert [m.payload for m in q.peek()] == [2, 3]  # and c at its own
    assert q.stats()["requeued"] == 2
    with pytest.raises(AlreadyAcknowledged):
        q.ack(b)
    q.ack(d.receipt_handle)  # the latest handle still deletes it after the timeout (SQS)
    assert q.stats()["acked"] == 3


# --- the exchange a message came through ---------------------------------------------------------


def test_every_delivery_names_the_exchange_its_message_came_through():
    q, _ = make()
    q.publish("direct")  # put on the queue itself: the default exchange, as in RabbitMQ
    q.enqueue(Message("e1", "routed"), exchange="orders")
    c = q.consume("c", prefetch=1)
    [pushed] = c.take()
    [pulled] = q.receive()
    assert (pushed.payload, pushed.exchange) == ("direct", "")
    assert (pulled.payload, pulled.exchange) == ("routed", "orders")
    assert [d.exchange for d in q.in_flight()] == ["", "orders"]
    q.nack(pulled)  # requeued: the exchange stays with the message
    assert q.receive()[0].exchange == "orders"


def test_received_deliveries_are_the_ones_the_constructor_builds():
    q, _ = make()
    q.enqueue(Message("e1", "x"), exchange="orders")
    q.publish("y")
    for d in q.receive(10):
        assert all(hasattr(d, slot) for slot in type(d).__slots__)
        assert d == Delivery(
            d.message, "jobs", d.delivery_tag, None, d.receive_count, False, None, d.exchange
        )
    assert [d.exchange for d in q.in_flight()] == ["orders", ""]


@pytest.mark.parametrize("reason", ["rejected", "expired", "maxlen", "delivery_limit"])
def test_x_death_records_the_exchange_the_message_came_through(reason):
    dlq, clock = make(name="dlq")
    q, _ = make(
        clock=clock,
        dead_letter=dlq,
        max_length=1 if reason == "maxlen" else None,
        max_receive_count=1 if reason == "delivery_limit" else None,
    )
    q.enqueue(Message("e1", "x", key="resize"), exchange="images", ttl=5)
    if reason == "rejected":
        q.nack(q.receive()[0], requeue=False)
    elif reason == "expired":
        clock.advance(5)
    elif reason == "maxlen":
        q.publish("newer")
    else:
        q.nack(q.receive()[0])
    [dead] = dlq.peek()
    assert dead.deaths[0]["reason"] == reason
    assert (dead.deaths[0]["exchange"], dead.deaths[0]["routing-keys"]) == ("images", ["resize"])
    assert dead.headers["x-first-death-exchange"] == dead.headers["x-last-death-exchange"]
    assert dead.headers["x-last-death-exchange"] == "images"


def test_a_dead_letter_dying_again_in_an_sqs_style_dlq_records_the_default_exchange():
    dlq2, clock = make(name="dlq2")
    dlq, _ = make(name="dlq", clock=clock, dead_letter=dlq2, message_ttl=10)
    q, _ = make(clock=clock, dead_letter=dlq)
    q.enqueue(Message("e1", "x", key="k"), exchange="orders")
    q.nack(q.receive()[0], requeue=False)
    assert dlq.receive()[0].exchange == ""  # a queue dead-lettered it straight into this one
    clock.advance(40)  # back after the visibility timeout, then the queue TTL runs out
    [dead] = dlq2.peek()
    assert [(d["queue"], d["reason"], d["exchange"]) for d in dead.deaths] == [
        ("dlq", "expired", ""),
        ("jobs", "rejected", "orders"),
    ]
    assert dead.headers["x-first-death-exchange"] == "orders"
    assert dead.headers["x-last-death-exchange"] == ""


def test_redriven_and_directly_received_dead_letters_come_through_the_default_exchange():
    dlq, clock = make(name="dlq")
    q, _ = make(clock=clock, dead_letter=dlq)
    q.enqueue(Message("e1", "x"), exchange="orders")
    q.nack(q.receive()[0], requeue=False)
    dlq.redrive()
    assert q.receive()[0].exchange == ""
    other, _ = make(name="other", clock=clock)
    other.receive_dead_letter(Message("m9", "y"), exchange="dlx")
    assert other.receive()[0].exchange == "dlx"
