"""Fault schedules on the reference broker, for exercises whose answer is a consumer.

Two harnesses, each running learner code on the package's own broker, recording a
:class:`~brokerlab.history.History`, and judging it with :func:`brokerlab.checker.check` and
the state the grader owns, never with what the learner's code says:

- :class:`QueueRun` runs a queue consumer ``handle(delivery, ctx)`` (RabbitMQ style: push,
  ``prefetch=1``, ack) on a :class:`~brokerlab.queue.Queue`, with a transactional database
  ``ctx.db`` that survives crashes, under a schedule of :class:`QueueFault`;
- :class:`LogRun` (in :mod:`brokerlab.grading.logloop`) runs a poll loop on the Kafka-style
  consumer.

:func:`search` tries schedules smallest first, as :mod:`brokerlab.counterexample` does: by
number of messages, then by number of faults, then in order. Crash points are *discovered*: a
run lists every place a fault could have struck after its last fault (before or after each call
the handler made on ``ctx``, ``ctx.db`` or ``tx``), and the next level extends the schedule
with each of them, so no schedule is tried twice and none strikes where nothing happens.

The crash is :class:`Crash`, a ``BaseException``. Once it has struck, the process is dead:
every later call on ``ctx``, ``ctx.db`` or ``tx`` raises it again and changes nothing (a dead
process cannot ack), even from an ``except`` or ``finally`` block, and a transaction still open
is rolled back. The next delivery goes to a new process: a fresh copy of the handler
(:func:`~brokerlab.grading.sandbox.fresh_process`), so nothing but ``ctx.db`` survives.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..checker import check as check_history
from ..checker import core_in, minimal_core, violations
from ..clock import VirtualClock
from ..history import History
from ..queue import Queue
from .sandbox import Fail, _plain, fresh_process, invoke, reached_into, restricted, short_repr

__all__ = [
    "Crash",
    "Database",
    "PaymentDelivery",
    "QueueFault",
    "QueueOutcome",
    "QueueRun",
    "search",
]

#: A handler may run at most this many times in one run (a safety net).
MAX_INVOCATIONS = 60
#: Seconds one handler invocation may take.
HANDLER_TIMEOUT = 2.0


class Crash(BaseException):
    """A crash the grader injects: the consumer process dies at this point.

    It derives from ``BaseException`` (as ``KeyboardInterrupt`` does), so ``except Exception``
    does not catch it; code that catches it anyway finds the process dead (see the module
    docstring).
    """

    def __init__(self, where: str) -> None:
        super().__init__(f"simulated crash {where}: the consumer process died here")
        self.where = where


def run_crashable(
    fn: Any,
    args: tuple,
    what: str,
    timeout: float,
    process: Any,
    watch: tuple | None = None,
) -> Fail | None:
    """Call learner code that the grader may crash; return the code's own failure, or None.

    None means it returned, or the injected crash ended it, whatever the code did with the
    crash: caught it and returned, or caught it and raised something else (``process.dead``
    says whether the crash struck).
    """
    try:
        invoke(fn, args, what=what, timeout=timeout, passthrough=(Crash,), watch=watch)
    except Crash:
        return None
    except Fail as f:
        if process.dead is None or f.kind != "raised":
            return f
    return None


# --- the consumer's database -----------------------------------------------------------------------


def _key_ok(key: Any) -> bool:
    if isinstance(key, tuple):
        return all(_key_ok(k) for k in key)
    return isinstance(key, (str, int)) and not isinstance(key, bool)


def _check_key(key: Any, call: str) -> None:
    if not _key_ok(key):
        raise TypeError(
            f"{call}: key={short_repr(key, 60)} is a {type(key).__name__}; a key is a str, an "
            "int, or a tuple of them, e.g. ('balance', account)."
        )


class Database:
    """The consumer's own durable store: a dict of plain data, changed only by transactions."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}

    def snapshot(self) -> dict[Any, Any]:
        return copy.deepcopy(self.data)


class _Process:
    """One consumer process: alive until a crash strikes; counts the calls it makes."""

    def __init__(self, run: QueueRun) -> None:
        self.run = run
        self.dead: Crash | None = None


