"""Retries, dead letters and redrive: what happens to messages a consumer cannot process.

Two experiments on the reference :class:`~brokerlab.queue.Queue`, pulled the SQS way, each
recorded as a :class:`~brokerlab.history.History` for the checker:

- :func:`drain` publishes a backlog, some of it *poison* (it fails every time) and the rest
  failing now and then (a flaky dependency). The consumer retries a failure by hiding the
  message for a backoff delay (SQS ``ChangeMessageVisibility``, see :mod:`brokerlab.backoff`);
  the queue's ``max_receive_count`` (SQS ``maxReceiveCount``, quorum queues'
  ``x-delivery-limit``) sends a message that keeps failing to the dead-letter queue. The
  :class:`RetryRun` counts the outcomes and the time until the queue is empty;
  :func:`plot_outcomes` draws them (the chapter's widget).
- :func:`incident` is the failure story: a bad deploy makes one kind of message fail, the DLQ
  fills, an alarm on its depth fires, the bug is fixed and the DLQ is redriven
  (``Queue.redrive``, SQS ``StartMessageMoveTask``). :func:`plot_dlq_depth` draws the depth,
  the alarm threshold and the moments that matter. The checker then shows that nothing was lost
  and nothing took effect twice.

What the module adds to the queue is only the consumer: which attempts fail (seeded), how long
the work takes, and the events it records. Dead-lettering, receive counts and the ``x-death``
history are the queue's own.

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
from .errors import InvalidType, check_choice, check_range
from .history import History
from .plots import figure_and_ax
from .queue import Queue

__all__ = [
    "OUTCOMES",
    "Incident",
    "RetryRun",
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


def _whole(name: str, value: Any, low: int, high: int, unit: str, example: int) -> int:
    check_range(name, value, low, high, unit, example=example)
    if isinstance(value, float):
        raise InvalidType(f"{name}={value!r} must be a whole number. Pass e.g. {name}={example}.")
    return value


@dataclass(frozen=True)
class RetryRun:
    """What :func:`drain` measured.

    ``outcomes`` counts messages by :data:`OUTCOMES` (they sum to the messages sent);
    ``retries`` is the number of attempts after each message's first (a message's last failure
    is not retried: the queue dead-letters it); ``attempts`` maps each
    message to the attempts it took; ``drained_at`` is when the queue became empty (every
    message acked or dead-lettered); ``dlq_depth`` lists ``(time, depth)`` of the DLQ after each
    change; ``dead`` holds the dead letters as the DLQ keeps them (with ``x-death``).
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

    def __repr__(self) -> str:
        o = ", ".join(f"{k}: {v}" for k, v in self.outcomes.items())
        return f"RetryRun({o}; {self.retries} retries; drained at t={self.drained_at:g}s)"


class _Consumer:
    """The pull loop shared by both experiments: receive, work, ack or back off."""

    def __init__(self, queue: Queue, dlq: Queue, history: History, rng: random.Random) -> None:
        self.queue, self.dlq, self.history, self.rng = queue, dlq, history, rng
        self.clock = queue.clock
        self.wake: dict[str, float] = {}  # message id -> when its backoff ends
        self.waits: dict[str, float] = {}  # message id -> its last backoff (decorrelated jitter)
        self.attempts: dict[str, int] = {}
        self.dead_seen: set[str] = set()
        self.depth: list[tuple[float, int]] = [(0.0, 0)]
        self.retries = 0
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

    def step(self, fails: Any, backoff: dict[str, Any]) -> bool:
        """One receive and the work on what came back. False when nothing was received."""
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
            self.history.record(
                self.clock.now(),
                "consumer",
                "deliver",
                d.id,
                redelivered=again or d.id in self.redriven,
            )
            self.clock.advance(PROCESSING_TIME)
            if fails(d):
                retry = d.receive_count
                wait = backoff_delay(retry, rng=self.rng, previous=self.waits.get(d.id), **backoff)
                self.waits[d.id] = wait
                self.queue.change_visibility(d, wait)
                self.history.record(
                    self.clock.now(), "consumer", "nack", d.id, requeue=True, delay=round(wait, 3)
                )
                self.wake[d.id] = self.clock.now() + wait
                self.retries += 1
            else:
                self.history.record(self.clock.now(), "consumer", "process", d.id)
                self.queue.ack(d)
                self.history.record(self.clock.now(), "consumer", "ack", d.id)
                self.wake.pop(d.id, None)
        self.notice_dead_letters()
        return True

    def run_until_idle(
        self, fails: Any, backoff: dict[str, Any], until: float | None = None
    ) -> None:
        """Receive and work until nothing is left in flight (or the clock reaches ``until``)."""
        while True:
            if self.step(fails, backoff):
                continue
            due = [t for t in self.wake.values() if until is None or t <= until]
            if not due:
                if until is not None and self.clock.now() < until:
                    self.clock.advance_to(until)
                    self.notice_dead_letters()
                return
            self.clock.advance_to(max(self.clock.now(), min(due)))


