"""load_leveling: a spike absorbed by a queue, and Little's law measured on the run.

What the chapter relies on: every message is taken and acknowledged exactly once; nobody starts
before arriving or finishes before starting; no more consumers are busy than exist; the depth
curve is the queue's ready count; Little's law holds on any seeded run over the run's horizon;
the same arguments give the same run; a spike the consumers cannot keep up with leaves a backlog
that more consumers remove; bad arguments are refused by name.
"""

from __future__ import annotations

import math

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from brokerlab.errors import BrokerError, InvalidType, OutOfRange  # noqa: E402
from brokerlab.load_leveling import SpikeRun, plot_spike, simulate_spike, spike_widget  # noqa: E402

runs = st.builds(
    simulate_spike,
    spike=st.integers(0, 150),
    consumers=st.integers(1, 6),
    service_time=st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]),
    base_rate=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    duration=st.sampled_from([0.0, 20.0, 60.0]),
    spike_start=st.sampled_from([0.0, 5.0, 30.0]),
    spike_length=st.sampled_from([0.0, 1.0, 10.0]),
    seed=st.integers(0, 2**16),
)


@settings(derandomize=True)
@given(runs)
def test_littles_law_holds_on_any_seeded_run(run: SpikeRun):
    law = run.littles_law()
    assert math.isclose(law.mean_depth, law.lambda_w, rel_tol=1e-9, abs_tol=1e-9)


@settings(derandomize=True)
@given(runs)
def test_every_message_is_taken_once_and_in_order_of_time(run: SpikeRun):
    n = len(run.arrivals)
    assert len(run.starts) == len(run.ends) == n
    for a, s, e in zip(run.arrivals, run.starts, run.ends):
        assert a <= s <= e
    assert list(run.arrivals) == sorted(run.arrivals)
    # first come, first served: a message never starts before one that arrived earlier
    assert list(run.starts) == sorted(run.starts)
    # never more jobs in progress than consumers
    edges = sorted([(s, 1) for s in run.starts] + [(e, -1) for e in run.ends])
    busy = 0
    for _, step in edges:
        busy += step
        assert busy <= run.consumers


@settings(derandomize=True)
@given(runs)
def test_depth_counts_the_messages_that_arrived_and_were_not_yet_taken(run: SpikeRun):
    times = [t for t, _ in run.depth]
    assert times == sorted(times) and run.depth[0] == (0.0, 0) and run.depth[-1][1] == 0
    last = dict(run.depth[1:-1])  # several changes at one instant: the last one counts
    for t, d in last.items():
        arrived = sum(a <= t for a in run.arrivals)
        taken = sum(s <= t for s in run.starts)
        assert d == arrived - taken


def test_same_arguments_same_run_and_another_seed_another_run():
    assert simulate_spike(seed=3) == simulate_spike(seed=3)
    assert simulate_spike(seed=3).arrivals != simulate_spike(seed=4).arrivals


def test_spike_count_and_window():
    run = simulate_spike(spike=40, base_rate=0, spike_start=10, spike_length=5)
    assert len(run.arrivals) == 40
    assert all(10 <= a < 15 for a in run.arrivals)


def test_more_consumers_shrink_the_backlog_a_spike_leaves():
    few = simulate_spike(spike=100, consumers=2, service_time=2.0)
    many = simulate_spike(spike=100, consumers=8, service_time=2.0)
    assert few.max_depth > many.max_depth
    assert few.littles_law().mean_wait > many.littles_law().mean_wait
    assert few.max_wait > many.max_wait


def test_no_spike_and_spare_capacity_means_almost_no_waiting():
    run = simulate_spike(spike=0, consumers=10, service_time=0.5)
    assert run.littles_law().mean_wait < 0.05
    assert run.capacity == 20


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"spike": -1}, "spike"),
        ({"spike": 2.5}, "spike"),
        ({"consumers": 0}, "consumers"),
        ({"service_time": 0}, "service_time"),
        ({"base_rate": -1}, "base_rate"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, name):
    with pytest.raises(BrokerError, match=name):
        simulate_spike(**kwargs)


def test_plot_spike_draws_depth_waits_and_the_law_in_the_title():
    run = simulate_spike()
    fig = plot_spike(run)
    ax = fig.axes[0]
    assert "Little's law" in ax.get_title()
    assert f"{run.littles_law().mean_depth:.2f}" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    with pytest.raises(InvalidType):
        plot_spike("not a run")


def test_spike_widget_redraws_for_new_values():
    w = spike_widget()
    first = w.png
    w.controls["consumers"].value = 6
    assert w.png != first and not w.error.value
    assert "law on this run" in w.title.value
    with pytest.raises(OutOfRange):
        spike_widget(consumers=0)
