"""Fault schedules for a poll loop on the package's Kafka-style consumer (exercise 3).

:class:`LogRun` runs a learner's loop ``loop(consumer, process)`` on a
:class:`~brokerlab.log.Log` topic ``orders`` of 1 to 3 partitions, with a consumer of group
``billing`` (auto-commit off, ``auto_offset_reset="earliest"``, ``max_poll_records=2`` so a loop
must poll more than once). ``process(record)`` is the grader's: it records a ``process`` event.
The log records ``publish``, ``deliver``, ``commit``, ``rebalance`` and ``crash`` itself, so the
verdict is the checker's reading of the log's own history.

A crash (:class:`~brokerlab.grading.harness.Crash`) strikes before or after one call to
``poll``, ``commit`` or ``process``. The consumer then crashes (no commit, no goodbye), the
group's session times out, and the grader calls a fresh copy of the loop with a new consumer of
the same group, which starts from the committed offsets. Once the crash has struck, every later
call on the consumer or ``process`` raises it again and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checker import check as check_history
from ..checker import minimal_core, violations
from ..clock import VirtualClock
from ..history import History
from ..log import Log, Record
from .harness import Crash, found_after, run_crashable, tell
from .sandbox import Fail, fresh_process, reached_into, restricted

__all__ = ["LogFault", "LogOutcome", "LogRun", "search_log"]

TOPIC = "orders"
GROUP = "billing"
#: Kafka's smallest allowed ``session.timeout.ms`` (``group.min.session.timeout.ms``): a crashed
#: member's partitions are free again 6 s later.
SESSION_TIMEOUT_MS = 6000
MAX_POLL_RECORDS = 2
#: The loop is restarted at most this many times in one run (a safety net).
MAX_STARTS = 12
LOOP_TIMEOUT = 2.0
#: What the learner may use on the consumer.
ALLOWED = ("poll", "commit", "position", "positions", "committed", "assignment", "close")


@dataclass(frozen=True, order=True)
class LogFault:
    """A crash ``when`` ("before"/"after") the ``call``-th call (to poll, commit or process)
    of the loop's ``start``-th start."""

    start: int
    call: int
    when: str
    label: str = field(default="", compare=False)

    @property
    def spot(self) -> tuple[int, int, int]:
        return (self.start, self.call, 0 if self.when == "before" else 1)

    def __repr__(self) -> str:
        return f"crash {self.when} {self.label} (call {self.call} of start {self.start})"


@dataclass
class LogOutcome:
    history: History
    records: list[str]  # every record's message id, in publish order
    committed: dict[int, int]  # partition -> committed offset at the end
    ends: dict[int, int]  # partition -> log end offset
    points: list[LogFault]
    failure: Fail | None = None


class _Loop:
    """One start of the loop: its consumer, its calls, and whether it has crashed."""

    def __init__(self, run: LogRun, consumer: Any, start: int) -> None:
        self.run = run
        self.consumer = consumer
        self.start = start
        self.calls = 0
        self.dead: Crash | None = None

    def point(self, label: str, do: Callable[[], Any]) -> Any:
        if self.dead is not None:
            raise self.dead
        self.calls += 1
        run = self.run
        run.clock.advance(0.001)
        result = None
        for when in ("before", "after"):
            if when == "after":
                result = do()
            spot = LogFault(self.start, self.calls, when, label)
            if spot.spot > run.last:
                run.points.append(spot)
            if spot in run.faults:
                self.dead = Crash(f"{when} {label}")
                self.consumer.crash()
                raise self.dead
        return result


class _ConsumerView:
    """The consumer as the learner sees it: poll and commit are fault points."""

    def __init__(self, loop: _Loop) -> None:
        self.loop = loop

    def poll(self, max_records: int | None = None) -> Any:
        c = self.loop.consumer
        return self.loop.point("consumer.poll()", lambda: c.poll(max_records))

    def commit(self, offsets: Any = None) -> Any:
        c = self.loop.consumer
        label = "consumer.commit()" if offsets is None else "consumer.commit(offsets)"
        return self.loop.point(label, lambda: c.commit(offsets))

    def _alive(self) -> None:
        if self.loop.dead is not None:
            raise self.loop.dead

    def position(self, tp: Any) -> int:
        self._alive()
        return self.loop.consumer.position(tp)

    def positions(self) -> Any:
        self._alive()
        return self.loop.consumer.positions()

    def committed(self, tp: Any) -> Any:
        self._alive()
        return self.loop.consumer.committed(tp)

    def assignment(self) -> Any:
        self._alive()
        return self.loop.consumer.assignment()

    def close(self) -> None:
        self._alive()
        self.loop.consumer.close()


