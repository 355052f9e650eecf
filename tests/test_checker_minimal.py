"""minimal_core: the smallest failing sub-history (1-minimal), for the counterexample search."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from brokerlab.checker import check, minimal_core, problems, violations
from brokerlab.errors import HistoryFormatError, InvalidArgument
from brokerlab.history import History
from test_checker_properties import queue_history, steps

DATA = Path(__file__).parent / "data" / "histories"


def assert_one_minimal(core: History, prop: str) -> None:
    """Well-formed, fails ``prop``, and dropping any single event breaks one of the two."""
    assert problems(core) == []
    assert not check(core).ok(prop)
    for i in range(len(core)):
        rest = core.select(j for j in range(len(core)) if j != i)
        assert problems(rest) or check(rest, strict=False).ok(prop), f"event #{i} can be dropped"


def noisy_ack_before_processing() -> History:
    """Ten messages through an at-most-once consumer (ack, then process); it crashes once."""
    h = History()
    t = 0.0
    for n in range(10):
        h.record(t, "producer", "publish", f"m{n}", key=f"k{n % 3}")
        t += 0.1
    for n in range(10):
        c = f"consumer-{n % 2}"
        h.record(t, c, "deliver", f"m{n}")
        h.record(t, c, "ack", f"m{n}")
        if n == 6:
            h.record(t, c, "crash", when="after ack, before processing")
        else:
            h.record(t + 0.05, c, "process", f"m{n}")
        t += 0.1
    return h


def test_ack_before_processing_core_is_publish_deliver_ack():
    h = noisy_ack_before_processing()
    assert len(h) == 40
    core = minimal_core(h, "at-least-once")
    assert [(e.kind, e.msg) for e in core] == [("publish", "m6"), ("deliver", "m6"), ("ack", "m6")]
    assert [e.index for e in core] == [0, 1, 2]
    assert_one_minimal(core, "at-least-once")
    assert check(core).lost[0].msg == "m6"
    assert len(h) == 40 and h[0].index == 0  # the input is untouched


@pytest.mark.parametrize(
    "name, prop",
    [
        ("lost_commit_before_processing", "at-least-once"),
        ("duplicated_crash_after_processing", "at-most-once"),
        ("duplicated_producer_retry", "exactly-once"),
        ("order_per_key", "per-key-order"),
        ("order_per_partition", "per-partition-order"),
        ("offsets_commit_back_and_skip", "offsets"),
        ("lost_on_the_wire", "at-least-once"),
    ],
)
def test_cores_of_hand_made_histories_are_one_minimal(name, prop):
    h = History.from_jsonl(DATA / f"{name}.jsonl")
    core = minimal_core(h, prop)
    assert len(core) < len(h)
    assert_one_minimal(core, prop)


def test_duplicate_core_keeps_both_effects():
    h = History.from_jsonl(DATA / "duplicated_crash_after_processing.jsonl")
    core = minimal_core(h, "at-most-once")
    assert [e.kind for e in core].count("process") == 2
    assert [e.kind for e in core].count("deliver") == 2


def test_refuses_passing_and_malformed_histories():
    clean = History.from_jsonl(DATA / "clean_dedup_consumer.jsonl")
    with pytest.raises(InvalidArgument, match="does not violate exactly-once"):
        minimal_core(clean, "exactly-once")
    with pytest.raises(HistoryFormatError):
        minimal_core(History.from_jsonl(DATA / "malformed_causality.jsonl"), "at-least-once")
    with pytest.raises(InvalidArgument, match="is not a property"):
        minimal_core(clean, "at-most-twice")


@settings(max_examples=25)
@given(steps)
def test_random_failing_histories_shrink_to_one_minimal_cores(plan):
    h = queue_history(plan)
    r = check(h)
    for prop in ("at-least-once", "at-most-once"):
        if not r.ok(prop):
            core = minimal_core(h, prop)
            assert_one_minimal(core, prop)
            assert len(core) <= 4  # publish (+ lost), deliver, ack / two effects...


def test_pick_the_anomaly_to_explain():
    h = noisy_ack_before_processing()
    h.record(9, "producer", "publish", "late")
    h.record(9, "consumer-0", "deliver", "late")
    h.record(9, "consumer-0", "ack", "late")
    h.record(9, "consumer-0", "crash")
    (m6,) = [a for a in check(h).lost if a.msg == "m6"]
    late = [a for a in check(h).lost if a.msg == "late"][0]
    assert [e.msg for e in minimal_core(h, "at-least-once", anomaly=m6)] == ["m6"] * 3
    assert [e.msg for e in minimal_core(h, "at-least-once", anomaly=late)] == ["late"] * 3
    assert violations(check(h), "at-most-once") == []
    elsewhere = check(History.from_jsonl(DATA / "lost_on_the_wire.jsonl")).lost[0]
    with pytest.raises(InvalidArgument, match="is not one of the anomalies"):
        minimal_core(h, "at-least-once", anomaly=elsewhere)
