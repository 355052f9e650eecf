"""Exchanges as routing tables: RabbitMQ's scenarios (tests/data), binding rules, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.errors import AccessRefused, InvalidArgument, InvalidBinding, InvalidType
from brokerlab.exchange import (
    Binding,
    DefaultExchange,
    DirectExchange,
    FanoutExchange,
    HeadersExchange,
    TopicExchange,
    make_exchange,
)
from brokerlab.routing import topic_matches

SCENARIOS = json.loads(
    (Path(__file__).parent / "data" / "rabbitmq_exchange_scenarios.json").read_text()
)["scenarios"]


def run_steps(exchange, steps):
    for step in steps:
        if step["op"] == "bind":
            exchange.bind(step["queue"], step["key"], step.get("arguments"))
        elif step["op"] == "unbind":
            exchange.unbind(step["queue"], step["key"], step.get("arguments"))
        else:
            got = exchange.route(step["key"], step.get("headers"))
            assert len(got) == len(set(got)), "a queue must get one copy only"
            assert sorted(got) == step["expect"], (step, got)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_rabbitmq_scenario(scenario):
    assert scenario["source"]
    exchange = make_exchange(scenario["exchange"]["name"], scenario["exchange"]["type"])
    run_steps(exchange, scenario["steps"])


# --- binding rules -------------------------------------------------------------------------------


def test_binding_twice_is_one_binding_and_unbind_is_idempotent():
    x = DirectExchange("X")
    b1 = x.bind("Q1", "orange")
    b2 = x.bind("Q1", "orange")
    assert b1 == b2 and hash(b1) == hash(b2) and x.bindings == [b1]
    assert x.unbind("Q1", "orange") is True
    assert x.unbind("Q1", "orange") is False  # RabbitMQ: unbind-ok, nothing changes
    assert x.unbind("nobody", "nothing") is False
    assert x.bindings == [] and x.route("orange") == []


def test_bindings_differing_only_in_arguments_are_different():
    x = TopicExchange("T")
    x.bind("t27", "args-test", {"foo": "bar"})
    x.bind("t27", "args-test", {"foo": "baz"})
    assert len(x.bindings) == 2
    x.unbind("t27", "args-test", {"foo": "baz"})
    assert x.route("args-test") == ["t27"]
    assert x.unbind("t27", "args-test") is False  # no binding without arguments exists


def test_arguments_are_copied_at_bind_time():
    args = {"x-match": "any", "format": "pdf"}
    x = HeadersExchange("H")
    x.bind("pdfs", arguments=args)
    args["format"] = "png"
    assert x.route(headers={"format": "pdf"}) == ["pdfs"]
    assert x.bindings[0].arguments == {"x-match": "any", "format": "pdf"}


def test_typed_argument_values_make_different_bindings():
    x = TopicExchange("T")
    for value in (1, 1.0, True, "1"):
        x.bind("q", "k", {"v": value})
    assert len(x.bindings) == 4


def test_bind_accepts_a_queue_object_with_a_name():
    class Named:
        name = "jobs"

    x = FanoutExchange("F")
    assert x.bind(Named()).queue == "jobs"


def test_unbind_queue_removes_all_its_bindings():
    x = TopicExchange("T")
    x.bind("a", "x.#")
    x.bind("a", "#.x")
    x.bind("b", "#")
    assert x.unbind_queue("a") == 2
    assert [b.queue for b in x.bindings] == ["b"]


# --- types ---------------------------------------------------------------------------------------


def test_direct_is_exact_equality():
    x = DirectExchange("X")
    x.bind("q", "a.b")
    assert x.route("a.b") == ["q"]
    assert x.route("A.b") == [] and x.route("a.b.") == [] and x.route("a.*") == []


def test_fanout_ignores_the_key_and_headers_ignore_it_too():
    f = FanoutExchange("F")
    f.bind("q1", "whatever")
    f.bind("q2")
    assert f.route("anything") == ["q1", "q2"] and f.route("") == ["q1", "q2"]
    h = HeadersExchange("H")
    h.bind("q", "some-key", {"a": 1})
    assert h.route("other-key", {"a": 1}) == ["q"]


def test_route_order_is_first_matching_binding_order():
    x = TopicExchange("T")
    x.bind("second", "b.#")
    x.bind("first", "#")
    x.bind("second", "#")
    assert x.route("b.c") == ["second", "first"]


def test_default_exchange_binds_every_queue_by_name():
    queues = {"jobs": object(), "logs": object()}
    d = DefaultExchange(queues)
    assert d.name == "" and d.type == "direct"
    assert d.route("jobs") == ["jobs"] and d.route("nope") == []
    assert [(b.queue, b.key) for b in d.bindings] == [("jobs", "jobs"), ("logs", "logs")]
    queues["new"] = object()  # a live view: declaring a queue binds it
    assert d.route("new") == ["new"]
    assert "every queue under its own name" in repr(d)


@pytest.mark.parametrize("call", ["bind", "unbind"])
def test_default_exchange_refuses_explicit_bindings(call):
    d = DefaultExchange(["jobs"])
    with pytest.raises(AccessRefused, match="403 ACCESS_REFUSED"):
        getattr(d, call)("jobs", "other")
    assert d.route("other") == []


def test_headers_exchange_refuses_bad_x_match_and_changes_nothing():
    h = HeadersExchange("H")
    h.bind("ok", arguments={"x-match": "any", "a": 1})
    before = h.bindings
    with pytest.raises(InvalidBinding, match="all-with-x"):
        h.bind("bad", arguments={"x-match": "most", "a": 1})
    assert h.bindings == before


def test_other_types_accept_any_argument_table():
    # RabbitMQ validates x-match only on headers exchanges.
    TopicExchange("T").bind("q", "#", {"x-match": "whatever"})


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "queue, key, args, error",
    [
        ("", "k", None, InvalidType),
        (None, "k", None, InvalidType),
        (3, "k", None, InvalidType),
        ("q", None, None, InvalidType),
        ("q", b"k", None, InvalidType),
        ("q", "k", ["x-match", "any"], InvalidType),
        ("q", "k", {1: "a"}, InvalidType),
        ("q", "x" * 256, None, InvalidArgument),
    ],
)
def test_bad_bind_and_unbind_change_nothing(queue, key, args, error):
    x = TopicExchange("T")
    x.bind("q", "a.#")
    for call in (x.bind, x.unbind):
        with pytest.raises(error):
            call(queue, key, args)
        assert x.bindings == [Binding("T", "q", "a.#")]


@pytest.mark.parametrize("key, headers", [(None, None), (5, None), ("k", ["h"]), ("k", {2: "v"})])
def test_route_refuses_bad_input(key, headers):
    with pytest.raises(InvalidType):
        TopicExchange("T").route(key, headers)


def test_make_exchange_lists_the_types():
    assert isinstance(make_exchange("t", "topic"), TopicExchange)
    assert isinstance(make_exchange("d"), DirectExchange)
    with pytest.raises(InvalidArgument, match="'direct', 'fanout', 'topic', 'headers'"):
        make_exchange("x", "x-consistent-hash")
    with pytest.raises(InvalidArgument):
        make_exchange("x", ["topic"])


def test_exchange_names_are_checked():
    with pytest.raises(InvalidType):
        TopicExchange(None)
    with pytest.raises(InvalidArgument, match="255"):
        TopicExchange("n" * 256)


# --- display and counters -----------------------------------------------------------------------------


def test_reprs_list_the_bindings():
    t = TopicExchange("animals")
    assert repr(t) == "TopicExchange('animals': 0 bindings)"
    t.bind("Q1", "*.orange.*")
    assert repr(t) == "TopicExchange('animals': 1 binding: '*.orange.*' -> Q1)"
    for i in range(8):
        t.bind(f"q{i}", "#")
    assert "(3 more)" in repr(t)
    h = HeadersExchange("h")
    h.bind("pdfs", arguments={"format": "pdf"})
    assert repr(h) == "HeadersExchange('h': 1 binding: {'format': 'pdf'} -> pdfs)"
    f = FanoutExchange("f")
    f.bind("a")
    assert repr(f) == "FanoutExchange('f': 1 binding: -> a)"
    assert (
        repr(Binding("x", "q", "k", {"a": 1})) == "Binding('x' -> 'q', key='k', arguments={'a': 1})"
    )


def test_route_only_looks_and_record_counts():
    x = DirectExchange("X")
    x.bind("q", "k")
    x.route("k")
    assert x.stats() == {"published": 0, "routed": 0, "unroutable": 0, "bindings": 1}
    x.record(["q"])
    x.record([])
    assert x.stats() == {"published": 2, "routed": 1, "unroutable": 1, "bindings": 1}


# --- properties ----------------------------------------------------------------------------------------

PATTERNS = st.sampled_from(["#", "a.#", "*.b", "a.b", "*", "", "#.b.#", "a.*.c", ".b", "b.#", "a"])
KEYS = st.sampled_from(["a", "a.b", "b", "", "a.b.c", "x.b", "a..c", ".b", "."])


@given(st.lists(st.tuples(st.sampled_from("pqrs"), PATTERNS), max_size=12), KEYS)
def test_topic_route_is_the_queues_with_a_matching_binding_in_binding_order(bindings, key):
    # The exchange indexes bindings by their first word; the answer must not change.
    x = TopicExchange("T")
    for queue, pattern in bindings:
        x.bind(queue, pattern)
    expected = list(dict.fromkeys(q for q, p in bindings if topic_matches(p, key)))
    assert x.route(key) == expected
    assert [b.queue for b in x.bindings if x.matches(b, key, {})] == [
        q for q, p in dict.fromkeys(bindings) if topic_matches(p, key)
    ]


@given(
    st.lists(st.tuples(st.sampled_from("pqrs"), KEYS), max_size=12), st.lists(st.integers(0, 11))
)
def test_unbinding_then_routing_matches_what_is_left(bindings, removals):
    x = DirectExchange("D")
    for queue, key in bindings:
        x.bind(queue, key)
    left = set(bindings)
    for i in removals:
        if i < len(bindings):
            assert x.unbind(*bindings[i]) is (bindings[i] in left)
            left.discard(bindings[i])
    for key in {k for _, k in bindings}:
        assert set(x.route(key)) == {q for q, k in left if k == key}


ARGS = st.dictionaries(
    st.sampled_from(["a", "b", "x-a"]),
    st.sampled_from([1, "1", None, True]),
    max_size=3,
)
MODES = st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"])


@given(
    st.lists(st.tuples(st.sampled_from("pqr"), ARGS, MODES), max_size=8),
    st.dictionaries(st.sampled_from(["a", "b", "x-a"]), st.sampled_from([1, "1", None, 1.0])),
)
def test_headers_route_agrees_with_headers_match(bindings, headers):
    from brokerlab.routing import headers_match

    x = HeadersExchange("H")
    made = []
    for queue, args, mode in bindings:
        args = dict(args)
        if mode is not None:
            args["x-match"] = mode
        x.bind(queue, arguments=args)
        made.append((queue, args))
    expected = list(dict.fromkeys(q for q, a in made if headers_match(a, headers)))
    assert x.route(headers=headers) == expected
