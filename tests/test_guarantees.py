"""Delivery guarantees side by side: each guarantee gives up exactly what its commit point says."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.errors import BrokerError
from brokerlab.guarantees import (
    FAULTS_SHOWN,
    draw_guarantee,
    fault_mix,
    fault_table,
    guarantee_counts,
    guarantee_run,
    guarantee_widget,
    plot_guarantee_counts,
)


@pytest.mark.parametrize("setup", ["queue", "sqs", "log"])
def test_each_single_fault_hurts_only_the_guarantee_that_gives_it_up(setup):
    table = fault_table(setup=setup)
    assert table.outcome("crash_before_processing", "at-most-once") == "1 lost"
    assert table.outcome("crash_after_processing", "at-least-once") == "1 duplicated"
    assert table.outcome("lost_ack", "at-least-once") == "1 duplicated"
    for f in FAULTS_SHOWN:
        assert table.outcome(f, "exactly-once") == "ok"
        assert "duplicated" not in table.outcome(f, "at-most-once")
        assert "lost" not in table.outcome(f, "at-least-once")
    # a retried publish duplicates on a queue; Kafka's idempotent producer (on by default) drops it
    expected = "ok" if setup == "log" else "1 duplicated"
    assert table.outcome("producer_retry", "at-least-once") == expected


def test_the_fault_table_prints_one_row_per_fault():
    lines = str(fault_table()).splitlines()
    assert lines[0].split() == ["fault", "at-most-once", "at-least-once", "exactly-once"]
    assert [line.split()[0] for line in lines[1:]] == list(FAULTS_SHOWN)


@settings(deadline=None, max_examples=10, derandomize=True)
@given(
    p=st.sampled_from([0.0, 0.05, 0.2, 0.4]),
    seed=st.integers(0, 1000),
    setup=st.sampled_from(["queue", "sqs", "log"]),
)
def test_a_fault_mix_never_breaks_the_guarantee_a_consumer_keeps(p, seed, setup):
    counts = guarantee_counts(p, seed, messages=15, setup=setup)
    assert counts.count("at-most-once", "duplicated") == 0
    assert counts.count("at-least-once", "lost") == 0
    assert counts.count("exactly-once", "lost") == 0
    assert counts.count("exactly-once", "duplicated") == 0
    assert guarantee_counts(p, seed, messages=15, setup=setup).runs["at-least-once"].history == (
        counts.runs["at-least-once"].history
    )


def test_the_mix_is_the_crash_probability_plus_the_fixed_faults():
    assert fault_mix(0.3) == {
        "crash_before_processing": 0.3,
        "crash_after_processing": 0.3,
        "lost_ack": 0.05,
        "producer_retry": 0.05,
    }


def test_counts_print_as_a_table_and_plot_as_bars():
    counts = guarantee_counts(0.1, 1, messages=20)
    text = str(counts).splitlines()
    assert text[1].split()[0] == "guarantee" and len(text) == 5
    fig = plot_guarantee_counts(counts)
    ax = fig.axes[0]
    heights = [round(b.get_height()) for b in ax.patches]
    names = ["at-most-once", "at-least-once", "exactly-once"]
    assert heights == [counts.count(g, "lost") for g in names] + [
        counts.count(g, "duplicated") for g in names
    ]
    assert ax.get_ylabel() == "messages" and ax.get_legend() is not None


def test_draw_guarantee_names_the_counts_of_the_run_it_draws():
    run = guarantee_run("at-most-once", 0.3, 2)
    fig = draw_guarantee(None, "at-most-once", 0.3, 2)
    title = fig.axes[0].get_title()
    assert title.startswith("at-most-once, crash p=0.3, seed 2")
    assert f"{run.counts['lost']} lost" in title
    compact = draw_guarantee(None, compact=True).axes[0]
    full = draw_guarantee(None).axes[0]
    assert compact.get_legend() is None and full.get_legend() is not None
    assert len(compact.get_yticks()) < len(full.get_yticks())


def test_the_widget_redraws_for_each_control():
    w = guarantee_widget()
    assert set(w.controls) == {"guarantee", "crash_probability", "seed"}
    first = w.png
    w.controls["seed"].value = 5
    second = w.png
    w.controls["guarantee"].value = "at-most-once"
    assert len({first, second, w.png}) == 3 and not w.error.value
    assert "at-most-once" in w.title.value


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: guarantee_run("exactly-twice"), "guarantee='exactly-twice'"),
        (lambda: fault_mix(1.5), "crash_probability=1.5"),
        (lambda: fault_mix("high"), "not a number"),
        (lambda: guarantee_counts(seed=-1), "seed=-1"),
        (lambda: guarantee_counts(setup="exchange"), "setup='exchange'"),
        (lambda: fault_table(messages=0), "messages=0"),
        (lambda: plot_guarantee_counts({}), "guarantee_counts"),
    ],
)
def test_errors_name_the_parameter(call, words):
    with pytest.raises(BrokerError, match=words):
        call()
