"""Bad input to the history and the checker: a clear BrokerError naming the parameter (or, in a
file, the line and the field), never a crash while the error is built, and nothing changed."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.checker import (
    Report,
    check,
    minimal_core,
    problems,
    property_name,
    validate,
    violations,
)
from brokerlab.errors import BrokerError, HistoryFormatError, InvalidArgument, InvalidType
from brokerlab.history import Event, History

# --- the reproductions -------------------------------------------------------------------


def test_the_reported_crashes_are_clear_errors_now():
    h = History()
    with pytest.raises(InvalidType, match=r"^time='0' is not a finite number"):
        h.record("0", "p", "publish", "m1")
    with pytest.raises(InvalidType, match=r'^msg=1 is not a string.*e\.g\. "1"'):
        h.record(0, "p", "publish", 1)
    with pytest.raises(InvalidArgument, match=r"^time=an int of 401 digits is not a finite"):
        h.record(10**400, "p", "publish", "m1")
    assert len(h) == 0


def test_a_history_changed_after_recording_is_named_not_crashed_on():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1")
    h[0].time = "0"
    h[1].msg = 1
    with pytest.raises(HistoryFormatError) as err:
        check(h)
    text = str(err.value)
    assert "event #0 <#0 t='0' p publish m1>: time='0' is not a finite number" in text
    assert "event #1 <#1 t=1 c deliver 1>: msg=1 is not a string" in text
    r = check(h, strict=False)
    assert [p.index for p in r.problems] == [0, 1] and r.messages == 0
    h[0].time = 10**400
    assert "an int of 401 digits" in str(problems(h)[0])


def test_from_jsonl_tells_a_path_from_a_text(tmp_path):
    line = json.dumps({"time": 0, "actor": "p", "kind": "publish", "msg": "m" * 5000})
    assert History.from_jsonl(line)[0].msg == "m" * 5000  # one long line: the text itself
    assert len(History.from_jsonl("")) == 0 and len(History.from_jsonl("  \n")) == 0
    with pytest.raises(HistoryFormatError, match="names no file"):
        History.from_jsonl("runs/missing.jsonl")
    with pytest.raises(HistoryFormatError, match="names no file"):
        History.from_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(HistoryFormatError, match="cannot be read as a file"):
        History.from_jsonl(str(tmp_path))  # a directory
    with pytest.raises(HistoryFormatError, match="cannot be read as a file"):
        History.from_jsonl("x" * 5000)  # not JSON, and too long for a file name
    with pytest.raises(InvalidType, match="source=b'"):
        History.from_jsonl(line.encode())  # type: ignore[arg-type]
    path = tmp_path / "run.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    assert History.from_jsonl(str(path)) == History.from_jsonl(path) == History.from_jsonl(line)


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"time": 1' + "0" * 400 + ', "actor": "p", "kind": "crash"}', "an int of 401 digits"),
        ('{"time": 1' + "0" * 5000 + ', "actor": "p", "kind": "crash"}', "not usable JSON"),
        ("[" * 100_000, "not usable JSON"),
        ('{"time": 0, "actor": "p", "kind": "crash", "info": {"group": 1}}', "group=1"),
        ('{"time": 0, "actor": "p", "kind": "deliver", "msg": "m", "info": {"to": ""}}', "to=''"),
        ('{"time": 0, "actor": "p", "kind": 5}', "kind=5 is not an event kind"),
    ],
)
def test_from_jsonl_names_the_line_and_the_field(line, reason):
    good = '{"time": 0, "actor": "p", "kind": "publish", "msg": "m0"}'
    with pytest.raises(HistoryFormatError) as err:
        History.from_jsonl(good + "\n" + line + "\n")
    assert str(err.value).startswith("line 2: ") and reason in str(err.value)


# --- every public entry point: wrong types, out of range, NaN, None -------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=5),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
FIELDS = ("time", "actor", "kind", "msg", "key", "partition", "offset", "group", "to")
GOOD = {"time": 1.0, "actor": "c", "kind": "deliver", "msg": "m1", "key": None}


def good_value(name, value) -> bool:
    """Whether ``value`` is allowed for field ``name`` (the rules record() enforces)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "time":
        return number and -sys.float_info.max <= value <= sys.float_info.max
    if name == "actor":
        return isinstance(value, str) and value != ""
    if name == "kind":
        return value in ("publish", "deliver", "crash", "ack") and isinstance(value, str)
    if name in ("msg", "key"):
        return value is None or isinstance(value, str)
    if name in ("partition", "offset"):
        return value is None or (number and isinstance(value, int) and 0 <= value < 2**63)
    if name == "group":
        return isinstance(value, str)
    return isinstance(value, str) and value != ""  # to


def small_history() -> History:
    h = History()
    h.record(0, "p", "publish", "m1", key="k")
    h.record(0.5, "c", "deliver", "m1", key="k", group="g")
    return h


