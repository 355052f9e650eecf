"""The lambda architecture, and the kappa architecture that answers it.

**Lambda** (Nathan Marz, *Big Data*, Manning 2015; "How to beat the CAP theorem", 2011) keeps
three layers over one immutable, append-only **master dataset**:

- the **batch layer** recomputes its view from *all* of the master dataset, every so often. It
  is slow but simple and always right: late records, bugs fixed in the code, everything is
  corrected by the next run (:class:`~brokerlab.batch.BatchJob`);
- the **speed layer** covers only what the batch layer has not reached yet: the records that
  arrived after the last batch run started. It is a stream processor, fast but approximate (it
  may drop late records). When a batch run finishes, the speed layer throws away what that run
  now covers and keeps only the newer records (Marz keeps two speed views and flips between them;
  rebuilding from the uncovered records, as here, gives the same view);
- the **serving layer** answers queries by merging the two views: per (key, window), batch value
  plus speed value (``Aggregation.merge``; sessions from both are merged across the boundary).

So the serving answer is fresh (speed) and, once a batch run has covered a record, right
(batch): it **converges to the batch answer** (:func:`run_lambda` records how far it is off).

**Kappa** (Jay Kreps, "Questioning the Lambda Architecture", O'Reilly Radar, 2014) drops the
batch layer. There is one stream job. The log (Kafka) retains the raw records long enough to
replay them, and "recomputing" means starting a *new version* of the job at offset 0, letting
it catch up with the head of the log into a new output table, switching the serving layer to it,
and deleting the old job and table (:class:`KappaArchitecture`, built on the Kafka-style
:class:`brokerlab.log.Log`: each job version is its own consumer reading the topic from the
earliest retained offset).

The trade-off, stated:

- Lambda writes the logic twice (a batch job and a stream job that must agree), and runs and
  debugs two systems. In exchange the batch side corrects *everything*, however late, with no
  grace period to choose, and a bug fix is deployed by rerunning the batch.
- Kappa writes it once. Recomputing costs a replay: the log must *retain* the records that long
  (Kafka's ``retention.ms`` default is 7 days; reprocessing further back needs longer retention,
  compaction or tiered storage), and the cluster needs spare capacity to replay fast. Lateness
  is still governed by the stream job's grace period, also during a replay: the log keeps the
  arrival order, so a record that was too late live is too late again in the replay, unless the
  new version has a bigger grace (which is cheap during a replay, because results are not
  waited for). Event-time results do not depend on the replay speed, which is what makes a
  replay a faithful recomputation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .aggregation import Aggregation, aggregation
from .batch import BatchRun, batch_aggregate
from .clock import Clock, VirtualClock
from .errors import InvalidArgument, InvalidType, out_of_range
from .log import DEFAULT_RETENTION_MS, Log
from .scheduler import Scheduler
from .stream import LogSource, Record, StreamProcessor, as_record
from .stream_vs_batch import figure_and_ax, in_arrival_order
from .windows import Window, check_count, check_millis, check_windows, merge_sessions

View = dict[tuple[Any, Window], Any]


def merge_views(batch: View, speed: View, windows: Any, agg: str | Aggregation = "count") -> View:
    """The serving layer's merge of two views over *disjoint* sets of records.

    Time windows: the values of the same (key, window) are merged. Sessions: per key, sessions
    from both views within ``gap`` of each other become one session (a record on one side can
    bridge two sessions of the other), with their values merged.
    """
    windows = check_windows(windows)
    fn = aggregation(agg)
    if not windows.merging:
        out = dict(batch)
        for kw, v in speed.items():
            out[kw] = fn.result(fn.merge(out[kw], v)) if kw in out else v
        return out
    by_key: dict[Any, list[tuple[Window, Any]]] = defaultdict(list)
    for (key, w), v in [*batch.items(), *speed.items()]:
        by_key[key].append((w, v))
    out = {}
    for key, items in by_key.items():
        values: dict[Window, list[Any]] = defaultdict(list)
        for w, v in items:
            values[w].append(v)
        for group in merge_sessions(values, windows.gap):
            merged = (min(w[0] for w in group), max(w[1] for w in group))
            vs = [v for w in sorted(set(group)) for v in values[w]]
            total = vs[0]
            for v in vs[1:]:
                total = fn.merge(total, v)
            out[(key, merged)] = fn.result(total)
    return out


def view_error(view: View, truth: View) -> int:
    """How many (key, window) entries of ``view`` and ``truth`` differ (missing counts too)."""
    return sum(1 for kw in set(view) | set(truth) if view.get(kw) != truth.get(kw))


# --- lambda ------------------------------------------------------------------------------------------------


class LambdaArchitecture:
    """Batch layer + speed layer + serving layer over one master dataset (see the module docstring).

    - :meth:`ingest` appends a record to the master dataset and gives it to the speed layer;
    - :meth:`start_batch` starts a batch run over the whole master dataset as it is now; it
      finishes ``batch_duration`` ms later (:meth:`finish_batch`);
    - :meth:`serving_view` is the merged answer.

    The speed layer is a :class:`~brokerlab.stream.StreamProcessor` in ``emit="on_update"`` mode
    (fresh, every change visible) with grace ``speed_grace``.
    """

    def __init__(
        self,
        windows: Any,
        *,
        agg: str | Aggregation = "count",
        batch_duration: int = 0,
        speed_grace: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.windows = check_windows(windows)
        self.agg = aggregation(agg)
        self.batch_duration = check_millis(
            "batch_duration", batch_duration, what="a batch run's duration", example=60_000
        )
        self.speed_grace = check_millis(
            "speed_grace", speed_grace, what="the speed layer's grace", example=5000
        )
        self.clock = clock or VirtualClock()
        self.master: list[Record] = []  # immutable and append-only: the source of truth
        self.batch_view: BatchRun | None = None  # the batch view the serving layer uses
        self.running: BatchRun | None = None  # a run started but not finished
        self.batch_runs: list[BatchRun] = []
        self.speed = self._speed_layer(0)

    def _speed_layer(self, start: int) -> StreamProcessor:
        speed = StreamProcessor(
            self.windows, agg=self.agg, grace=self.speed_grace, emit="on_update", clock=self.clock
        )
        speed.process_all(self.master[start:])
        return speed

    @property
    def covered(self) -> int:
        """How many master records the visible batch view covers (the speed layer has the rest)."""
        return self.batch_view.covered if self.batch_view else 0

    def ingest(self, item: Any) -> None:
        """A new record: into the master dataset, and into the speed layer."""
        rec = as_record(item)
        self.agg.check(rec.value)
        self.master.append(rec)
        self.speed.process(rec)

    def start_batch(self) -> BatchRun:
        """Start recomputing the batch view from the whole master dataset as it is now."""
        if self.running is not None:
            raise InvalidArgument(
                f"a batch run is already running (started at {self.running.started} ms): finish it "
                "first with finish_batch(), then start the next one."
            )
        now = self.clock.now_ms()
        results = batch_aggregate(self.master, self.windows, self.agg)
        self.running = BatchRun(now, now + self.batch_duration, len(self.master), results)
        return self.running

    def finish_batch(self) -> BatchRun:
        """The running batch run is done: serve its view; the speed layer forgets what it covers."""
        if self.running is None:
            raise InvalidArgument("no batch run is running: call start_batch() first.")
        run, self.running = self.running, None
        self.batch_runs.append(run)
        self.batch_view = run
        self.speed = self._speed_layer(run.covered)
        return run

    def serving_view(self) -> View:
        """Batch view + speed view: the answer a query gets now."""
        batch = self.batch_view.results if self.batch_view else {}
        return merge_views(batch, self.speed.results(), self.windows, self.agg)

    def batch_truth(self) -> View:
        """What a batch run over the whole master dataset would say now."""
        return batch_aggregate(self.master, self.windows, self.agg)

    def __repr__(self) -> str:
        return (
            f"LambdaArchitecture({self.windows!r}, agg={self.agg.name!r}: {len(self.master)} records, "
            f"batch covers {self.covered}, speed layer holds {len(self.speed.records)}, "
            f"{'a batch run is running' if self.running else 'no batch run running'})"
        )


@dataclass
class LambdaRun:
    """What :func:`run_lambda` saw: ``samples`` of ``(time, serving_error, batch_error)``.

    ``serving_error`` is how many (key, window) entries of the serving view differ from a batch
    recomputation over everything arrived by then; ``batch_error`` the same for the batch view
    alone. ``final_serving`` and ``final_batch`` are the two views at the end.
    """

    lam: LambdaArchitecture
    samples: list[tuple[int, int, int]] = field(repr=False)
    final_serving: View = field(repr=False)
    final_batch: View = field(repr=False)

    @property
    def converged(self) -> bool:
        return self.final_serving == self.final_batch

    def __repr__(self) -> str:
        worst = max((s[1] for s in self.samples), default=0)
        return (
            f"LambdaRun({len(self.lam.master)} records, {len(self.lam.batch_runs)} batch runs, "
            f"serving off by at most {worst} windows, converged={self.converged})"
        )


#: The most sample points a run takes (a picture needs a few hundred).
MAX_SAMPLES = 10_000


def _check_samples(samples: Any) -> None:
    check_count("samples", samples, what="the number of samples", example=100)
    if samples > MAX_SAMPLES:
        raise out_of_range("samples", samples, 1, MAX_SAMPLES, who="this model", example=100)


def run_lambda(
    records: Iterable[Any],
    windows: Any,
    *,
    agg: str | Aggregation = "count",
    batch_every: int = 60_000,
    batch_duration: int = 0,
    speed_grace: int = 0,
    samples: int = 100,
) -> LambdaRun:
    """Feed arriving records to a lambda architecture; run the batch layer every ``batch_every`` ms.

    Batch runs start at ``batch_every``, ``2 * batch_every``, ... and each takes
    ``batch_duration`` ms (a run that would start while another is running waits for the next
    slot). Runs continue until one has covered every record. The serving view is compared with
    the truth at ``samples`` evenly spaced times and after every batch run.
    """
    recs = in_arrival_order(records)
    check_millis("batch_every", batch_every, low=1, what="the batch interval", example=60_000)
    _check_samples(samples)
    sched = Scheduler()
    lam = LambdaArchitecture(
        windows, agg=agg, batch_duration=batch_duration, speed_grace=speed_grace, clock=sched.clock
    )
    taken: list[tuple[int, int, int]] = []

    def sample() -> None:
        truth = lam.batch_truth()
        batch = lam.batch_view.results if lam.batch_view else {}
        taken.append(
            (sched.clock.now_ms(), view_error(lam.serving_view(), truth), view_error(batch, truth))
        )

    def finish() -> None:
        lam.finish_batch()
        sample()

    def tick(slot: int) -> None:
        if lam.running is None:  # a run still running makes this slot wait for the next
            run = lam.start_batch()
            sched.at(run.finished / 1000, finish, priority=1)
        latest = lam.running.covered if lam.running else lam.covered
        if latest < len(recs):  # some record is not in any run yet: keep the schedule going
            sched.at((slot + batch_every) / 1000, tick, slot + batch_every, priority=2)

    for r in recs:
        sched.at(r.arrival / 1000, lam.ingest, r)  # type: ignore[operator]
    sched.at(batch_every / 1000, tick, batch_every, priority=2)
    last = recs[-1].arrival if recs else 0
    horizon = max(last, batch_every) + batch_every + batch_duration  # type: ignore[operator]
    for i in range(samples + 1):
        sched.at(horizon * i / samples / 1000, sample, priority=3)
    sched.run()
    return LambdaRun(
        lam, sorted(taken), lam.serving_view(), lam.batch_view.results if lam.batch_view else {}
    )


def plot_lambda(run: LambdaRun, ax: Any = None) -> Any:
    """Windows the serving view (and the batch view alone) gets wrong, over processing time."""
    fig, ax = figure_and_ax(ax)
    ts = [t / 1000 for t, _, _ in run.samples]
    ax.step(
        ts,
        [s for _, s, _ in run.samples],
        where="post",
        color="tab:blue",
        label="serving view (batch + speed)",
    )
    ax.step(
        ts,
        [b for _, _, b in run.samples],
        where="post",
        color="tab:orange",
        alpha=0.6,
        label="batch view alone",
    )
    for r in run.lam.batch_runs:
        ax.axvline(r.finished / 1000, color="grey", alpha=0.3, linewidth=1)
    ax.set_xlabel("processing time (s); grey lines: batch runs finish")
    ax.set_ylabel("windows that differ from the truth")
    ax.set_title("Lambda: the serving view converges to the batch answer")
    ax.legend(loc="upper left", fontsize="small")
    return fig


# --- kappa -------------------------------------------------------------------------------------------------


class KappaArchitecture:
    """One stream job over a retained, replayable log (see the module docstring).

    The log is a real :class:`brokerlab.log.Log` (pass one, or one is made on ``clock``) with a
    topic ``topic`` (made if missing, with ``partitions`` partitions and ``retention_ms``). Jobs
    read it through their own consumer, with no group and no auto-commit, from the earliest
    retained offset: job version ``n`` is the consumer ``stream-job-v{n}``.

    - :meth:`append` produces a record to the topic (its event time becomes the record
      timestamp, its key goes as UTF-8) and lets the live job consume it;
    - :meth:`reprocess` starts a new version of the job (other windows, aggregation, grace...)
      at offset 0, writing to its own table;
    - :meth:`replay` lets it read up to ``n`` records; once it has caught up with the end of
      the log it becomes the live job, the serving view switches to its table, and the old job's
      consumer is closed.

    With one partition the log keeps the arrival order, so a replay sees the records in the
    order the live job saw them. With several, each partition keeps its own order and a job
    reads them partition by partition (Kafka Streams would run one task, with its own stream
    time, per partition).
    """

    def __init__(
        self,
        windows: Any,
        *,
        agg: str | Aggregation = "count",
        grace: int = 0,
        bound: int = 0,
        emit: str = "on_update",
        log: Log | None = None,
        topic: str = "events",
        partitions: int = 1,
        retention_ms: int = DEFAULT_RETENTION_MS,
        clock: Clock | None = None,
    ) -> None:
        job = StreamProcessor(windows, agg=agg, grace=grace, bound=bound, emit=emit)  # checks first
        self.log = log if log is not None else Log(clock or VirtualClock())
        self.clock = self.log.clock
        self.topic = topic
        if topic not in self.log.topics:
            self.log.create_topic(topic, partitions, retention_ms=retention_ms)
        self.producer = self.log.producer()
        self.version = 0
        self.new: StreamProcessor | None = None  # a new version replaying the log
        self._new_source: LogSource | None = None
        self.switches: list[int] = []  # processing times at which a new version took over
        self.live, self._live_source = self._start(job)
        self.live.consume(self._live_source)

    def _start(self, job: StreamProcessor) -> tuple[StreamProcessor, LogSource]:
        self.version += 1
        job.clock = self.clock
        return job, LogSource.of_topic(self.log, self.topic, name=f"stream-job-v{self.version}")

    def append(self, item: Any) -> None:
        """Produce one record to the log; the live job consumes it at once."""
        rec = as_record(item)
        self.live.agg.check(rec.value)
        if self.new is not None:
            self.new.agg.check(rec.value)
        if rec.key is not None and not isinstance(rec.key, str):
            raise InvalidType(
                f"key={rec.key!r} is a {type(rec.key).__name__}: the log carries keys as bytes, and "
                "this job sends str keys as UTF-8. Pass a str key, e.g. str(user_id)."
            )
        self.producer.send(self.topic, rec.value, key=rec.key, timestamp=rec.timestamp)
        self.live.consume(self._live_source)

    def retained(self) -> list[Record]:
        """The records the log still holds, partition by partition, keys decoded."""
        out = []
        for part in self.log.topic(self.topic).partitions:
            for r in part.records():
                key = r.key.decode("utf-8") if isinstance(r.key, bytes) else r.key
                out.append(Record(r.timestamp, key, r.value, offset=r.offset))
        return out

    def reprocess(
        self,
        windows: Any = None,
        *,
        agg: str | Aggregation | None = None,
        grace: int | None = None,
        bound: int | None = None,
        emit: str | None = None,
    ) -> StreamProcessor:
        """Start a new version of the job at the earliest retained offset (unchanged settings are kept)."""
        old = self.live
        job = StreamProcessor(
            windows if windows is not None else old.windows,
            agg=agg if agg is not None else old.agg,
            grace=grace if grace is not None else old.grace,
            bound=bound if bound is not None else old.bound,
            emit=emit if emit is not None else old.emit,
        )
        for rec in self.retained():  # the new logic must accept every retained record
            job.agg.check(rec.value)
        if self._new_source is not None:  # a replay already running is abandoned
            self._new_source.consumer.close()
        self.new, self._new_source = self._start(job)
        return self.new

    @property
    def lag(self) -> int:
        """How many log records the new version has still to read (0 if none is replaying)."""
        if self._new_source is None:
            return 0
        return sum(n or 0 for n in self._new_source.consumer.lag().values())

    def replay(self, n: int) -> int:
        """Let the new version read up to ``n`` more records (one poll); switch over once it has
        caught up. Returns how many records it read."""
        check_count("n", n, what="the number of records to replay", example=100)
        if self.new is None or self._new_source is None:
            raise InvalidArgument("no new version is replaying: call reprocess(...) first.")
        self._new_source.max_records = n
        batch = self._new_source.poll()
        self.new.process_all(batch)
        if self.lag == 0:
            self._live_source.consumer.close()
            self.live, self._live_source = self.new, self._new_source
            self._live_source.max_records = None
            self.new, self._new_source = None, None
            self.switches.append(self.clock.now_ms())
        return len(batch)

    def serving_view(self) -> View:
        """The live job's table (a new version's is not served until it has caught up)."""
        return self.live.results()

    def __repr__(self) -> str:
        held = sum(len(p) for p in self.log.topic(self.topic).partitions)
        state = (
            f", v{self.version} replaying, {self.lag} records behind"
            if self.new is not None
            else ""
        )
        return f"KappaArchitecture(topic {self.topic!r}: {held} records retained, live={self.live!r}{state})"


@dataclass
class KappaRun:
    """What :func:`run_kappa` saw: ``samples`` of ``(time, serving_error)`` against the truth."""

    kappa: KappaArchitecture
    samples: list[tuple[int, int]] = field(repr=False)
    reprocess_at: int
    switched_at: int | None

    def __repr__(self) -> str:
        return (
            f"KappaRun({len(self.kappa.retained())} records, reprocess at {self.reprocess_at} ms, "
            f"new version took over at {self.switched_at} ms)"
        )


def run_kappa(
    records: Iterable[Any],
    windows: Any,
    *,
    agg: str | Aggregation = "count",
    grace: int = 0,
    reprocess_at: int,
    new_grace: int | None = None,
    replay_rate: int = 100,
    replay_every: int = 1000,
    samples: int = 100,
) -> KappaRun:
    """Run a kappa architecture over arriving records; at ``reprocess_at`` ms start a new version.

    The new version (grace ``new_grace``, default unchanged) replays the log at ``replay_rate``
    records every ``replay_every`` ms of processing time, and takes over once it has caught up.
    The serving view is compared with the truth (a batch recomputation of everything arrived) at
    ``samples`` evenly spaced times.
    """
    recs = in_arrival_order(records)
    check_millis("reprocess_at", reprocess_at, what="a processing time", example=60_000)
    check_count("replay_rate", replay_rate, what="the records replayed per step", example=100)
    check_millis(
        "replay_every", replay_every, low=1, what="the time between replay steps", example=1000
    )
    _check_samples(samples)
    sched = Scheduler()
    kappa = KappaArchitecture(windows, agg=agg, grace=grace, clock=sched.clock)
    taken: list[tuple[int, int]] = []

    def sample() -> None:
        truth = batch_aggregate(kappa.retained(), kappa.live.windows, kappa.live.agg)
        taken.append((sched.clock.now_ms(), view_error(kappa.serving_view(), truth)))

    def step() -> None:
        if kappa.new is None:
            return
        kappa.replay(replay_rate)
        if kappa.new is not None:
            sched.after(replay_every / 1000, step)
        else:
            sample()

    def start() -> None:
        kappa.reprocess(grace=new_grace)
        step()

    for r in recs:
        sched.at(r.arrival / 1000, kappa.append, r)  # type: ignore[operator]
    sched.at(reprocess_at / 1000, start, priority=1)
    last = max(recs[-1].arrival if recs else 0, reprocess_at)  # type: ignore[type-var]
    horizon = last + replay_every * (len(recs) // replay_rate + 2)  # type: ignore[operator]
    for i in range(samples + 1):
        sched.at(horizon * i / samples / 1000, sample, priority=3)
    sched.run()
    switched = kappa.switches[0] if kappa.switches else None
    return KappaRun(kappa, sorted(taken), reprocess_at, switched)