class _Tx:
    def __init__(self, handler: _Handling) -> None:
        self.h = handler
        self.writes: dict[Any, Any] = {}
        self.state = "new"  # new, open, committed, rolled back

    def _usable(self, call: str) -> None:
        if self.state == "new":
            raise RuntimeError(
                f"{call} outside its with block: write `with ctx.db.transaction() as tx:` and "
                "use tx inside the block."
            )
        if self.state != "open":
            raise RuntimeError(f"{call}: this transaction is over ({self.state}); start a new one.")

    def __enter__(self) -> Any:
        self.h.alive("entering the transaction")
        if self.state != "new":
            raise RuntimeError("a transaction can be entered only once; start a new one.")
        self.state = "open"
        return self.h.view(self, ("get", "put"), "tx")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self.state != "open":
            return False
        if exc_type is not None or self.h.process.dead is not None:
            self.state = "rolled back"
            self.writes.clear()
            if exc_type is None:  # the learner swallowed the crash inside the block
                raise self.h.process.dead  # type: ignore[misc]
            return False
        self.h.point("commit of the transaction", self._commit)
        return False

    def _commit(self) -> None:
        self.state = "committed"
        self.h.commit(self.writes)

    def get(self, key: Any, default: Any = None) -> Any:
        call = f"tx.get({short_repr(key, 40)})"
        self.h.alive(call)
        _check_key(key, call)
        self._usable(call)

        def read() -> Any:
            if key in self.writes:
                return copy.deepcopy(self.writes[key])
            return copy.deepcopy(self.h.run.db.data.get(key, default))

        return self.h.point(call, read)

    def put(self, key: Any, value: Any) -> None:
        call = f"tx.put({short_repr(key, 40)}, {short_repr(value, 40)})"
        self.h.alive(call)
        _check_key(key, call)
        if not _plain(value):
            raise TypeError(
                f"{call}: the value is a {type(value).__name__} (or holds one); ctx.db keeps plain "
                "data only: None, bool, int, float, str, and tuples, lists and dicts of them."
            )
        self._usable(call)
        value = copy.deepcopy(value)
        self.h.point(call, lambda: self.writes.__setitem__(key, value))


class _Db:
    def __init__(self, handler: _Handling) -> None:
        self.h = handler

    def transaction(self) -> Any:
        tx = self.h.point("ctx.db.transaction()", lambda: _Tx(self.h))
        return self.h.view(tx, ("get", "put"), "tx")


class _Ctx:
    def __init__(self, handler: _Handling) -> None:
        self.h = handler
        self.db = handler.view(_Db(handler), ("transaction",), "ctx.db")

    def ack(self) -> None:
        self.h.ack()


@dataclass(frozen=True)
class PaymentDelivery:
    """What ``handle`` receives: the broker's message id, and a copy of the payload."""

    id: str
    payload: dict[str, Any]
    redelivered: bool = False


class _Handling:
    """One invocation of the handler on one delivery, with its fault points."""

    def __init__(self, run: QueueRun, process: _Process, delivery: Any, number: int) -> None:
        self.run = run
        self.process = process
        self.delivery = delivery
        self.number = number  # invocation number in the run, from 1
        self.calls = 0
        self.acked = False

    def view(self, impl: Any, allowed: tuple[str, ...], label: str) -> Any:
        return restricted(impl, allowed, label, self.run.reached)

    def alive(self, what: str) -> None:
        if self.process.dead is not None:
            raise self.process.dead

    def point(self, label: str, do: Callable[[], Any]) -> Any:
        """A call on ctx: crash before it, do it, crash after it, as the schedule says."""
        self.alive(label)
        self.calls += 1
        k = self.calls
        run = self.run
        run.clock.advance(0.001)
        for when in ("before", "after"):
            if when == "after":
                result = do()
            spot = QueueFault("crash", invocation=self.number, call=k, when=when, label=label)
            run.found(spot)
            if spot in run.faults:
                self.die(f"{when} {label}")
        return result

    def die(self, where: str) -> None:
        crash = Crash(where)
        self.process.dead = crash
        run = self.run
        run.history.record(run.clock.now(), "consumer", "crash", when=where)
        raise crash

    def commit(self, writes: dict[Any, Any]) -> None:
        run = self.run
        before = {k: run.db.data.get(k) for k in writes}
        run.db.data.update(writes)
        changed = {
            k[1]: v
            for k, v in writes.items()
            if isinstance(k, tuple) and len(k) == 2 and k[0] == "balance" and before[k] != v
        }
        if changed:  # the payment's effect: a balance changed in a committed transaction
            run.history.record(
                run.clock.now(),
                "consumer",
                "process",
                self.pid,
                delivery=self.delivery.message.id,
                balances=sorted(changed.items()),
            )

    @property
    def pid(self) -> str:
        return self.delivery.message.payload["payment_id"]

    def ack(self) -> None:
        label = "ctx.ack()"
        self.alive(label)
        if self.acked:
            raise RuntimeError(
                "ctx.ack() was called twice for one delivery: RabbitMQ closes the channel "
                "(PRECONDITION_FAILED - unknown delivery tag). Ack each delivery once."
            )
        run = self.run

        def do() -> None:
            self.acked = True
            lost = QueueFault("lost_ack", invocation=self.number, label=label)
            run.found(lost)
            now = run.clock.now()
            if lost in run.faults:
                run.history.record(now, "consumer", "lost", self.pid, what="ack")
                run.ack_lost = True
                return
            run.queue.ack(self.delivery)
            run.acked.append(self.delivery.message.id)
            run.history.record(now, "consumer", "ack", self.pid, delivery=self.delivery.message.id)

        self.point(label, do)


