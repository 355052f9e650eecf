"""The stream processor: Kafka Streams emission/drop conformance, the emission modes, the side
output, sources, and the properties that tie the stream to the batch answer."""

import doctest
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import brokerlab.stream
from brokerlab.batch import batch_aggregate
from brokerlab.clock import VirtualClock
from brokerlab.errors import BrokerError, InvalidArgument, InvalidType, OutOfRange
from brokerlab.log import Log
from brokerlab.stream import (
    ArrivalSource,
    Emission,
    LateRecord,
    LogSource,
    Record,
    StreamProcessor,
    as_record,
)
from brokerlab.watermark import disorder
from brokerlab.windows import HoppingWindows, SessionWindows, TumblingWindows, make_windows

DATA = json.loads((Path(__file__).parent / "data" / "kafka_streams_windows.json").read_text())
MODES = ["on_watermark", "on_close", "on_update"]


# --- conformance ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", DATA["emissions"], ids=[c["source"].split()[4] for c in DATA["emissions"]]
)
def test_emissions_and_drops_match_kafka_streams(case):
    spec = dict(case["windows"])
    p = StreamProcessor(
        make_windows(spec.pop("kind"), **spec),
        agg=case["agg"],
        grace=case["grace"],
        emit=case["emit"],
    )
    p.process_all(tuple(r) for r in case["input"])
    if case["expected_emissions"] is not None:
        got = [
            [
                e.key,
                list(e.window),
                None
                if e.value is None
                else (list(e.value) if isinstance(e.value, tuple) else e.value),
            ]
            for e in p.emitted
        ]
        assert got == case["expected_emissions"], case["source"]
    dropped = [[late.record.timestamp, [list(w) for w in late.windows]] for late in p.side_output]
    assert dropped == case["expected_dropped"], case["source"]
    if "expected_lateness" in case:
        assert max(p.lateness) == case["expected_lateness"]["max"]
        assert sum(p.lateness) / len(p.lateness) == case["expected_lateness"]["avg"]


# --- emission modes -----------------------------------------------------------------------------------


def test_on_watermark_emits_when_the_watermark_passes_then_updates_within_grace():
    p = StreamProcessor(TumblingWindows(10), grace=5)
    assert p.process((1, "a", 1)) == []  # window [0, 10) still open
    assert [e.kind for e in p.process((12, "a", 1))] == ["result"]  # watermark 11 >= 9
    assert p.results() == {("a", (0, 10)): 1}
    assert [(e.window, e.value, e.kind) for e in p.process((3, "a", 1))] == [((0, 10), 2, "update")]
    p.process((25, "a", 1))  # closes [0, 10): 10 <= 25 - 5
    assert p.process((4, "a", 1)) == []
    assert p.side_output == [LateRecord(Record(4, "a", 1), ((0, 10),), 25, 0)]
    assert p.results()[("a", (0, 10))] == 2
    p.end_of_input()
    assert p.results() == {("a", (0, 10)): 2, ("a", (10, 20)): 1, ("a", (20, 30)): 1}


def test_bound_delays_the_first_result():
    p = StreamProcessor(TumblingWindows(10), grace=5, bound=5)
    p.process_all([(1, "a", 1), (12, "a", 1)])
    assert p.emitted == []  # watermark 12 - 5 - 1 = 6 < 9
    p.process((15, "a", 1))  # watermark 9
    assert [(e.window, e.kind) for e in p.emitted] == [((0, 10), "result")]


def test_on_close_emits_one_final_result_per_window():
    recs = [(1, "a", 1), (12, "a", 1), (3, "a", 1), (25, "a", 1), (4, "a", 1), (31, "b", 1)]
    p = StreamProcessor(TumblingWindows(10), grace=5, emit="on_close")
    p.process_all(recs)
    p.end_of_input()
    kinds = [e.kind for e in p.emitted]
    assert set(kinds) == {"result"}
    assert len({(e.key, e.window) for e in p.emitted}) == len(p.emitted)
    assert p.emitted[0] == Emission(0, "a", (0, 10), 2, "result", 25)
    # The same as on_watermark with bound == grace.
    q = StreamProcessor(TumblingWindows(10), grace=5, bound=5)
    q.process_all(recs)
    q.end_of_input()
    assert q.emitted == p.emitted


