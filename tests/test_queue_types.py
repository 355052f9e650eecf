"""Where RabbitMQ's classic and quorum queues and SQS differ, each rule checked against the real
broker's observed behaviour or its vendor's documentation (cited in each test).

Sources used below:

- [QQ] RabbitMQ quorum queues guide, "Poison Message Handling"
  (https://www.rabbitmq.com/docs/quorum-queues), and ``rabbit_fifo:return_one/8`` in
  rabbitmq-server: a returned message is dead-lettered when ``DeliveryCount > DeliveryLimit``.
- [RMQ310] A differential run against RabbitMQ 3.10 (issue 9): quorum queues requeue a returned
  message at the back; classic queues at its original position; x-delivery-limit=N delivers a
  message N+1 times.
- [CONFIRMS] RabbitMQ consumer acknowledgements guide (https://www.rabbitmq.com/docs/confirms):
  a requeued message is placed at its original position where possible; unacked deliveries
  are requeued when the channel closes; ``basic.get`` deliveries are acked like pushed ones.
- [DLQ] SQS Developer Guide, dead-letter queues: "when the ReceiveCount for a message exceeds
  the maxReceiveCount for a queue, Amazon SQS moves the message to a dead-letter queue".
- [FIFO] SQS API reference, ReceiveMessage / SendMessageBatchRequestEntry: "ReceiveMessage
  might return messages with multiple MessageGroupId values. For each MessageGroupId, the
  messages are sorted by time sent"; SQS Developer Guide, FIFO delivery logic: it "returns as
  many messages with the same message group ID as possible".
- [QUOTAS] SQS message quotas: message size up to 1 MiB (raised from 256 KiB in August 2025);
  body characters #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF;
  MessageGroupId 128 characters, alphanumeric and punctuation.
- [STD] SQS Developer Guide, standard queues: at-least-once delivery ("more than one copy of a
  message might be delivered"), best-effort ordering ("messages might be delivered in an order
  different from which they were sent").
- [DEATH] ``mc:record_death`` in rabbitmq-server: the death entry keeps the message's
  ``expiration`` as ``original-expiration`` whatever the reason.
- [CONSUMERS] ``rabbit_queue_consumers:deliver`` and ``unblock`` in rabbitmq-server: the
  consumer served goes back into the queue of active consumers (``priority_queue:in``); a
  consumer with no room is moved to the blocked list, and unblocking joins it to the end.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.clock import VirtualClock
from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange, ReceiptError
from brokerlab.queue import Queue
from brokerlab.queue_types import SQS_MAX_MESSAGE_SIZE, queue_type


def payloads(items):
    return [x.payload for x in items]


def pair(**kw):
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock)
    return Queue("q", clock=clock, dead_letter=dlq, **kw), dlq, clock


# --- 1. the delivery limit: returns (quorum) against receives (SQS) ---------------------------


def deliveries_until_dead_lettered(q, give_back):
    """Receive the queue's one message and ``give_back`` each delivery, until it is gone;
    return the receive counts seen."""
    counts = []
    while got := q.receive():
        counts.append(got[0].receive_count)
        give_back(got[0])
    return counts


@pytest.mark.parametrize("limit", [0, 1, 2, 5])
def test_quorum_delivery_limit_counts_returns_and_delivers_n_plus_one_times(limit):
    # [QQ], [RMQ310]: x-delivery-limit=N delivers a message N+1 times, then dead-letters it
    # with reason delivery_limit.
    q, dlq, _ = pair(queue_type="quorum", delivery_limit=limit)
    q.publish("poison")
    assert deliveries_until_dead_lettered(q, q.nack) == list(range(1, limit + 2))
    [dead] = dlq.peek()
    assert dead.deaths[0]["reason"] == "delivery_limit"
    assert q.stats()["dead_letter_reasons"]["delivery_limit"] == 1


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_sqs_max_receive_count_counts_receives_and_delivers_n_times(limit):
    # [DLQ]: maxReceiveCount=N: the message is received N times; the next attempt moves it.
    q, dlq, clock = pair(max_receive_count=limit, visibility_timeout=1)
    q.publish("poison")
    # Each time, the visibility timeout runs out: the message comes back unacked.
    counts = deliveries_until_dead_lettered(q, lambda d: clock.advance(1))
    assert counts == list(range(1, limit + 1))
    assert dlq.peek()[0].deaths[0]["reason"] == "delivery_limit"


def test_quorum_deliveries_carry_x_delivery_count_from_the_first_return():
    # [QQ]: quorum queues set x-delivery-count on redeliveries; it counts the returns.
    q, _, _ = pair(queue_type="quorum", delivery_limit=5)
    q.publish("m")
    first = q.receive()[0]
    assert "x-delivery-count" not in first.headers
    q.nack(first)
    second = q.receive()[0]
    assert second.headers["x-delivery-count"] == 1 and second.redelivered
    c = q.consume("c")
    q.nack(second)
    [third] = c.take()
    c.crash()  # a closed channel returns it too [CONFIRMS]
    c2 = q.consume("c2")
    [fourth] = c2.take()
    assert (third.headers["x-delivery-count"], fourth.headers["x-delivery-count"]) == (2, 3)


def test_the_delivery_count_header_does_not_change_the_stored_message():
    clock = VirtualClock()
    q = Queue("q", clock=clock, queue_type="quorum", delivery_limit=3)
    m = q.publish("m")
    q.nack(q.receive()[0])
    assert q.receive()[0].headers == {"x-delivery-count": 1}
    assert m.headers == {}  # an exchange may have routed the same message to other queues


def test_classic_queues_have_no_delivery_limit():
    # Classic queues ignore x-delivery-limit (quorum queue guide: a quorum queue feature).
    with pytest.raises(InvalidArgument, match="delivery_limit=3 on a classic queue.*quorum"):
        Queue("q", queue_type="classic", delivery_limit=3)
    with pytest.raises(InvalidArgument, match="max_receive_count=3 on a quorum queue"):
        Queue("q", queue_type="quorum", max_receive_count=3)
    with pytest.raises(InvalidArgument, match="max_receive_count on an SQS queue"):
        Queue("q", delivery_limit=3)
    q = Queue("q", queue_type="classic")
    q.publish("m")
    for n in range(1, 30):
        [d] = q.receive()
        assert d.receive_count == n and "x-delivery-count" not in d.headers
        q.nack(d)


def test_delivery_limit_is_checked():
    with pytest.raises(OutOfRange, match="delivery_limit=-1"):
        Queue("q", queue_type="quorum", delivery_limit=-1)
    with pytest.raises(InvalidType, match="delivery_limit=2.0"):
        Queue("q", queue_type="quorum", delivery_limit=2.0)


# --- 2. queue types: where a returned message goes -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("classic", ["a", "b", "c"]), ("quorum", ["b", "c", "a"]), ("sqs", ["a", "b", "c"])],
)
def test_a_nacked_message_goes_back_to_its_place_or_to_the_back(kind, expected):
    # [CONFIRMS]: classic queues requeue at the original position; [RMQ310]: a quorum queue
    # (3.10-3.13) puts a returned message at the back.
    q = Queue("q", queue_type=kind)
    for p in "abc":
        q.publish(p)
    [first] = q.receive()
    q.nack(first)
    assert payloads(q.peek()) == expected


def test_a_crashed_consumer_returns_messages_by_the_queue_types_rule():
    # Quorum: a closed channel's unacked messages go to rabbit_fifo's returns list, served
    # before the rest (observed on RabbitMQ 3.10: test_differential_queues.py).
    for kind, expected in (("classic", ["a", "b", "c"]), ("quorum", ["a", "b", "c"])):
        q = Queue("q", queue_type=kind)
        for p in "abc":
            q.publish(p)
        c = q.consume("c", prefetch=2)
        assert payloads(c.take()) == ["a", "b"]
        c.crash()
        assert payloads(q.peek()) == expected, kind


def test_queue_type_names_and_rabbitmq_only_settings():
    assert [queue_type(n).system for n in ("classic", "quorum", "sqs")] == [
        "RabbitMQ",
        "RabbitMQ",
        "Amazon SQS",
    ]
    with pytest.raises(InvalidArgument, match="queue_type='stream' is not a queue type"):
        Queue("q", queue_type="stream")
    with pytest.raises(InvalidType, match="queue_type=3"):
        Queue("q", queue_type=3)
    for setting in ({"visibility_timeout": 5}, {"retention": 600}, {"seed": 1}):
        with pytest.raises(InvalidArgument, match="that is an SQS setting"):
            Queue("q", queue_type="classic", **setting)
    with pytest.raises(InvalidArgument, match="FIFO queues are SQS's"):
        Queue("q", queue_type="quorum", fifo=True)
    with pytest.raises(InvalidArgument, match="RabbitMQ has no delay"):
        Queue("q", queue_type="classic", delay=5)
    q = Queue("q", queue_type="classic")
    with pytest.raises(InvalidArgument, match="RabbitMQ has no per-message delay"):
        q.publish("m", delay=5)
    assert q.stats()["enqueued"] == 0
    assert repr(q) == "Queue('q': 0 ready, 0 in flight, classic)"
    assert (q.visibility_timeout, q.retention, q.queue_type) == (None, float("inf"), "classic")


def test_retention_none_keeps_messages_until_consumed_on_any_type():
    # The queues a Broker declares keep messages until they are consumed, as RabbitMQ does.
    clock = VirtualClock()
    q = Queue("q", clock=clock, retention=None)
    q.publish("old")
    clock.advance(30 * 86400)
    assert payloads(q.peek()) == ["old"] and q.retention == float("inf")
    assert Queue("r", queue_type="quorum", retention=None).retention == float("inf")


def test_rabbitmq_queues_keep_messages_until_consumed():
    # RabbitMQ has no retention period: only a TTL removes an unconsumed message.
    clock = VirtualClock()
    q = Queue("q", clock=clock, queue_type="quorum")
    q.publish("old")
    clock.advance(30 * 86400)
    assert payloads(q.peek()) == ["old"]


# --- 3. x-death keeps original-expiration for every reason ----------------------------------------


@pytest.mark.parametrize("reason", ["rejected", "maxlen", "delivery_limit", "expired"])
def test_original_expiration_is_recorded_for_every_death_reason(reason):
    # [DEATH]: the per-message TTL is kept as original-expiration whatever the reason.
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock)
    q = Queue(
        "q",
        clock=clock,
        dead_letter=dlq,
        max_length=1 if reason == "maxlen" else None,
        max_receive_count=1 if reason == "delivery_limit" else None,
    )
    q.publish("m", ttl=60)
    if reason == "rejected":
        q.nack(q.receive()[0], requeue=False)
    elif reason == "maxlen":
        q.publish("n")
    elif reason == "delivery_limit":
        q.nack(q.receive()[0])
    else:
        clock.advance(60)
    [dead] = dlq.peek()
    assert dead.deaths[0]["reason"] == reason
    assert dead.deaths[0]["original-expiration"] == 60


def test_no_original_expiration_without_a_per_message_ttl():
    clock = VirtualClock()
    dlq = Queue("dlq", clock=clock)
    q = Queue("q", clock=clock, dead_letter=dlq, message_ttl=5)  # a queue TTL, not a message's
    q.publish("m")
    clock.advance(5)
    assert "original-expiration" not in dlq.peek()[0].deaths[0]


# --- 4. push dispatch: a freed consumer rejoins the back of the rotation --------------------------


def test_the_consumer_that_freed_up_first_is_served_first():
    # [CONSUMERS]: a, b, c all block with prefetch=1; c frees up first, so after the three
    # free up, c is first in line, then a, then b. A fixed rotation pointer would start at a.
    q = Queue("q")
    a, b, c = (q.consume(n, prefetch=1) for n in "abc")
    for i in range(4):
        q.publish(i)
    assert [payloads(x.take()) for x in (a, b, c)] == [[0], [1], [2]]  # 3 waits: all blocked
    c.ack(c.unacked[0])
    assert payloads(c.take()) == [3]
    c.ack(c.unacked[0])
    a.ack(a.unacked[0])
    b.ack(b.unacked[0])
    for i in range(4, 7):
        q.publish(i)
    assert [payloads(x.take()) for x in (c, a, b)] == [[4], [5], [6]]


def test_a_new_consumer_joins_the_back_of_the_rotation():
    q = Queue("q")
    a = q.consume("a")
    q.publish(0)
    b = q.consume("b")
    for i in range(1, 4):
        q.publish(i)
    assert (payloads(a.take()), payloads(b.take())) == ([0, 1, 3], [2])  # b after a


# --- 5. FIFO pull: one group's messages together ---------------------------------------------------


def test_fifo_receive_returns_one_groups_messages_together():
    # [FIFO]: messages of one group come together, sorted by time sent; then the next group.
    q = Queue("q.fifo", fifo=True, content_based_dedup=True)
    for p, g in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")):
        q.publish(p, group=g)
    assert payloads(q.receive(10)) == ["a1", "a2", "a3", "b1", "b2"]


def test_fifo_receive_fills_from_the_oldest_free_group():
    q = Queue("q.fifo", fifo=True, content_based_dedup=True)
    for p, g in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("b2", "b")):
        q.publish(p, group=g)
    assert payloads(q.receive(1)) == ["a1"]
    assert payloads(q.receive(3)) == ["b1", "b2", "c1"]  # group a is held back: a1 in flight
    assert q.receive(10) == []


# --- 6. SQS's send limits ---------------------------------------------------------------------------


def test_sqs_takes_bodies_up_to_one_mebibyte():
    # [QUOTAS]: the maximum message size is 1 MiB (1,048,576 bytes) since August 2025.
    q = Queue("q")
    assert SQS_MAX_MESSAGE_SIZE == 1_048_576
    q.publish(b"x" * SQS_MAX_MESSAGE_SIZE)
    with pytest.raises(OutOfRange, match="1,048,577 bytes: SQS takes at most 1,048,576"):
        q.publish(b"x" * (SQS_MAX_MESSAGE_SIZE + 1))
    with pytest.raises(OutOfRange, match="bytes"):
        q.publish("é" * (SQS_MAX_MESSAGE_SIZE // 2 + 1))  # counted in UTF-8 bytes
    assert q.stats()["enqueued"] == 1
    Queue("rabbit", queue_type="classic").publish(b"x" * (SQS_MAX_MESSAGE_SIZE + 1))


@pytest.mark.parametrize("bad", ["\x00", "a\x08b", "\ud800", "\ufffe"])
def test_sqs_refuses_characters_outside_the_allowed_set(bad):
    # [QUOTAS]: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
    q = Queue("q")
    with pytest.raises(InvalidArgument, match=r"character .* \(U\+"):
        q.publish(bad)
    assert q.stats()["enqueued"] == 0
    q.publish({"text": bad})  # JSON text escapes it (json.dumps writes ASCII): allowed


def test_sqs_takes_every_allowed_character():
    q = Queue("q")
    q.publish("\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff é€")
    q.publish(b"\x00\x01")  # bytes are not text: only their size is checked


@pytest.mark.parametrize(
    ("field", "value", "error", "match"),
    [
        ("group", "g" * 129, OutOfRange, "129 characters long: SQS allows at most 128"),
        ("group", "a b", InvalidArgument, "character ' '"),
        ("group", "é", InvalidArgument, "letters, digits and ASCII punctuation"),
        ("dedup_id", "d" * 129, OutOfRange, "MessageDeduplicationId"),
        ("dedup_id", "tab\t", InvalidArgument, "character"),
    ],
)
def test_sqs_group_and_dedup_ids(field, value, error, match):
    # [QUOTAS]: MessageGroupId and MessageDeduplicationId: up to 128 alphanumeric or
    # punctuation characters.
    q = Queue("q.fifo", fifo=True)
    kw = {"group": "g", "dedup_id": "d", field: value}
    with pytest.raises(error, match=match):
        q.publish("m", **kw)
    assert q.stats()["enqueued"] == 0
    q.publish("m", group="g" * 128, dedup_id="!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + "x" * 96)


# --- 7. RabbitMQ's basic.get --------------------------------------------------------------------------


def test_basic_get_holds_a_message_until_ack_with_no_visibility_timeout():
    # [CONFIRMS]: a basic.get delivery stays unacked until acked, nacked or its channel closes.
    for kind in ("classic", "quorum"):
        clock = VirtualClock()
        q = Queue("q", clock=clock, queue_type=kind)
        q.publish("m")
        [d] = q.receive()
        clock.advance(10 * 86400)
        assert q.receive() == [] and q.stats()["in_flight"] == 1
        with pytest.raises(InvalidArgument, match="RabbitMQ has no visibility timeout"):
            q.change_visibility(d, 5)
        with pytest.raises(InvalidArgument, match="basic.get has no visibility timeout"):
            q.receive(visibility_timeout=5)
        q.ack(d)
        assert q.stats()["acked"] == 1


def test_basic_get_on_a_channel_returns_its_messages_when_the_channel_closes():
    q = Queue("q", queue_type="classic")
    for p in "abc":
        q.publish(p)
    ch = q.consume("ch", prefetch=1)
    assert payloads(ch.take()) == ["a"]
    got = ch.get(2)  # basic.get ignores the prefetch limit
    assert payloads(got) == ["b", "c"] and all(d.consumer == "ch" for d in got)
    ch.ack(got[0])
    ch.close()
    assert payloads(q.peek()) == ["a", "c"]  # back at their original positions (classic)
    with pytest.raises(InvalidArgument, match="basic.get is RabbitMQ's"):
        Queue("s").consume("c").get()


# --- 8. SQS standard queues: best-effort order, at-least-once ------------------------------------------


def test_a_standard_queue_stays_in_order_by_default():
    q = Queue("q")
    for i in range(50):
        q.publish(i)
    got = []
    while len(q):
        got += payloads(q.receive(10))
    assert got == list(range(50))


def test_a_seeded_standard_queue_may_reorder_and_duplicate():
    # [STD]: a standard queue may deliver out of order, and more than one copy of a message.
    def run(seed):
        q = Queue("q", seed=seed)
        for i in range(200):
            q.publish(i)
        got = []
        while len(q):
            for d in q.receive(10):
                got.append(d.payload)
                q.ack(d)
        return got, q.stats()

    got, stats = run(7)
    assert got != sorted(got)  # reordered
    assert len(got) > 200 and sorted(set(got)) == list(range(200))  # duplicated, none lost
    assert stats["enqueued"] == len(got) and stats["acked"] == len(got)
    assert run(7) == (got, stats)  # seeded: the same run every time
    assert run(8)[0] != got
    with pytest.raises(InvalidArgument, match="seed on a FIFO queue"):
        Queue("f", fifo=True, seed=1)
    with pytest.raises(InvalidType, match="seed='1'"):
        Queue("q", seed="1")


# --- the on_discard hook -------------------------------------------------------------------------------


def test_on_discard_reports_every_message_the_queue_deletes_on_its_own():
    clock = VirtualClock()
    seen = []
    q = Queue(
        "q",
        clock=clock,
        retention=60,
        max_length=2,
        on_discard=lambda message, reason: seen.append((message.id, reason)),
    )
    q.publish("a", ttl=10)  # m1: expires (no dead-letter target)
    clock.advance(10)
    q.publish("b")  # m2
    q.publish("c")  # m3
    q.publish("d")  # m4: over max_length, m2 is dropped from the head
    [d] = q.receive()  # m3, in flight
    q.nack(d, requeue=False)  # rejected by a consumer: not reported
    q.publish("e")  # m5
    assert q.purge() == 2  # m4, m5
    q.publish("f")  # m6
    q.receive()  # in flight when retention ends: reported too
    clock.advance(60)
    assert len(q) == 0  # any call applies the time rules due by now
    assert seen == [
        ("m1", "expired"),
        ("m2", "maxlen"),
        ("m4", "purged"),
        ("m5", "purged"),
        ("m6", "retention"),
    ]


def test_on_discard_is_silent_when_a_dead_letter_target_takes_the_message():
    clock = VirtualClock()
    seen = []
    dlq = Queue("dlq", clock=clock)
    q = Queue(
        "q", clock=clock, dead_letter=dlq, max_length=1, on_discard=lambda m, r: seen.append(r)
    )
    q.publish("a", ttl=5)
    q.publish("b")  # a is dropped into the DLQ
    clock.advance(5)
    assert seen == [] and len(dlq) == 1
    with pytest.raises(InvalidType, match="on_discard=3 is not callable"):
        Queue("q", on_discard=3)


@settings(settings.default, max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ops=st.lists(st.sampled_from(["publish", "receive", "ack", "nack", "tick"]), max_size=60),
)
def test_a_best_effort_standard_queue_loses_nothing(seed, ops):
    # [STD]: reordering and extra copies, but at-least-once: every message is delivered.
    clock = VirtualClock()
    q = Queue("q", clock=clock, seed=seed, visibility_timeout=5)
    sent, held, done = [], [], set()
    for op in ops:
        if op == "publish":
            sent.append(q.publish(len(sent)).id)
        elif op == "receive":
            held += q.receive(3)
        elif op in ("ack", "nack") and held:
            d = held.pop(0)
            try:
                q.ack(d) if op == "ack" else q.nack(d)
            except ReceiptError:  # its visibility timeout ran out and someone received it again
                continue
            if op == "ack":
                done.add(d.id)
        elif op == "tick":
            clock.advance(5)
    clock.advance(5)
    while len(q):
        for d in q.receive(10):
            q.ack(d)
            done.add(d.id)
    assert done == set(sent)
    s = q.stats()
    assert s["enqueued"] == s["acked"] + s["in_flight"]


def test_quorum_requeue_position_depends_on_the_delivery_limit():
    # RabbitMQ 3.10 (rabbit_fifo), observed on a live broker in test_differential_queues.py:
    # with no delivery limit a nacked message is re-enqueued at the back; with a limit it goes
    # to the returns list, served before the rest. A classic queue keeps its original place.
    for kind, limit, expected in (
        ("quorum", None, ["c", "d", "b"]),
        ("quorum", 5, ["b", "c", "d"]),
        ("classic", None, ["b", "c", "d"]),
    ):
        q = Queue("q", queue_type=kind, delivery_limit=limit)
        for p in "abcd":
            q.publish(p)
        a, b = q.receive(2)
        q.ack(a)
        q.nack(b, requeue=True)
        assert payloads(q.peek()) == expected, (kind, limit)