@dataclass(frozen=True, order=True)
class QueueFault:
    """One fault in a schedule of :class:`QueueRun`.

    - ``crash``: the process dies ``when`` ("before"/"after") the ``call``-th call the handler
      makes in its ``invocation``-th run (both counted from 1);
    - ``lost_ack``: the ack of that invocation never reaches the broker: the channel closes
      and the broker requeues the message; the process lives on (its memory too);
    - ``duplicate``: the broker stores message ``msg`` (1-based) twice: the same ``delivery.id``
      arrives twice;
    - ``retry``: the producer's confirm for message ``msg`` is lost, so it publishes the same
      payment again as a new message with its own ``delivery.id``.
    """

    kind: str
    msg: int = 0
    invocation: int = 0
    call: int = 0
    when: str = ""
    label: str = field(default="", compare=False)

    @property
    def static(self) -> bool:
        return self.kind in ("duplicate", "retry")

    @property
    def spot(self) -> tuple[int, int, int]:
        return (self.invocation, self.call, {"before": 0, "": 1, "after": 2}[self.when])

    def __repr__(self) -> str:
        if self.kind == "crash":
            return f"crash {self.when} {self.label} (call {self.call} of handler run {self.invocation})"
        if self.kind == "lost_ack":
            return f"the ack of handler run {self.invocation} is lost"
        if self.kind == "duplicate":
            return f"the broker delivers message m{self.msg} twice (same delivery.id)"
        return f"the producer publishes message m{self.msg}'s payment again as a new message"


@dataclass
class QueueOutcome:
    """What a run left: its history, the database, the places more faults could strike."""

    history: History
    db: dict[Any, Any]
    points: list[QueueFault]
    failure: Fail | None = None  # learner code broke the contract (raised, timed out...)
    unacked: list[str] = field(default_factory=list)


