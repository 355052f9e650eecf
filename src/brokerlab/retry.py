"""Retries, dead letters and redrive: what happens to messages a consumer cannot process.

The chapter's consumer is one handler, ``handle(delivery, ctx)``, built by :func:`retrying`:
do the work and ack; when the work fails, give the message back to be tried again after a
backoff (:func:`~brokerlab.backoff.backoff_delay`), and let the queue's delivery limit (or the
consumer's own count) send what keeps failing to the dead letters. The handler talks to the
broker only through ``ctx``, so the very same object runs everywhere:

- here, in :func:`drain` and :func:`incident`, on the reference :class:`~brokerlab.queue.Queue`
  pulled the SQS way (``ctx.nack(delay=...)`` is SQS ``ChangeMessageVisibility``);
- in :func:`~brokerlab.simulation.simulate`, on either setup: ``BrokerSetup(kind="sqs")``
  (``ChangeMessageVisibility``) or the default queue, where the consumer holds the delivery for
  the delay and then nacks it, as on RabbitMQ;
- on a real RabbitMQ and a real Redis, through :mod:`brokerlab.live` (chapter 09).

The two experiments, each recorded as a :class:`~brokerlab.history.History` for the checker:

- :func:`drain` publishes a backlog, some of it *poison* (it fails every time) and the rest
  failing now and then (a flaky dependency). The queue's ``max_receive_count`` (SQS
  ``maxReceiveCount``, quorum queues' ``x-delivery-limit``) sends a message that keeps failing
  to the dead-letter queue. The :class:`RetryRun` counts the outcomes and the time until the
  queue is empty; :func:`plot_outcomes` draws them (the chapter's widget).
- :func:`incident` is the failure story: a bad deploy makes one kind of message fail, the DLQ
  fills, an alarm on its depth fires, the bug is fixed and the DLQ is redriven
  (``Queue.redrive``, SQS ``StartMessageMoveTask``). :func:`plot_dlq_depth` draws the depth,
  the alarm threshold and the moments that matter. The checker then shows that nothing was lost
  and nothing took effect twice.

Which attempts fail is part of the *run*, not of the handler: the run's ``ctx.effect()``
raises (:class:`~brokerlab.errors.PoisonMessage` for poison, :class:`ProcessingError` for a
failure drawn from the seeded ``failure_rate`` or caused by the bad deploy), as the
simulation's and the live runs' ``ctx.effect()`` raise for a ``poison_message`` fault. The
pull loop (:class:`PullContext` and the loop behind it) is the broker's side and the consumer
process around the handler: receive, record, hand over. Dead-lettering, receive counts and
the ``x-death`` history are the queue's own.

>>> run = drain(messages=20, failure_rate=0.2, poison=1, max_attempts=4, seed=1)
>>> run.outcomes["dead-lettered"], sum(run.outcomes.values())
(1, 20)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .backoff import JITTERS, backoff_delay
from .checker import Report, check
from .clock import VirtualClock
from .errors import InvalidType, PoisonMessage, check_choice, check_range
from .history import History
from .plots import figure_and_ax
from .queue import Queue
from .queue_limits import check_nack
from .simulation import DedupStore

__all__ = [
    "OUTCOMES",
    "Incident",
    "ProcessingError",
    "PullContext",
    "RetryRun",
    "Retrying",
    "drain",
    "incident",
    "plot_dlq_depth",
    "plot_outcomes",
    "retry_widget",
    "retrying",
]

OUTCOMES = ("processed first time", "processed after retries", "dead-lettered")
PROCESSING_TIME = 0.1  # seconds of work per attempt
RECEIVE_BATCH = 10  # SQS ReceiveMessage returns at most 10
CONSUMER = "consumer"  # the one consumer process of drain() and incident()


def _whole(name: str, value: Any, low: int, high: int, unit: str, example: int) -> int:
    check_range(name, value, low, high, unit, example=example)
    if isinstance(value, float):
        raise InvalidType(f"{name}={value!r} must be a whole number. Pass e.g. {name}={example}.")
    return value


class ProcessingError(Exception):
    """The work on a message failed this time: a flaky dependency timed out, a bad deploy broke
    it. Unlike a :class:`~brokerlab.errors.PoisonMessage`, the same message may work on a later
    try. Raised by ``ctx.effect()`` in :func:`drain` and :func:`incident`."""


# --- the consumer: one handler, for every broker --------------------------------------------


class Retrying:
    """Chapter 07's consumer, a handler ``handle(delivery, ctx)``. Build it with :func:`retrying`.

    It does the work (``ctx.effect()``) and acks. When the work raises, it gives the message
    back with ``ctx.nack(requeue=True, delay=wait)``: ``wait`` is the backoff before this
    retry, or no wait at all when the handler has no backoff (``base=None``). With
    ``max_attempts`` set it also counts for itself and, on the last failed attempt, rejects
    the message (``ctx.nack(requeue=False)``), which dead-letters it at once (reason
    ``rejected``); without, the queue's delivery limit dead-letters it (``delivery_limit``).
    """

    def __init__(
        self,
        max_attempts: int | None,
        base: float | None,
        cap: float,
        jitter: str,
        rng: random.Random,
    ) -> None:
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.rng = rng
        self.last_wait: dict[str, float] = {}  # message id -> its last backoff
        self.__name__ = "retrying"  # what a Scenario's repr calls the handler

    def __call__(self, delivery: Any, ctx: Any) -> None:
        try:
            ctx.effect()  # the work: it raises when it fails
        except Exception:  # any failure of the work; a crash is not an Exception
            self.failed(delivery, ctx)
            return
        ctx.ack()

    def failed(self, delivery: Any, ctx: Any) -> None:
        """The work failed on this delivery: give up, or give the message back for a retry."""
        attempt = delivery.receive_count  # deliveries so far, this one included
        if self.max_attempts is not None and attempt >= self.max_attempts:
            ctx.nack(requeue=False)  # give up: to the dead letters now (reason "rejected")
        elif self.base is None:
            ctx.nack(requeue=True)  # try again at once
        else:
            ctx.nack(requeue=True, delay=self.backoff(delivery.id, attempt))

    def backoff(self, msg: str, attempt: int) -> float:
        """Seconds to wait before retrying ``msg`` after its ``attempt``-th failed try."""
        wait = backoff_delay(
            attempt,
            base=self.base,
            cap=self.cap,
            jitter=self.jitter,
            rng=self.rng,
            previous=self.last_wait.get(msg) if attempt > 1 else None,  # decorrelated jitter
        )
        self.last_wait[msg] = wait
        return wait

    def __repr__(self) -> str:
        backoff = (
            "no backoff"
            if self.base is None
            else f"base={self.base:g}, cap={self.cap:g}, jitter={self.jitter!r}"
        )
        return f"retrying(max_attempts={self.max_attempts}, {backoff})"


def retrying(
    max_attempts: int | None = None,
    *,
    base: float | None = None,
    cap: float = 30.0,
    jitter: str = "full",
    seed: int = 0,
    rng: random.Random | None = None,
) -> Retrying:
    """This chapter's consumer as a handler ``handle(delivery, ctx)`` (a :class:`Retrying`).

    - ``max_attempts``: ``None`` lets the queue's own delivery limit decide when to stop
      (``max_receive_count``: SQS ``maxReceiveCount``, RabbitMQ quorum queues'
      ``x-delivery-limit``), and it dead-letters the message (reason ``delivery_limit``). ``N``
      makes the consumer count for itself (``delivery.receive_count``) and reject the message on
      its N-th failure, which dead-letters it at once (reason ``rejected``).
    - ``base``, ``cap``, ``jitter``: the backoff before each retry
      (:func:`~brokerlab.backoff.backoff_delay`, seconds). ``base=None`` (the default) retries
      at once, with no backoff.
    - ``seed`` or ``rng``: where the jitter's draws come from (``random.Random(seed)`` unless
      ``rng`` is given), so a run repeats exactly.

    >>> handle = retrying(4, base=1, cap=30)
    >>> handle
    retrying(max_attempts=4, base=1, cap=30, jitter='full')
    """
    if max_attempts is not None:
        _whole("max_attempts", max_attempts, 1, 1000, "attempts", 3)
    if base is not None:
        backoff_delay(1, base=base, cap=cap, jitter=jitter)  # a bad base or cap raises here
    check_choice("jitter", jitter, JITTERS)
    if rng is None:
        _whole("seed", seed, 0, 2**63, "(any whole number)", 0)
        rng = random.Random(seed)
    elif not isinstance(rng, random.Random):
        raise InvalidType(f"rng={rng!r} is not a random.Random: pass e.g. rng=random.Random(0).")
    return Retrying(max_attempts, base, cap, jitter, rng)


# --- the broker side: a reference queue, pulled the SQS way -----------------------------------


class PullContext:
    """``ctx`` for a handler that pulls from a reference :class:`~brokerlab.queue.Queue` the SQS
    way (in :func:`drain` and :func:`incident`): the calls of the simulation's
    :class:`~brokerlab.simulation.SqsContext` and of :class:`~brokerlab.live.LiveContext`.

    - ``ctx.effect()`` does the work (a ``process`` event), or raises this attempt's failure,
      which the run decided (:class:`~brokerlab.errors.PoisonMessage`, :class:`ProcessingError`);
    - ``ctx.ack()`` deletes the message (SQS ``DeleteMessage``);
    - ``ctx.nack(requeue=True, delay=d)`` makes it visible again ``d`` seconds from now (SQS
      ``ChangeMessageVisibility``; 0, the default, at once). If its receives are used up
      (``max_receive_count``), the queue dead-letters it instead of handing it out again;
    - ``ctx.nack(requeue=False)`` sends it to the dead-letter queue now (reason ``rejected``;
      SQS has no reject: this stands for a consumer that moves it to the DLQ and deletes it).
    """

    def __init__(self, loop: _PullLoop, delivery: Any) -> None:
        self._loop = loop
        self.delivery = delivery
        self.store = loop.store
        self.consumer = CONSUMER
        self.settled = False

    @property
    def now(self) -> float:
        return self._loop.clock.now()

    def effect(self, value: Any = None, *, remember: Any = None) -> None:
        """Do the work (a ``process`` event), unless the run makes this attempt fail."""
        loop, msg = self._loop, self.delivery.id
        error = loop.failure(self.delivery)
        if error is not None:
            raise error
        loop.history.record(
            self.now, CONSUMER, "process", msg, **({} if value is None else {"value": value})
        )
        if remember is not None:
            self.store.add(remember)

    def ack(self) -> None:
        """Delete the message: the queue forgets it."""
        loop, d = self._loop, self.delivery
        loop.queue.ack(d)
        self.settled = True
        loop.history.record(self.now, CONSUMER, "ack", d.id)
        loop.wake.pop(d.id, None)

    def nack(self, requeue: bool = True, delay: float = 0.0) -> None:
        """Visible again after ``delay`` seconds (``requeue=True``), or to the dead letters."""
        check_nack(requeue, delay)
        loop, d = self._loop, self.delivery
        if requeue:
            loop.queue.change_visibility(d, delay)
        else:
            loop.queue.nack(d, requeue=False)
        self.settled = True
        info = {"delay": round(delay, 3)} if delay else {}
        loop.history.record(self.now, CONSUMER, "nack", d.id, requeue=requeue, **info)
        if requeue:
            loop.wake[d.id] = self.now + delay

    def reject(self, requeue: bool = False) -> None:
        """Like :meth:`nack`, dead-lettering by default."""
        self.nack(requeue)

    def __repr__(self) -> str:
        return f"PullContext({self.delivery.id}, t={self.now:g})"


class _PullLoop:
    """One consumer process on a reference queue, as an SQS consumer loops: receive up to 10
    messages, hand each to the handler (0.1 s of work each), receive again; when nothing is
    visible, sleep until the next backoff ends. It records every event in ``history``."""

    def __init__(
        self, queue: Queue, dlq: Queue, handler: Any, history: History, failure: Any
    ) -> None:
        self.queue, self.dlq, self.handler, self.history = queue, dlq, handler, history
        self.failure = failure  # delivery -> the exception its work raises this time, or None
        self.clock = queue.clock
        self.store = DedupStore()
        self.wake: dict[str, float] = {}  # message id -> when it is visible again
        self.attempts: dict[str, int] = {}
        self.dead_seen: set[str] = set()
        self.depth: list[tuple[float, int]] = [(0.0, 0)]
        self.redriven: set[str] = set()

    def notice_dead_letters(self) -> None:
        """Record each message that reached the DLQ since the last look, with its reason."""
        for m in self.dlq.peek():
            if m.id not in self.dead_seen:
                self.dead_seen.add(m.id)
                self.wake.pop(m.id, None)
                reason = m.headers["x-death"][0]["reason"]
                self.history.record(self.clock.now(), "broker", "dead_letter", m.id, reason=reason)
        depth = len(self.dlq.peek())
        if depth != self.depth[-1][1]:
            self.depth.append((self.clock.now(), depth))

    def step(self) -> bool:
        """One receive and the handler on each message received. False when nothing came."""
        now = self.clock.now()
        for m in [m for m, t in self.wake.items() if t <= now]:
            del self.wake[m]
        batch = self.queue.receive(RECEIVE_BATCH)
        self.notice_dead_letters()
        if not batch:
            return False
        for d in batch:
            self.attempts[d.id] = self.attempts.get(d.id, 0) + 1
            again = d.receive_count > 1
            if again:
                self.history.record(
                    self.clock.now(), "broker", "redeliver", d.id, reason="backoff over"
                )
            redelivered = again or d.id in self.redriven
            self.history.record(
                self.clock.now(), CONSUMER, "deliver", d.id, redelivered=redelivered
            )
            self.clock.advance(PROCESSING_TIME)
            ctx = PullContext(self, d)
            self.handler(d, ctx)
            if not ctx.settled:  # neither deleted nor given back: its visibility timeout runs
                self.wake[d.id] = self.clock.now() + self.queue.visibility_timeout
        self.notice_dead_letters()
        return True

    def run_until_idle(self, until: float | None = None) -> None:
        """Receive and work until nothing is left in flight (or the clock reaches ``until``)."""
        while True:
            if self.step():
                continue
            due = [t for t in self.wake.values() if until is None or t <= until]
            if not due:
                if until is not None and self.clock.now() < until:
                    self.clock.advance_to(until)
                    self.notice_dead_letters()
                return
            self.clock.advance_to(max(self.clock.now(), min(due)))


# --- drain: a backlog, some poison, some flaky ----------------------------------------------


@dataclass(frozen=True)
class RetryRun:
    """What :func:`drain` measured.

    ``outcomes`` counts messages by :data:`OUTCOMES` (they sum to the messages sent);
    ``retries`` is the number of attempts after each message's first (a message's last failure
    is not retried: the queue dead-letters it); ``attempts`` maps each
    message to the attempts it took; ``drained_at`` is when the queue became empty (every
    message acked or dead-lettered); ``dlq_depth`` lists ``(time, depth)`` of the DLQ after each
    change; ``dead`` holds the dead letters as the DLQ keeps them (with ``x-death``);
    ``handler`` is the consumer that ran.
    """

    settings: dict[str, Any]
    outcomes: dict[str, int]
    retries: int
    attempts: dict[str, int]
    drained_at: float
    dlq_depth: tuple[tuple[float, int], ...]
    dead: tuple
    history: History
    report: Report
    handler: Any = None

    def __repr__(self) -> str:
        o = ", ".join(f"{k}: {v}" for k, v in self.outcomes.items())
        return f"RetryRun({o}; {self.retries} retries; drained at t={self.drained_at:g}s)"


def _queues(max_attempts: int) -> tuple[VirtualClock, Queue, Queue]:
    clock = VirtualClock()
    dlq = Queue("orders-dlq", clock=clock)
    queue = Queue("orders", clock=clock, dead_letter=dlq, max_receive_count=max_attempts)
    return clock, queue, dlq


def _check_handler(handler: Any) -> None:
    if handler is not None and not callable(handler):
        raise InvalidType(
            f"handler={handler!r} is not a function: pass a handler handle(delivery, ctx), e.g. "
            "retrying(base=1), or None for the chapter's consumer."
        )


def drain(
    messages: int = 40,
    *,
    failure_rate: float = 0.3,
    poison: int = 2,
    max_attempts: int = 5,
    base: float = 1.0,
    cap: float = 30.0,
    jitter: str = "full",
    seed: int = 0,
    handler: Any = None,
) -> RetryRun:
    """Publish ``messages`` at t=0 and let one consumer work the queue empty.

    ``poison`` of them (chosen from ``seed``) fail at every attempt; every other attempt fails
    with probability ``failure_rate``. The consumer is ``handler``, by default the chapter's
    ``retrying(base=base, cap=cap, jitter=jitter)`` drawing its jitter from the run's seeded
    random source: a failed message is hidden for its backoff and comes back; the queue
    dead-letters it after ``max_attempts`` receives (``max_receive_count``). Each attempt takes
    0.1 s of work.
    """
    _whole("messages", messages, 1, 1000, "messages", 40)
    check_range("failure_rate", failure_rate, 0, 1, "(a probability)", example=0.3)
    _whole("poison", poison, 0, messages, "messages", 2)
    _whole("max_attempts", max_attempts, 1, 1000, "receives (SQS maxReceiveCount)", 5)
    check_choice("jitter", jitter, JITTERS)
    _check_handler(handler)
    rng = random.Random(seed)
    if handler is None:
        handler = retrying(base=base, cap=cap, jitter=jitter, rng=rng)
    else:
        backoff_delay(1, base=base, cap=cap, jitter=jitter)  # a bad base or cap still raises
    _, queue, dlq = _queues(max_attempts)
    history = History()
    ids = [queue.publish({"order": n}).id for n in range(1, messages + 1)]
    for m in ids:
        history.record(0.0, "producer", "publish", m)
    bad = set(rng.sample(ids, poison))

    def failure(d: Any) -> Exception | None:
        if d.id in bad:
            return PoisonMessage(f"{d.id} is poison: processing it fails at every attempt.")
        if rng.random() < failure_rate:
            return ProcessingError(
                f"{d.id}: the payment service timed out (a transient failure, drawn with "
                f"failure_rate={failure_rate})."
            )
        return None

    loop = _PullLoop(queue, dlq, handler, history, failure)
    loop.run_until_idle()
    settled = [e.time for e in history.of_kind("ack", "dead_letter")]
    dead = {m.id for m in dlq.peek()}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for m in ids:
        if m in dead:
            outcomes["dead-lettered"] += 1
        elif loop.attempts.get(m, 0) == 1:
            outcomes["processed first time"] += 1
        else:
            outcomes["processed after retries"] += 1
    settings = dict(
        messages=messages,
        failure_rate=failure_rate,
        poison=poison,
        max_attempts=max_attempts,
        base=base,
        cap=cap,
        jitter=jitter,
        seed=seed,
    )
    return RetryRun(
        settings,
        outcomes,
        sum(loop.attempts.values()) - len(loop.attempts),
        dict(loop.attempts),
        round(max(settled, default=0.0), 6),
        tuple(loop.depth),
        tuple(dlq.peek()),
        history,
        check(history),
        handler,
    )


def plot_outcomes(run: RetryRun, ax: Any = None) -> Any:
    """One horizontal bar split into the outcomes, with the retries and the drain time.

    Returns the Figure.
    """
    fig, ax = figure_and_ax(ax, (7, 2.2), (0.35, 0.14, 0.4, 0.66))
    colours = {
        "processed first time": "#009E73",
        "processed after retries": "#E69F00",
        "dead-lettered": "#D55E00",
    }
    left = 0
    for name in OUTCOMES:
        n = run.outcomes[name]
        ax.barh([0], [n], left=left, color=colours[name], label=f"{name}: {n}", height=0.6)
        left += n
    ax.set_xlim(0, max(left, 1))
    ax.set_ylim(-0.5, 1.1)
    ax.set_yticks([])
    ax.set_xlabel("messages")
    ax.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    ax.set_title(f"{run.retries} retries; the queue is empty at t={run.drained_at:.1f} s")
    return fig


def retry_widget(messages: int = 40) -> Any:
    """The chapter's widget: failure rate, max attempts and backoff -> outcomes and drain time."""
    import ipywidgets as widgets

    from .widgets import live_figure

    _whole("messages", messages, 1, 1000, "messages", 40)

    def outcomes(ax: Any, failure_rate: float, max_attempts: int, base: float, cap: float) -> None:
        cap = max(cap, base)
        plot_outcomes(
            drain(
                messages, failure_rate=failure_rate, max_attempts=max_attempts, base=base, cap=cap
            ),
            ax=ax,
        )

    return live_figure(
        outcomes,
        figsize=(7.0, 2.2),
        failure_rate=widgets.FloatSlider(
            value=0.3, min=0.0, max=0.9, step=0.1, description="failure rate"
        ),
        max_attempts=widgets.IntSlider(value=5, min=1, max=10, description="max attempts"),
        base=widgets.FloatSlider(
            value=1.0, min=0.5, max=10.0, step=0.5, description="backoff base (s)"
        ),
        cap=widgets.FloatSlider(
            value=30.0, min=5.0, max=300.0, step=5.0, description="backoff cap (s)"
        ),
    )