def test_on_update_emits_every_change():
    p = StreamProcessor(HoppingWindows(10, 5), emit="on_update", grace=100)
    out = p.process((7, "a", 1))
    assert [(e.window, e.value, e.kind) for e in out] == [
        ((0, 10), 1, "result"),
        ((5, 15), 1, "result"),
    ]
    out = p.process((8, "a", 1))
    assert [(e.window, e.value, e.kind) for e in out] == [
        ((0, 10), 2, "update"),
        ((5, 15), 2, "update"),
    ]
    assert p.end_of_input() == []


def test_a_late_record_bridging_emitted_sessions_retracts_them():
    p = StreamProcessor(SessionWindows(5), grace=20)
    p.process_all([(10, "u", 1), (30, "u", 1)])  # [10,10] complete: 15 <= 29
    p.process((45, "u", 1))  # [30,30] complete too
    assert [(e.window, e.kind) for e in p.emitted] == [((10, 10), "result"), ((30, 30), "result")]
    p.process((20, "u", 1))  # within grace; bridges nothing yet: [10,10]..[20] is 10 > 5 apart
    p.process((15, "u", 1))  # joins [10,10], [20,20] (and not [30,30]: 15 apart)
    tail = [(e.window, e.value, e.kind) for e in p.emitted[2:]]
    assert ((10, 10), None, "retract") in tail and ((20, 20), None, "retract") in tail
    assert tail[-1] == ((10, 20), 3, "result")
    assert p.results() == {("u", (10, 20)): 3, ("u", (30, 30)): 1}


# --- the properties -------------------------------------------------------------------------------------

specs = st.one_of(
    st.integers(1, 40).map(TumblingWindows),
    st.integers(1, 40).flatmap(lambda s: st.integers(1, s).map(lambda a: HoppingWindows(s, a))),
    st.integers(1, 25).map(SessionWindows),
)
record_lists = st.lists(
    st.tuples(st.integers(0, 300), st.sampled_from(["a", "b"]), st.integers(-5, 5)), max_size=40
)


@given(specs, record_lists, st.sampled_from(MODES), st.sampled_from(["count", "sum"]), st.data())
def test_with_grace_covering_the_disorder_the_stream_equals_the_batch(spec, recs, emit, agg, data):
    grace = disorder(t for t, _, _ in recs) + data.draw(st.integers(0, 20), label="extra grace")
    bound = data.draw(st.integers(0, grace), label="bound")
    p = StreamProcessor(spec, agg=agg, grace=grace, bound=bound, emit=emit)
    p.process_all(recs)
    p.end_of_input()
    assert p.side_output == []
    assert p.results() == batch_aggregate(recs, spec, agg)


def _kafka_dropped_windows(recs, size, advance, grace):
    """The oracle, straight from KStreamWindowAggregate: drop for a window iff end <= streamTime - grace."""
    stream_time, out = None, []
    for t, _, _ in recs:
        stream_time = t if stream_time is None else max(stream_time, t)
        windows = [(s, s + size) for s in range(0, t + 1, advance) if s <= t < s + size]
        out.append([w for w in windows if w[1] <= stream_time - grace])
    return out


@given(specs, record_lists, st.integers(0, 60), st.sampled_from(MODES))
def test_with_less_grace_every_dropped_record_is_in_the_side_output(spec, recs, grace, emit):
    p = StreamProcessor(spec, grace=grace, emit=emit)
    p.process_all(recs)
    p.end_of_input()
    counted = sum(p.results().values())
    if isinstance(spec, HoppingWindows):
        expected = _kafka_dropped_windows(recs, spec.size, spec.advance, grace)
        late = iter(p.side_output)
        for (t, key, _), windows in zip(recs, expected, strict=True):
            if windows:
                entry = next(late)
                assert (entry.record.timestamp, entry.record.key, list(entry.windows)) == (
                    t,
                    key,
                    windows,
                )
        assert next(late, None) is None
        # Every (record, window) pair is either counted or in the side output.
        pairs = sum(len(spec.windows_for(t)) for t, _, _ in recs)
        assert counted + sum(len(x.windows) for x in p.side_output) == pairs
        # Counting fewer than the batch, never more.
        truth = batch_aggregate(recs, spec)
        assert all(v <= truth[kw] for kw, v in p.results().items())
    else:
        assert counted + len(p.side_output) == len(recs)
        for x in p.side_output:
            ((s, e),) = x.windows
            assert e + spec.gap < x.stream_time - grace  # Kafka's session drop rule
    if grace >= disorder(t for t, _, _ in recs):
        assert p.side_output == []