class QueueRun:
    """One run of ``handle`` on a queue of ``payments`` under ``faults``."""

    def __init__(
        self,
        factory: Callable[[], Any],
        payments: Sequence[dict[str, Any]],
        faults: tuple[QueueFault, ...] = (),
    ) -> None:
        self.factory = factory
        self.payments = payments
        self.faults = frozenset(faults)
        self.last = max((f.spot for f in faults if not f.static), default=(0, 0, -1))
        self.clock = VirtualClock()
        self.history = History()
        self.queue = Queue("payments", clock=self.clock)
        self.db = Database()
        self.reached: list[str] = []
        self.points: list[QueueFault] = []
        self.ack_lost = False
        self.acked: list[str] = []  # broker message ids whose ack reached the broker

    def found(self, spot: QueueFault) -> None:
        if spot.spot > self.last:
            self.points.append(spot)

    def publish(self) -> list[str]:
        ids = []
        extra = len(self.payments)
        for i, payment in enumerate(self.payments, start=1):
            pid = payment["payment_id"]
            mid = f"m{i}"
            copies = [(mid, 1)]
            if QueueFault("duplicate", msg=i) in self.faults:
                copies.append((mid, 1))
            if QueueFault("retry", msg=i) in self.faults:
                extra += 1
                copies.append((f"m{extra}", 2))
            for n, (message_id, attempt) in enumerate(copies):
                self.clock.advance(0.001)
                now = self.clock.now()
                if n and attempt == 2:
                    self.history.record(now, "producer", "lost", pid, what="confirm")
                if not (n and attempt == 1):  # a broker-side copy is not a publish
                    self.history.record(
                        now, "producer", "publish", pid, attempt=attempt, id=message_id
                    )
                self.queue.publish(copy.deepcopy(payment), id=message_id)
                ids.append(message_id)
        return ids

    def execute(self) -> QueueOutcome:
        ids = self.publish()
        invocations = 0
        incarnation = 0
        failure = None
        while failure is None and invocations < MAX_INVOCATIONS:
            incarnation += 1
            if incarnation > 1:
                self.history.record(self.clock.now(), "consumer", "restart")
            handler = self.factory()
            process = _Process(self)
            channel = self.queue.consume(f"c{incarnation}", prefetch=1)
            restart = False
            while invocations < MAX_INVOCATIONS:
                deliveries = channel.take()
                if not deliveries:
                    break
                d = deliveries[0]
                invocations += 1
                self.clock.advance(0.001)
                pid = d.message.payload["payment_id"]
                self.history.record(
                    self.clock.now(),
                    "consumer",
                    "deliver",
                    pid,
                    delivery=d.message.id,
                    redelivered=d.redelivered,
                )
                h = _Handling(self, process, d, invocations)
                payload = copy.deepcopy(d.message.payload)
                view = PaymentDelivery(d.message.id, payload, d.redelivered)
                ctx = restricted(_Ctx(h), ("db", "ack"), "ctx", self.reached)
                what = f"handle(delivery {d.message.id} of payment {pid}, ctx)"
                failure = run_crashable(
                    handler, (view, ctx), what, HANDLER_TIMEOUT, process, (payload,)
                )
                if failure is not None:
                    break
                if self.reached:
                    failure = reached_into("ctx", self.reached)
                    break
                if process.dead is not None:  # crashed (caught or not): the channel dies
                    channel.crash()
                    self._requeued(pid, d.message.id)
                    restart = True
                    break
                if self.ack_lost:  # the connection broke: the broker requeues, we reconnect
                    self.ack_lost = False
                    channel.close()
                    self._requeued(pid, d.message.id)
                    channel = self.queue.consume(f"c{incarnation}-{invocations}", prefetch=1)
            if not restart:
                break
        unacked = list(ids)  # a multiset: a duplicated message needs two acks
        for m in self.acked:
            if m in unacked:
                unacked.remove(m)
        return QueueOutcome(self.history, self.db.snapshot(), self.points, failure, unacked)

    def _requeued(self, pid: str, message_id: str) -> None:
        self.history.record(
            self.clock.now(),
            "broker",
            "redeliver",
            pid,
            delivery=message_id,
            reason="channel closed",
        )


# --- judging a run ----------------------------------------------------------------------------------


