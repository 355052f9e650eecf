"""messaging_patterns: the same messages through a queue, a topic, a fanout exchange and a log.

What chapter 02 relies on: a queue gives each message to exactly one of its consumers; a topic
and a fanout exchange give each message to every subscriber, once; a log gives each message to
exactly one member of every group; messages are numbered in publish order with producers taking
turns; each recipient gets its messages in publish order (queue, topic, exchange) or in partition
order (log); the topology graph has every producer and recipient; bad arguments are refused.
"""

from __future__ import annotations

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from brokerlab.errors import BrokerError  # noqa: E402
from brokerlab.messaging_patterns import (  # noqa: E402
    fanout_exchange,
    log_groups,
    plot_who_got_what,
    point_to_point,
    publish_subscribe,
    who_got_what_widget,
)
from brokerlab.topology import draw_topology  # noqa: E402

small = st.integers(1, 5)


def ids(d) -> list[str]:
    return [m for m, _ in d.messages]


@settings(derandomize=True)
@given(producers=small, consumers=small, per=st.integers(1, 4), prefetch=st.integers(0, 3))
def test_a_queue_gives_each_message_to_exactly_one_consumer(producers, consumers, per, prefetch):
    d = point_to_point(producers, consumers, per_producer=per, prefetch=prefetch)
    assert ids(d) == [f"m{i + 1}" for i in range(producers * per)]
    assert [p for _, p in d.messages][:producers] == [f"p{k + 1}" for k in range(producers)]
    assert set(d.copies().values()) == {1}
    assert len(d.received) == consumers
    for got in d.received.values():  # each consumer sees its messages in publish order
        assert sorted(got, key=lambda m: int(m[1:])) == list(got)


@settings(derandomize=True)
@given(producers=small, subscribers=small, per=st.integers(1, 4))
def test_a_topic_and_a_fanout_exchange_give_every_message_to_every_subscriber(
    producers, subscribers, per
):
    for f in (publish_subscribe, fanout_exchange):
        d = f(producers, subscribers, per_producer=per)
        assert set(d.copies().values()) == {subscribers}
        for got in d.received.values():
            assert list(got) == ids(d)


@settings(derandomize=True)
@given(
    producers=small,
    groups=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 4), min_size=1),
    partitions=st.integers(1, 4),
)
def test_a_log_gives_each_message_to_one_member_of_every_group(producers, groups, partitions):
    d = log_groups(producers, groups, partitions=partitions)
    for m in ids(d):
        owners = [d.where[r] for r in d.recipients(m)]
        assert sorted(owners) == sorted(f"group {g}" for g in groups)


def test_recipients_of_a_message_and_an_unknown_id():
    d = publish_subscribe()
    assert d.recipients("m3") == ["billing/c1", "shipping/c1", "analytics/c1"]
    with pytest.raises(BrokerError, match="m99"):
        d.recipients("m99")


def test_the_topology_has_every_producer_and_recipient():
    for d in (point_to_point(3, 2), publish_subscribe(3, 2), fanout_exchange(3, 2), log_groups(3)):
        g = d.graph()
        kinds = [data["kind"] for _, data in g.nodes(data=True)]
        assert kinds.count("producer") == 3
        assert kinds.count("consumer") + kinds.count("member") == len(d.received)
        draw_topology(g)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: point_to_point(0), "producers"),
        (lambda: point_to_point(1, 0), "consumers"),
        (lambda: publish_subscribe(1, 2.0), "subscribers"),
        (lambda: log_groups(1, {}), "groups"),
        (lambda: log_groups(1, {"a": 0}), "groups"),
        (lambda: point_to_point(1, 1, per_producer=0), "per_producer"),
    ],
)
def test_bad_arguments_name_the_parameter(call, name):
    with pytest.raises(BrokerError, match=name):
        call()


def test_the_grid_has_one_square_per_delivery():
    q, t = point_to_point(2, 3), publish_subscribe(2, 3)
    ax = plot_who_got_what([q, t]).axes[0]
    squares = sum(len(c.get_offsets()) for c in ax.collections)
    assert squares == len(q.messages) + 3 * len(t.messages)
    assert ax.get_legend() is not None and ax.get_xlabel()
    with pytest.raises(BrokerError):
        plot_who_got_what([])


def test_the_widget_redraws_and_counts_deliveries():
    w = who_got_what_widget()
    first = w.png
    w.controls["subscribers"].value = 5
    assert w.png != first and not w.error.value
    assert "36 deliveries" in w.title.value  # 6 to the queue, 6 x 5 to the topic
