"""The broker: declare, bind, publish, unroutable, DLX, bad input, graph, and RabbitMQ's scenarios."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.broker import Broker, DeadLetterExchange, Returned, Routed
from brokerlab.clock import VirtualClock
from brokerlab.errors import (
    AccessRefused,
    AlreadyExists,
    DeadLetterConfigError,
    FifoError,
    InvalidArgument,
    InvalidBinding,
    InvalidType,
    RoutingError,
    UnknownExchange,
    UnknownQueue,
    UnknownTopic,
    Unroutable,
)
from brokerlab.exchange import TopicExchange
from brokerlab.routing import topic_matches

SCENARIOS = json.loads(
    (Path(__file__).parent / "data" / "rabbitmq_exchange_scenarios.json").read_text()
)["scenarios"]


def ids(queue) -> list[str]:
    return [m.id for m in queue.peek()]


def snapshot(b: Broker) -> tuple:
    """Everything a refused call must leave alone."""
    return (
        b.stats(),
        {n: q.stats() for n, q in b.queues.items()},
        {n: (x.bindings, x.stats()) for n, x in b.exchanges.items()},
        list(b.returned),
        {n: t.stats() for n, t in b.topics.items()},
    )


# --- RabbitMQ's scenarios, end to end through real queues ------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_rabbitmq_scenario_through_the_broker(scenario):
    b = Broker()
    spec = scenario["exchange"]
    if spec["name"] in b.exchanges:
        assert b.exchange(spec["name"]).type == spec["type"]
    else:
        b.declare_exchange(spec["name"], spec["type"])
    expected: dict[str, list[str]] = {}
    for step in scenario["steps"]:
        if step["op"] != "route":
            b.declare_queue(step["queue"])
            expected.setdefault(step["queue"], [])
    for step in scenario["steps"]:
        if step["op"] == "bind":
            b.bind(step["queue"], spec["name"], step["key"], step.get("arguments"))
        elif step["op"] == "unbind":
            b.unbind(step["queue"], spec["name"], step["key"], step.get("arguments"))
        else:
            routed = b.publish(spec["name"], step["key"], "payload", headers=step.get("headers"))
            assert sorted(routed) == step["expect"]
            for q in step["expect"]:
                expected[q].append(routed.message.id)
    for name, want in expected.items():
        assert ids(b.queue(name)) == want, name


def test_routing_suite_last_phase_deleting_the_exchange():
    # routing_SUITE topic1 ends by deleting the exchange: nothing matches any more.
    b = Broker()
    x = b.declare_exchange("topic_matching-exchange", "topic")
    b.declare_queue("t5")
    b.bind("t5", "topic_matching-exchange", "#")
    assert b.delete_exchange("topic_matching-exchange") is True
    assert x.route("a.b.c") == [] and x.route("") == []
    with pytest.raises(UnknownExchange, match="404 NOT_FOUND"):
        b.publish("topic_matching-exchange", "a.b.c", "x")
    assert b.delete_exchange("topic_matching-exchange") is False  # idempotent


# --- declaring ---------------------------------------------------------------------------------------


def test_declare_queue_is_an_assertion():
    b = Broker()
    q = b.declare_queue("jobs", visibility_timeout=60)
    assert b.declare_queue("jobs", visibility_timeout=60) is q
    assert b.declare_queue("plain") is b.declare_queue(
        "plain", visibility_timeout=30
    )  # the default
    before = snapshot(b)
    with pytest.raises(
        AlreadyExists, match=r"visibility_timeout=10 \(declared with 60\).*406 PRECONDITION_FAILED"
    ):
        b.declare_queue("jobs", visibility_timeout=10)
    with pytest.raises(AlreadyExists):
        b.declare_queue("jobs")
    assert snapshot(b) == before and b.queue("jobs").visibility_timeout == 60


def test_queues_share_the_broker_clock():
    clock = VirtualClock()
    b = Broker(clock)
    assert b.declare_queue("a").clock is clock and b.declare_topic("t").clock is clock
    with pytest.raises(InvalidArgument, match="clock"):
        b.declare_queue("b", clock=VirtualClock())
    with pytest.raises(InvalidType):
        Broker(clock="now")


def test_server_named_and_reserved_queue_names():
    b = Broker()
    assert [b.declare_queue("").name for _ in range(2)] == ["amq.gen-1", "amq.gen-2"]
    with pytest.raises(AccessRefused, match="reserved prefix 'amq.'"):
        b.declare_queue("amq.mine")
    with pytest.raises(InvalidType):
        b.declare_queue(None)
    with pytest.raises(InvalidArgument, match="255"):
        b.declare_queue("q" * 256)


def test_declare_queue_refuses_unknown_settings_and_bad_values_without_changing_anything():
    b = Broker()
    before = snapshot(b)
    with pytest.raises(InvalidArgument, match="colour is not a queue setting"):
        b.declare_queue("q", colour="red")
    with pytest.raises(InvalidArgument, match="visibility_timeout=-1"):
        b.declare_queue("q", visibility_timeout=-1)
    with pytest.raises(UnknownQueue, match="declare_queue"):
        b.declare_queue("q", dead_letter="nope")
    assert snapshot(b) == before and b.queues == {}


def test_exchanges_predeclared_declared_and_refused():
    b = Broker()
    assert {n: x.type for n, x in b.exchanges.items()} == {
        "": "direct",
        "amq.direct": "direct",
        "amq.fanout": "fanout",
        "amq.topic": "topic",
        "amq.headers": "headers",
        "amq.match": "headers",
    }
    x = b.declare_exchange("logs", "topic")
    assert b.declare_exchange("logs", "topic") is x
    assert b.declare_exchange("amq.topic", "topic") is b.exchange("amq.topic")
    assert b.declare_exchange("plain").type == "direct"
    before = snapshot(b)
    with pytest.raises(AlreadyExists, match="inequivalent arg 'type'"):
        b.declare_exchange("logs", "fanout")
    with pytest.raises(AccessRefused):
        b.declare_exchange("", "direct")
    with pytest.raises(AccessRefused, match="amq."):
        b.declare_exchange("amq.mine", "topic")
    with pytest.raises(InvalidArgument, match="'direct', 'fanout', 'topic', 'headers'"):
        b.declare_exchange("new", "x-delayed-message")
    with pytest.raises(AccessRefused):
        b.delete_exchange("amq.topic")
    assert snapshot(b) == before


def test_lookups_say_what_exists_and_how_to_declare():
    b = Broker()
    b.declare_queue("jobs")
    with pytest.raises(UnknownQueue, match=r"queues: 'jobs'.*declare_queue\('jbos'\)"):
        b.queue("jbos")
    with pytest.raises(UnknownExchange, match=r"'amq.topic'.*declare_exchange\('logs'"):
        b.exchange("logs")
    with pytest.raises(UnknownTopic, match=r"none yet.*declare_topic\('news'\)"):
        b.topic("news")
    with pytest.raises(UnknownQueue):
        b.queue(["jobs"])


# --- binding -----------------------------------------------------------------------------------------


def test_bind_needs_both_ends_and_unbind_never_fails():
    b = Broker()
    b.declare_queue("q")
    b.declare_exchange("x", "direct")
    before = snapshot(b)
    with pytest.raises(UnknownQueue):
        b.bind("nope", "x", "k")
    with pytest.raises(UnknownExchange):
        b.bind("q", "nope", "k")
    with pytest.raises(AccessRefused, match="default exchange"):
        b.bind("q", "", "other")
    with pytest.raises(InvalidType):
        b.bind("q", "x", 5)
    assert snapshot(b) == before
    binding = b.bind(b.queue("q"), "x", "k")
    assert binding.queue == "q" and b.exchange("x").bindings == [binding]
    assert b.unbind("q", "x", "k") is True
    assert b.unbind("q", "x", "k") is False
    assert b.unbind("nope", "x", "k") is False and b.unbind("q", "nope", "k") is False
    with pytest.raises(InvalidType):
        b.unbind("q", "x", None)


def test_headers_binding_with_bad_x_match_is_refused():
    b = Broker()
    b.declare_queue("q")
    before = snapshot(b)
    with pytest.raises(InvalidBinding, match="all-with-x"):
        b.bind("q", "amq.headers", arguments={"x-match": "one"})
    assert snapshot(b) == before


def test_delete_queue_removes_its_bindings():
    b = Broker()
    b.declare_queue("q")
    b.declare_queue("r")
    b.bind("q", "amq.fanout")
    b.bind("r", "amq.fanout")
    assert b.delete_queue("q") is True and b.delete_queue("q") is False
    assert [x.queue for x in b.exchange("amq.fanout").bindings] == ["r"]
    assert b.publish("amq.fanout", "", "x") == ["r"]
    assert b.publish("", "q", "x") == []  # the default exchange forgot it too


# --- publishing ----------------------------------------------------------------------------------------


def test_default_exchange_delivers_by_queue_name():
    b = Broker()
    q = b.declare_queue("jobs")
    assert b.publish("", "jobs", {"n": 1}) == ["jobs"]
    assert q.peek()[0].key == "jobs" and q.peek()[0].id == "m1"


def test_each_queue_gets_its_own_copy_with_the_same_id():
    b = Broker()
    a, c = b.declare_queue("a"), b.declare_queue("c")
    b.bind("a", "amq.fanout")
    b.bind("c", "amq.fanout")
    payload = {"items": [1]}
    routed = b.publish("amq.fanout", "", payload, headers={"h": [1]})
    assert routed == ["a", "c"] and routed.queues == ["a", "c"]
    da = a.receive()[0]
    da.payload["items"].append(2)
    da.headers["h"].append(2)
    payload["items"].append(3)
    mc = c.peek()[0]
    assert mc.id == da.id == routed.message.id == "m1"
    assert mc.payload == {"items": [1]} and mc.headers == {"h": [1]}


def test_ids_are_per_broker_and_shared_with_topics():
    b1, b = Broker(), Broker()
    b1.declare_queue("q")
    t = b1.declare_topic("news")
    t.subscribe("s")
    assert b1.publish("", "q", 1).message.id == "m1"
    assert t.publish(2).id == "m2"
    assert b1.publish("", "q", 3, id="custom").message.id == "custom"
    assert b1.publish("", "q", 4).message.id == "m3"
    assert b.publish("", "nobody", 1).message.id == "m1"
    assert b1.declare_topic("news") is t and b1.topic("news") is t


def test_unroutable_dropped_or_returned():
    b = Broker()
    b.declare_exchange("x", "direct")
    dropped = b.publish("x", "nowhere", "a")
    returned = b.publish("x", "nowhere", "b", mandatory=True)
    assert dropped == [] and not dropped.returned and returned == [] and returned.returned
    assert (
        repr(dropped) == "Routed('m1' via 'x' with key 'nowhere' -> nobody: dropped (unroutable))"
    )
    assert b.returned == [Returned(returned.message, "312 NO_ROUTE")]
    message, reason = b.returned[0]
    assert message.payload == "b" and reason == "312 NO_ROUTE"
    s = b.stats()
    assert (s["published"], s["routed"], s["unroutable_dropped"], s["unroutable_returned"]) == (
        2,
        0,
        1,
        1,
    )
    assert b.exchange("x").stats() == {"published": 2, "routed": 0, "unroutable": 2, "bindings": 0}
    b.declare_queue("q")
    b.bind("q", "x", "somewhere")
    assert b.publish("x", "somewhere", "c", mandatory=True) == ["q"] and len(b.returned) == 1


# --- publisher confirms: Unroutable ---------------------------------------------------------------


def confirming_broker() -> Broker:
    b = Broker()
    b.confirm_delivery()
    b.declare_exchange("orders", "topic")
    b.declare_queue("eu")
    b.bind("eu", "orders", "eu.#")
    b.publish("orders", "eu.created", "first")  # something in a queue, to see it is left alone
    return b


def test_confirm_mode_is_off_by_default_and_cannot_be_turned_off():
    b = Broker()
    assert b.confirms is False
    b.publish("", "nowhere", "x", mandatory=True)  # no confirms: returned, no error
    b.confirm_delivery()
    b.confirm_delivery()  # again: nothing changes (pika logs an error and carries on)
    assert b.confirms is True


def test_confirmed_mandatory_publish_to_no_queue_raises_unroutable_and_loses_nothing():
    b = confirming_broker()
    before = snapshot(b)
    with pytest.raises(Unroutable) as info:
        b.publish("orders", "us.created", {"order": 2}, mandatory=True)
    err = info.value
    assert isinstance(err, RoutingError)
    text = str(err)
    assert "exchange 'orders'" in text and "routing key 'us.created'" in text
    assert "312 NO_ROUTE" in text and "broker.returned" in text and "UnroutableError" in text
    assert "bind a queue to 'orders' with a key that matches 'us.created'" in text
    assert "alternate exchange" in text and "mandatory=False" in text
    # The message came back (pika: UnroutableError.messages) and is also in broker.returned.
    [returned] = err.messages
    assert returned.reason == "312 NO_ROUTE" and returned.message.payload == {"order": 2}
    assert (returned.message.id, returned.message.key) == ("m2", "us.created")
    assert b.returned == before[3] + [returned]
    # Only what RabbitMQ also counts changed: the publish and its return.
    after = snapshot(b)
    assert after[1] == before[1]  # no queue changed
    assert {n: x[0] for n, x in after[2].items()} == {n: x[0] for n, x in before[2].items()}
    counts = {k: after[0][k] - before[0][k] for k in after[0]}
    assert {k: v for k, v in counts.items() if v} == {"published": 1, "unroutable_returned": 1}
    assert b.exchange("orders").stats() == {
        "published": 2,
        "routed": 1,
        "unroutable": 1,
        "bindings": 1,
    }


def test_confirm_mode_does_not_raise_for_routed_or_non_mandatory_messages():
    b = confirming_broker()
    assert b.publish("orders", "eu.paid", "x", mandatory=True) == ["eu"]
    dropped = b.publish("orders", "us.paid", "y")  # not mandatory: confirmed and dropped
    assert dropped == [] and not dropped.returned and b.returned == []
    assert b.stats()["unroutable_dropped"] == 1


@pytest.mark.parametrize(
    ("exchange", "kind", "fix"),
    [
        ("", None, "declare a queue named 'jobs'"),
        ("fan", "fanout", "bind a queue to 'fan'"),
        ("h", "headers", "bind a queue to 'h' with arguments that match the message's headers"),
        ("d", "direct", "bind a queue to 'd' with a key that matches 'jobs'"),
    ],
)
def test_unroutable_says_how_to_fix_it_for_each_exchange_type(exchange, kind, fix):
    b = Broker()
    b.confirm_delivery()
    if kind is not None:
        b.declare_exchange(exchange, kind)
    with pytest.raises(Unroutable, match=re.escape(fix)):
        b.publish(exchange, "jobs", "x", mandatory=True)
    assert len(b.returned) == 1


def test_bad_publish_in_confirm_mode_raises_its_own_error_and_changes_nothing():
    b = confirming_broker()
    before = snapshot(b)
    with pytest.raises(InvalidType, match="mandatory='yes'"):
        b.publish("orders", "us.created", "x", mandatory="yes")
    with pytest.raises(UnknownExchange):
        b.publish("nope", "us.created", "x", mandatory=True)
    assert snapshot(b) == before


# --- the exchange each queue copy came through ---------------------------------------------------


def test_deliveries_and_deaths_name_the_exchange_the_message_came_through():
    b, work, dead = make_dlx_broker()
    b.publish("jobs", "resize", {"img": 1})
    [d] = work.receive()
    assert (d.exchange, d.key) == ("jobs", "resize")  # basic.deliver's exchange and routing key
    work.nack(d, requeue=False)
    [m] = dead.peek()
    assert (m.deaths[0]["exchange"], m.deaths[0]["routing-keys"]) == ("jobs", ["resize"])
    assert m.headers["x-first-death-exchange"] == m.headers["x-last-death-exchange"] == "jobs"
    [again] = dead.receive()
    assert (again.exchange, again.key) == ("dlx", "resize")  # it came through the DLX


def test_the_next_death_records_the_dlx_and_its_routing_key():
    # RabbitMQ's rabbit_dead_letter:publish sets the message's exchange to the DLX and its
    # routing keys to the dead-letter routing key before routing it, so a second death
    # records those (docs/dlx: "this will be a dead letter exchange if the message is dead
    # lettered multiple times").
    b = Broker()
    b.declare_exchange("jobs", "direct")
    b.declare_exchange("dlx", "direct")
    work = b.declare_queue("work", dead_letter_exchange="dlx", dead_letter_routing_key="parked")
    b.declare_queue(
        "parked", message_ttl=10, dead_letter_exchange="", dead_letter_routing_key="graveyard"
    )
    b.declare_queue("graveyard")
    b.bind("work", "jobs", "resize")
    b.bind("parked", "dlx", "parked")
    b.publish("jobs", "resize", "x")
    work.reject(work.receive()[0], requeue=False)
    b.clock.advance(10)
    [m] = b.queue("graveyard").peek()
    assert [(d["queue"], d["reason"], d["exchange"], d["routing-keys"]) for d in m.deaths] == [
        ("parked", "expired", "dlx", ["parked"]),
        ("work", "rejected", "jobs", ["resize"]),
    ]
    assert m.headers["x-first-death-exchange"] == "jobs"
    assert m.headers["x-last-death-exchange"] == "dlx"
    [d] = b.queue("graveyard").receive()
    assert (d.exchange, d.key) == ("", "graveyard")


def test_message_options_reach_the_queues():
    b = Broker()
    q = b.declare_queue("q")
    b.publish("", "q", "short-lived", ttl=5)
    b.publish("", "q", "later", delay=10)
    assert [m.payload for m in q.peek()] == ["short-lived"]
    b.clock.advance(6)
    assert q.peek() == [] and q.stats()["dead_letter_reasons"]["expired"] == 1
    b.clock.advance(5)
    assert [m.payload for m in q.peek()] == ["later"]


def test_fifo_queue_behind_an_exchange():
    b = Broker()
    plain = b.declare_queue("plain")
    fifo = b.declare_queue("ordered", fifo=True)
    for name in ("plain", "ordered"):
        b.bind(name, "amq.fanout")
    before = snapshot(b)
    with pytest.raises(FifoError, match="group"):
        b.publish("amq.fanout", "", "x")  # the FIFO queue would refuse it: nobody gets it
    with pytest.raises(FifoError, match="delay"):
        b.publish("amq.fanout", "", "x", group="g", dedup_id="d", delay=5)
    assert snapshot(b) == before
    b.publish("amq.fanout", "", "x", group="g", dedup_id="d1")
    b.publish("amq.fanout", "", "x", group="g", dedup_id="d1")  # duplicate for the FIFO queue
    assert len(plain) == 2 and len(fifo) == 1


@pytest.mark.parametrize(
    "args, kwargs, error",
    [
        (("missing", "k", "p"), {}, UnknownExchange),
        (("x", None, "p"), {}, InvalidType),
        (("x", b"k", "p"), {}, InvalidType),
        (("x", "k" * 256, "p"), {}, InvalidArgument),
        (("x", "k", object()), {}, InvalidType),
        (("x", "k", {1, 2}), {}, InvalidType),
        (("x", "k", "p"), {"headers": ["h"]}, InvalidType),
        (("x", "k", "p"), {"headers": {1: "h"}}, InvalidType),
        (("x", "k", "p"), {"mandatory": "yes"}, InvalidType),
        (("x", "k", "p"), {"id": 5}, InvalidType),
        (("x", "k", "p"), {"ttl": -1}, InvalidArgument),
        (("x", "k", "p"), {"delay": 901}, InvalidArgument),
        (("x", "k", "p"), {"delay": "soon"}, InvalidType),
    ],
)
def test_a_refused_publish_changes_nothing(args, kwargs, error):
    b = Broker()
    b.declare_queue("q")
    b.declare_exchange("x", "topic")
    b.bind("q", "x", "#")
    before = snapshot(b)
    with pytest.raises(error) as err:
        b.publish(*args, **kwargs)
    assert str(err.value)  # says what is wrong
    assert snapshot(b) == before
    assert b.publish("x", "k", "ok").message.id == "m1"  # no id was used up


# --- dead-letter exchanges -----------------------------------------------------------------------------


def make_dlx_broker(**queue_kwargs):
    b = Broker()
    b.declare_exchange("dlx", "topic")
    dead = b.declare_queue("dead")
    b.bind("dead", "dlx", "#")
    work = b.declare_queue("work", dead_letter_exchange="dlx", **queue_kwargs)
    b.declare_exchange("jobs", "direct")
    b.bind("work", "jobs", "resize")
    return b, work, dead


def test_rejected_message_goes_through_the_dlx_with_its_original_key():
    b, work, dead = make_dlx_broker()
    b.publish("jobs", "resize", {"img": 1})
    work.nack(work.receive()[0], requeue=False)
    [m] = dead.peek()
    assert m.id == "m1" and m.key == "resize"
    assert m.deaths[0]["queue"] == "work" and m.deaths[0]["reason"] == "rejected"
    assert m.headers["x-first-death-reason"] == "rejected"
    assert b.stats()["dead_letters_routed"] == 1 and isinstance(
        work.dead_letter, DeadLetterExchange
    )
    assert repr(work) == "Queue('work': 0 ready, 0 in flight, dlq='dlx')"


def test_dead_letter_routing_key_overrides_the_key():
    b = Broker()
    b.declare_exchange("dlx", "direct")
    b.declare_queue("by-key")
    b.bind("by-key", "dlx", "failed")
    work = b.declare_queue("work", dead_letter_exchange="dlx", dead_letter_routing_key="failed")
    b.publish("", "work", "x")
    work.nack(work.receive()[0], requeue=False)
    assert [m.key for m in b.queue("by-key").peek()] == ["failed"]


def test_dlx_through_the_default_exchange_and_ttl_expiry():
    b = Broker()
    dlq = b.declare_queue("work.dlq")
    work = b.declare_queue(
        "work", message_ttl=10, dead_letter_exchange="", dead_letter_routing_key="work.dlq"
    )
    b.publish("", "work", "x", ttl=3)
    b.clock.advance(4)
    assert dlq.peek() == []  # lazy time: nothing has asked 'work' to expire its message yet
    [m] = b.queue("work.dlq").peek()  # a broker call catches every queue up first
    assert m.deaths[0]["reason"] == "expired" and len(work) == 0
    b.clock.advance(100)  # the per-message TTL does not follow the dead letter
    b.catch_up()
    assert len(dlq) == 1


def test_maxlen_overflow_dead_letters_the_head():
    b, work, dead = make_dlx_broker(max_length=2)
    for i in range(3):
        b.publish("jobs", "resize", i)
    assert [m.payload for m in work.peek()] == [1, 2]
    assert [(m.payload, m.deaths[0]["reason"]) for m in dead.peek()] == [(0, "maxlen")]


def test_missing_or_unroutable_dlx_drops_the_message():
    b = Broker()
    work = b.declare_queue("work", dead_letter_exchange="not-yet")  # fine: need not exist yet
    b.publish("", "work", "x")
    work.nack(work.receive()[0], requeue=False)
    assert b.stats()["dead_letters_dropped"] == 1
    b.declare_exchange("not-yet", "direct")  # exists now, but routes nowhere
    b.publish("", "work", "y")
    work.nack(work.receive()[0], requeue=False)
    assert b.stats()["dead_letters_dropped"] == 2 and b.stats()["dead_letters_routed"] == 0


def test_automatic_dead_letter_cycles_are_dropped_but_rejections_may_loop():
    b = Broker()
    loop = b.declare_queue("loop", message_ttl=1, dead_letter_exchange="")
    b.publish("", "loop", "x")
    b.clock.advance(2)
    assert len(loop) == 0
    assert b.stats()["dead_letter_cycles"] == 1 and b.stats()["dead_letters_dropped"] == 1
    # A rejected message may come back to the same queue: a consumer chose to reject it.
    retry = b.declare_queue("retry", dead_letter_exchange="")
    b.publish("", "retry", "y")
    for n in (1, 2):
        retry.nack(retry.receive()[0], requeue=False)
        [m] = retry.peek()
        assert m.deaths[0]["count"] == n and m.deaths[0]["reason"] == "rejected"


def test_retry_with_delay_through_two_queues_is_not_a_cycle():
    # work --rejected--> wait (TTL 5 s) --expired--> work: the cycle contains a rejection.
    b = Broker()
    b.declare_exchange("retry", "fanout")
    b.declare_exchange("back", "fanout")
    work = b.declare_queue("work", dead_letter_exchange="retry")
    b.declare_queue("wait", message_ttl=5, dead_letter_exchange="back")
    b.bind("wait", "retry")
    b.bind("work", "back")
    b.publish("", "work", "job")
    work.nack(work.receive()[0], requeue=False)
    b.clock.advance(5)
    [m] = b.queue("work").peek()
    assert [(d["queue"], d["reason"], d["exchange"]) for d in m.deaths] == [
        ("wait", "expired", "retry"),  # it came into 'wait' through the DLX 'retry'
        ("work", "rejected", ""),  # and into 'work' through the default exchange
    ]
    assert b.stats()["dead_letter_cycles"] == 0
    # Round two: the repeat of (work, rejected) only counts up and keeps the exchange of its
    # first death (RabbitMQ's mc:record_death), while x-last-death-exchange names this one's.
    [d] = b.queue("work").receive()
    assert d.exchange == "back"
    work.nack(d, requeue=False)
    [m] = b.queue("wait").peek()
    assert [(x["queue"], x["reason"], x["count"], x["exchange"]) for x in m.deaths] == [
        ("work", "rejected", 2, ""),
        ("wait", "expired", 1, "retry"),
    ]
    assert m.headers["x-first-death-exchange"] == ""
    assert m.headers["x-last-death-exchange"] == "back"


def test_route_dead_letters_by_reason_with_any_with_x():
    # The use case behind any-with-x (rabbitmq-server PR 4143): route on x-first-death-reason.
    b = Broker()
    b.declare_exchange("dlx", "headers")
    expired, rejected, plain_any = (
        b.declare_queue("expired"),
        b.declare_queue("rejected"),
        b.declare_queue("plain-any"),
    )
    b.bind("expired", "dlx", arguments={"x-match": "any-with-x", "x-first-death-reason": "expired"})
    b.bind(
        "rejected", "dlx", arguments={"x-match": "any-with-x", "x-first-death-reason": "rejected"}
    )
    b.bind("plain-any", "dlx", arguments={"x-match": "any", "x-first-death-reason": "expired"})
    work = b.declare_queue("work", dead_letter_exchange="dlx")
    b.publish("", "work", "old", ttl=1)
    b.publish("", "work", "bad")
    b.clock.advance(2)
    work.nack(work.receive()[0], requeue=False)
    assert [m.payload for m in expired.peek()] == ["old"]
    assert [m.payload for m in rejected.peek()] == ["bad"]
    assert plain_any.peek() == []  # plain 'any' ignores x- arguments: nothing to match


def test_dead_letter_settings_are_checked():
    b = Broker()
    b.declare_queue("dlq")
    before = snapshot(b)
    with pytest.raises(DeadLetterConfigError, match="routing_key_but_no_dlx_defined"):
        b.declare_queue("q", dead_letter_routing_key="k")
    with pytest.raises(DeadLetterConfigError, match="one dead-letter target"):
        b.declare_queue("q", dead_letter="dlq", dead_letter_exchange="dlx")
    with pytest.raises(InvalidType):
        b.declare_queue("q", dead_letter_exchange=5)
    from brokerlab.queue import Queue

    with pytest.raises(DeadLetterConfigError, match="not a queue of this broker"):
        b.declare_queue("q", dead_letter=Queue("dlq", clock=b.clock))
    assert snapshot(b) == before
    q = b.declare_queue("q", dead_letter="dlq", max_receive_count=1)  # SQS-style DLQ by name
    assert q.dead_letter is b.queue("dlq")
    b.publish("", "q", "x")
    q.nack(q.receive()[0])
    assert len(b.queue("dlq")) == 1


# --- picture and display -----------------------------------------------------------------------------


def test_graph_of_the_setup():
    b = Broker()
    b.declare_exchange("animals", "topic")
    b.declare_exchange("h", "headers")
    b.declare_exchange("dlx", "fanout")
    q1 = b.declare_queue("Q1", dead_letter_exchange="dlx")
    b.declare_queue("Q2")
    b.declare_queue("dead")
    b.bind("Q1", "animals", "*.orange.*")
    b.bind("Q2", "animals", "*.*.rabbit")
    b.bind("Q2", "animals", "lazy.#")
    b.bind("Q2", "h", arguments={"x-match": "any", "format": "pdf"})
    b.bind("dead", "dlx")
    q1.consume("worker", prefetch=5)
    t = b.declare_topic("orders")
    t.subscribe("billing")
    t.subscribe("eu", filter={"region": "eu"})
    t.subscribe(b.queue("dead"))
    g = b.graph()
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    assert kinds == {
        "queue:Q1": "queue",
        "queue:Q2": "queue",
        "queue:dead": "queue",
        "consumer:Q1/worker": "consumer",
        "exchange:animals": "exchange",
        "exchange:h": "exchange",
        "exchange:dlx": "exchange",
        "topic:orders": "topic",
        "subscription:orders/billing": "subscription",
        "subscription:orders/eu": "subscription",
    }
    assert all("label" in d for _, d in g.nodes(data=True))
    assert g.nodes["exchange:animals"]["type"] == "topic"
    assert g.edges["exchange:animals", "queue:Q2"]["label"] == "*.*.rabbit | lazy.#"
    assert g.edges["exchange:h", "queue:Q2"]["label"] == "x-match=any, format=pdf"
    assert g.edges["exchange:dlx", "queue:dead"]["label"] == ""
    assert g.edges["queue:Q1", "exchange:dlx"]["kind"] == "dead_letter"
    assert g.edges["queue:Q1", "consumer:Q1/worker"]["label"] == "prefetch=5"
    assert g.edges["topic:orders", "subscription:orders/eu"]["label"] == "region=eu"
    assert g.edges["topic:orders", "queue:dead"]["kind"] == "subscription"
    assert all("label" in d and "kind" in d for *_, d in g.edges(data=True))
    full = b.graph(include_defaults=True)
    assert "exchange:" in full and "exchange:amq.topic" in full


def test_reprs():
    b = Broker()
    assert repr(b) == "Broker(0 queues, 0 exchanges, clock=VirtualClock(t=0s))"
    b.declare_queue("q")
    b.declare_exchange("x", "topic")
    b.declare_topic("t")
    assert repr(b) == "Broker(1 queue, 1 exchange, 1 topic, clock=VirtualClock(t=0s))"
    routed = b.publish("", "q", "hi")
    assert (
        isinstance(routed, Routed) and repr(routed) == "Routed('m1' via '' with key 'q' -> ['q'])"
    )
    assert repr(b.queue("q").dead_letter) == "None"
    assert repr(DeadLetterExchange(b, "dlx", "k")) == "DeadLetterExchange('dlx', routing_key='k')"


# --- property: topic routing end to end -------------------------------------------------------------------

PATTERNS = st.sampled_from(["#", "a.#", "*.b", "a.b", "*", "", "#.b.#", "a.*.c", "b"])
KEYS = st.sampled_from(["a", "a.b", "b", "", "a.b.c", "x.b", "a..c"])


@given(
    st.lists(st.tuples(st.sampled_from(["p", "q", "r"]), PATTERNS), max_size=10),
    st.lists(KEYS, max_size=8),
)
def test_every_queue_holds_exactly_the_messages_its_bindings_match(bindings, keys):
    b = Broker()
    b.declare_exchange("t", "topic")
    for name in "pqr":
        b.declare_queue(name)
    for name, pattern in bindings:
        b.bind(name, "t", pattern)
    sent = [b.publish("t", key, i) for i, key in enumerate(keys)]
    for name in "pqr":
        mine = [p for q, p in bindings if q == name]
        want = [
            r.message.id
            for r, key in zip(sent, keys, strict=True)
            if any(topic_matches(p, key) for p in mine)
        ]
        assert ids(b.queue(name)) == want
    assert b.stats()["copies"] == sum(len(r) for r in sent)
    assert isinstance(b.exchange("t"), TopicExchange)
