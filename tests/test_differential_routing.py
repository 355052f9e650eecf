"""Differential tests of routing: random topic and headers bindings on a real RabbitMQ 3.10 and on
the reference broker, the same messages published, the same queues must receive each one.

Each hypothesis example binds a pool of queues (declared once per module) to a fresh exchange,
publishes every message with publisher confirms (so a message is in its queues when the
confirm arrives), then empties each queue with basic.get; the exchange is deleted afterwards,
which removes its bindings. About ten AMQP round-trips per binding and message, so an example
costs a few tens of milliseconds.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokerlab import Broker
from differential import rabbitmq_connection

QUEUES = [f"route-{i}" for i in range(6)]
EXAMPLES = 60
_exchanges = itertools.count(1)


@pytest.fixture(scope="module")
def channel():
    with rabbitmq_connection() as connection:
        import pika

        ch = connection.channel()
        ch.confirm_delivery()
        for q in QUEUES:
            ch.queue_declare(q)
        yield pika, ch
        for q in QUEUES:
            ch.queue_delete(q)


def route_on_rabbitmq(channel, type, bindings, messages):
    """Bind, publish, and return for each message the sorted queues it reached."""
    pika, ch = channel
    x = f"route-x{next(_exchanges)}"
    ch.exchange_declare(x, type)
    try:
        for queue, key, args in bindings:
            ch.queue_bind(queue, x, key, args)
        for i, (key, headers) in enumerate(messages):
            ch.basic_publish(x, key, b"", pika.BasicProperties(message_id=str(i), headers=headers))
        reached: dict[int, list[str]] = {i: [] for i in range(len(messages))}
        for q in QUEUES:
            while True:
                method, props, _ = ch.basic_get(q, auto_ack=True)
                if method is None:
                    break
                reached[int(props.message_id)].append(q)
        return [sorted(reached[i]) for i in range(len(messages))]
    finally:
        ch.exchange_delete(x)


def route_on_reference(type, bindings, messages):
    b = Broker()
    for q in QUEUES:
        b.declare_queue(q)
    b.declare_exchange("x", type)
    for queue, key, args in bindings:
        b.bind(queue, "x", key, args)
    return [sorted(b.publish("x", key, "", headers=headers)) for key, headers in messages]


def same_routes(channel, type, bindings, messages):
    expected = route_on_reference(type, bindings, messages)
    got = route_on_rabbitmq(channel, type, bindings, messages)
    diverging = [
        (messages[i], got[i], expected[i]) for i in range(len(messages)) if got[i] != expected[i]
    ]
    assert not diverging, f"(message, RabbitMQ, reference) for bindings {bindings}: {diverging}"


# --- topic ---------------------------------------------------------------------------------------

# Few words, so that patterns and keys meet often; "" makes empty words ("a..b").
WORDS = st.sampled_from(["a", "b", "c", ""])
routing_keys = st.lists(WORDS, max_size=4).map(".".join)
patterns = st.lists(st.one_of(WORDS, st.sampled_from(["*", "#"])), max_size=4).map(".".join)
topic_bindings = st.lists(
    st.tuples(st.sampled_from(QUEUES), patterns, st.just(None)), min_size=1, max_size=10
)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bindings=topic_bindings, keys=st.lists(routing_keys, min_size=1, max_size=12))
def test_topic_routing_matches_rabbitmq(channel, bindings, keys):
    same_routes(channel, "topic", bindings, [(k, None) for k in keys])


TOPIC_EDGES = [
    ("a.#", ["a", "a.b", "b.a", ""]),
    ("#", ["", "a", "a..b", "."]),
    ("*", ["", "a", ".", "a.b"]),
    ("#.#", ["", "a", "a.b"]),
    ("a.*.#", ["a", "a.b", "a.b.c", "a..b"]),
    ("", ["", "a", "."]),
    ("#.a.#", ["a", "b.a.c", "b.c", ".a."]),
    ("*.#.*", ["a", "a.b", "a.b.c", ""]),
]


@pytest.mark.parametrize(("pattern", "keys"), TOPIC_EDGES)
def test_topic_edge_cases_match_rabbitmq(channel, pattern, keys):
    same_routes(channel, "topic", [(QUEUES[0], pattern, None)], [(k, None) for k in keys])


# --- headers -------------------------------------------------------------------------------------

# Values pika can send as AMQP field values: ints, strings, booleans and void (None). Floats are
# left out: pika cannot encode them (it sends decimals), so RabbitMQ never sees a float here.
VALUES = st.sampled_from([1, 2, "1", "a", True, False, None])
NAMES = st.sampled_from(["h1", "h2", "h3", "x-h"])
MODES = st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"])


@st.composite
def headers_binding(draw):
    args = draw(st.dictionaries(NAMES, VALUES, max_size=3))
    mode = draw(MODES)
    if mode is not None:
        args["x-match"] = mode
    return (draw(st.sampled_from(QUEUES)), "", args)


message_headers = st.dictionaries(NAMES, VALUES, max_size=4)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bindings=st.lists(headers_binding(), min_size=1, max_size=8),
    headers=st.lists(message_headers, min_size=1, max_size=12),
)
def test_headers_routing_matches_rabbitmq(channel, bindings, headers):
    same_routes(channel, "headers", bindings, [("", h) for h in headers])


HEADERS_EDGES = [
    ({}, [{}, {"h1": 1}]),  # all with no conditions: everything
    ({"x-match": "any"}, [{}, {"h1": 1}]),  # any with no conditions: nothing
    ({"h1": None}, [{}, {"h1": 1}, {"h1": None}, {"h1": "x"}]),  # void: presence alone
    ({"h1": 1}, [{"h1": True}, {"h1": "1"}, {"h1": 1}, {"h1": 2}]),  # True is not 1
    ({"h1": "pdf"}, [{"h1": b"pdf"}, {"h1": "pdf"}]),  # longstr and bytes are both binaries
    ({"x-h": 1}, [{}, {"x-h": 2}]),  # all ignores x- arguments: matches everything
    ({"x-h": 1, "x-match": "all-with-x"}, [{}, {"x-h": 1}, {"x-h": 2}]),
    ({"x-h": 1, "x-match": "any"}, [{}, {"x-h": 1}]),
    ({"h1": 1, "h2": 2, "x-match": "any"}, [{"h1": 1}, {"h2": 2}, {"h1": 2, "h2": 1}]),
    ({"h1": 1 << 40}, [{"h1": 1 << 40}, {"h1": 1}]),  # a long matches a long
]


@pytest.mark.parametrize(("arguments", "headers"), HEADERS_EDGES)
def test_headers_edge_cases_match_rabbitmq(channel, arguments, headers):
    same_routes(channel, "headers", [(QUEUES[0], "", arguments)], [("", h) for h in headers])
