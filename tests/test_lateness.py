"""Window counts under lateness: the stream plus its side output is always the batch answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.errors import BrokerError
from brokerlab.lateness import lateness_widget, plot_watermark, plot_window_counts, window_counts
from brokerlab.window_timeline import draw_windows, window_rows


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.integers(1, 30).map(lambda s: s * 1000),
    st.integers(0, 20).map(lambda s: s * 1000),
    st.integers(0, 20).map(lambda s: s * 1000),
    st.integers(0, 5),
)
def test_counted_plus_dropped_is_the_batch_count(size, grace, disorder, seed):
    run = window_counts(size, grace, disorder, seed=seed)
    assert sum(run.truth.values()) == len(run.records)
    assert sum(run.truth.values()) - sum(run.counted.values()) == run.dropped
    assert all(run.counted[w] <= run.truth[w] for w in run.truth)
    assert run.dropped <= run.late
    if grace >= disorder:  # Kafka Streams: grace >= disorder drops nothing (handbook)
        assert run.dropped == 0


def test_more_grace_never_drops_more():
    drops = [window_counts(10_000, g * 1000, 8_000).dropped for g in range(0, 10)]
    assert drops == sorted(drops, reverse=True) and drops[0] > 0 and drops[-1] == 0


def test_in_order_events_are_never_late():
    run = window_counts(disorder=0)
    assert run.late == 0 and run.dropped == 0


def test_bad_input_names_the_parameter():
    with pytest.raises(BrokerError, match="grace"):
        window_counts(grace=-1)
    with pytest.raises(BrokerError, match="size"):
        window_counts(size=0)


def test_the_pictures_show_the_counts():
    run = window_counts(10_000, 0, 8_000)
    title = plot_window_counts(run).axes[0].get_title()
    assert title.startswith(f"{run.dropped} of {len(run.records)} records dropped")
    ax = plot_watermark(run).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "late, dropped" in labels and "on time" in labels


def test_the_widget_draws_default_and_largest():
    w = lateness_widget()
    first = w.png
    for name, value in {"size": 2, "grace": 20, "disorder": 20}.items():
        w.controls[name].value = value
    assert w.error.value == "" and w.png != first


def test_window_rows_follow_kafka_streams_windows():
    rows = window_rows([0, 9_999, 10_000, 21_000], size=10_000, advance=5_000, gap=1_000)
    assert rows["tumbling"] == [(0, 10_000, 2), (10_000, 20_000, 1), (20_000, 30_000, 1)]
    # hopping: a record is in every window with start <= t < start + size, starts >= 0
    assert (5_000, 15_000, 2) in rows["hopping"] and (0, 10_000, 2) in rows["hopping"]
    # session: 9_999 and 10_000 are 1 ms apart, within the gap; 0 is 9_999 away
    assert rows["session"] == [(0, 0, 1), (9_999, 10_000, 2), (21_000, 21_000, 1)]
    fig = draw_windows([0, 9_999, 10_000, 21_000], 10_000, 5_000, 1_000)
    assert len(fig.axes[0].texts) == sum(len(r) for r in rows.values())
