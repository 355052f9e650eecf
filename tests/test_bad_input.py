"""Bad input everywhere outside the queue and the checker (issue 9).

Every public entry point below is fed generated garbage for one parameter (wrong types, out of
range values, NaN, infinities, None) and must

- raise a :class:`~brokerlab.errors.BrokerError` (often also a ValueError or TypeError),
- whose message names the parameter, and
- leave the object it was called on as it was (compared field by field, recursively).

The queue has its own file (``test_queue_bad_input.py``), and the checker and history theirs.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType, MethodType, ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokerlab import (
    aggregation,
    batch,
    dead_letter,
    fifo,
    lambda_architecture,
    partitioning,
    prefetch,
    routing,
    stream,
    stream_vs_batch,
    watermark,
)
from brokerlab import windows as win
from brokerlab.broker import Broker
from brokerlab.clock import VirtualClock
from brokerlab.consumer_group import sticky_assign
from brokerlab.counterexample import fault_points, shortest_counterexample
from brokerlab.diagram import draw_sequence
from brokerlab.errors import BrokerError
from brokerlab.exchange import make_exchange
from brokerlab.faults import Fault, Faults
from brokerlab.history import History
from brokerlab.log import Log
from brokerlab.plots import plot_depth, plot_lag
from brokerlab.pubsub import Topic
from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario
from brokerlab.scheduler import Scheduler
from brokerlab.simulation import compare, simulate
from brokerlab.topology import draw_topology
from brokerlab.widgets import live_figure

# --- what "unchanged" means ---------------------------------------------------------------------


def snapshot(obj: Any, depth: int = 8, seen: frozenset = frozenset()) -> Any:
    """A comparable picture of ``obj`` and everything it holds (attributes, slots, items)."""
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, range)):
        return ("nan",) if isinstance(obj, float) and math.isnan(obj) else obj
    if (
        isinstance(obj, (FunctionType, MethodType, ModuleType, type))
        or callable(obj)
        and not (hasattr(obj, "__dict__") or hasattr(obj, "__slots__"))
    ):
        return f"<{getattr(obj, '__qualname__', type(obj).__name__)}>"
    if isinstance(obj, random.Random):
        return obj.getstate()
    if id(obj) in seen or depth == 0:
        return f"<{type(obj).__name__}>"
    seen = seen | {id(obj)}
    if isinstance(obj, dict):
        return sorted(((repr(k), snapshot(v, depth - 1, seen)) for k, v in obj.items()), key=repr)
    if isinstance(obj, (list, tuple, deque)):
        return [type(obj).__name__, *(snapshot(v, depth - 1, seen) for v in obj)]
    if isinstance(obj, (set, frozenset)):
        return sorted(repr(snapshot(v, depth - 1, seen)) for v in obj)
    fields = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name) and name not in ("__dict__", "__weakref__"):
                fields[name] = getattr(obj, name)
    return (type(obj).__name__, snapshot(fields, depth - 1, seen))


# --- garbage ------------------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.just(object()),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.integers(), st.integers(), max_size=1),
)
nan_or_inf = st.sampled_from([math.nan, math.inf, -math.inf])


def bad_seconds(low: float | None = 0) -> st.SearchStrategy:
    """Not a finite number of seconds >= low (no lower limit if low is None)."""
    options = [junk, st.text(max_size=3), st.booleans(), nan_or_inf]
    if low is not None:
        options.append(
            st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False)
        )
    return st.one_of(*options)


def bad_int(low: int | None = 0, high: int | None = None) -> st.SearchStrategy:
    """Not a whole number in low..high (no lower limit if low is None)."""
    options = [
        junk,
        st.text(max_size=3),
        st.booleans(),
        nan_or_inf,
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    ]
    if low is not None:
        options.append(st.integers(max_value=low - 1))
    if high is not None:
        options.append(st.integers(min_value=high + 1))
    return st.one_of(*options)


def bad_text() -> st.SearchStrategy:
    return st.one_of(junk, st.integers(), st.floats(), st.booleans())


def bad_choice(*allowed: str) -> st.SearchStrategy:
    return st.one_of(
        junk, st.integers(), st.text(max_size=4).filter(lambda s: s not in allowed), st.booleans()
    )


bad_callable = st.one_of(junk, st.integers(), st.text(max_size=3))
bad_mapping = st.one_of(
    st.integers(), st.text(min_size=1, max_size=3), st.lists(st.integers(), min_size=1)
)


# --- the entry points ---------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    make: Callable[[], Any]  # the objects the call works on
    call: Callable[[Any, Any], Any]  # call(objects, bad value)
    param: str  # must appear in the message
    bad: st.SearchStrategy


def _log():
    log = Log(VirtualClock())
    log.create_topic("t", partitions=2)
    p = log.producer()
    p.send("t", b"x", partition=0)
    c = log.consumer(group="g", auto_offset_reset="earliest")
    c.subscribe(["t"])
    c.poll()
    return {"log": log, "p": p, "c": c}


def _history():
    h = History()
    h.record(0.0, "p", "publish", "m1")
    return h


def _broker():
    b = Broker(VirtualClock())
    b.declare_queue("q")
    b.declare_exchange("x", "topic")
    b.bind("q", "x", "a.*")
    return b


def _events():
    return stream_vs_batch.generate_events(5, seed=1)


def _proc():
    return stream.StreamProcessor(win.TumblingWindows(10))


CASES = [
    # scheduler
    Case("Scheduler.at time", Scheduler, lambda s, v: s.at(v, print), "time", bad_seconds()),
    Case("Scheduler.at callback", Scheduler, lambda s, v: s.at(1, v), "callback", bad_callable),
    Case(
        "Scheduler.at priority",
        Scheduler,
        lambda s, v: s.at(1, print, priority=v),
        "priority",
        bad_int(None),
    ),
    Case(
        "Scheduler.after delay", Scheduler, lambda s, v: s.after(v, print), "delay", bad_seconds()
    ),
    Case(
        "Scheduler.soon priority",
        Scheduler,
        lambda s, v: s.soon(print, priority=v),
        "priority",
        bad_int(None),
    ),
    Case(
        "Scheduler.run until",
        Scheduler,
        lambda s, v: s.run(until=v),
        "until",
        bad_seconds().filter(lambda v: v is not None),
    ),
    Case(
        "Scheduler.run max_events",
        Scheduler,
        lambda s, v: s.run(max_events=v),
        "max_events",
        bad_int(0).filter(lambda v: v is not None),
    ),
    Case("Scheduler.cancel handle", Scheduler, lambda s, v: s.cancel(v), "handle", junk),
    Case(
        "Scheduler clock",
        lambda: None,
        lambda _, v: Scheduler(v),
        "clock",
        junk.filter(lambda v: v is not None),
    ),
    # clock
    Case(
        "VirtualClock start",
        lambda: None,
        lambda _, v: VirtualClock(v),
        "start",
        bad_seconds(None).filter(lambda v: v is not None),
    ),
    Case("VirtualClock.advance", VirtualClock, lambda c, v: c.advance(v), "seconds", bad_seconds()),
    Case("VirtualClock.advance_to", VirtualClock, lambda c, v: c.advance_to(v), "t", bad_seconds()),
    # windows
    Case(
        "windows_for timestamp",
        lambda: None,
        lambda _, v: win.windows_for(v, 10),
        "timestamp",
        bad_int(0),
    ),
    Case("windows_for size", lambda: None, lambda _, v: win.windows_for(5, v), "size", bad_int(1)),
    Case(
        "windows_for advance",
        lambda: None,
        lambda _, v: win.windows_for(5, 10, v),
        "advance",
        bad_int(1, 10).filter(lambda v: v is not None),
    ),
    Case(
        "TumblingWindows size",
        lambda: None,
        lambda _, v: win.TumblingWindows(v),
        "size",
        bad_int(1),
    ),
    Case(
        "TumblingWindows.windows_for",
        lambda: win.TumblingWindows(10),
        lambda w, v: w.windows_for(v),
        "timestamp",
        bad_int(0),
    ),
    Case(
        "HoppingWindows.windows_for",
        lambda: win.HoppingWindows(10, 5),
        lambda w, v: w.windows_for(v),
        "timestamp",
        bad_int(0),
    ),
    Case(
        "HoppingWindows advance",
        lambda: None,
        lambda _, v: win.HoppingWindows(10, v),
        "advance",
        bad_int(1, 10).filter(lambda v: v is not None),
    ),
    Case("SessionWindows gap", lambda: None, lambda _, v: win.SessionWindows(v), "gap", bad_int(1)),
    Case(
        "SessionWindows.sessions",
        lambda: win.SessionWindows(5),
        lambda w, v: w.sessions(v),
        "timestamps",
        st.one_of(st.integers(), st.none(), st.lists(bad_int(0), min_size=1, max_size=3)),
    ),
    Case(
        "make_windows kind",
        lambda: None,
        lambda _, v: win.make_windows(v, size=10),
        "kind",
        bad_choice("tumbling", "hopping", "session"),
    ),
    Case(
        "merge_sessions gap",
        lambda: None,
        lambda _, v: win.merge_sessions([(1, 2)], v),
        "gap",
        bad_int(1),
    ),
    # watermark
    Case(
        "StreamTime bound",
        lambda: None,
        lambda _, v: watermark.StreamTime(bound=v),
        "bound",
        bad_int(0),
    ),
    Case(
        "StreamTime grace",
        lambda: None,
        lambda _, v: watermark.StreamTime(grace=v),
        "grace",
        bad_int(0),
    ),
    Case(
        "StreamTime.observe",
        watermark.StreamTime,
        lambda t, v: t.observe(v),
        "timestamp",
        bad_int(0),
    ),
    Case(
        "StreamTime.lateness",
        watermark.StreamTime,
        lambda t, v: t.lateness(v),
        "timestamp",
        bad_int(0),
    ),
    Case(
        "StreamTime.complete",
        watermark.StreamTime,
        lambda t, v: t.complete(v),
        "latest_time",
        bad_int(-1),
    ),
    Case(
        "StreamTime.closed",
        watermark.StreamTime,
        lambda t, v: t.closed(v),
        "latest_time",
        bad_int(-1),
    ),
    Case(
        "disorder",
        lambda: None,
        lambda _, v: watermark.disorder(v),
        "timestamps",
        st.one_of(st.integers(), st.none(), st.lists(bad_int(0), min_size=1, max_size=3)),
    ),
    Case(
        "flink_watermark bound",
        lambda: None,
        lambda _, v: watermark.flink_watermark(10, v),
        "bound",
        bad_int(0),
    ),
    Case(
        "flink_watermark max_timestamp",
        lambda: None,
        lambda _, v: watermark.flink_watermark(v, 1),
        "max_timestamp",
        bad_int(0),
    ),
    # stream, batch, aggregation
    Case(
        "StreamProcessor windows",
        lambda: None,
        lambda _, v: stream.StreamProcessor(v),
        "windows",
        bad_callable,
    ),
    Case(
        "StreamProcessor agg",
        lambda: None,
        lambda _, v: stream.StreamProcessor(win.TumblingWindows(10), agg=v),
        "agg",
        bad_choice("count", "sum", "min", "max", "mean", "distinct"),
    ),
    Case(
        "StreamProcessor grace",
        lambda: None,
        lambda _, v: stream.StreamProcessor(win.TumblingWindows(10), grace=v),
        "grace",
        bad_int(0),
    ),
    Case(
        "StreamProcessor emit",
        lambda: None,
        lambda _, v: stream.StreamProcessor(win.TumblingWindows(10), emit=v),
        "emit",
        bad_choice("on_watermark", "on_update", "on_window_close"),
    ),
    Case(
        "StreamProcessor.process",
        _proc,
        lambda p, v: p.process(v),
        "item",
        st.one_of(junk, st.floats(allow_nan=True), st.text(max_size=3)),
    ),
    Case(
        "StreamProcessor.process_all",
        _proc,
        lambda p, v: p.process_all(v),
        "items",
        st.one_of(st.integers(), st.none(), st.floats()),
    ),
    Case(
        "stream.Record timestamp",
        lambda: None,
        lambda _, v: stream.as_record(stream.Record(v)),
        "timestamp",
        bad_int(0),
    ),
    Case(
        "ArrivalSource max_poll_records",
        lambda: None,
        lambda _, v: stream.ArrivalSource([], max_poll_records=v),
        "max_poll_records",
        bad_int(1),
    ),
    Case(
        "BatchJob every",
        lambda: None,
        lambda _, v: batch.BatchJob(win.TumblingWindows(10), every=v),
        "every",
        bad_int(1),
    ),
    Case(
        "BatchJob duration",
        lambda: None,
        lambda _, v: batch.BatchJob(win.TumblingWindows(10), duration=v),
        "duration",
        bad_int(0),
    ),
    Case(
        "BatchJob.due",
        lambda: batch.BatchJob(win.TumblingWindows(10)),
        lambda j, v: j.due(v),
        "now",
        bad_int(0),
    ),
    Case(
        "BatchJob.run now",
        lambda: batch.BatchJob(win.TumblingWindows(10)),
        lambda j, v: j.run([], v),
        "now",
        bad_int(0),
    ),
    Case(
        "BatchJob.view_at",
        lambda: batch.BatchJob(win.TumblingWindows(10)),
        lambda j, v: j.view_at(v),
        "t",
        bad_int(0),
    ),
    Case(
        "batch_aggregate records",
        lambda: None,
        lambda _, v: batch.batch_aggregate(v, win.TumblingWindows(10)),
        "records",
        st.one_of(st.integers(), st.none(), st.floats()),
    ),
    Case(
        "aggregation agg",
        lambda: None,
        lambda _, v: aggregation.aggregation(v),
        "agg",
        bad_choice("count", "sum", "min", "max", "mean", "distinct"),
    ),
    # stream vs batch, lambda and kappa
    Case(
        "generate_events n",
        lambda: None,
        lambda _, v: stream_vs_batch.generate_events(v),
        "n",
        bad_int(0, 10**6),
    ),
    Case(
        "generate_events interval",
        lambda: None,
        lambda _, v: stream_vs_batch.generate_events(5, interval=v),
        "interval",
        bad_int(1),
    ),
    Case(
        "generate_events stragglers",
        lambda: None,
        lambda _, v: stream_vs_batch.generate_events(5, stragglers=v),
        "stragglers",
        st.one_of(
            junk,
            st.text(max_size=2),
            nan_or_inf,
            st.floats(min_value=1.001, allow_infinity=False),
            st.floats(max_value=-0.001, allow_infinity=False),
        ),
    ),
    Case(
        "generate_events seed",
        lambda: None,
        lambda _, v: stream_vs_batch.generate_events(5, seed=v),
        "seed",
        st.one_of(
            junk.filter(lambda v: v is not None), st.text(max_size=2), st.floats(), st.booleans()
        ),
    ),
    Case(
        "generate_events keys",
        lambda: None,
        lambda _, v: stream_vs_batch.generate_events(5, keys=v),
        "keys",
        st.one_of(st.integers(), st.none(), st.just([]), st.just("")),
    ),
    Case(
        "event_vs_processing_time size",
        lambda: None,
        lambda _, v: stream_vs_batch.event_vs_processing_time(_events(), v),
        "size",
        bad_int(1),
    ),
    Case(
        "run_side_by_side windows",
        lambda: None,
        lambda _, v: stream_vs_batch.run_side_by_side(_events(), v),
        "windows",
        bad_callable,
    ),
    Case(
        "run_side_by_side batch_every",
        lambda: None,
        lambda _, v: stream_vs_batch.run_side_by_side(
            _events(), win.TumblingWindows(1000), batch_every=v
        ),
        "batch_every",
        bad_int(1),
    ),
    Case(
        "run_lambda batch_every",
        lambda: None,
        lambda _, v: lambda_architecture.run_lambda(
            _events(), win.TumblingWindows(1000), batch_every=v
        ),
        "batch_every",
        bad_int(1),
    ),
    Case(
        "run_lambda samples",
        lambda: None,
        lambda _, v: lambda_architecture.run_lambda(
            _events(), win.TumblingWindows(1000), samples=v
        ),
        "samples",
        bad_int(1, 100_000),
    ),
    Case(
        "run_kappa reprocess_at",
        lambda: None,
        lambda _, v: lambda_architecture.run_kappa(
            _events(), win.TumblingWindows(1000), reprocess_at=v
        ),
        "reprocess_at",
        bad_int(0),
    ),
    Case(
        "run_kappa replay_rate",
        lambda: None,
        lambda _, v: lambda_architecture.run_kappa(
            _events(), win.TumblingWindows(1000), reprocess_at=1000, replay_rate=v
        ),
        "replay_rate",
        bad_int(1),
    ),
    Case(
        "KappaArchitecture.replay",
        lambda: lambda_architecture.KappaArchitecture(win.TumblingWindows(1000)),
        lambda k, v: k.replay(v),
        "n",
        bad_int(0),
    ),
    Case(
        "LambdaArchitecture batch_duration",
        lambda: None,
        lambda _, v: lambda_architecture.LambdaArchitecture(
            win.TumblingWindows(1000), batch_duration=v
        ),
        "batch_duration",
        bad_int(0),
    ),
    Case(
        "LambdaArchitecture.ingest",
        lambda: lambda_architecture.LambdaArchitecture(win.TumblingWindows(1000)),
        lambda la, v: la.ingest(v),
        "item",
        st.one_of(junk, st.floats(allow_nan=True), st.text(max_size=3)),
    ),
    # partitioning
    Case(
        "murmur2 data",
        lambda: None,
        lambda _, v: partitioning.murmur2(v),
        "data",
        st.one_of(junk, st.integers(), st.floats()),
    ),
    Case(
        "partition_for_key key",
        lambda: None,
        lambda _, v: partitioning.partition_for_key(v, 3),
        "key",
        st.one_of(junk, st.integers(), st.floats()),
    ),
    Case(
        "partition_for_key num_partitions",
        lambda: None,
        lambda _, v: partitioning.partition_for_key(b"k", v),
        "num_partitions",
        bad_int(1),
    ),
    Case(
        "consistent_partition num_partitions",
        lambda: None,
        lambda _, v: partitioning.consistent_partition(b"k", v),
        "num_partitions",
        bad_int(1),
    ),
    Case(
        "make_partitioner partitioner",
        lambda: None,
        lambda _, v: partitioning.make_partitioner(v),
        "partitioner",
        bad_choice("default", "consistent_random", "murmur2_random"),
    ),
    Case(
        "make_partitioner seed",
        lambda: None,
        lambda _, v: partitioning.make_partitioner("default", seed=v),
        "seed",
        st.one_of(junk, st.text(max_size=2), st.floats(), st.booleans()),
    ),
    Case(
        "make_partitioner batch_size",
        lambda: None,
        lambda _, v: partitioning.make_partitioner("default", batch_size=v),
        "batch_size",
        bad_int(1),
    ),
    # the log
    Case("Log.create_topic name", _log, lambda w, v: w["log"].create_topic(v), "name", bad_text()),
    Case(
        "Log.create_topic partitions",
        _log,
        lambda w, v: w["log"].create_topic("u", partitions=v),
        "partitions",
        bad_int(1, 10_000),
    ),
    Case(
        "Log.create_topic retention_ms",
        _log,
        lambda w, v: w["log"].create_topic("u", retention_ms=v),
        "retention_ms",
        bad_int(-1),
    ),
    Case("Log.topic", _log, lambda w, v: w["log"].topic(v), "topic", bad_text()),
    Case(
        "Log.partition",
        _log,
        lambda w, v: w["log"].partition(v),
        "tp",
        st.one_of(junk, st.integers(), st.tuples(st.just("t"), bad_int(0, 1))),
    ),
    Case(
        "Log.increase_partitions",
        _log,
        lambda w, v: w["log"].increase_partitions("t", v),
        "to",
        bad_int(3, 10_000),
    ),
    Case("Log.group", _log, lambda w, v: w["log"].group(v), "group", bad_text()),
    Case(
        "Log.producer partitioner",
        _log,
        lambda w, v: w["log"].producer(partitioner=v),
        "partitioner",
        bad_choice("default", "consistent_random", "murmur2_random"),
    ),
    Case(
        "Log.producer batch_size",
        _log,
        lambda w, v: w["log"].producer(batch_size=v),
        "batch_size",
        bad_int(1),
    ),
    Case(
        "Log.consumer max_poll_records",
        _log,
        lambda w, v: w["log"].consumer(max_poll_records=v),
        "max_poll_records",
        bad_int(1),
    ),
    Case(
        "Log.consumer auto_offset_reset",
        _log,
        lambda w, v: w["log"].consumer(auto_offset_reset=v),
        "auto_offset_reset",
        bad_choice("earliest", "latest", "none"),
    ),
    Case(
        "Log.consumer group",
        _log,
        lambda w, v: w["log"].consumer(group=v),
        "group",
        st.one_of(st.integers(), st.floats(), st.lists(st.integers(), min_size=1)),
    ),
    Case(
        "Consumer.subscribe",
        _log,
        lambda w, v: w["c"].subscribe(v),
        "topics",
        st.one_of(st.integers(), st.none(), st.lists(st.integers(), min_size=1)),
    ),
    Case(
        "Consumer.poll max_records",
        _log,
        lambda w, v: w["c"].poll(v),
        "max_records",
        bad_int(1, 2**31 - 1).filter(lambda v: v is not None),
    ),
    Case("Consumer.seek offset", _log, lambda w, v: w["c"].seek(("t", 0), v), "offset", bad_int(0)),
    Case(
        "Consumer.seek tp",
        _log,
        lambda w, v: w["c"].seek(v, 0),
        "tp",
        st.one_of(junk, st.integers(), st.tuples(st.just("t"), bad_int(0, 1))),
    ),
    Case(
        "Consumer.seek_to_time",
        _log,
        lambda w, v: w["c"].seek_to_time(v),
        "timestamp_ms",
        bad_int(0),
    ),
    Case(
        "Consumer.commit offsets",
        _log,
        lambda w, v: w["c"].commit(v),
        "offset",
        st.one_of(
            st.integers(),
            st.text(min_size=1, max_size=2),
            st.dictionaries(st.just(("t", 0)), bad_int(0), min_size=1),
        ),
    ),
    Case("Producer.send topic", _log, lambda w, v: w["p"].send(v, b"x"), "topic", bad_text()),
    Case(
        "Producer.send value",
        _log,
        lambda w, v: w["p"].send("t", v),
        "value",
        st.one_of(st.just(object()), st.sets(st.integers(), min_size=1)),
    ),
    Case(
        "Producer.send key",
        _log,
        lambda w, v: w["p"].send("t", b"x", key=v),
        "key",
        st.one_of(
            st.integers(), st.floats(), st.just(object()), st.lists(st.integers(), min_size=1)
        ),
    ),
    Case(
        "Producer.send partition",
        _log,
        lambda w, v: w["p"].send("t", b"x", partition=v),
        "partition",
        bad_int(0, 1).filter(lambda v: v is not None),
    ),
    Case(
        "Producer.send timestamp",
        _log,
        lambda w, v: w["p"].send("t", b"x", timestamp=v),
        "timestamp",
        bad_int(0).filter(lambda v: v is not None),
    ),
    Case(
        "Producer.send headers",
        _log,
        lambda w, v: w["p"].send("t", b"x", headers=v),
        "headers",
        st.one_of(
            st.integers(),
            st.text(min_size=1, max_size=2),
            st.dictionaries(st.integers(), st.integers(), min_size=1),
        ),
    ),
    Case(
        "Producer.send_batch values",
        _log,
        lambda w, v: w["p"].send_batch("t", v),
        "values",
        st.one_of(
            st.integers(),
            st.none(),
            st.text(min_size=1, max_size=2),
            st.lists(st.just(object()), min_size=1, max_size=2),
        ),
    ),
    Case(
        "sticky_assign subscriptions",
        lambda: None,
        lambda _, v: sticky_assign(v, {"t": 1}),
        "subscriptions",
        st.one_of(
            st.integers(),
            st.none(),
            st.lists(st.integers(), min_size=1),
            st.dictionaries(st.text(min_size=1, max_size=2), st.integers(), min_size=1),
        ),
    ),
    Case(
        "sticky_assign partitions_per_topic",
        lambda: None,
        lambda _, v: sticky_assign({"a": ["t"]}, v),
        "partitions_per_topic",
        st.one_of(st.integers(), st.none(), st.dictionaries(st.just("t"), bad_int(0), min_size=1)),
    ),
    # routing, exchanges, pub/sub, the broker
    Case(
        "topic_matches pattern",
        lambda: None,
        lambda _, v: routing.topic_matches(v, "a.b"),
        "pattern",
        bad_text(),
    ),
    Case(
        "topic_matches routing_key",
        lambda: None,
        lambda _, v: routing.topic_matches("a.*", v),
        "routing_key",
        bad_text(),
    ),
    Case(
        "headers_match headers",
        lambda: None,
        lambda _, v: routing.headers_match({"a": 1}, v),
        "headers",
        bad_mapping,
    ),
    Case(
        "make_exchange type",
        lambda: None,
        lambda _, v: make_exchange("x", v),
        "type",
        bad_choice("direct", "fanout", "topic", "headers"),
    ),
    Case(
        "make_exchange name",
        lambda: None,
        lambda _, v: make_exchange(v),
        "name",
        st.one_of(junk.filter(lambda v: v is not None), st.integers(), st.floats()),
    ),
    Case(
        "Exchange.route",
        lambda: make_exchange("x", "topic"),
        lambda x, v: x.route(v),
        "routing_key",
        bad_text(),
    ),
    Case(
        "Exchange.bind routing_key",
        lambda: make_exchange("x", "topic"),
        lambda x, v: x.bind("q", v),
        "routing_key",
        bad_text(),
    ),
    Case("pubsub.Topic name", lambda: None, lambda _, v: Topic(v), "name", bad_text()),
    Case(
        "pubsub.Topic.subscribe",
        lambda: Topic("t", clock=VirtualClock()),
        lambda t, v: t.subscribe(v),
        "subscription",
        st.one_of(junk, st.integers(), st.floats()),
    ),
    Case(
        "pubsub.Topic.publish key",
        lambda: Topic("t", clock=VirtualClock()),
        lambda t, v: t.publish(b"x", v),
        "key",
        st.one_of(st.integers(), st.floats(), st.lists(st.integers(), min_size=1)),
    ),
    Case("Broker.declare_queue name", _broker, lambda b, v: b.declare_queue(v), "name", bad_text()),
    Case(
        "Broker.declare_exchange type",
        _broker,
        lambda b, v: b.declare_exchange("y", v),
        "type",
        bad_choice("direct", "fanout", "topic", "headers"),
    ),
    Case("Broker.bind queue", _broker, lambda b, v: b.bind(v, "x", "a.b"), "queue", bad_text()),
    Case(
        "Broker.bind exchange", _broker, lambda b, v: b.bind("q", v, "a.b"), "exchange", bad_text()
    ),
    Case(
        "Broker.publish exchange",
        _broker,
        lambda b, v: b.publish(v, "a.b", b"x"),
        "exchange",
        bad_text(),
    ),
    Case(
        "Broker.publish routing_key",
        _broker,
        lambda b, v: b.publish("x", v, b"x"),
        "routing_key",
        bad_text(),
    ),
    Case(
        "Broker.publish ttl",
        _broker,
        lambda b, v: b.publish("x", "a.b", b"x", ttl=v),
        "ttl",
        bad_seconds().filter(lambda v: v is not None),
    ),
    Case("Broker.queue", _broker, lambda b, v: b.queue(v), "name", bad_text()),
    # pictures and widgets
    Case(
        "draw_topology obj",
        lambda: None,
        lambda _, v: draw_topology(v),
        "obj",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "draw_sequence history",
        lambda: None,
        lambda _, v: draw_sequence(v),
        "history",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "draw_sequence max_events",
        _history,
        lambda h, v: draw_sequence(h, max_events=v),
        "max_events",
        bad_int(1),
    ),
    Case(
        "plot_depth history",
        lambda: None,
        lambda _, v: plot_depth(v),
        "history",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "plot_lag history",
        lambda: None,
        lambda _, v: plot_lag(v),
        "history",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case("live_figure draw", lambda: None, lambda _, v: live_figure(v), "draw", bad_callable),
    Case(
        "live_figure dpi",
        lambda: None,
        lambda _, v: live_figure(lambda ax: None, dpi=v),
        "dpi",
        bad_seconds(1),
    ),
    Case(
        "fair_dispatch messages",
        lambda: None,
        lambda _, v: prefetch.fair_dispatch(v),
        "messages",
        bad_int(1, 10_000),
    ),
    Case(
        "fair_dispatch prefetch",
        lambda: None,
        lambda _, v: prefetch.fair_dispatch(prefetch=v),
        "prefetch",
        bad_int(0),
    ),
    Case(
        "fair_dispatch service_times",
        lambda: None,
        lambda _, v: prefetch.fair_dispatch(service_times=v),
        "service_times",
        st.one_of(
            st.integers(),
            st.none(),
            st.just(()),
            st.lists(bad_seconds(1e-9), min_size=1, max_size=3),
        ),
    ),
    # scenarios, faults and the simulation
    Case("Producers count", lambda: None, lambda _, v: Producers(count=v), "count", bad_int(1)),
    Case(
        "Producers rate",
        lambda: None,
        lambda _, v: Producers(rate=v),
        "rate",
        st.one_of(bad_seconds(0), st.just(0)),
    ),
    Case("Consumers count", lambda: None, lambda _, v: Consumers(count=v), "count", bad_int(1)),
    Case(
        "Consumers processing_time",
        lambda: None,
        lambda _, v: Consumers(processing_time=v),
        "processing_time",
        bad_seconds(),
    ),
    Case(
        "Consumers mode",
        lambda: None,
        lambda _, v: Consumers(mode=v),
        "mode",
        bad_choice("at-most-once", "at-least-once", "exactly-once"),
    ),
    Case(
        "BrokerSetup kind",
        lambda: None,
        lambda _, v: BrokerSetup(kind=v),
        "kind",
        bad_choice("queue", "exchange", "sqs", "log"),
    ),
    Case(
        "BrokerSetup partitions",
        lambda: None,
        lambda _, v: BrokerSetup(kind="log", partitions=v),
        "partitions",
        bad_int(1),
    ),
    Case(
        "Scenario messages", lambda: None, lambda _, v: Scenario(messages=v), "messages", bad_int(0)
    ),
    Case(
        "Scenario seed",
        lambda: None,
        lambda _, v: Scenario(seed=v),
        "seed",
        st.one_of(junk, st.text(max_size=2), st.floats(), st.booleans()),
    ),
    Case(
        "Scenario producers",
        lambda: None,
        lambda _, v: Scenario(producers=v),
        "producers",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case("Fault kind", lambda: None, lambda _, v: Fault(v), "kind", bad_text()),
    Case(
        "Fault delivery",
        lambda: None,
        lambda _, v: Fault("crash_before_processing", msg="m1", delivery=v),
        "delivery",
        bad_int(1),
    ),
    Case(
        "Faults probabilities",
        lambda: None,
        lambda _, v: Faults(probabilities=v),
        "faults",
        st.one_of(
            st.integers(),
            st.text(min_size=1, max_size=2),
            st.dictionaries(
                st.just("crash_before_processing"),
                st.one_of(
                    nan_or_inf,
                    st.floats(min_value=1.001, allow_infinity=False),
                    st.text(max_size=1),
                ),
                min_size=1,
            ),
        ),
    ),
    Case(
        "simulate scenario",
        lambda: None,
        lambda _, v: simulate(v),
        "scenario",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "simulate handler",
        lambda: None,
        lambda _, v: simulate(Scenario(messages=1), v),
        "handler",
        st.one_of(
            st.integers(), st.text(min_size=1, max_size=2), st.lists(st.integers(), min_size=1)
        ),
    ),
    Case(
        "compare scenario",
        lambda: None,
        lambda _, v: compare(v),
        "scenario",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "compare modes",
        lambda: None,
        lambda _, v: compare(Scenario(messages=1), modes=v),
        "modes",
        st.one_of(
            st.sampled_from(["at-most-once", "exactly-once"]),
            st.integers(),
            st.none(),
            st.just(()),
            st.lists(
                bad_choice("at-most-once", "at-least-once", "exactly-once"), min_size=1, max_size=2
            ),
        ),
    ),
    Case(
        "shortest_counterexample guarantee",
        lambda: None,
        lambda _, v: shortest_counterexample(None, v),
        "guarantee",
        bad_choice("at-most-once", "at-least-once", "exactly-once", "order"),
    ),
    Case(
        "shortest_counterexample max_messages",
        lambda: None,
        lambda _, v: shortest_counterexample(None, "at-least-once", max_messages=v),
        "max_messages",
        bad_int(1, 20),
    ),
    Case(
        "fault_points messages",
        lambda: None,
        lambda _, v: fault_points(["crash_before_processing"], v),
        "messages",
        bad_int(1),
    ),
    # dead letters, FIFO
    Case(
        "death_count message",
        lambda: None,
        lambda _, v: dead_letter.death_count(v),
        "message",
        st.one_of(junk, st.integers(), st.text(max_size=2)),
    ),
    Case(
        "fifo.Deduplicator window",
        lambda: None,
        lambda _, v: fifo.Deduplicator(v),
        "window",
        st.one_of(bad_seconds(0), st.just(0)),
    ),
    Case(
        "fifo.dedup_key dedup_id",
        lambda: None,
        lambda _, v: fifo.dedup_key(v, b"x", False),
        "dedup_id",
        st.one_of(st.integers(), st.floats(), st.lists(st.integers(), min_size=1)),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@settings(
    derandomize=True,
    max_examples=25,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_garbage_is_refused_clearly_and_changes_nothing(case, data):
    objects = case.make()
    before = snapshot(objects)
    bad = data.draw(case.bad, label=case.param)
    with pytest.raises(BrokerError) as refused:
        case.call(objects, bad)
    message = str(refused.value)
    assert case.param in message, f"the message does not name {case.param!r}: {message}"
    assert snapshot(objects) == before, "a refused call changed the object"


def test_every_case_has_a_distinct_id():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# --- the three reproductions named in the issue ---------------------------------------------------


def test_scheduler_at_with_a_bad_priority_leaves_no_event_behind():
    s = Scheduler()
    s.at(1.0, print)
    with pytest.raises(BrokerError, match="priority"):
        s.at(1.0, print, priority="high")
    assert s.pending() == 1


def test_scheduler_at_with_a_bad_callback_leaves_no_event_behind():
    s = Scheduler()
    with pytest.raises(BrokerError, match="callback"):
        s.at(1.0, "not a function")
    assert s.pending() == 0 and s.run() == 0


def test_tumbling_windows_refuse_a_negative_timestamp_like_windows_for():
    with pytest.raises(BrokerError, match="timestamp=-5"):
        win.TumblingWindows(10).windows_for(-5)
    with pytest.raises(BrokerError, match="timestamp=-1"):
        win.windows_for(-1, 10)


def test_compare_refuses_a_single_mode_string():
    with pytest.raises(BrokerError, match="modes='at-most-once'") as refused:
        compare(Scenario(messages=1), modes="at-most-once")
    assert "('at-most-once',)" in str(refused.value)  # the fix is shown
