"""Pub/sub topics: every subscription gets every message; filters; fan-out all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.clock import VirtualClock
from brokerlab.errors import (
    AlreadyExists,
    FifoError,
    InvalidArgument,
    InvalidBinding,
    InvalidType,
    UnknownQueue,
)
from brokerlab.message import Message
from brokerlab.pubsub import Topic, copy_message, fan_out
from brokerlab.queue import Queue


def ids(queue: Queue) -> list[str]:
    return [m.id for m in queue.peek()]


def state(topic: Topic) -> tuple:
    return topic.stats(), {n: q.stats() for n, q in topic.subscriptions.items()}


def test_every_subscription_gets_every_message_with_the_same_id():
    t = Topic("orders")
    a, b, c = t.subscribe("billing"), t.subscribe("shipping"), t.subscribe("audit")
    m1 = t.publish({"order": 1})
    m2 = t.publish({"order": 2}, key="eu.created", headers={"region": "eu"})
    assert ids(a) == ids(b) == ids(c) == [m1.id, m2.id] == ["m1", "m2"]
    assert b.peek()[1].key == "eu.created" and b.peek()[1].headers == {"region": "eu"}
    assert t.stats() == {
        "published": 2,
        "delivered": 6,
        "filtered": 0,
        "unheard": 0,
        "subscriptions": 3,
    }


def test_queue_versus_pubsub_competing_consumers_inside_a_subscription():
    t = Topic("events")
    shared = t.subscribe("workers")  # two competing consumers: each message to ONE of them
    solo = t.subscribe("auditor")  # its own subscription: gets ALL messages
    w1, w2 = shared.consume("w1"), shared.consume("w2")
    auditor = solo.consume("a")
    for i in range(4):
        t.publish(i)
    got1, got2 = [d.payload for d in w1.take()], [d.payload for d in w2.take()]
    assert sorted(got1 + got2) == [0, 1, 2, 3] and not set(got1) & set(got2)
    assert got1 and got2  # round-robin shares the work
    assert [d.payload for d in auditor.take()] == [0, 1, 2, 3]


def test_copies_are_independent():
    t = Topic("t")
    a, b = t.subscribe("a"), t.subscribe("b")
    original = {"items": [1, 2]}
    t.publish(original, headers={"h": [1]})
    da = a.receive()[0]
    da.payload["items"].append(99)
    da.headers["h"].append(99)
    original["items"].append(7)
    mb = b.peek()[0]
    assert mb.payload == {"items": [1, 2]} and mb.headers == {"h": [1]}


def test_late_subscribers_miss_earlier_messages_and_no_subscribers_means_unheard():
    t = Topic("news")
    t.publish("nobody hears this")
    late = t.subscribe("late")
    t.publish("heard")
    assert [m.payload for m in late.peek()] == ["heard"]
    assert t.stats()["unheard"] == 1


def test_filters_use_headers_exchange_rules():
    t = Topic("orders")
    everything = t.subscribe("all")
    eu = t.subscribe("eu", filter={"region": "eu"})
    big_or_eu = t.subscribe("big-or-eu", filter={"x-match": "any", "region": "eu", "big": True})
    flagged = t.subscribe("flagged", filter={"flag": None})  # presence only
    t.publish(1, headers={"region": "eu"})
    t.publish(2, headers={"region": "us", "big": True})
    t.publish(3, headers={"region": "us", "flag": "x"})
    t.publish(4)
    assert [m.payload for m in everything.peek()] == [1, 2, 3, 4]
    assert [m.payload for m in eu.peek()] == [1]
    assert [m.payload for m in big_or_eu.peek()] == [1, 2]
    assert [m.payload for m in flagged.peek()] == [3]
    assert t.stats()["filtered"] == 16 - 8  # 4 messages x 4 subscriptions, 8 delivered
    assert t.filter_of("eu") == {"region": "eu"} and t.filter_of("all") is None


def test_bad_filter_is_refused_and_changes_nothing():
    t = Topic("t")
    with pytest.raises(InvalidBinding, match="any-with-x"):
        t.subscribe("s", filter={"x-match": "either", "a": 1})
    with pytest.raises(InvalidType):
        t.subscribe("s", filter=[("a", 1)])
    assert t.subscriptions == {}


def test_subscribe_twice_and_conflicts():
    t = Topic("t")
    q = t.subscribe("s", filter={"a": 1})
    assert t.subscribe("s", filter={"a": 1}) is q
    with pytest.raises(AlreadyExists, match="Unsubscribe it first"):
        t.subscribe("s")
    with pytest.raises(AlreadyExists):
        t.subscribe("s", filter={"a": 1}, visibility_timeout=5)
    assert t.subscriptions == {"s": q}


def test_subscribe_an_existing_queue_on_the_same_clock():
    clock = VirtualClock()
    t = Topic("t", clock=clock)
    q = Queue("mine", clock=clock)
    assert t.subscribe(q) is q and t.subscription("mine") is q
    with pytest.raises(InvalidArgument, match="another clock"):
        t.subscribe(Queue("other"))
    with pytest.raises(InvalidType, match="new queue"):
        t.subscribe(Queue("x", clock=clock), visibility_timeout=5)
    with pytest.raises(InvalidType):
        t.subscribe("y", clock=clock)
    assert list(t.subscriptions) == ["mine"]


def test_subscription_queues_take_queue_settings_and_share_the_clock():
    t = Topic("t")
    q = t.subscribe("slow", visibility_timeout=60, message_ttl=10)
    assert q.clock is t.clock and q.visibility_timeout == 60
    t.publish("x")
    t.clock.advance(11)
    assert len(q) == 0 and q.stats()["dead_letter_reasons"]["expired"] == 1


def test_unsubscribe():
    t = Topic("t")
    q = t.subscribe("s")
    t.publish(1)
    assert t.unsubscribe("s") is q and len(q) == 1  # keeps what it had
    t.publish(2)
    assert len(q) == 1
    with pytest.raises(UnknownQueue, match=r"subscriptions: none.*topic.subscribe\('s'\)"):
        t.unsubscribe("s")
    with pytest.raises(UnknownQueue):
        t.subscription(["s"])


def test_fifo_subscription_needs_a_group_and_a_refusal_changes_nothing():
    t = Topic("t")
    plain = t.subscribe("plain")
    fifo = t.subscribe("ordered", fifo=True, content_based_dedup=True)
    before = state(t)
    with pytest.raises(FifoError, match="group"):
        t.publish("x")
    assert state(t) == before and len(plain) == 0
    t.publish("x", group="g1")
    t.publish("x", group="g1")  # content-based duplicate: the FIFO queue drops it
    assert len(plain) == 2 and len(fifo) == 1


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"payload": object()}, InvalidType),
        ({"payload": 1, "key": 5}, InvalidType),
        ({"payload": 1, "headers": ["a"]}, InvalidType),
        ({"payload": 1, "id": ""}, InvalidType),
        ({"payload": 1, "id": 7}, InvalidType),
    ],
)
def test_bad_publish_changes_nothing(kwargs, error):
    t = Topic("t")
    t.subscribe("s")
    before = state(t)
    with pytest.raises(error):
        t.publish(**kwargs)
    assert state(t) == before
    assert t.publish("ok").id == "m1"  # no id was used up by the refused call


def test_names_ids_and_repr():
    with pytest.raises(InvalidType):
        Topic("")
    counter = iter(range(100, 200))
    t = Topic("t", next_id=lambda: f"x{next(counter)}")
    assert t.publish(1).id == "x100" and t.publish(2, id="mine").id == "mine"
    t.subscribe("a")
    t.subscribe("b", filter={"k": "v"})
    assert repr(t) == "Topic('t': 2 subscriptions: a, b (filter {'k': 'v'}))"
    assert repr(Topic("e")) == "Topic('e': 0 subscriptions)"


def test_fan_out_and_copy_message_helpers():
    m = Message("m9", {"a": [1]}, "k", {"h": {"x": 1}}, 3.0, "g", "d")
    c = copy_message(m)
    assert c == m and c.payload is not m.payload and c.headers["h"] is not m.headers["h"]
    qs = [Queue("a"), Queue("b")]
    assert fan_out(Message("m1", "p"), qs, ttl=5) == ["a", "b"]
    assert [ids(q) for q in qs] == [["m1"], ["m1"]]
    with pytest.raises(InvalidArgument):
        fan_out(Message("m2", "p"), qs, delay=-1)
    assert [len(q) for q in qs] == [1, 1]


def test_copies_name_the_exchange_or_topic_they_came_through():
    qs = [Queue("a"), Queue("b")]
    fan_out(Message("m1", "p"), qs, exchange="events")
    assert [q.receive()[0].exchange for q in qs] == ["events", "events"]
    fan_out(Message("m2", "p"), qs)
    assert [q.receive()[0].exchange for q in qs] == ["", ""]  # the default exchange
    dlq = Queue("billing.dlq")
    t = Topic("orders", clock=dlq.clock)
    billing = t.subscribe("billing", dead_letter=dlq)
    t.publish({"order": 1})
    [d] = billing.receive()
    assert d.exchange == "orders"  # the topic plays the fanout exchange
    billing.nack(d, requeue=False)
    assert dlq.peek()[0].deaths[0]["exchange"] == "orders"


@pytest.mark.parametrize("exchange", [None, 5, "x" * 256], ids=["None", "int", "256-bytes"])
def test_fan_out_refuses_a_bad_exchange_and_changes_nothing(exchange):
    qs = [Queue("a"), Queue("b")]
    before = [q.stats() for q in qs]
    with pytest.raises(
        InvalidArgument if isinstance(exchange, str) else InvalidType, match="exchange"
    ):
        fan_out(Message("m1", "p"), qs, exchange=exchange)
    assert [q.stats() for q in qs] == before


@given(
    st.lists(
        st.dictionaries(st.sampled_from("ab"), st.sampled_from([1, 2]), max_size=2), max_size=4
    ),
    st.lists(
        st.dictionaries(st.sampled_from("ab"), st.sampled_from([1, 2]), max_size=2), max_size=6
    ),
)
def test_each_subscription_gets_exactly_the_messages_its_filter_matches(filters, messages):
    from brokerlab.routing import headers_match

    t = Topic("t")
    subs = [t.subscribe(f"s{i}", filter=f or None) for i, f in enumerate(filters)]
    sent = [t.publish(i, headers=h) for i, h in enumerate(messages)]
    for f, q in zip(filters, subs, strict=True):
        assert ids(q) == [
            m.id for m, h in zip(sent, messages, strict=True) if not f or headers_match(f, h)
        ]
