"""The batch job: recompute the whole answer from all the data, on a schedule.

Batch processing waits until data has landed (in files, a table, a retained log), then runs one
job over *all* of it and replaces the previous answer. It needs no watermark and no grace period:
a record that arrived late, but before the run, is simply in the input. Its price is time. The
answer is only as fresh as the last run, and a run takes a while. A nightly job's answer about
9 a.m. is ready tomorrow.

:func:`batch_aggregate` is the answer a batch job computes: the same windows and aggregation as
the stream processor, over a finished set of records, with nothing late. It is the "truth" the
stream's answer is compared with.

:class:`BatchJob` runs it on the virtual clock: every ``every`` ms (e.g. every hour), over all
records that have arrived so far, taking ``duration`` ms before its result is visible.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .aggregation import Aggregation, aggregation
from .stream import as_records
from .windows import Window, check_millis, check_windows


def batch_aggregate(
    records: Iterable[Any], windows: Any, agg: str | Aggregation = "count"
) -> dict[tuple[Any, Window], Any]:
    """Aggregate a finished set of records per (key, window): the complete answer.

    Records are folded in input order (for time windows) or in event-time order (within a
    session), which matters only for ``agg="list"``.
    """
    windows = check_windows(windows)
    fn = aggregation(agg)
    recs = as_records(records)
    for r in recs:
        fn.check(r.value)
    state: dict[tuple[Any, Window], Any] = {}
    if not windows.merging:
        for r in recs:
            for w in windows.windows_for(r.timestamp):
                kw = (r.key, w)
                state[kw] = fn.start(r.value) if kw not in state else fn.add(state[kw], r.value)
    else:
        by_key: dict[Any, list[Any]] = defaultdict(list)
        for r in recs:
            by_key[r.key].append(r)
        for key, rs in by_key.items():
            rs.sort(key=lambda r: r.timestamp)
            start = end = value = None
            for r in rs:
                if start is not None and r.timestamp - end <= windows.gap:
                    end, value = r.timestamp, fn.add(value, r.value)
                    continue
                if start is not None:
                    state[(key, (start, end))] = value
                start = end = r.timestamp
                value = fn.start(r.value)
            state[(key, (start, end))] = value
    return {kw: fn.result(v) for kw, v in state.items()}


@dataclass
class BatchRun:
    """One run of a batch job.

    ``started``/``finished``: processing times (ms); ``covered``: how many records (in arrival
    order) it saw; ``results``: its answer per (key, window).
    """

    started: int
    finished: int
    covered: int
    results: dict[tuple[Any, Window], Any] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"BatchRun(started={self.started}, finished={self.finished}, covered={self.covered} "
            f"records, {len(self.results)} windows)"
        )


def _check_now(name: str, value: Any, example: int) -> int:
    return check_millis(name, value, what="a processing time", example=example)


class BatchJob:
    """A batch job run every ``every`` ms over everything that has arrived so far.

    The first run is at ``first_run`` (default: ``every``, i.e. "at the end of the first
    hour"); each takes ``duration`` ms, and its result replaces the previous one when it finishes.

    >>> from brokerlab.windows import TumblingWindows
    >>> job = BatchJob(TumblingWindows(10), every=100)
    >>> job.due(99), job.due(100)
    (False, True)
    >>> job.run([(1, "a", 1), (15, "a", 1)], now=100)
    BatchRun(started=100, finished=100, covered=2 records, 2 windows)
    >>> job.next_run
    200
    """

    def __init__(
        self,
        windows: Any,
        *,
        agg: str | Aggregation = "count",
        every: int = 3_600_000,
        duration: int = 0,
        first_run: int | None = None,
    ) -> None:
        self.windows = check_windows(windows)
        self.agg = aggregation(agg)
        self.every = check_millis(
            "every", every, low=1, what="the batch interval", example=3_600_000
        )
        self.duration = check_millis(
            "duration", duration, what="a batch run's duration", example=60_000
        )
        self.next_run = (
            self.every
            if first_run is None
            else check_millis(
                "first_run", first_run, what="the first run's time", example=self.every
            )
        )
        self.runs: list[BatchRun] = []

    def due(self, now: int) -> bool:
        """Is a run due at processing time ``now`` (ms)?"""
        return _check_now("now", now, self.next_run) >= self.next_run

    def run(self, records: Sequence[Any], now: int) -> BatchRun:
        """Recompute everything from ``records`` (all arrived so far) at processing time ``now``."""
        now = _check_now("now", now, self.next_run)
        results = batch_aggregate(records, self.windows, self.agg)
        run = BatchRun(now, now + self.duration, len(records), results)
        self.runs.append(run)
        while self.next_run <= now:
            self.next_run += self.every
        return run

    def view_at(self, t: int) -> BatchRun | None:
        """The latest run whose result is visible at time ``t`` (finished by then), or None."""
        t = _check_now("t", t, self.next_run)
        visible = [r for r in self.runs if r.finished <= t]
        return max(visible, key=lambda r: r.finished) if visible else None

    def __repr__(self) -> str:
        return (
            f"BatchJob({self.windows!r}, agg={self.agg.name!r}, every={self.every}, "
            f"duration={self.duration}: {len(self.runs)} runs, next at {self.next_run})"
        )
