"""Stream time, Flink's watermark (conformance data in tests/data/flink_watermarks.json), Kafka's
grace rule, and disorder."""

import doctest
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import brokerlab.watermark
from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange
from brokerlab.watermark import StreamTime, check_bound_within_grace, disorder, flink_watermark
from brokerlab.windows import SessionWindows, TumblingWindows

FLINK = json.loads((Path(__file__).parent / "data" / "flink_watermarks.json").read_text())
KAFKA = json.loads((Path(__file__).parent / "data" / "kafka_streams_windows.json").read_text())


@pytest.mark.parametrize(
    "case", FLINK["cases"], ids=[c["source"].split()[-1] for c in FLINK["cases"]]
)
def test_watermark_matches_flink_bounded_out_of_orderness(case):
    st_ = StreamTime(bound=case["bound"], grace=case["bound"])
    for t in case["timestamps"]:
        st_.observe(t)
    assert st_.watermark == case["expected"], case["source"]
    if case["timestamps"]:
        assert flink_watermark(max(case["timestamps"]), case["bound"]) == case["expected"]


@pytest.mark.parametrize("case", KAFKA["grace"], ids=["grace-0", "grace-negative"])
def test_grace_boundaries_match_kafka_streams(case):
    if case["valid"]:
        assert StreamTime(grace=case["grace"]).grace == case["grace"]
    else:
        with pytest.raises(OutOfRange, match=r"^grace=-1 is out of range.*Pass"):
            StreamTime(grace=case["grace"])


def test_stream_time_only_moves_forward_and_lateness_is_distance_behind_it():
    st_ = StreamTime(bound=10, grace=30)
    assert st_.stream_time is None and st_.watermark is None and st_.lateness(5) == 0
    assert st_.observe(100) == 100
    assert st_.observe(40) == 100  # an old record does not move stream time back
    assert st_.lateness(40) == 60 and st_.lateness(100) == 0 and st_.lateness(120) == 0
    assert st_.watermark == 89
    assert repr(st_) == "StreamTime(stream_time=100, watermark=89, bound=10, grace=30)"


def test_complete_and_closed_follow_flink_and_kafka_for_time_windows():
    w = TumblingWindows(10)
    st_ = StreamTime(bound=5, grace=20)
    st_.observe(14)  # watermark 8
    assert not st_.complete(w.latest_time((0, 10)))
    st_.observe(15)  # watermark 9 = maxTimestamp of [0, 10): Flink fires
    assert st_.complete(w.latest_time((0, 10)))
    assert not st_.closed(w.latest_time((0, 10)))
    st_.observe(29)  # Kafka: dropped once end 10 <= 29 - 20? no
    assert not st_.closed(w.latest_time((0, 10)))
    st_.observe(30)  # 10 <= 30 - 20: closed
    assert st_.closed(w.latest_time((0, 10)))


def test_closed_for_sessions_is_kafka_end_below_stream_time_minus_grace_minus_gap():
    s = SessionWindows(10)
    st_ = StreamTime(grace=1)
    st_.observe(11)
    assert not st_.closed(s.latest_time((0, 0)))  # 0 < 11 - 1 - 10 is false
    st_.observe(12)
    assert st_.closed(s.latest_time((0, 0)))  # 0 < 12 - 1 - 10


@given(st.integers(1, 50), st.integers(0, 40), st.integers(0, 500), st.integers(0, 500))
def test_closed_is_exactly_kafkas_window_end_rule(size, grace, t, stream_time):
    st_ = StreamTime(grace=grace)
    st_.observe(stream_time)
    start = t // size * size
    window = (start, start + size)
    assert st_.closed(TumblingWindows(size).latest_time(window)) == (
        window[1] <= stream_time - grace
    )


@given(st.lists(st.integers(0, 1000), max_size=50))
def test_disorder_is_the_largest_lateness(ts):
    st_ = StreamTime()
    worst = 0
    for t in ts:
        st_.observe(t)
        worst = max(worst, st_.lateness(t))
    assert disorder(ts) == worst
    assert disorder(sorted(ts)) == 0


@pytest.mark.parametrize("name", ["bound", "grace"])
@pytest.mark.parametrize("bad, exc", [(-1, OutOfRange), (1.5, InvalidType), (None, InvalidType)])
def test_bad_bound_or_grace_is_refused(name, bad, exc):
    with pytest.raises(exc) as err:
        StreamTime(**{name: bad})
    assert str(err.value).startswith(f"{name}={bad!r}") and "Pass" in str(err.value)


def test_bound_larger_than_grace_is_refused_with_the_fix():
    check_bound_within_grace(5, 5)
    with pytest.raises(
        InvalidArgument, match=r"^bound=6 is larger than grace=5.*Pass bound <= grace"
    ):
        check_bound_within_grace(6, 5)


def test_doctests_pass():
    result = doctest.testmod(brokerlab.watermark)
    assert result.failed == 0 and result.attempted > 0