# --- the incident: a bad deploy, a filling DLQ, an alarm, a fix and a redrive -----------------


@dataclass(frozen=True)
class Incident:
    """What :func:`incident` recorded: the DLQ depth over time and the moments that matter.

    ``alarm_at`` is when the depth first reached ``threshold`` (None if never), ``redrive_at``
    when the DLQ was redriven, ``redriven`` how many messages moved, ``drained_at`` when the last
    message was settled. ``report`` is the checker's verdict on the whole history; ``handler``
    the consumer that ran.
    """

    dlq_depth: tuple[tuple[float, int], ...]
    threshold: int
    bug: tuple[float, float]
    alarm_at: float | None
    redrive_at: float
    redriven: int
    drained_at: float
    dead: tuple
    history: History
    report: Report
    handler: Any = None

    def __repr__(self) -> str:
        alarm = "never" if self.alarm_at is None else f"t={self.alarm_at:g}s"
        return (
            f"Incident(bug from t={self.bug[0]:g}s to t={self.bug[1]:g}s; alarm {alarm}; "
            f"{self.redriven} redriven at t={self.redrive_at:g}s; all settled at "
            f"t={self.drained_at:g}s)"
        )


def incident(
    messages: int = 120,
    *,
    bug: tuple[float, float] = (30.0, 70.0),
    threshold: int = 5,
    redrive_at: float = 100.0,
    max_attempts: int = 3,
    seed: int = 0,
    handler: Any = None,
) -> Incident:
    """Orders arrive one a second; while the bug is live, every gift-card order fails.

    One order in four pays by gift card. A deploy at ``bug[0]`` breaks their handling and the
    fix goes out at ``bug[1]``. The consumer is ``handler``, by default the chapter's
    ``retrying(base=1, cap=10)`` (full jitter, drawn from ``seed``): failures retry with
    backoff and go to the DLQ after ``max_attempts`` receives. An alarm watches the DLQ depth
    (like a CloudWatch alarm on the DLQ's ``ApproximateNumberOfMessagesVisible``) and fires
    when it reaches ``threshold``. At ``redrive_at`` the DLQ is redriven to its source queue.
    """
    _whole("messages", messages, 1, 1000, "messages", 120)
    _whole("threshold", threshold, 1, 1000, "messages", 5)
    _whole("max_attempts", max_attempts, 1, 1000, "receives", 3)
    if not isinstance(bug, (tuple, list)) or len(bug) != 2 or not 0 <= bug[0] <= bug[1]:
        raise InvalidType(
            f"bug={bug!r} must be (start, end) seconds with start <= end, e.g. (30, 70)."
        )
    check_range("redrive_at", redrive_at, bug[1], 1e6, "seconds (after the fix)", example=100)
    _check_handler(handler)
    rng = random.Random(seed)
    if handler is None:
        handler = retrying(base=1.0, cap=10.0, jitter="full", rng=rng)
    clock, queue, dlq = _queues(max_attempts)
    history = History()
    gift = set()

    def failure(d: Any) -> Exception | None:
        if d.id in gift and bug[0] <= clock.now() < bug[1]:
            return ProcessingError(
                f"{d.id}: gift-card payments are broken by the deploy of t={bug[0]:g}s."
            )
        return None

    loop = _PullLoop(queue, dlq, handler, history, failure)
    moved = -1

    def redrive() -> int:
        loop.run_until_idle(until=redrive_at)
        loop.redriven = {m.id for m in dlq.peek()}
        for m in dlq.peek():
            history.record(clock.now(), "broker", "redeliver", m.id, reason="redrive")
        n = dlq.redrive()
        loop.notice_dead_letters()
        return n

    for n in range(messages):
        if moved < 0 and redrive_at <= n:
            dead, moved = tuple(dlq.peek()), redrive()
        loop.run_until_idle(until=float(n))
        m = queue.publish({"order": n + 1, "pay": "gift card" if n % 4 == 3 else "card"})
        if n % 4 == 3:
            gift.add(m.id)
        history.record(clock.now(), "producer", "publish", m.id)
    if moved < 0:
        dead, moved = tuple(dlq.peek()), redrive()
    loop.run_until_idle()
    alarm = next((t for t, depth in loop.depth if depth >= threshold), None)
    settled = [e.time for e in history.of_kind("ack", "dead_letter")]
    return Incident(
        tuple(loop.depth),
        threshold,
        (float(bug[0]), float(bug[1])),
        alarm,
        float(redrive_at),
        moved,
        round(max(settled, default=0.0), 6),
        dead,
        history,
        check(history),
        handler,
    )