def expected_balances(payments: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Each account's balance when every distinct payment applied once."""
    out: dict[str, int] = {}
    for p in payments:
        out[p["account"]] = out.get(p["account"], 0) + p["amount"]
    return out


def _describe_payments(payments: Sequence[dict[str, Any]]) -> str:
    return ", ".join(
        f"m{i} = payment {p['payment_id']} ({p['account']} +{p['amount']})"
        for i, p in enumerate(payments, start=1)
    )


def judge_queue_run(
    payments: Sequence[dict[str, Any]], faults: tuple[QueueFault, ...], out: QueueOutcome
) -> Fail | None:
    """The verdict on one run: the checker on the history, then the balances, then the acks."""
    if out.failure is not None:
        f = out.failure
        f.counterexample = _story(payments, faults, out, f.message, None)
        return f
    report = check_history(out.history)
    for prop, kind in (("at-most-once", "duplicate"), ("at-least-once", "lost")):
        found = violations(report, prop)
        if found:
            core = minimal_core(out.history, prop, anomaly=found[0])
            a = found[0]
            verdict = f"{a.kind} {a.msg or ''}: {a.reason}"
            message = {
                "duplicate": f"A payment was applied twice ({a.msg}).",
                "lost": f"A payment was acked but never applied ({a.msg}).",
            }[kind]
            return Fail(message, _story(payments, faults, out, verdict, core), kind=kind)
    want = expected_balances(payments)
    got = _balances(out.db)
    for account in sorted(set(want) | set(got), key=str):
        if got.get(account, 0) != want.get(account, 0):
            verdict = (
                f"the balance of {account!r} in ctx.db is {short_repr(got.get(account, 0), 40)}; "
                f"the distinct payments add up to {want.get(account, 0)}"
            )
            return Fail(
                f"Wrong final balance: {verdict}.",
                _story(payments, faults, out, verdict, None),
                kind="balance",
            )
    if out.unacked:
        verdict = f"message(s) {', '.join(out.unacked)} never acked"
        return Fail(
            f"Not every message was acked: {verdict}. Every delivery, a duplicate too, needs its "
            "ack, or the broker keeps it.",
            _story(payments, faults, out, verdict, None),
            kind="unacked",
        )
    return None


def tell(
    head: str,
    faults: Sequence[Any],
    verdict: str,
    state: str,
    history: Any,
    core: History | None,
) -> str:
    """A counterexample as text, as :meth:`brokerlab.counterexample.Counterexample.explain`
    tells one: the run and its faults, the verdict, the state the grader read, then the
    minimal core of the history (or the whole history when the verdict needs no core)."""
    lines = [f"{head} and {len(faults)} fault(s):"]
    lines += [f"  {f!r}" for f in faults] or ["  (no fault at all)"]
    lines += [f"Verdict: {verdict}", state]
    if core is not None:  # numbered as in the whole history, as the verdict quotes them
        events = core_in(history, core)
        title = f"The smallest part of the history that still shows it ({len(events)} of its "
        title += f"{len(history)} events, numbered as in the whole run)"
    else:
        events = list(history)
        title = f"The history ({len(events)} events)"
    lines.append(f"{title}:")
    lines += [f"  {e!r}" for e in events]
    return "\n".join(lines)


def _balances(db: dict[Any, Any]) -> dict[Any, Any]:
    """The ``("balance", account)`` entries of a database, by account."""
    return {
        k[1]: v
        for k, v in sorted(db.items(), key=str)
        if isinstance(k, tuple) and len(k) == 2 and k[0] == "balance"
    }


def _story(
    payments: Sequence[dict[str, Any]],
    faults: tuple[QueueFault, ...],
    out: QueueOutcome,
    verdict: str,
    core: History | None,
) -> str:
    n = len(payments)
    head = f"With {n} message{'s' if n != 1 else ''} ({_describe_payments(payments)})"
    state = f"Balances in ctx.db: {_balances(out.db)} (expected {expected_balances(payments)})"
    return tell(head, faults, verdict, state, out.history, core)


# --- the search -------------------------------------------------------------------------------------


def search(
    handle: Any,
    workloads: Sequence[Sequence[dict[str, Any]]],
    *,
    kinds: tuple[str, ...],
    max_faults: int,
    must: tuple[str, ...] = (),
    budget: int = 4000,
) -> None:
    """Search fault schedules, smallest first, for a run where ``handle`` goes wrong; raise
    the first failure as a :class:`Fail` whose counterexample tells the run, else return.

    ``workloads``: the payment lists to try, smallest first; ``kinds``: the fault kinds
    (``crash``, ``lost_ack``, ``duplicate``, ``retry``); ``max_faults``: per schedule;
    ``must``: static fault kinds every schedule includes at least one of (then the search
    starts from one such fault); ``budget``: at most this many runs in all (the largest
    schedules are cut first). A duplicate or lost payment in a schedule with a crash fails
    with kind ``crash_duplicate`` or ``crash_lost``, so that its hint can speak of the crash.
    """
    factory = fresh_process(handle)
    tried = 0
    for payments in workloads:
        statics = [
            QueueFault(kind, msg=i)
            for i in range(1, len(payments) + 1)
            for kind in ("duplicate", "retry")
            if kind in kinds
        ]
        level: list[tuple[tuple[QueueFault, ...], QueueOutcome]] = []
        frontier: list[tuple[QueueFault, ...]] = [()]
        first = 0
        if must:
            frontier = [(f,) for f in statics if f.kind in must]
            first = 1
        for depth in range(first, max_faults + 1):
            level = []
            for schedule in frontier:
                if tried >= budget:
                    return
                tried += 1
                out = QueueRun(factory, payments, schedule).execute()
                failure = judge_queue_run(payments, schedule, out)
                if failure is not None:
                    if failure.kind in ("duplicate", "lost") and any(
                        f.kind == "crash" for f in schedule
                    ):
                        failure.kind = f"crash_{failure.kind}"
                    raise found_after(failure, tried)
                level.append((schedule, out))
            if depth == max_faults:
                break
            frontier = list(_extend(level, statics, kinds))


def found_after(failure: Fail, tried: int) -> Fail:
    """``failure`` with the size of the smallest-first search that found it added to its
    counterexample (the queue and the log searches both say it this way)."""
    failure.counterexample = f"{failure.counterexample}\n(found after {tried} runs, smallest first)"
    return failure


def _extend(
    level: list[tuple[tuple[QueueFault, ...], QueueOutcome]],
    statics: list[QueueFault],
    kinds: tuple[str, ...],
) -> Iterator[tuple[QueueFault, ...]]:
    for schedule, out in level:
        dynamic = [f for f in schedule if not f.static]
        if not dynamic:
            last = max((statics.index(f) for f in schedule if f.static), default=-1)
            for f in statics[last + 1 :]:
                yield (*schedule, f)
        for p in out.points:
            if p.kind in kinds:
                yield (*schedule, p)
