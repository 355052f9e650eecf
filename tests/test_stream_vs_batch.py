"""Batch and stream side by side: the generator, event vs processing time, the scheduled batch
job, latency and completeness, and the pictures."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from brokerlab.batch import BatchJob, batch_aggregate
from brokerlab.errors import BrokerError, InvalidArgument, OutOfRange
from brokerlab.stream import Record
from brokerlab.stream_vs_batch import (
    event_vs_processing_time,
    generate_events,
    in_arrival_order,
    plot_completeness,
    plot_event_time_skew,
    plot_event_vs_processing_time,
    plot_latency,
    run_side_by_side,
)
from brokerlab.watermark import disorder
from brokerlab.windows import HoppingWindows, SessionWindows, TumblingWindows


def test_generated_events_are_deterministic_and_in_arrival_order():
    a = generate_events(200, seed=7, stragglers=0.1)
    assert a == generate_events(200, seed=7, stragglers=0.1)
    assert a != generate_events(200, seed=8, stragglers=0.1)
    assert [r.offset for r in a] == list(range(200))
    assert all(x.arrival <= y.arrival for x, y in zip(a, a[1:], strict=False))
    assert all(0 <= r.arrival - r.timestamp <= 3000 + 60_000 for r in a)
    assert disorder(r.timestamp for r in a) > 0  # out of order, as promised
    assert {r.key for r in a} <= {"a", "b", "c"}


@pytest.mark.parametrize(
    "kwargs, starts",
    [
        ({"n": 0}, "n=0 is out of range"),
        ({"max_delay": -1}, "max_delay=-1 is out of range"),
        ({"stragglers": 1.5}, "stragglers=1.5 is out of range"),
        ({"keys": ()}, "keys=() is empty"),
    ],
)
def test_generator_refuses_bad_arguments(kwargs, starts):
    with pytest.raises(BrokerError) as err:
        generate_events(**kwargs)
    assert str(err.value).startswith(starts)


def test_event_time_and_processing_time_disagree_on_the_same_input():
    recs = [
        Record(1_000, "a", arrival=1_500),
        Record(9_000, "a", arrival=12_000),  # happened in [0, 10s), arrived in [10s, 20s)
        Record(11_000, "a", arrival=11_500),
        Record(2_000, "a", arrival=21_000),  # a straggler
    ]
    d = event_vs_processing_time(recs, 10_000)
    assert d.event_time == {0: 3, 10_000: 1}
    assert d.processing_time == {0: 1, 10_000: 2, 20_000: 1}
    assert sum(d.event_time.values()) == sum(d.processing_time.values()) == 4
    assert repr(d) == (
        "TimeDomains(size=10000: 2 event-time windows, 3 processing-time windows, 4 records)"
    )


def test_records_without_arrival_are_refused_with_the_fix():
    with pytest.raises(InvalidArgument, match="has no arrival time.*generate_events"):
        event_vs_processing_time([(5, "a", 1)], 10)


def test_batch_job_runs_on_schedule_over_everything_so_far():
    job = BatchJob(TumblingWindows(10), every=100, duration=30)
    assert not job.due(99) and job.due(100)
    run = job.run([(1, "a", 1), (15, "a", 1)], now=100)
    assert (run.started, run.finished, run.covered) == (100, 130, 2)
    assert run.results == {("a", (0, 10)): 1, ("a", (10, 20)): 1}
    assert job.next_run == 200 and job.view_at(129) is None and job.view_at(130) is run
    job.run([(1, "a", 1), (15, "a", 1), (3, "a", 1)], now=250)  # late: it just waits
    assert job.next_run == 300
    assert job.view_at(400).results[("a", (0, 10))] == 2
    with pytest.raises(OutOfRange, match="^every=0"):
        BatchJob(TumblingWindows(10), every=0)


def test_side_by_side_stream_is_fast_and_batch_is_complete():
    events = generate_events(
        400, interval=1000, max_delay=3000, stragglers=0.05, straggler_delay=30_000, seed=3
    )
    result = run_side_by_side(events, TumblingWindows(10_000), grace=5_000, batch_every=120_000)
    summary = result.summary()
    # Batch: everything counted in the end, but only after a scheduled run.
    assert summary["batch"]["completeness"] == 1.0
    assert all(lat >= 0 for lat in result.batch_latency)
    # Stream: faster, and what it missed is exactly what went to the side output.
    assert summary["stream"]["median_latency"] < summary["batch"]["median_latency"]
    missed = {i for i, lat in enumerate(result.stream_latency) if lat is None}
    late = {x.record.offset for x in result.stream.side_output}
    assert missed == late and late  # stragglers 30 s late, grace 5 s
    assert summary["stream"]["completeness"] == 1 - len(late) / 400
    # At the end the last batch run has covered every record and agrees with the truth.
    assert result.batch.runs[-1].covered == 400
    assert result.batch.runs[-1].results == batch_aggregate(events, TumblingWindows(10_000))
    assert result.completeness("batch", result.end) == 1.0
    assert result.completeness("stream", result.end) == summary["stream"]["completeness"]
    assert "stream median latency" in repr(result)


@settings(max_examples=25)
@given(
    st.integers(20, 120),
    st.integers(0, 5000),
    st.integers(0, 3),
    st.sampled_from([TumblingWindows(5000), HoppingWindows(6000, 2000), SessionWindows(1500)]),
)
def test_with_grace_covering_the_delay_the_stream_counts_everything(n, max_delay, seed, windows):
    events = generate_events(n, interval=500, max_delay=max_delay, seed=seed)
    result = run_side_by_side(events, windows, grace=max_delay, batch_every=30_000)
    assert result.stream.side_output == []
    assert result.summary()["stream"]["completeness"] == 1.0
    assert result.stream.results() == result.batch.runs[-1].results
    # A record is counted no earlier than it arrives, by either system.
    for r, s, b in zip(result.records, result.stream_counted, result.batch_counted, strict=True):
        assert s >= r.arrival and b >= r.arrival


def test_completeness_curve_shows_the_batch_sawtooth():
    events = generate_events(300, interval=1000, max_delay=2000, seed=1)
    result = run_side_by_side(events, TumblingWindows(10_000), grace=2000, batch_every=60_000)
    curve = dict(result.completeness_curve("batch", points=300))
    before = max(c for t, c in curve.items() if t < 60_000)
    assert before == 0.0  # nothing is counted before the first run
    assert result.completeness("batch", 60_000) > 0.9
    assert result.completeness("batch", 119_999) < result.completeness("batch", 120_000)
    with pytest.raises(InvalidArgument, match="system='lambda'"):
        result.completeness("lambda", 0)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def test_pictures_are_figures_and_deterministic():
    events = generate_events(150, stragglers=0.05, straggler_delay=20_000, seed=2)
    result = run_side_by_side(events, TumblingWindows(10_000), grace=3000, batch_every=60_000)
    for draw in (
        lambda ax=None: plot_event_vs_processing_time(events, 10_000, ax=ax),
        lambda ax=None: plot_event_time_skew(events, ax=ax),
        lambda ax=None: plot_completeness(result, ax=ax),
        lambda ax=None: plot_latency(result, ax=ax),
    ):
        fig = draw()
        assert isinstance(fig, Figure)
        assert _png(fig) == _png(draw())
        host = Figure()
        ax = host.add_subplot()
        assert draw(ax=ax) is host


def test_arrival_order_is_stable():
    recs = [Record(5, "a", arrival=10), Record(1, "b", arrival=3), Record(2, "c", arrival=10)]
    assert [r.key for r in in_arrival_order(recs)] == ["b", "a", "c"]