def plot_dlq_depth(story: Incident, ax: Any = None) -> Any:
    """The DLQ's depth over time, the alarm threshold, and when the bug, alarm and redrive were.

    Returns the Figure.
    """
    fig, ax = figure_and_ax(ax, (7, 2.8), (0.7, 0.14, 0.34, 0.5))
    ts = [t for t, _ in story.dlq_depth] + [story.drained_at]
    ds = [d for _, d in story.dlq_depth] + [story.dlq_depth[-1][1]]
    ax.axvspan(*story.bug, color="#F0E442", alpha=0.35, label="bad deploy live")
    ax.step(ts, ds, where="post", color="#0072B2", linewidth=2, label="DLQ depth")
    ax.axhline(
        story.threshold, color="#D55E00", linestyle="--", linewidth=1, label="alarm threshold"
    )
    if story.alarm_at is not None:
        ax.axvline(story.alarm_at, color="#D55E00", linewidth=1, linestyle=":")
        ax.annotate(
            "alarm",
            (story.alarm_at, story.threshold),
            xytext=(4, 6),
            textcoords="offset points",
            color="#D55E00",
            fontsize=8,
        )
    ax.axvline(story.redrive_at, color="#009E73", linewidth=1, linestyle=":")
    ax.annotate(
        "redrive",
        (story.redrive_at, 0),
        xytext=(4, 6),
        textcoords="offset points",
        color="#009E73",
        fontsize=8,
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("messages in the DLQ")
    ax.set_ylim(0, max(max(ds), story.threshold) * 1.3 + 1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_title("Watching the dead-letter queue")
    return fig