@given(st.sampled_from(FIELDS), junk)
def test_record_refuses_a_bad_field_by_name_and_changes_nothing(name, value):
    h = small_history()
    before = h.to_jsonl()
    args = dict(GOOD)
    info = {}
    if name in ("group", "to"):
        info[name] = value
    else:
        args[name] = value
    try:
        h.record(
            args["time"],
            args["actor"],
            args["kind"],
            args["msg"],
            key=args["key"],
            partition=args.get("partition"),
            offset=args.get("offset"),
            **info,
        )
    except BrokerError as exc:
        assert isinstance(exc, (InvalidType, InvalidArgument))
        assert str(exc).startswith(f"{name}="), exc
        assert not good_value(name, value)
        assert h.to_jsonl() == before and len(h) == 2
    else:
        assert good_value(name, value) or (name == "kind" and value in ("commit", "lost"))
        assert len(h) == 3


@given(st.sampled_from(FIELDS[:7] + ("info", "index")), junk)
def test_append_refuses_a_bad_event_and_changes_neither(name, value):
    h = small_history()
    e = Event(1.0, "c", "ack", "m1")
    setattr(e, name, value)
    before = (h.to_jsonl(), e.index)
    try:
        h.append(e)
    except BrokerError as exc:
        assert str(exc).startswith(f"event.{name}="), exc
        assert (h.to_jsonl(), e.index) == before
    else:
        assert h[-1] is e and e.index == 2


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(FIELDS[:7] + ("info",)), junk)))
def test_check_never_crashes_on_changed_events(changes):
    """Whatever the events hold, check() reports or refuses with HistoryFormatError."""
    h = History()
    h.record(0, "p", "publish", "m1", key="k", partition=0, offset=0)
    h.record(1, "c", "deliver", "m1", key="k", partition=0, offset=0, group="g")
    h.record(2, "c", "process", "m1")
    h.record(2, "c", "commit", partition=0, offset=1)
    h.record(3, "c", "crash")
    h.record(4, "broker", "dead_letter", "m1", reason="rejected")
    for i, name, value in changes:
        setattr(h[i], name, value)
    found = problems(h)
    for p in found:
        assert str(p)  # quoting the event never raises
    try:
        r = check(h)
    except HistoryFormatError as exc:
        assert found and "event #" in str(exc)
    else:
        assert not found
    r = check(h, strict=False)
    assert isinstance(r, Report) and r.problems == found
    assert repr(r) and r.summary() and r._repr_html_()
    for a in r.anomalies():
        assert repr(a)


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)


@given(
    st.dictionaries(
        st.sampled_from(("time", "actor", "kind", "msg", "key", "partition", "offset", "info")),
        json_values,
    )
)
def test_from_jsonl_either_loads_or_names_the_line(d):
    text = '{"time": 0, "actor": "p", "kind": "crash"}\n' + json.dumps(d) + "\n"
    try:
        h = History.from_jsonl(text)
    except HistoryFormatError as exc:
        assert str(exc).startswith("line 2: ")
    else:
        assert len(h) == 2
        check(h, strict=False)  # and it can be checked


def _names_a_property(value) -> bool:
    try:
        property_name(value)
    except (InvalidType, InvalidArgument):
        return False
    return True


@given(junk)
def test_the_checkers_parameters_are_checked(value):
    h = small_history()
    r = check(h)
    if not isinstance(value, bool):
        with pytest.raises(InvalidType, match="strict="):
            check(h, strict=value)  # type: ignore[arg-type]
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        with pytest.raises(InvalidArgument, match="limit="):
            validate(h, limit=value)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="limit="):
            r.summary(limit=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="history is a"):
        check(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="history is a"):
        problems(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidType, match="report="):
        violations(value, "at-least-once")  # type: ignore[arg-type]
    if not _names_a_property(value):  # "EO" is junk to hypothesis, exactly-once to the checker
        with pytest.raises((InvalidType, InvalidArgument), match="property="):
            r.ok(value)  # type: ignore[arg-type]
    if value is not None:
        with pytest.raises(InvalidArgument, match="kind="):
            r.anomalies(value)  # type: ignore[arg-type]


def test_minimal_core_and_select_check_their_arguments():
    h = small_history()
    h.record(1, "c", "ack", "m1")
    with pytest.raises(InvalidType, match="anomaly="):
        minimal_core(h, "at-least-once", anomaly="lost m1")  # type: ignore[arg-type]
    for bad in ([2.0], [5], ["0"], [True], 3, "01"):
        with pytest.raises(BrokerError, match="indices"):
            h.select(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="not an event kind"):
        h.of_kind("delivered")
    with pytest.raises(InvalidType, match="path="):
        h.to_jsonl(3)  # type: ignore[arg-type]
    h2 = History()
    h2.record(0, "p", "crash", reason=math.inf)
    with pytest.raises(HistoryFormatError, match="cannot be written as JSON"):
        h2.to_jsonl()
    with pytest.raises(InvalidType, match="append"):
        History([1])  # type: ignore[list-item]
    with pytest.raises(InvalidType, match="events="):
        History(3)  # type: ignore[arg-type]
    assert Path  # (imported for the tmp_path tests above)