@given(specs, record_lists, st.integers(0, 30), st.data())
def test_on_watermark_results_come_once_and_only_when_complete(spec, recs, grace, data):
    bound = data.draw(st.integers(0, grace))
    p = StreamProcessor(spec, grace=grace, bound=bound)
    p.process_all(recs)
    during = list(p.emitted)
    p.end_of_input()
    first: dict = {}
    for e in p.emitted:
        if e.kind == "result":
            assert (e.key, e.window) not in first
            first[(e.key, e.window)] = e
        elif e.kind == "update":
            assert (e.key, e.window) in first
    for e in during:
        if e.kind == "result":  # the watermark had reached the window's last event time
            assert spec.latest_time(e.window) <= e.stream_time - bound - 1


# --- rejected calls change nothing --------------------------------------------------------------------------


def _snapshot(p):
    return (list(p.records), list(p.emitted), list(p.side_output), p.state(), p.stream_time)


@pytest.mark.parametrize(
    "bad, exc, starts",
    [
        ((1.5, "a", 1), InvalidType, "timestamp=1.5"),
        ((-1, "a", 1), OutOfRange, "timestamp=-1"),
        ((5, ["unhashable"], 1), InvalidType, "key=['unhashable']"),
        ((5, "a", "x"), InvalidType, "value='x'"),
        ("nonsense", InvalidType, "item='nonsense'"),
        ({"timestamp": 5, "colour": "red"}, InvalidArgument, "item={"),
    ],
)
def test_a_rejected_record_changes_nothing(bad, exc, starts):
    p = StreamProcessor(TumblingWindows(10), agg="sum", grace=5)
    p.process_all([(1, "a", 2), (12, "a", 3)])
    before = _snapshot(p)
    with pytest.raises(exc) as err:
        p.process(bad)
    assert str(err.value).startswith(starts)
    assert isinstance(err.value, BrokerError)
    assert _snapshot(p) == before


@pytest.mark.parametrize(
    "kwargs, starts",
    [
        ({"emit": "sometimes"}, "emit='sometimes' is not an emission mode"),
        ({"agg": "average"}, "agg='average' is not an aggregation"),
        ({"grace": -1}, "grace=-1 is out of range"),
        ({"bound": 3, "grace": 2}, "bound=3 is larger than grace=2"),
        ({"windows": "tumbling"}, "windows='tumbling' is not a window spec"),
    ],
)
def test_bad_processor_settings_are_refused(kwargs, starts):
    args = {"windows": TumblingWindows(10), **kwargs}
    with pytest.raises(BrokerError) as err:
        StreamProcessor(args.pop("windows"), **args)
    assert str(err.value).startswith(starts)


# --- records and sources ------------------------------------------------------------------------------------


def test_records_come_in_several_shapes():
    assert as_record((5, "k", 2)) == Record(5, "k", 2)
    assert as_record((5, "k", 2, 9)) == Record(5, "k", 2, arrival=9)
    assert as_record({"timestamp": 5, "key": "k"}) == Record(5, "k", 1)

    class LogRecord:
        timestamp, key, value, offset = 7, "k", 3, 42

    assert as_record(LogRecord()) == Record(7, "k", 3, offset=42)
    assert repr(Record(5, "k", 2, arrival=9)) == "Record(t=5, key='k', value=2, arrival=9)"


