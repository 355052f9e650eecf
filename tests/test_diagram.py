"""The sequence diagram: lanes, arrows and marks per event, anomalies highlighted, deterministic."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from brokerlab.checker import check  # noqa: E402
from brokerlab.diagram import draw_sequence, lanes_of  # noqa: E402
from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange  # noqa: E402
from brokerlab.history import History  # noqa: E402

DATA = Path(__file__).parent / "data" / "histories"


def load(name: str) -> History:
    return History.from_jsonl(DATA / f"{name}.jsonl")


def artists(fig: Figure, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def n_segments(fig: Figure, gid: str) -> int:
    return sum(len(c.get_segments()) for c in artists(fig, gid))


def n_points(fig: Figure, gid: str) -> int:
    return sum(len(c.get_offsets()) for c in artists(fig, gid))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_lanes_producers_broker_consumers():
    h = load("clean_at_least_once")
    assert lanes_of(h) == ["producer", "broker", "consumer-1", "consumer-2"]
    fig = draw_sequence(h)
    assert isinstance(fig, Figure)
    assert n_segments(fig, "lanes") == 4
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == lanes_of(h)


def test_one_arrow_or_mark_per_event():
    h = load("clean_at_least_once")
    fig = draw_sequence(h)
    kinds = [e.kind for e in h]
    redelivered = sum(1 for e in h if e.kind == "deliver" and e.get("redelivered"))
    assert n_segments(fig, "arrows:publish") == kinds.count("publish") == 3
    assert n_segments(fig, "arrows:deliver") == kinds.count("deliver") - redelivered == 3
    assert n_segments(fig, "arrows:redelivered") == redelivered == 2
    assert n_segments(fig, "arrows:ack") == kinds.count("ack") == 3
    assert n_segments(fig, "arrows:lost") == kinds.count("lost") == 1
    assert n_points(fig, "marks:process") == kinds.count("process") == 4
    assert n_points(fig, "marks:crash") == kinds.count("crash") == 1
    assert n_points(fig, "marks:redeliver") == kinds.count("redeliver") == 2
    # every arrow has a head
    heads = sum(n_points(fig, f"heads:{s}") for s in ("publish", "deliver", "redelivered", "ack"))
    assert heads == 3 + 3 + 2 + 3
    # arrows point the right way: publish producer(0) -> broker(1), ack consumer -> broker(1)
    (pub,) = artists(fig, "arrows:publish")
    assert all(seg[0][0] == 0 and seg[1][0] == 1 for seg in pub.get_segments())
    (ack,) = artists(fig, "arrows:ack")
    assert all(seg[1][0] == 1 and seg[0][0] > 1 for seg in ack.get_segments())


def test_crashes_dead_letters_and_lost_messages_are_marked():
    fig = draw_sequence(load("dead_letter_poison"))
    assert n_points(fig, "marks:dead_letter") == 1
    assert n_segments(fig, "arrows:nack") == 3
    fig = draw_sequence(load("lost_broker_restart"))
    assert n_points(fig, "marks:crash") == 1 and n_points(fig, "marks:restart") == 1
    assert n_points(fig, "marks:lost") == 1  # the dropped message: a cross on the broker's lane


def test_anomalies_are_highlighted_and_named():
    h = load("lost_ack_before_processing")
    report = check(h)
    fig = draw_sequence(h, report)
    (lost,) = report.lost
    arrows_quoted = [e for e in lost.events if e.kind in ("publish", "deliver", "ack")]
    marks_quoted = [e for e in lost.events if e.kind == "crash"]
    assert n_segments(fig, "anomaly-arrows") == len(arrows_quoted) == 3
    assert n_points(fig, "anomaly-marks") == len(marks_quoted) == 1
    (name,) = artists(fig, "anomaly-name")
    assert name.get_text() == "lost m2"
    assert name.get_color() == "#D55E00"  # vermillion
    assert "1 anomaly shown" in fig.axes[0].get_title(loc="left")
    # without a report nothing is highlighted
    plain = draw_sequence(h)
    assert artists(plain, "anomaly-arrows") == [] and artists(plain, "anomaly-name") == []


def test_several_anomalies_and_kinds_of_names():
    h = load("offsets_commit_back_and_skip")
    fig = draw_sequence(h, check(h))
    names = sorted(t.get_text() for t in artists(fig, "anomaly-name"))
    assert names == ["commit went back", "lost m2, lost m3, commit skipped m2"]


def test_max_events_draws_only_the_first_events():
    h = load("clean_at_least_once")
    fig = draw_sequence(h, check(h), max_events=5)
    assert n_segments(fig, "arrows:publish") == 3
    assert n_segments(fig, "arrows:deliver") == 1
    title = fig.axes[0].get_title(loc="left")
    assert "first 5 of 19 events, 0 anomalies shown (1 more after the last row)" in title
    # the duplicate happens later: nothing of it is highlighted
    assert artists(fig, "anomaly-name") == [] and artists(fig, "anomaly-arrows") == []


def test_draws_into_a_given_ax():
    fig = Figure()
    ax = fig.add_subplot()
    assert draw_sequence(load("order_per_key"), ax=ax) is fig
    assert len(fig.axes) == 1


def test_delivery_recorded_at_the_broker_goes_to_its_consumer():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "broker", "deliver", "m1", to="c")
    fig = draw_sequence(h)
    assert lanes_of(h) == ["p", "broker", "c"]
    (d,) = artists(fig, "arrows:deliver")
    ((x0, _), (x1, _)) = d.get_segments()[0]
    assert (x0, x1) == (1, 2)


def test_empty_history_draws_a_note():
    fig = draw_sequence(History())
    assert any(t.get_text() == "empty history" for t in fig.axes[0].texts)


def svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def test_same_history_same_svg():
    h = load("clean_at_least_once")
    with matplotlib.rc_context({"svg.hashsalt": "brokerlab"}):
        first = svg(draw_sequence(h, check(h)))
        second = svg(draw_sequence(History.from_jsonl(h.to_jsonl()), check(h)))
    assert first == second
    assert b"duplicated m2" in first


def test_sizes_are_pinned():
    fig = draw_sequence(load("order_per_key"))
    assert fig.dpi == 100
    w, h = fig.get_size_inches()
    assert 5 <= w <= 16 and 2.5 <= h <= 40


def test_bad_input_is_refused():
    h = load("order_per_key")
    with pytest.raises(InvalidType, match="needs a brokerlab.history.History"):
        draw_sequence([1, 2])  # type: ignore[arg-type]
    with pytest.raises(OutOfRange, match="max_events=0 is out of range"):
        draw_sequence(h, max_events=0)
    with pytest.raises(InvalidType):
        draw_sequence(h, report="lost")
    with pytest.raises(InvalidArgument, match="pass the report of this history"):
        draw_sequence(h, check(load("clean_at_least_once")))
