"""The checker on hand-made histories: every anomaly detected *and* quoted; no false alarms."""

from __future__ import annotations

from pathlib import Path

import pytest

from brokerlab.checker import (
    ANOMALY_KINDS,
    PROPERTIES,
    Report,
    check,
    problems,
    property_name,
    validate,
    well_formed,
)
from brokerlab.errors import HistoryFormatError, InvalidArgument, InvalidType
from brokerlab.history import History

DATA = Path(__file__).parent / "data" / "histories"


def load(name: str) -> History:
    return History.from_jsonl(DATA / f"{name}.jsonl")


def counts(report: Report) -> dict[str, int]:
    return {k: v for k, v in report.counts().items() if v}


# --- each anomaly, detected and quoted ------------------------------------------------------------


def test_lost_when_acked_before_processing():
    r = check(load("lost_ack_before_processing"))
    assert counts(r) == {"lost": 1}
    (a,) = r.lost
    assert (a.kind, a.what, a.msg) == ("lost", "acked", "m2")
    # publish, deliver, the ack that released it, and the crash that explains it
    assert a.indices == (1, 5, 6, 7)
    assert [e.kind for e in a.events] == ["publish", "deliver", "ack", "crash"]
    assert "acked by consumer-1 at t=2 (#6) but never processed" in a.reason
    assert not r.ok("at-least-once") and r.ok("at-most-once") and not r.ok("exactly-once")
    assert "m2" in r.verdicts["at-least-once"].reason


def test_lost_when_committed_before_processing():
    r = check(load("lost_commit_before_processing"))
    assert counts(r) == {"lost": 1}
    (a,) = r.lost
    assert (a.what, a.msg, a.group, a.partition) == ("committed", "m1", "billing", 0)
    assert a.indices == (1, 4, 5, 7)  # publish, deliver, the commit past it, the crash
    assert a.events[2].kind == "commit" and a.events[2].offset == 2


def test_lost_on_the_wire_only_without_a_successful_retry():
    r = check(load("lost_on_the_wire"))
    assert counts(r) == {"lost": 1}
    (a,) = r.lost
    assert (a.what, a.msg, a.indices) == ("wire", "m1", (0, 1))
    # a retry that gets through is not lost (it is unfinished until consumed)
    h = load("lost_on_the_wire")
    h.record(2.0, "producer", "publish", "m1", attempt=2)
    assert counts(check(h)) == {"unfinished": 1}
    # the same, but now the retry is delivered and processed: clean
    h.record(2.1, "consumer-1", "deliver", "m1")
    h.record(2.2, "consumer-1", "process", "m1")
    assert counts(check(h)) == {}


def test_lost_when_the_broker_drops_it():
    r = check(load("lost_broker_restart"))
    (a,) = r.lost
    assert (a.what, a.msg, a.indices) == ("dropped", "m2", (1, 6))
    assert "non-durable queue" in a.reason


def test_duplicated_after_crash_between_processing_and_ack():
    r = check(load("duplicated_crash_after_processing"))
    assert counts(r) == {"duplicated": 1}
    (a,) = r.duplicated
    assert a.msg == "m1"
    assert {2, 6} <= set(a.indices)  # both effects are quoted
    assert [e.index for e in a.events if e.kind == "process"] == [2, 6]
    assert "after a redelivery (#4)" in a.reason
    assert r.ok("at-least-once") and not r.ok("at-most-once") and not r.ok("exactly-once")


def test_duplicated_after_producer_retry():
    r = check(load("duplicated_producer_retry"))
    (a,) = r.duplicated
    assert [e.index for e in a.events if e.kind == "process"] == [5, 8]
    assert [e.index for e in a.events if e.kind == "publish"] == [0, 2]
    assert "producer retry (#2)" in a.reason


def test_order_per_key():
    r = check(load("order_per_key"))
    assert counts(r) == {"order": 1}
    (a,) = r.order
    assert (a.what, a.msg, a.key) == ("key", "deposit", "account-7")
    assert a.indices == (0, 1, 4, 6)  # both publishes, then both effects
    assert not r.ok("per-key-order") and r.ok("per-partition-order") and r.ok("exactly-once")