def test_arrival_source_hands_out_records_as_the_virtual_clock_reaches_them():
    clock = VirtualClock()
    recs = [Record(0, "a", arrival=0), Record(5, "a", arrival=1500), Record(1, "a", arrival=2000)]
    source = ArrivalSource(recs, clock, max_poll_records=1)
    p = StreamProcessor(TumblingWindows(10), emit="on_update", clock=clock)
    assert len(p.consume(source)) == 1
    assert p.consume(source) == [] and len(source) == 2
    clock.advance(2.0)
    out = p.consume(source)
    assert [e.time for e in out] == [2000, 2000]
    assert p.counted_at == {0: 0, 1: 2000, 2: 2000}
    assert repr(source) == "ArrivalSource(3 of 3 records delivered)"


def test_log_source_adapts_a_consumer_and_an_extractor():
    class Rec:
        def __init__(self, ts, key, value, offset):
            self.timestamp, self.key, self.value, self.offset = ts, key, value, offset

    class Consumer:
        def __init__(self, batches):
            self.batches = list(batches)

        def poll(self):
            return self.batches.pop(0) if self.batches else []

    consumer = Consumer(
        [
            {"p0": [Rec(1, "a", {"ts": 3}, 0)], "p1": [Rec(2, "b", {"ts": 14}, 0)]},
            [Rec(3, "a", {"ts": 4}, 1)],
        ]
    )
    p = StreamProcessor(TumblingWindows(10), emit="on_update", grace=10)
    p.consume(LogSource(consumer, timestamp=lambda r: r.value["ts"]))
    assert p.state() == {("a", (0, 10)): 2, ("b", (10, 20)): 1}
    assert [r.offset for r in p.records] == [0, 0, 1]
    with pytest.raises(InvalidType, match="has no poll"):
        LogSource(object())
    with pytest.raises(InvalidType, match="has no poll"):
        p.consume([1, 2])


def test_stream_processor_consumes_the_log_continuously():
    clock = VirtualClock()
    log = Log(clock)
    log.create_topic("clicks")
    producer = log.producer()
    source = LogSource.of_topic(log, "clicks")
    p = StreamProcessor(TumblingWindows(1000), grace=800, clock=clock)
    for t, k in [(100, "a"), (700, "b")]:
        producer.send("clicks", 1, key=k, timestamp=t)  # the event time travels as the timestamp
    assert p.consume(source) == []  # window [0, 1000) is still open
    clock.advance(1)
    producer.send("clicks", 1, key="a", timestamp=1600)  # the watermark (1599) passes 999
    out = p.consume(source)
    assert [(e.key, e.window, e.value, e.time) for e in out] == [
        ("a", (0, 1000), 1, 1000),
        ("b", (0, 1000), 1, 1000),
    ]
    producer.send("clicks", 1, key="a", timestamp=900)  # late but within grace: an update
    assert [(e.window, e.value, e.kind) for e in p.consume(source)] == [((0, 1000), 2, "update")]
    producer.send("clicks", 1, key="a", timestamp=2200)
    producer.send("clicks", 1, key="a", timestamp=950)  # too late: 1000 <= 2200 - 800
    p.consume(source)
    assert [(x.record.timestamp, x.record.offset) for x in p.side_output] == [(950, 5)]
    assert p.consume(source) == []  # nothing new on the log


def test_reprs_are_short_and_useful():
    p = StreamProcessor(TumblingWindows(10), grace=5)
    p.process_all([(1, "a", 1), (12, "a", 1), (25, "a", 1), (4, "a", 1)])
    assert repr(p) == (
        "StreamProcessor(TumblingWindows(size=10), agg='count', emit='on_watermark', grace=5, "
        "bound=0: 4 records, stream_time=25, 2 emitted, 1 late)"
    )
    assert repr(p.emitted[0]) == "Emission(t=0 'a' (0, 10) -> 1 result)"
    assert repr(p.side_output[0]) == "LateRecord(t=4 key='a', 21 ms late, dropped from (0, 10))"
    assert p.dropped == 1


def test_doctests_pass():
    result = doctest.testmod(brokerlab.stream)
    assert result.failed == 0 and result.attempted > 0
