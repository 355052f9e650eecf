"""Queue depth and consumer lag over time: the numbers, and the step plots drawn from them."""

from __future__ import annotations

import io

import matplotlib
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from brokerlab.errors import InvalidType  # noqa: E402
from brokerlab.history import History  # noqa: E402
from brokerlab.plots import (  # noqa: E402
    OKABE_ITO,
    depth_over_time,
    lag_over_time,
    plot_depth,
    plot_lag,
)
from test_diagram import artists as by_gid  # noqa: E402
from test_diagram import (
    close_figures,  # noqa: E402, F401  (closes figures after each test)
    load,  # noqa: E402
)

# --- queue depth ---------------------------------------------------------------------------------


def test_depth_counts_held_messages_until_acked():
    times, depths = depth_over_time(load("clean_at_least_once"))
    # three published at t=0; m1 acked at 1.2; m2's first ack was lost (still held), its
    # second one arrives at 31.7; m3 acked at 32
    assert list(zip(times, depths)) == [
        (0.0, 0),
        (0.0, 1),
        (0.0, 2),
        (0.0, 3),
        (1.2, 2),
        (31.7, 1),
        (32.0, 0),
    ]


def test_depth_dead_letters_drops_and_wire_losses_leave_the_queue():
    assert depth_over_time(load("dead_letter_poison"))[1][-2:] == [1, 0]
    assert depth_over_time(load("lost_broker_restart"))[1] == [0, 1, 2, 1, 0]
    # a publish lost on the wire never entered the queue
    assert depth_over_time(load("lost_on_the_wire"))[1] == [0, 1, 0, 1, 0]


def test_depth_counts_a_retried_message_once():
    h = History()
    h.record(0, "p", "publish", "m1", attempt=1)
    h.record(1, "p", "publish", "m1", attempt=2)
    assert depth_over_time(h) == ([0, 0], [0, 1])


def test_plot_depth_draws_the_step_line():
    h = load("clean_at_least_once")
    fig = plot_depth(h)
    assert isinstance(fig, Figure)
    (line,) = by_gid(fig, "depth")
    times, depths = depth_over_time(h)
    assert list(line.get_xdata()) == times  # the last value already reaches the last event
    assert list(line.get_ydata()) == depths
    assert line.get_drawstyle() == "steps-post"
    assert line.get_color() == OKABE_ITO["blue"]


def test_plot_depth_extends_the_last_step_to_the_end():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(5, "c", "deliver", "m1")
    (line,) = by_gid(plot_depth(h), "depth")
    assert list(line.get_xdata()) == [0, 0, 5]
    assert list(line.get_ydata()) == [0, 1, 1]


# --- consumer lag ----------------------------------------------------------------------------------


def test_lag_per_group_and_partition():
    lines = lag_over_time(load("clean_log_rebalance"))
    assert list(lines) == [("g", 0), ("g", 1)]
    times, lags = lines[("g", 0)]
    # end offset grows to 3 at t=0; commit 1 at t=1.2 (lag 2); commit 3 at t=2.5 (lag 0)
    assert list(zip(times, lags))[-3:] == [(0.0, 3), (1.2, 2), (2.5, 0)]
    assert lines[("g", 1)] == ([0.0, 0.0, 2.8], [0, 1, 0])


def test_lag_without_commits_is_the_whole_partition():
    h = History()
    for o in range(3):
        h.record(o, "p", "publish", f"m{o}", partition=0, offset=o)
    assert lag_over_time(h) == {(None, 0): ([0, 0, 1, 2], [0, 1, 2, 3])}
    assert lag_over_time(load("lost_ack_before_processing")) == {}  # no partitions


def test_plot_lag_one_line_per_group_partition():
    h = load("clean_log_rebalance")
    fig = plot_lag(h)
    assert len(by_gid(fig, "lag:g:0")) == 1 and len(by_gid(fig, "lag:g:1")) == 1
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["g / partition 0", "g / partition 1"]
    (line,) = by_gid(fig, "lag:g:1")
    assert list(line.get_ydata()) == [0, 1, 0]


def test_empty_and_unpartitioned_histories_draw_notes():
    assert any("empty history" in t.get_text() for t in plot_depth(History()).axes[0].texts)
    fig = plot_lag(load("lost_ack_before_processing"))
    assert any("no partitioned messages" in t.get_text() for t in fig.axes[0].texts)


def test_draw_into_given_axes_and_deterministic_svg():
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    h = load("clean_log_rebalance")
    assert plot_depth(h, ax=ax1) is fig and plot_lag(h, ax=ax2) is fig

    def svg() -> bytes:
        buf = io.BytesIO()
        plot_lag(h).savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    with matplotlib.rc_context({"svg.hashsalt": "brokerlab"}):
        assert svg() == svg()


def test_not_a_history():
    with pytest.raises(InvalidType, match="History"):
        plot_depth({"events": []})  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        lag_over_time(None)  # type: ignore[arg-type]
