"""Windows: Kafka Streams conformance (data in tests/data/kafka_streams_windows.json), properties
of window assignment and session merging, and the errors bad arguments get."""

import doctest
import json
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import brokerlab.aggregation
import brokerlab.windows
from brokerlab.batch import batch_aggregate
from brokerlab.errors import BrokerError, InvalidArgument, InvalidType, OutOfRange
from brokerlab.stream import StreamProcessor
from brokerlab.windows import (
    HoppingWindows,
    SessionStore,
    SessionWindows,
    TumblingWindows,
    check_windows,
    make_windows,
    merge_sessions,
    windows_for,
)

DATA = json.loads((Path(__file__).parent / "data" / "kafka_streams_windows.json").read_text())


def _id(case):
    return case["source"].split(" ")[-1] if "derived" not in case["source"] else "derived"


# --- conformance -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", DATA["windows_for"], ids=[_id(c) for c in DATA["windows_for"]])
def test_windows_for_matches_kafka_streams(case):
    got = windows_for(case["timestamp"], case["size"], case["advance"])
    assert got == [tuple(w) for w in case["expected"]], case["source"]
    assert all(type(w) is tuple for w in got)
    spec = (
        TumblingWindows(case["size"])
        if case["advance"] is None
        else HoppingWindows(case["size"], case["advance"])
    )
    assert spec.windows_for(case["timestamp"]) == got


@pytest.mark.parametrize(
    "case", DATA["invalid_windows"], ids=[_id(c) for c in DATA["invalid_windows"]]
)
def test_invalid_window_arguments_are_refused_like_kafka_streams(case):
    with pytest.raises(OutOfRange) as err:
        windows_for(5, case["size"], case["advance"])
    assert str(err.value).startswith(f"{case['parameter']}=")
    assert "Pass" in str(err.value)
    with pytest.raises(OutOfRange):
        if case["advance"] is None:
            TumblingWindows(case["size"])
        else:
            HoppingWindows(case["size"], case["advance"])


def _sessions_of(processor):
    return sorted((key, list(w), v) for (key, w), v in processor.state().items())


@pytest.mark.parametrize(
    "case", DATA["session_merging"], ids=[_id(c) for c in DATA["session_merging"]]
)
@pytest.mark.parametrize("emit", ["on_update", "on_watermark", "on_close"])
def test_session_merging_matches_kafka_streams(case, emit):
    # A grace that covers every case, so only merging is tested here.
    p = StreamProcessor(SessionWindows(case["gap"]), grace=10**9, emit=emit)
    seen = []
    for step in case["steps"]:
        for rec in step["input"]:
            p.process(tuple(rec))
        seen.extend(tuple(r) for r in step["input"])
        expected = sorted((k, w, v) for k, w, v in step["expected_sessions"])
        assert _sessions_of(p) == expected, case["source"]
        # The batch answer over the same records agrees.
        batch = batch_aggregate(seen, SessionWindows(case["gap"]))
        assert sorted((k, list(w), v) for (k, w), v in batch.items()) == expected


def test_session_javadoc_example_keeps_all_four_values():
    p = StreamProcessor(SessionWindows(5), agg="list", emit="on_update")
    p.process_all([(10, "A", 1), (12, "A", 2), (20, "A", 3), (16, "A", 4)])
    assert p.results() == {("A", (10, 20)): (1, 2, 3, 4)}


# --- properties ------------------------------------------------------------------------------------------

sizes = st.integers(1, 60)


@st.composite
def size_and_advance(draw):
    size = draw(sizes)
    return size, draw(st.one_of(st.none(), st.integers(1, size)))


@given(size_and_advance(), st.integers(0, 10_000))
def test_windows_for_is_exactly_the_aligned_windows_containing_t(sa, t):
    size, advance = sa
    step = size if advance is None else advance
    got = windows_for(t, size, advance)
    # Brute force: every epoch-aligned window with start >= 0 that contains t.
    expected = [(s, s + size) for s in range(0, t + 1, step) if s <= t < s + size]
    assert got == expected
    assert got, "every timestamp >= 0 is in at least one window"
    assert got == sorted(got)
    if advance is None:
        assert len(got) == 1


@given(st.lists(st.integers(0, 300), min_size=1, max_size=40), st.integers(1, 30))
def test_sessions_are_maximal_runs_within_the_gap(timestamps, gap):
    sessions = SessionWindows(gap).sessions(timestamps)
    ts = sorted(timestamps)
    # Every timestamp is in exactly one session; sessions are separated by more than the gap.
    for t in ts:
        assert sum(1 for s, e in sessions if s <= t <= e) == 1
    for (_, e1), (s2, _) in pairwise(sessions):
        assert s2 - e1 > gap
    # Inside a session, consecutive timestamps are within the gap; bounds are real timestamps.
    for s, e in sessions:
        inside = [t for t in ts if s <= t <= e]
        assert inside[0] == s and inside[-1] == e
        assert all(b - a <= gap for a, b in pairwise(inside))


