"""The rebalance demo runs the log's own group protocol; the drawing shows what moved."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.consumer_group import ASSIGNORS
from brokerlab.errors import BrokerError
from brokerlab.plots import lag_over_time
from brokerlab.rebalance import CHANGES, count_moves, crash_lag, draw_rebalance, rebalance


def test_a_join_under_range_moves_more_than_under_sticky():
    # Kafka's RangeAssignor hands out consecutive ranges, so a new member shifts every range
    # after it; the sticky assignors (KIP-54) move only what the newcomer needs.
    assert count_moves(rebalance(6, 3, "join", "range")) == 1
    assert count_moves(rebalance(12, 3, "join", "range")) > count_moves(
        rebalance(12, 3, "join", "sticky")
    )


def test_eager_revokes_everything_cooperative_only_the_moves():
    eager = rebalance(6, 3, "join", "sticky")
    coop = rebalance(6, 3, "join", "cooperative-sticky")
    assert eager.protocol == "eager" and coop.protocol == "cooperative"
    assert sum(map(len, eager.revoked.values())) == 6  # every member gave up all it had
    assert sum(map(len, coop.revoked.values())) == count_moves(coop)


def test_a_crash_is_noticed_after_the_session_timeout():
    event = rebalance(4, 2, "crash", "range")
    assert event.time == 45  # session.timeout.ms 45000 (KIP-735)
    assert "missed the session timeout" in event.reason
    assert "m2" not in event.after


def test_a_clean_leave_rebalances_at_once():
    event = rebalance(4, 2, "leave", "range")
    assert event.time == 0 and event.after == {"m1": tuple(event.after["m1"])}
    assert len(event.after["m1"]) == 4


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.integers(1, 12),
    st.integers(1, 7),
    st.sampled_from(CHANGES),
    st.sampled_from(sorted(ASSIGNORS)),
)
def test_every_partition_has_one_owner_after(partitions, members, change, assignor):
    event = rebalance(partitions, members, change, assignor)
    owned = [tp.partition for tps in event.after.values() for tp in tps]
    if event.after:
        assert sorted(owned) == list(range(partitions))
    assert count_moves(event) == sum(
        1
        for p in range(partitions)
        if _owner(event.before, p) != _owner(event.after, p) and _owner(event.after, p)
    )


def _owner(assignment, p):
    return next((m for m, tps in assignment.items() if any(tp.partition == p for tp in tps)), None)


def test_bad_input_names_the_parameter():
    with pytest.raises(BrokerError, match="change"):
        rebalance(change="explode")
    with pytest.raises(BrokerError, match="assignor"):
        rebalance(assignor="fastest")
    with pytest.raises(BrokerError, match="partitions"):
        rebalance(partitions=0)
    with pytest.raises(BrokerError, match="members"):
        crash_lag(members=0)


def test_the_drawing_outlines_and_arrows_every_move():
    event = rebalance(6, 3, "crash", "range")
    fig = draw_rebalance(event)
    ax = fig.axes[0]
    assert str(count_moves(event)) in ax.get_title()
    labels = [t.get_text() for t in ax.texts]
    assert labels[:6] == ["m1", "m1", "m2", "m2", "m3", "m3"]  # the before row, all labelled
    heads = ax.lines[-1]
    assert len(heads.get_xdata()) == count_moves(event)


def test_crash_lag_grows_on_the_dead_members_partitions_then_recovers():
    history = crash_lag(seconds=120, partitions=4, members=2, rate=5, crash_at=30)
    lines = lag_over_time(history)
    peak = {p: max(lags) for (_, p), (_, lags) in lines.items()}
    final = {p: lags[-1] for (_, p), (_, lags) in lines.items()}
    dead = {2, 3}  # range: m2 owned the upper half
    assert all(peak[p] >= 45 * 5 for p in dead)  # 45 s unread at 5 records/s
    assert all(peak[p] <= 2 * 5 for p in set(peak) - dead)
    assert all(v == 0 for v in final.values())


def test_the_widget_draws_its_default_and_its_largest_setting():
    from brokerlab.rebalance import rebalance_widget

    w = rebalance_widget()
    first = w.png
    w.controls["partitions"].value = 12
    w.controls["members"].value = 7
    w.controls["change"].value = "crash"
    assert w.error.value == "" and w.png != first
