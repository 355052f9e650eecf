"""The routing playground explains exactly what the broker does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.errors import BrokerError
from brokerlab.routing_playground import (
    draw_routing,
    explain,
    explain_topic,
    parse_headers,
    playground_broker,
    routing_playground,
)

WORDS = st.sampled_from(["order", "created", "eu", "us", "error", "warning", ""])
KEYS = st.lists(WORDS, max_size=4).map(".".join)
HEADERS = st.dictionaries(
    st.sampled_from(["format", "type", "urgent"]), st.sampled_from(["pdf", "report", "x"])
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(["orders", "logs", "news", "docs"]), KEYS, HEADERS)
def test_the_explained_queues_are_the_queues_the_broker_reaches(exchange, key, headers):
    broker = playground_broker()
    reached = {v.queue for v in explain(broker, exchange, key, headers) if v.matched}
    assert reached == set(broker.publish(exchange, key, "m", headers=headers))


def test_topic_explanations_follow_rabbitmqs_rules():
    # routing_SUITE.erl: '#' matches zero words, '*' exactly one.
    assert explain_topic("a.#", "a") == (True, "a=a, #=(no words)")
    assert explain_topic("*", "") == (False, "needs 1 word, the key has 0")
    assert explain_topic("#", "") == (True, "#=(no words)")
    assert explain_topic("a.*.c", "a..c") == (True, "a=a, *='', c=c")  # an empty word
    assert explain_topic("a.#.z", "a.b.y")[0] is False


def test_headers_explanation_names_each_condition():
    broker = playground_broker()
    [reports, urgent] = explain(broker, "docs", "", {"urgent": "yes"})
    assert not reports.matched and "format missing" in reports.why
    assert urgent.matched and "urgent present" in urgent.why


def test_parse_headers():
    assert parse_headers("format=pdf, urgent") == {"format": "pdf", "urgent": ""}
    assert parse_headers(" ") == {}
    with pytest.raises(BrokerError, match="header name"):
        parse_headers("=pdf")


def test_an_unknown_exchange_is_refused():
    with pytest.raises(BrokerError):
        explain(playground_broker(), "nope", "x")


def test_the_picture_says_where_the_message_went():
    broker = playground_broker()
    fig = draw_routing(explain(broker, "logs", "warning"), "logs", "direct", "'warning'")
    assert fig.axes[0].get_title().endswith("-> ops")
    fig = draw_routing(explain(broker, "logs", "debug"), "logs", "direct", "'debug'")
    assert "unroutable" in fig.axes[0].get_title()


def test_the_widget_redraws_for_each_exchange():
    w = routing_playground()
    pictures = {w.png}
    for name in ("logs", "news", "docs"):
        w.controls["exchange"].value = name
        assert w.error.value == ""
        pictures.add(w.png)
    w.controls["headers"].value = "=bad"
    assert "header name" in w.error.value
    assert len(pictures) == 4