def test_order_per_partition():
    r = check(load("order_per_partition"))
    assert counts(r) == {"order": 1}
    (a,) = r.order
    assert (a.what, a.msg, a.partition, a.indices) == ("partition", "m0", 3, (4, 5))
    assert r.ok("per-key-order") and not r.ok("per-partition-order")


def test_offsets_commit_back_and_commit_skip():
    r = check(load("offsets_commit_back_and_skip"))
    back, skip = r.offsets
    assert (back.what, back.indices) == ("commit went back", (8, 9))
    assert (skip.what, skip.msg) == ("commit skipped", "m2")
    assert skip.indices == (2, 6, 10)  # the first skipped message, the last delivery, the commit
    assert "2 existing offset(s) from 2" in skip.reason
    # what was committed past without being processed is lost, too
    assert [a.msg for a in r.lost] == ["m2", "m3"]
    assert not r.ok("offsets")


def test_offsets_delivery_skipped():
    r = check(load("offsets_delivery_skipped"))
    (a,) = r.offsets
    assert (a.what, a.msg, a.indices) == ("delivery skipped", "m1", (1, 3, 5))
    assert [u.msg for u in r.unfinished] == ["m1"]  # still held: not lost


def test_delivery_going_back_without_reason_is_reported():
    h = History()
    for o in range(3):
        h.record(0, "p", "publish", f"m{o}", partition=0, offset=o)
    h.record(1, "c", "deliver", "m0", partition=0, offset=0)
    h.record(1, "c", "deliver", "m1", partition=0, offset=1)
    h.record(1, "c", "deliver", "m0", partition=0, offset=0)
    r = check(h)
    (a,) = r.offsets
    assert (a.what, a.indices) == ("delivery went back", (4, 5))
    # marked as a redelivery (or after a crash / rebalance): expected, not an anomaly
    h2 = h.select(range(5))
    h2.record(1, "c", "deliver", "m0", partition=0, offset=0, redelivered=True)
    assert check(h2).offsets == []
    h3 = h.select(range(5))
    h3.record(1, "c", "rebalance")
    h3.record(1, "c", "deliver", "m0", partition=0, offset=0)
    assert check(h3).offsets == []


def test_dead_lettered_listed_with_reason_and_not_lost():
    r = check(load("dead_letter_poison"))
    assert counts(r) == {"dead_lettered": 1}
    (a,) = r.dead_lettered
    assert (a.msg, a.what, a.indices) == ("poison", "rejected", (0, 8))
    assert r.ok("exactly-once")


def test_unfinished_is_not_lost():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1")
    r = check(h)
    assert counts(r) == {"unfinished": 1}
    assert r.unfinished[0].indices == (0, 1)
    assert r.ok("at-least-once") and r.ok("exactly-once")
    assert "1 still held by the broker" in r.verdicts["at-least-once"].reason


# --- clean histories: no false alarms ----------------------------------------------------------------


def test_at_least_once_with_redeliveries_loses_nothing():
    r = check(load("clean_at_least_once"))
    assert r.lost == [] and r.unfinished == [] and r.offsets == [] and r.order == []
    assert [a.msg for a in r.duplicated] == ["m2"]  # the lost ack made m2 take effect twice
    assert r.ok("at-least-once") and r.ok("per-key-order")


def test_dedup_consumer_is_exactly_once():
    r = check(load("clean_dedup_consumer"))
    assert counts(r) == {}
    assert all(v.ok for v in r.verdicts.values())
    assert r.processed == 1 and r.messages == 1


def test_log_rebalance_rereads_without_offsets_anomalies():
    r = check(load("clean_log_rebalance"))
    assert r.offsets == [] and r.lost == [] and r.order == []
    assert [a.msg for a in r.duplicated] == ["m1"]  # re-read after the crash: at-least-once


def test_empty_history():
    r = check(History())
    assert r.messages == 0 and counts(r) == {}
    assert all(v.ok for v in r.verdicts.values())


# --- groups (pub/sub) and the delivery recorded at the broker ---------------------------------------