@given(st.lists(st.integers(0, 300), min_size=1, max_size=40), st.integers(1, 30), st.randoms())
def test_stream_sessions_do_not_depend_on_arrival_order(timestamps, gap, rnd):
    shuffled = list(timestamps)
    rnd.shuffle(shuffled)
    p = StreamProcessor(SessionWindows(gap), grace=10**6, emit="on_update")
    p.process_all([(t, "k", 1) for t in shuffled])
    assert sorted(w for (_, w) in p.state()) == SessionWindows(gap).sessions(timestamps)


@given(st.lists(st.integers(0, 300), min_size=1, max_size=40), st.integers(1, 30), st.randoms())
def test_merge_sessions_of_a_split_equals_sessions_of_the_whole(timestamps, gap, rnd):
    left = [t for t in timestamps if rnd.random() < 0.5]
    right = [t for t in timestamps if t not in left]
    spec = SessionWindows(gap)
    groups = merge_sessions(spec.sessions(left) + spec.sessions(right), gap)
    merged = [(min(w[0] for w in g), max(w[1] for w in g)) for g in groups]
    assert merged == spec.sessions(timestamps)


def test_session_store_finds_sessions_within_the_gap_inclusive():
    store = SessionStore(5)
    store.put((20, 20))
    store.put((10, 12))
    assert list(store) == [(10, 12), (20, 20)]
    assert store.find(17) == [(10, 12), (20, 20)]  # 17 - 12 = 5 and 20 - 17 = 3
    assert store.find(18) == [(20, 20)]  # 18 - 12 = 6 > gap
    assert store.find(25) == [(20, 20)]  # exactly gap after
    assert store.find(26) == []
    assert store.find(5) == [(10, 12)]  # exactly gap before
    assert store.find(4) == []
    store.remove((10, 12))
    assert len(store) == 1
    assert repr(store) == "SessionStore(gap=5: [20, 20])"


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, starts",
    [
        (lambda: windows_for(1.5, 10), InvalidType, "timestamp=1.5 is a float"),
        (lambda: windows_for(-1, 10), OutOfRange, "timestamp=-1 is out of range"),
        (lambda: windows_for("5", 10), InvalidType, "timestamp='5' is a str"),
        (lambda: windows_for(True, 10), InvalidType, "timestamp=True is a bool"),
        (lambda: windows_for(5, 10.0), InvalidType, "size=10.0 is a float"),
        (lambda: windows_for(5, 10, 2.5), InvalidType, "advance=2.5 is a float"),
        (lambda: windows_for(5, 10, 11), OutOfRange, "advance=11 is out of range"),
        (lambda: SessionWindows(0), OutOfRange, "gap=0 is out of range"),
        (lambda: SessionWindows(-3), OutOfRange, "gap=-3 is out of range"),
        (
            lambda: make_windows("sliding", size=10),
            InvalidArgument,
            "kind='sliding' is not a window kind",
        ),
        (lambda: make_windows("hopping", size=10), InvalidArgument, "advance=None"),
        (
            lambda: make_windows("session", size=10, gap=3),
            InvalidArgument,
            "size=10 does not apply",
        ),
        (lambda: check_windows("tumbling"), InvalidType, "windows='tumbling' is not a window spec"),
    ],
)
def test_bad_arguments_get_errors_naming_the_parameter_and_the_fix(call, exc, starts):
    with pytest.raises(exc) as err:
        call()
    assert isinstance(err.value, BrokerError)
    assert str(err.value).startswith(starts)
    assert "Pass" in str(err.value) or "use one of" in str(err.value) or "Leave" in str(err.value)


def test_errors_are_also_builtin_exceptions():
    with pytest.raises(ValueError):
        windows_for(-1, 10)
    with pytest.raises(TypeError):
        windows_for(1.0, 10)


def test_make_windows_builds_each_kind():
    assert make_windows("tumbling", size=10) == TumblingWindows(10)
    assert make_windows("hopping", size=10, advance=5) == HoppingWindows(10, 5)
    assert make_windows("session", gap=7) == SessionWindows(7)


def test_specs_have_readable_reprs_and_latest_times():
    t, h, s = TumblingWindows(10), HoppingWindows(12, 5), SessionWindows(5)
    assert repr(t) == "TumblingWindows(size=10)"
    assert repr(h) == "HoppingWindows(size=12, advance=5)"
    assert repr(s) == "SessionWindows(gap=5)"
    assert t.latest_time((10, 20)) == 19  # end is exclusive
    assert s.latest_time((10, 12)) == 17  # a record at 12 + 5 would still join
    assert t.describe((10, 20)) == "[10, 20)" and s.describe((10, 12)) == "[10, 12]"
    assert t.advance == 10 and t.kind == "tumbling" and h.kind == "hopping" and s.merging


def test_doctests_of_window_modules_pass():
    for module in (brokerlab.windows, brokerlab.aggregation):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
