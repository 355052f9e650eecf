"""Lambda (batch + speed + serving) and kappa (replay the log): the serving view converges to the
batch answer, and a kappa replay with enough grace recomputes it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from brokerlab.batch import batch_aggregate
from brokerlab.clock import VirtualClock
from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange
from brokerlab.lambda_architecture import (
    KappaArchitecture,
    LambdaArchitecture,
    merge_views,
    plot_lambda,
    run_kappa,
    run_lambda,
    view_error,
)
from brokerlab.stream_vs_batch import generate_events
from brokerlab.watermark import disorder
from brokerlab.windows import HoppingWindows, SessionWindows, TumblingWindows

specs = st.sampled_from(
    [TumblingWindows(5000), HoppingWindows(6000, 2000), SessionWindows(1500), SessionWindows(400)]
)


@settings(max_examples=30)
@given(
    specs,
    st.integers(10, 120),
    st.integers(0, 3),
    st.sampled_from(["count", "sum", "max"]),
    st.integers(0, 3000),
    st.integers(0, 20_000),
)
def test_once_the_batch_catches_up_serving_equals_batch(windows, n, seed, agg, grace, duration):
    events = generate_events(
        n, interval=400, max_delay=3000, stragglers=0.1, straggler_delay=15_000, seed=seed
    )
    run = run_lambda(
        events,
        windows,
        agg=agg,
        batch_every=20_000,
        batch_duration=duration,
        speed_grace=grace,
        samples=10,
    )
    truth = batch_aggregate(events, windows, agg)
    assert run.lam.batch_view.covered == n
    assert run.final_batch == truth
    assert run.final_serving == truth
    assert run.converged
    assert run.samples[-1][1:] == (0, 0)


@settings(max_examples=40)
@given(
    specs,
    st.lists(
        st.tuples(st.integers(0, 20_000), st.sampled_from("ab"), st.integers(0, 9)), max_size=40
    ),
    st.integers(0, 40),
    st.sampled_from(["count", "sum", "min"]),
)
def test_serving_merges_batch_and_speed_into_the_whole(windows, recs, cut, agg):
    """A batch view of the first records + a speed view (grace covering its disorder) of the
    rest = the batch answer over all of them, also when a session spans the boundary."""
    cut = min(cut, len(recs))
    lam = LambdaArchitecture(windows, agg=agg, speed_grace=disorder(t for t, _, _ in recs))
    for r in recs[:cut]:
        lam.ingest(r)
    lam.start_batch()
    lam.finish_batch()
    for r in recs[cut:]:
        lam.ingest(r)
    assert lam.covered == cut and len(lam.speed.records) == len(recs) - cut
    assert lam.serving_view() == batch_aggregate(recs, windows, agg)


def test_speed_layer_misses_what_is_too_late_and_the_batch_layer_repairs_it():
    lam = LambdaArchitecture(TumblingWindows(10), speed_grace=0)
    for r in [(1, "a", 1), (15, "a", 1), (2, "a", 1)]:  # 2 arrives after [0, 10) closed
        lam.ingest(r)
    assert lam.serving_view() == {("a", (0, 10)): 1, ("a", (10, 20)): 1}
    assert len(lam.speed.side_output) == 1
    run = lam.start_batch()
    assert lam.serving_view()[("a", (0, 10))] == 1  # the run has not finished yet
    with pytest.raises(InvalidArgument, match="already running"):
        lam.start_batch()
    lam.finish_batch()
    assert run.covered == 3 and len(lam.speed.records) == 0
    assert lam.serving_view() == {("a", (0, 10)): 2, ("a", (10, 20)): 1}
    lam.ingest((16, "a", 1))  # new data: the speed layer adds on top of the batch view
    assert lam.serving_view() == {("a", (0, 10)): 2, ("a", (10, 20)): 2}
    assert lam.batch_truth() == lam.serving_view()
    with pytest.raises(InvalidArgument, match="no batch run is running"):
        lam.finish_batch()
    assert repr(lam).startswith(
        "LambdaArchitecture(TumblingWindows(size=10), agg='count': 4 records"
    )


def test_merge_views_bridges_sessions_across_the_boundary():
    batch = {("u", (10, 10)): 1, ("u", (30, 30)): 1}
    speed = {("u", (14, 26)): 2}
    assert merge_views(batch, speed, SessionWindows(5)) == {("u", (10, 30)): 4}
    assert merge_views(batch, speed, SessionWindows(3)) == {
        ("u", (10, 10)): 1,
        ("u", (14, 26)): 2,
        ("u", (30, 30)): 1,
    }
    assert view_error({("u", (1, 2)): 1}, {("u", (1, 2)): 2, ("v", (1, 2)): 1}) == 2


def test_lambda_run_reports_the_error_shrinking_and_draws_it():
    events = generate_events(300, stragglers=0.05, straggler_delay=20_000, seed=4)
    run = run_lambda(events, TumblingWindows(10_000), batch_every=60_000, batch_duration=15_000)
    assert max(s for _, s, _ in run.samples) > 0  # the speed layer was off at times
    assert run.samples[-1][1] == 0 and run.converged
    # The serving view is never further off than the batch view alone.
    assert all(s <= b for _, s, b in run.samples)
    assert "converged=True" in repr(run)
    assert isinstance(plot_lambda(run), Figure)


def test_kappa_replay_with_more_grace_recomputes_the_batch_answer():
    events = generate_events(300, stragglers=0.05, straggler_delay=20_000, seed=5)
    truth = batch_aggregate(events, TumblingWindows(10_000))
    run = run_kappa(
        events,
        TumblingWindows(10_000),
        grace=0,
        reprocess_at=120_000,
        new_grace=disorder(r.timestamp for r in events),
        replay_rate=40,
    )
    kappa = run.kappa
    assert run.switched_at is not None and run.switched_at >= run.reprocess_at
    assert kappa.new is None and kappa.live.grace == disorder(r.timestamp for r in events)
    assert kappa.serving_view() == truth
    assert run.samples[-1][1] == 0
    assert "took over at" in repr(run)


def test_kappa_replay_with_the_same_grace_repeats_the_same_drops():
    events = generate_events(200, stragglers=0.1, straggler_delay=20_000, seed=6)
    kappa = KappaArchitecture(TumblingWindows(10_000), grace=1000)
    for r in events:
        kappa.append(r)
    before = kappa.serving_view()
    dropped = [x.record for x in kappa.live.side_output]
    assert dropped  # stragglers 20 s late, grace 1 s
    new = kappa.reprocess()
    assert kappa.lag == 200 and kappa.serving_view() == before  # old table served meanwhile
    assert kappa.replay(150) == 150 and kappa.new is new
    kappa.append(events[0])  # the log keeps growing while the new version catches up
    assert kappa.lag == 51
    kappa.replay(1000)
    assert kappa.live is new and kappa.lag == 0 and kappa.switches == [0]
    # The log kept the arrival order, so the same records were too late again.
    assert [x.record for x in new.side_output][: len(dropped)] == dropped
    with pytest.raises(InvalidArgument, match="call reprocess"):
        kappa.replay(1)
    assert repr(kappa).startswith("KappaArchitecture(topic 'events': 201 records retained")


def test_kappa_can_only_replay_what_the_log_retains():
    clock = VirtualClock()
    kappa = KappaArchitecture(
        TumblingWindows(10_000), grace=10**9, retention_ms=60_000, clock=clock
    )
    events = generate_events(200, interval=1000, seed=9)
    for r in events:
        clock.advance_to(max(clock.now(), r.arrival / 1000))
        kappa.append(r)
    clock.advance(30)  # retention deletes records more than 60 s old (by record timestamp)
    retained = kappa.retained()
    assert 0 < len(retained) < len(events)
    kappa.reprocess()
    kappa.replay(10_000)
    assert kappa.serving_view() == batch_aggregate(retained, TumblingWindows(10_000))
    assert kappa.serving_view() != batch_aggregate(events, TumblingWindows(10_000))


def test_kappa_refuses_keys_the_log_cannot_carry_and_bad_settings():
    kappa = KappaArchitecture(TumblingWindows(10))
    with pytest.raises(InvalidType, match=r"^key=7 is a int"):
        kappa.append((1, 7, 1))
    assert kappa.retained() == []
    with pytest.raises(OutOfRange, match="^grace=-1"):
        KappaArchitecture(TumblingWindows(10), grace=-1)
