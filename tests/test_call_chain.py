"""call_chain: synchronous calls against a queue, with and without a failing service.

What chapter 01 relies on: with nothing wrong, a synchronous caller waits for the sum of the
calls and a queued caller for the order service's own work plus one publish; every order is
accounted for; in the queued wiring every service does every order exactly once whatever goes
wrong (an outage only delays it); a dead service fails synchronous orders and makes the others
wait longer (the cascade), and leaves a backlog in its own queue instead; same seed, same run.
"""

from __future__ import annotations

import math

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

from brokerlab.call_chain import (  # noqa: E402
    _ENQUEUE,
    _HANDLE,
    SERVICES,
    ChainRun,
    Outage,
    plot_backlog,
    plot_caller_latency,
    plot_one_order,
    run_chain,
)
from brokerlab.errors import BrokerError  # noqa: E402

CALLS = sum(s for _, s in SERVICES)

outages = st.one_of(
    st.none(),
    st.builds(
        Outage,
        st.sampled_from([n for n, _ in SERVICES]),
        st.sampled_from([0.0, 5.0, 20.0]),
        st.sampled_from([20.0, 40.0, 80.0]),
        st.sampled_from([0.0, 2.0, 10.0]),
    ),
)


def test_without_contention_the_caller_waits_for_the_sum_of_the_calls():
    run = run_chain("synchronous", orders=20, rate=0.1)  # one order at a time
    assert all(math.isclose(lat, _HANDLE + CALLS) for lat in run.latencies)
    assert run.failed == 0


def test_queued_caller_waits_for_one_publish():
    run = run_chain("queued", orders=20, rate=0.1)
    assert all(math.isclose(lat, _HANDLE + _ENQUEUE) for lat in run.latencies)


@settings(derandomize=True, max_examples=40)
@given(
    outage=outages,
    rate=st.sampled_from([0.5, 2.0, 6.0]),
    workers=st.integers(1, 6),
    consumers=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_queued_every_service_does_every_order_exactly_once(outage, rate, workers, consumers, seed):
    run = run_chain(
        "queued",
        orders=40,
        rate=rate,
        outage=outage,
        workers=workers,
        consumers=consumers,
        seed=seed,
    )
    assert all(run.ok)
    for name, _ in SERVICES:
        times = run.done[name]
        assert len(times) == 40 and all(t is not None for t in times)
        for replied, t in zip(run.replied, times):
            assert t > replied  # work happens after the caller got its answer
        if outage is not None and outage.service == name and outage.slowdown == 0:
            started = [t - dict(SERVICES)[name] for t in times]
            assert not any(outage.start <= s < outage.end - 1e-9 for s in started)
    for steps in run.backlog.values():
        assert steps[-1][1] == 0  # every queue drained by the end


@settings(derandomize=True, max_examples=40)
@given(outage=outages, rate=st.sampled_from([0.5, 2.0, 6.0]), seed=st.integers(0, 1000))
def test_synchronous_orders_are_each_answered_once_and_fail_only_with_an_outage(outage, rate, seed):
    run = run_chain("synchronous", orders=40, rate=rate, outage=outage, seed=seed)
    assert len(run.replied) == 40
    for a, r in zip(run.arrivals, run.replied):
        assert r >= a + _HANDLE
    if (
        outage is None
        or outage.slowdown
        and outage.slowdown * dict(SERVICES)[outage.service] <= 3.0
    ):
        assert run.failed == 0
    for i, ok in enumerate(run.ok):  # a successful order went through every service
        if ok:
            assert all(run.done[n][i] is not None for n, _ in SERVICES)


def test_a_dead_service_cascades_synchronously_and_is_isolated_behind_a_queue():
    outage = Outage("email", 20, 40)
    sync = run_chain("synchronous", outage=outage)
    queued = run_chain("queued", outage=outage)
    calm = run_chain("synchronous")
    assert sync.failed > 0
    # orders that never touched email's outage wait longer too: the pool ran out
    assert sync.percentile(95) > 3 * calm.percentile(95)
    # the payment was taken for orders that then failed: partial work
    failed = [i for i, ok in enumerate(sync.ok) if not ok]
    assert sync.half_done()["payment"] == sum(sync.done["payment"][i] is not None for i in failed)
    assert sync.half_done()["payment"] > 0 and sync.half_done()["email"] == 0
    assert queued.half_done() == {"payment": 0, "inventory": 0, "email": 0}
    assert queued.failed == 0
    assert queued.percentile(100) == pytest.approx(_HANDLE + _ENQUEUE)
    backlog = queued.max_backlog()
    assert backlog["email"] > 5 * max(backlog["payment"], backlog["inventory"], 1)
    # no email job starts while email is down; the backlog is worked off afterwards
    started = [t - 0.4 for t in queued.done["email"]]
    assert not any(20 <= s < 40 - 1e-9 for s in started)
    assert queued.finished_at("email") > 40


def test_a_slow_service_cascades_without_failing():
    sync = run_chain("synchronous", outage=Outage("email", 20, 40, slowdown=5))
    assert sync.failed == 0
    assert sync.percentile(95) > 2.0


def test_same_seed_same_run():
    assert run_chain(seed=5) == run_chain(seed=5)
    assert run_chain(seed=5).arrivals != run_chain(seed=6).arrivals


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"mode": "async"}, "mode"),
        ({"orders": 0}, "orders"),
        ({"workers": 1.5}, "workers"),
        ({"outage": Outage("sms", 0, 1)}, "sms"),
        ({"outage": ("email", 0, 1)}, "outage"),
        ({"outage": Outage("email", 5, 1)}, "outage.end"),
        ({"services": (("a", 0.1), ("a", 0.2))}, "twice"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, name):
    with pytest.raises(BrokerError, match=name):
        run_chain(**kwargs)


def test_pictures():
    outage = Outage("email", 20, 40)
    runs = [run_chain(m, outage=outage) for m in ("synchronous", "queued")]
    assert "0.820" in plot_one_order().axes[0].get_title()
    ax = plot_caller_latency(*runs).axes[0]
    assert ax.get_yscale() == "log" and ax.get_legend() is not None
    ax = plot_backlog(runs[1]).axes[0]
    assert len(ax.get_lines()) == 3
    assert isinstance(runs[0], ChainRun) and "failed" in runs[0].summary()