def _queues(max_attempts: int) -> tuple[VirtualClock, Queue, Queue]:
    clock = VirtualClock()
    dlq = Queue("orders-dlq", clock=clock)
    queue = Queue("orders", clock=clock, dead_letter=dlq, max_receive_count=max_attempts)
    return clock, queue, dlq


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
) -> RetryRun:
    """Publish ``messages`` at t=0 and let one consumer work the queue empty.

    ``poison`` of them (chosen from ``seed``) fail at every attempt; every other attempt fails
    with probability ``failure_rate``. A failed message is hidden for a :func:`backoff_delay`
    (``base``, ``cap``, ``jitter``) and comes back; the queue dead-letters it after
    ``max_attempts`` receives (``max_receive_count``). Each attempt takes 0.1 s of work.
    """
    _whole("messages", messages, 1, 1000, "messages", 40)
    check_range("failure_rate", failure_rate, 0, 1, "(a probability)", example=0.3)
    _whole("poison", poison, 0, messages, "messages", 2)
    _whole("max_attempts", max_attempts, 1, 1000, "receives (SQS maxReceiveCount)", 5)
    check_choice("jitter", jitter, JITTERS)
    backoff = {"base": base, "cap": cap, "jitter": jitter}
    backoff_delay(1, **backoff)  # a bad base or cap raises here, before anything runs
    rng = random.Random(seed)
    _, queue, dlq = _queues(max_attempts)
    history = History()
    ids = [queue.publish({"order": n}).id for n in range(1, messages + 1)]
    for m in ids:
        history.record(0.0, "producer", "publish", m)
    bad = set(rng.sample(ids, poison))
    consumer = _Consumer(queue, dlq, history, rng)
    consumer.run_until_idle(lambda d: d.id in bad or rng.random() < failure_rate, backoff)
    settled = [e.time for e in history.of_kind("ack", "dead_letter")]
    dead = {m.id for m in dlq.peek()}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for m in ids:
        if m in dead:
            outcomes["dead-lettered"] += 1
        elif consumer.attempts.get(m, 0) == 1:
            outcomes["processed first time"] += 1
        else:
            outcomes["processed after retries"] += 1
    settings = dict(
        messages=messages,
        failure_rate=failure_rate,
        poison=poison,
        max_attempts=max_attempts,
        **backoff,
        seed=seed,
    )
    return RetryRun(
        settings,
        outcomes,
        sum(consumer.attempts.values()) - len(consumer.attempts),
        dict(consumer.attempts),
        round(max(settled, default=0.0), 6),
        tuple(consumer.depth),
        tuple(dlq.peek()),
        history,
        check(history),
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
    message was settled. ``report`` is the checker's verdict on the whole history.
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
) -> Incident:
    """Orders arrive one a second; while the bug is live, every gift-card order fails.

    One order in four pays by gift card. A deploy at ``bug[0]`` breaks their handling and the
    fix goes out at ``bug[1]``. Failures retry with full-jitter backoff (base 1 s, cap 10 s) and
    go to the DLQ after ``max_attempts`` receives. An alarm watches the DLQ depth (like a
    CloudWatch alarm on the DLQ's ``ApproximateNumberOfMessagesVisible``) and fires when it
    reaches ``threshold``. At ``redrive_at`` the DLQ is redriven to its source queue.
    """
    _whole("messages", messages, 1, 1000, "messages", 120)
    _whole("threshold", threshold, 1, 1000, "messages", 5)
    _whole("max_attempts", max_attempts, 1, 1000, "receives", 3)
    if not isinstance(bug, (tuple, list)) or len(bug) != 2 or not 0 <= bug[0] <= bug[1]:
        raise InvalidType(
            f"bug={bug!r} must be (start, end) seconds with start <= end, e.g. (30, 70)."
        )
    check_range("redrive_at", redrive_at, bug[1], 1e6, "seconds (after the fix)", example=100)
    rng = random.Random(seed)
    clock, queue, dlq = _queues(max_attempts)
    history = History()
    consumer = _Consumer(queue, dlq, history, rng)
    backoff = {"base": 1.0, "cap": 10.0, "jitter": "full"}
    gift = set()

    def fails(d: Any) -> bool:
        return d.id in gift and bug[0] <= clock.now() < bug[1]

    moved = -1

    def redrive() -> int:
        consumer.run_until_idle(fails, backoff, until=redrive_at)
        consumer.redriven = {m.id for m in dlq.peek()}
        for m in dlq.peek():
            history.record(clock.now(), "broker", "redeliver", m.id, reason="redrive")
        n = dlq.redrive()
        consumer.notice_dead_letters()
        return n

    for n in range(messages):
        if moved < 0 and redrive_at <= n:
            dead, moved = tuple(dlq.peek()), redrive()
        consumer.run_until_idle(fails, backoff, until=float(n))
        m = queue.publish({"order": n + 1, "pay": "gift card" if n % 4 == 3 else "card"})
        if n % 4 == 3:
            gift.add(m.id)
        history.record(clock.now(), "producer", "publish", m.id)
    if moved < 0:
        dead, moved = tuple(dlq.peek()), redrive()
    consumer.run_until_idle(fails, backoff)
    alarm = next((t for t, depth in consumer.depth if depth >= threshold), None)
    settled = [e.time for e in history.of_kind("ack", "dead_letter")]
    return Incident(
        tuple(consumer.depth),
        threshold,
        (float(bug[0]), float(bug[1])),
        alarm,
        float(redrive_at),
        moved,
        round(max(settled, default=0.0), 6),
        dead,
        history,
        check(history),
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


# --- the same consumer as a handler: for simulate() and for real brokers (brokerlab.live) -------


def retrying(max_attempts: int | None = None) -> Any:
    """This chapter's consumer as a handler ``handle(delivery, ctx)``: do the work and ack; when
    the work fails (``PoisonMessage``), give the message back to be tried again.

    With ``max_attempts=None`` the queue's own delivery limit decides when to stop
    (``max_receive_count``: SQS ``maxReceiveCount``, RabbitMQ quorum queues'
    ``x-delivery-limit``) and dead-letters the message (reason ``delivery_limit``). With
    ``max_attempts=N`` the consumer counts for itself (``delivery.receive_count``) and rejects
    the message on its N-th failure, which dead-letters it at once (reason ``rejected``).
    The handler gives a failed message back at once: the backoff of :func:`drain` needs a
    delay the broker applies (SQS visibility, a RabbitMQ retry queue with a TTL), which a
    handler cannot ask for through ``ctx``.
    """
    if max_attempts is not None:
        _whole("max_attempts", max_attempts, 1, 1000, "attempts", 3)

    def retry_then_dead_letter(delivery: Any, ctx: Any) -> None:
        from .errors import PoisonMessage

        try:
            ctx.effect()
        except PoisonMessage:
            last = max_attempts is not None and delivery.receive_count >= max_attempts
            ctx.nack(requeue=not last)
            return
        ctx.ack()

    return retry_then_dead_letter