def test_each_group_is_checked_on_its_own():
    h = History()
    h.record(0, "p", "publish", "m1", partition=0, offset=0)
    h.record(0, "p", "publish", "m2", partition=0, offset=1)
    # group "audit" reads both; group "billing" commits past m2 without processing it
    for i, m in enumerate(("m1", "m2")):
        h.record(1, "audit-1", "deliver", m, partition=0, offset=i, group="audit")
        h.record(1, "audit-1", "process", m)
    h.record(2, "billing-1", "deliver", "m1", partition=0, offset=0, group="billing")
    h.record(2, "billing-1", "process", "m1")
    h.record(2, "billing-1", "commit", partition=0, offset=2)
    r = check(h)
    assert [(a.msg, a.group) for a in r.lost] == [("m2", "billing")]
    assert r.processed == 3  # (m1, audit), (m2, audit), (m1, billing)
    assert r.duplicated == []


def test_group_inferred_from_an_actors_other_events():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1", group="g")
    h.record(1, "c", "process", "m1")  # no group here: c is in g
    h.record(1, "c", "process", "m1")
    (a,) = check(h).duplicated
    assert a.group == "g"


def test_delivery_recorded_at_the_broker_with_to():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "broker", "deliver", "m1", to="c")
    h.record(1, "c", "ack", "m1")
    assert well_formed(h)
    (a,) = check(h).lost
    assert a.indices == (0, 1, 2)


# --- well-formedness ---------------------------------------------------------------------------------


def test_causality_problems_are_named():
    h = load("malformed_causality")
    found = problems(h)
    assert [p.index for p in found] == [1, 2, 3, 3]
    text = [p.reason for p in found]
    assert "deliver of m2, but m2 was never published before it" in text[0]
    assert "consumer-2 acks m1, but m1 was never delivered to consumer-2" in text[1]
    assert "time goes backwards: t=0.5 after t=1.1" in text[2]
    assert "consumer-1 processed m1, but m1 was never delivered to consumer-1" in text[3]
    assert not well_formed(h)
    with pytest.raises(HistoryFormatError, match="4 problem") as err:
        check(h)
    assert "event #1" in str(err.value) and "strict=False" in str(err.value)
    with pytest.raises(HistoryFormatError):
        validate(h)
    r = check(h, strict=False)
    assert len(r.problems) == 4 and "4 problems" in repr(r)


def changed(e, **fields):
    """Change an event after it was recorded (record() refuses bad fields; the checker must
    still name them in a history whose events were changed later)."""
    for name, value in fields.items():
        setattr(e, name, value)
    return e


@pytest.mark.parametrize(
    "build, reason",
    [
        (lambda h: h.record(0, "p", "deliver"), "must name its message"),
        (lambda h: h.record(0, "c", "commit", partition=0), "a commit needs partition"),
        (lambda h: h.record(0, "c", "lost", "m9"), "needs info what="),
        (lambda h: h.record(0, "c", "lost", what="publish"), "must name its message"),
        (lambda h: changed(h.record(0, "c", "crash"), actor=""), "not a non-empty string"),
        (lambda h: changed(h.record(0, "c", "crash"), time=float("nan")), "not a finite number"),
        (
            lambda h: changed(
                h.record(0, "c", "deliver", "m1", partition=0, offset=0), partition=-1
            ),
            "whole number",
        ),
        (
            lambda h: changed(h.record(0, "c", "deliver", "m1"), info={"group": 7}),
            "group=7 is not a string",
        ),
        (lambda h: h.record(0, "c", "dead_letter", "m9"), "never published"),
        (lambda h: changed(h.record(0, "c", "crash"), time="0"), "it is a str"),
        (lambda h: changed(h.record(0, "c", "crash"), time=10**400), "an int of 401 digits"),
        (lambda h: changed(h.record(0, "c", "deliver", "m1"), msg=1), 'e.g. "1"'),
        (lambda h: changed(h.record(0, "c", "deliver", "m1"), key=["k"]), "key=['k'] is not"),
        (lambda h: changed(h.record(0, "c", "crash"), kind="recieve"), "not an event kind"),
        (lambda h: changed(h.record(0, "c", "crash"), info=[1]), "info=[1] is not a dict"),
        (lambda h: changed(h.record(0, "c", "crash"), index=7), "not its position 1"),
        (
            lambda h: changed(h.record(0, "c", "deliver", "m1"), info={"topic": 3}),
            "topic=3 is not a string",
        ),
    ],
)
def test_malformed_event_reasons(build, reason):
    h = History()
    h.record(0, "p", "publish", "m1")
    build(h)
    found = problems(h)
    assert found and reason in found[0].reason, found
    assert found[0].index == 1
    # the error that quotes the event is built without a crash, and so is a lenient report
    with pytest.raises(HistoryFormatError, match="event #1"):
        check(h)
    assert check(h, strict=False).problems == found