class LogRun:
    """One run of ``factory()``'s loop on ``partitions`` partitions of ``per_partition`` records."""

    def __init__(
        self,
        factory: Callable[[], Any],
        name: str,
        partitions: int,
        per_partition: int = 2,
        faults: tuple[LogFault, ...] = (),
    ) -> None:
        self.factory = factory
        self.name = name
        self.faults = frozenset(faults)
        self.last = max((f.spot for f in faults), default=(0, 0, -1))
        self.clock = VirtualClock()
        self.history = History()
        self.log = Log(self.clock, history=self.history)
        self.partitions = partitions
        self.per_partition = per_partition
        self.points: list[LogFault] = []
        self.reached: list[str] = []

    def _process(self, loop: _Loop) -> Callable[[Any], None]:
        def process(record: Any) -> None:
            if not isinstance(record, Record):
                raise TypeError(
                    f"process(record) takes a record that poll() returned; got a "
                    f"{type(record).__name__}."
                )
            msg = f"{record.topic}-{record.partition}@{record.offset}"

            def do() -> None:
                self.history.record(
                    self.clock.now(),
                    loop.consumer.name,
                    "process",
                    msg,
                    partition=record.partition,
                    offset=record.offset,
                    group=GROUP,
                )

            loop.point(f"process({msg})", do)

        return process

    def execute(self) -> LogOutcome:
        self.log.create_topic(TOPIC, self.partitions)
        producer = self.log.producer()
        for i in range(self.per_partition):
            for p in range(self.partitions):
                producer.send(TOPIC, {"order": i * self.partitions + p + 1}, partition=p)
        records = [e.msg for e in self.history.of_kind("publish")]
        failure = None
        for start in range(1, MAX_STARTS + 1):
            if start > 1:
                self.clock.advance(SESSION_TIMEOUT_MS / 1000 + 1)  # the crashed member expires
            consumer = self.log.consumer(
                group=GROUP,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=MAX_POLL_RECORDS,
                session_timeout_ms=SESSION_TIMEOUT_MS,
            )
            consumer.subscribe([TOPIC])
            loop = _Loop(self, consumer, start)
            view = restricted(_ConsumerView(loop), ALLOWED, "consumer", self.reached)
            fn = self.factory()
            failure = run_crashable(
                fn,
                (view, self._process(loop)),
                f"{self.name}(consumer, process)",
                LOOP_TIMEOUT,
                loop,
            )
            if self.reached and failure is None:
                failure = reached_into("consumer", self.reached)
            if failure is not None or loop.dead is None:
                break
        group = self.log.group(GROUP)
        committed = {tp.partition: o for tp, o in group.committed.items()}
        ends = {p: self.log.partition((TOPIC, p)).log_end_offset for p in range(self.partitions)}
        return LogOutcome(self.history, records, committed, ends, self.points, failure)


def _story(
    name: str,
    partitions: int,
    faults: Sequence[LogFault],
    out: LogOutcome,
    verdict: str,
    core: History | None,
) -> str:
    head = (
        f"{name} on a topic of {partitions} partition(s), {len(out.records)} records "
        f"(max_poll_records={MAX_POLL_RECORDS})"
    )
    state = (
        f"Committed offsets at the end: {dict(sorted(out.committed.items()))} (log end: {out.ends})"
    )
    history = [e for e in out.history if e.kind != "rebalance"]
    return tell(head, faults, verdict, state, history, core)


def judge_log_run(
    name: str, guarantee: str | None, partitions: int, faults: Sequence[LogFault], out: LogOutcome
) -> Fail | None:
    """``guarantee``: "at-most-once" (nothing twice), "at-least-once" (nothing skipped), or
    None for a run without faults (everything processed once, everything committed)."""
    if out.failure is not None:
        f = out.failure
        f.counterexample = _story(name, partitions, faults, out, f.message, None)
        return f
    report = check_history(out.history)
    props = [guarantee] if guarantee else ["at-most-once", "at-least-once"]
    for prop in props:
        found = violations(report, prop)
        if found:
            a = found[0]
            core = minimal_core(out.history, prop, anomaly=a)
            kind = "duplicate" if prop == "at-most-once" else "skipped"
            text = "processed a record twice" if kind == "duplicate" else "skipped a record"
            return Fail(
                f"{name} {text} ({a.msg}).",
                _story(name, partitions, faults, out, f"{a.kind} {a.msg}: {a.reason}", core),
                kind=kind,
            )
    processed = {e.msg for e in out.history.of_kind("process")}
    if guarantee != "at-most-once":
        missing = [m for m in out.records if m not in processed]
        if missing:
            verdict = f"record(s) {', '.join(missing)} never processed"
            return Fail(
                f"{name} returned before processing every record: {verdict}.",
                _story(name, partitions, faults, out, verdict, None),
                kind="unprocessed",
            )
    if guarantee is None:
        behind = {
            p: out.committed.get(p) for p, end in out.ends.items() if out.committed.get(p) != end
        }
        if behind:
            verdict = (
                f"committed offsets {behind} at the end, but the log ends at {out.ends}: the "
                "committed offset is the next one to read"
            )
            return Fail(
                f"{name} did not commit what it processed: {verdict}.",
                _story(name, partitions, faults, out, verdict, None),
                kind="uncommitted",
            )
    return None


def search_log(
    loop: Any,
    name: str,
    guarantee: str | None,
    *,
    partitions: Sequence[int] = (1, 2, 3),
    max_faults: int = 1,
    budget: int = 3000,
) -> None:
    """Search crash schedules, smallest first (partitions, then faults), for a run where the
    loop breaks ``guarantee``; raise the first failure as a :class:`Fail`."""
    factory = fresh_process(loop)
    tried = 0
    for p in partitions:
        frontier: list[tuple[LogFault, ...]] = [()]
        for depth in range(max_faults + 1):
            level = []
            for schedule in frontier:
                if tried >= budget:
                    return
                tried += 1
                out = LogRun(factory, name, p, faults=schedule).execute()
                failure = judge_log_run(name, guarantee, p, schedule, out)
                if failure is not None:
                    raise found_after(failure, tried)
                level.append((schedule, out))
            if depth == max_faults:
                break
            frontier = [(*s, pt) for s, out in level for pt in out.points]
