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


ARROWS = ("publish", "confirm", "deliver", "ack", "commit", "nack")
MARKS = ("process", "crash", "restart", "redeliver", "dead_letter", "rebalance", "lost")


def by_gid(fig, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


@pytest.mark.parametrize(
    "values",
    [
        {"guarantee": "at-least-once", "crash_probability": 0.5, "seed": 30},
        {"guarantee": "at-most-once", "crash_probability": 0.3, "seed": 2},
        {"guarantee": "exactly-once", "crash_probability": 0.5, "seed": 7},
        {"guarantee": "at-least-once", "crash_probability": 0.0, "seed": 0},
    ],
)
def test_the_widget_picture_shows_every_event_and_anomaly_of_its_run(values):
    """The widget draws its diagram with collections and text outlines (for speed): each event
    of the run is still an arrow or a mark, each has its message id, each anomaly is named."""
    from brokerlab.diagram import _anomaly_name

    w = guarantee_widget()
    for name, value in values.items():
        w.controls[name].value = value
    w.redraw()
    run = guarantee_run(**values)
    events = run.history.events
    assert len(events) <= 60  # the widget draws up to 60: all of this run
    fig = w.figure

    def count(gid: str, what: str) -> int:
        return sum(len(getattr(c, what)()) for c in by_gid(fig, gid))

    redelivered = sum(1 for e in events if e.kind == "deliver" and e.get("redelivered"))
    kinds = [e.kind for e in events]
    for kind in ARROWS:
        drawn = count(f"arrows:{kind}", "get_segments")
        if kind == "deliver":
            drawn += count("arrows:redelivered", "get_segments")
        assert drawn == kinds.count(kind), kind
    assert count("arrows:redelivered", "get_segments") == redelivered  # dashed
    arrows = sum(kinds.count(k) for k in ARROWS)
    heads = sum(count(f"heads:{s}", "get_offsets") for s in (*ARROWS, "redelivered"))
    assert heads == arrows  # every arrow points somewhere
    for kind in MARKS:
        assert count(f"marks:{kind}", "get_offsets") == kinds.count(kind), kind
    lost_arrows = [e for e in events if e.kind == "lost" and e.get("what") in ARROWS]
    assert count("arrows:lost", "get_segments") == len(lost_arrows)
    # a message id on every arrow and every mark but a crash or a dropped message
    ids = [e for e in events if e.msg is not None and e.kind not in ("crash", "lost")]
    assert count("labels", "get_paths") == len(ids) + len(lost_arrows)
    # the anomalies: named at the right, their events highlighted, counted in the title
    anomalies = [a for a in run.report.anomalies() if a.kind != "unfinished"]
    names = [n for t in by_gid(fig, "anomaly-name") for n in t.get_text().split(", ")]
    assert sorted(names) == sorted(_anomaly_name(a) for a in anomalies)
    quoted = {e.index for a in anomalies for e in a.events}
    highlighted = count("anomaly-arrows", "get_segments") + count("anomaly-marks", "get_offsets")
    assert highlighted == len(quoted)
    c = run.counts
    assert f"{c['lost']} lost, {c['duplicated']} duplicated" in w.title.value
    assert w.ax.get_legend() is None  # the key is in the notebook, not in every picture
    lanes = [t.get_text() for t in w.ax.get_xticklabels()]
    assert set(lanes) >= {e.actor for e in events}


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