def test_ack_twice_and_actor_in_two_groups():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1", group="a")
    h.record(1, "c", "ack", "m1")
    h.record(1, "c", "ack", "m1")
    h.record(1, "c", "deliver", "m1", group="b")
    reasons = [p.reason for p in problems(h)]
    assert "acking twice is an error" in reasons[0]
    assert "an actor belongs to one group" in reasons[1]


def test_check_refuses_what_is_not_a_history():
    with pytest.raises(InvalidType, match="History.from_jsonl"):
        check([1, 2, 3])  # type: ignore[arg-type]


# --- the report --------------------------------------------------------------------------------------


def test_properties_and_aliases():
    r = check(load("lost_ack_before_processing"))
    assert set(r.verdicts) == set(PROPERTIES)
    assert r.ok("exactly_once effect") is r.ok("exactly-once") is False
    assert property_name("At least once") == "at-least-once"
    with pytest.raises(InvalidArgument, match="is not a property: use one of at-most-once"):
        r.ok("exactly-twice")
    with pytest.raises(InvalidType):
        r.ok(3)  # type: ignore[arg-type]


def test_report_repr_summary_and_html():
    r = check(load("lost_ack_before_processing"))
    text = repr(r)
    assert text.startswith("Report(8 events, 2 messages: lost=1 duplicated=0")
    assert "at-least-once=FAIL" in text and "at-most-once=ok" in text
    assert "FAIL at-least-once: 1 message(s) lost, e.g. m2" in r.summary()
    html = r._repr_html_()
    assert html.count("<tr>") == 1 + len(PROPERTIES)
    assert "<li><b>lost</b> m2" in html
    assert repr(r.lost[0]).startswith("Anomaly(lost m2: acked by consumer-1")
    assert repr(r.verdicts["at-most-once"]).startswith("Verdict(at-most-once: ok")


def test_anomalies_listing():
    r = check(load("offsets_commit_back_and_skip"))
    kinds = [a.kind for a in r.anomalies()]
    assert kinds == sorted(kinds, key=ANOMALY_KINDS.index)
    assert len(r.anomalies("lost")) == 2
    with pytest.raises(InvalidArgument, match="not an anomaly kind"):
        r.anomalies("missing")


def test_check_is_deterministic_and_leaves_history_alone():
    h = load("clean_at_least_once")
    before = h.to_jsonl()
    assert repr(check(h)) == repr(check(h))
    assert [a.indices for a in check(h).anomalies()] == [a.indices for a in check(h).anomalies()]
    assert h.to_jsonl() == before


def test_group_learnt_after_the_actor_acted_still_applies_to_all_its_events():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1")
    h.record(1, "c", "process", "m1")
    h.record(2, "c", "deliver", "m1")
    h.record(2, "c", "process", "m1")
    h.record(3, "c", "rebalance", group="late")
    (a,) = check(h).duplicated
    assert a.group == "late" and "in group late" in a.reason


def test_reading_on_after_a_rewind_is_not_going_back():
    h = History()
    for o in range(4):
        h.record(0, "p", "publish", f"m{o}", partition=0, offset=o)
    for o in (0, 1, 2):
        h.record(1, "c", "deliver", f"m{o}", partition=0, offset=o)
    h.record(2, "c", "rebalance")
    for o in (1, 2, 3):  # the new owner re-reads from 1 and goes on
        h.record(3, "c", "deliver", f"m{o}", partition=0, offset=o)
    assert check(h).offsets == []
