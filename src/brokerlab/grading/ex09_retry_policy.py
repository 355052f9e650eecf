"""Exercise 9 (chapter 07): a retry policy with capped exponential backoff and a dead-letter queue.

``decide(attempt, error)`` answers :class:`~brokerlab.grading.Retry` or
:class:`~brokerlab.grading.DeadLetter` (:mod:`brokerlab.grading.retry`). The reference is the
capped exponential backoff of Brooker's "Exponential Backoff And Jitter" (AWS Architecture
Blog, 2015) without jitter, ``min(CAP, BASE * 2 ** (attempt - 1))``, so that the grade is exact:
chapter 07's :func:`brokerlab.backoff.backoff_delay` with ``jitter="none"``.

Besides calling ``decide`` directly, the grader runs it inside a simulated run on the reference
broker (:func:`run_policy`): an SQS-style queue, a consumer whose handler fails some messages
for a few tries (a transient error), one message for ever, and one poison message (the
simulation's ``poison_message`` fault). The handler asks ``decide`` what to do and acts on it
with the SQS API: ``ctx.nack(requeue=True, delay=d)`` (ChangeMessageVisibility: visible again
after ``d`` seconds) or ``ctx.nack(requeue=False)`` (to the dead-letter queue). The queue has no
``maxReceiveCount`` of its own, so the policy alone decides. The verdict comes from the history:
tries are ``deliver`` events, a retry's wait is the time from its ``nack`` to the ``redeliver``
the broker records when the message is visible again.
"""

from __future__ import annotations

import math
from typing import Any

from ..backoff import backoff_delay
from ..errors import PoisonMessage
from ..faults import Fault, Faults
from ..scenario import BrokerSetup, Consumers, Producers, Scenario
from ..simulation import simulate
from .core import Check, Exercise
from .retry import DeadLetter, PermanentError, Retry
from .sandbox import Fail, invoke, short_repr

__all__ = ["BASE", "CAP", "EXERCISE", "MAX_ATTEMPTS", "expected_decision", "run_policy"]

MAX_ATTEMPTS = 8
BASE = 0.1
CAP = 2.0

CONTRACT = """\
`decide(attempt: int, error: BaseException) -> Retry | DeadLetter` decides, after the
`attempt`-th failed try of a message (counting from 1), whether to try it again after a delay
or to send it to the dead-letter queue. `Retry(delay: float)`, `DeadLetter(reason: str)` and
`PermanentError` are importable from `brokerlab.grading`.

- `MAX_ATTEMPTS = 8`, `BASE = 0.1` and `CAP = 2.0` seconds, so the cap binds from the 6th try
  on.
- An error that is an instance of `PermanentError` (a poison message; subclasses included)
  goes to the DLQ at once, with reason `"permanent"`, whatever the attempt number.
- `decide` answers for any attempt number from 1 up; the grader tries numbers far past
  `MAX_ATTEMPTS`.
- Any other error is retried after exactly `min(CAP, BASE * 2 ** (attempt - 1))` seconds, until
  the try numbered `MAX_ATTEMPTS` has failed. Then the message goes to the DLQ with reason
  `"max_attempts"`. (No jitter, so that the grade is exact.)
- The grader also runs the policy in a simulated run on the reference broker, with transient
  failures that clear after a few tries and poison messages. From the history it checks that
  nothing is lost, that every transient message is processed, that every poison message reaches
  the DLQ after exactly 1 try, and that a message failing forever reaches it after exactly
  `MAX_ATTEMPTS` tries, with the delays between tries as decided.
"""


def expected_decision(attempt: int, error: BaseException) -> Retry | DeadLetter:
    """The reference policy."""
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(_delay(attempt))


def _delay(attempt: int) -> float:
    """``min(CAP, BASE * 2 ** (attempt - 1))`` seconds: the wait after try ``attempt``."""
    return backoff_delay(attempt, base=BASE, cap=CAP, jitter="none")


def _same(got: Any, want: Retry | DeadLetter) -> bool:
    if isinstance(want, DeadLetter):
        return isinstance(got, DeadLetter) and got.reason == want.reason
    if not isinstance(got, Retry) or isinstance(got.delay, bool):
        return False
    try:
        return math.isclose(float(got.delay), want.delay, rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError, OverflowError):
        return False


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}({str(error)!r})"


def _decide(fn: Any, attempt: int, error: BaseException) -> Any:
    what = f"decide({attempt}, {_error_text(error)})"
    got = invoke(fn, (attempt, error), what=what, timeout=2.0)  # a hang is stopped soon
    if not isinstance(got, (Retry, DeadLetter)):
        raise Fail(
            f"{what} returned {short_repr(got, 60)}; the contract says Retry(delay) or "
            "DeadLetter(reason), from brokerlab.grading.",
            counterexample=f"{what} -> {short_repr(got, 60)}",
            kind="type",
        )
    return got


def _cases(cases: list[tuple[int, BaseException]], kind: str) -> Any:
    def run(answer: dict[str, Any]) -> None:
        fn = answer["decide"]
        for attempt, error in cases:
            got = _decide(fn, attempt, error)
            want = expected_decision(attempt, error)
            if not _same(got, want):
                what = f"decide({attempt}, {_error_text(error)})"
                raise Fail(
                    f"{what} returned {short_repr(got, 60)}; expected {want!r}.",
                    counterexample=f"{what} -> {short_repr(got, 60)} (expected {want!r})",
                    kind=kind,
                )

    return run


class MalformedOrder(PermanentError):
    """A poison message: its content breaks a rule no retry can fix."""


def _transient(n: int) -> BaseException:
    return [ConnectionError("database restarting"), TimeoutError("payment service timeout")][n % 2]


_SCHEDULE = [(a, _transient(a)) for a in range(1, MAX_ATTEMPTS + 1)]
_PERMANENT = [
    (a, e)
    for a in (1, 2, 7, 8, 9, 1000)
    for e in (PermanentError("bad message"), MalformedOrder("no customer id"))
]
_FAR = [
    (a, e)
    for a in (9, 10, 63, 64, 1024, 1025, 10**6)
    for e in (
        ConnectionError("database restarting"),
        KeyError("price"),
        MalformedOrder("no customer id"),
    )
]


# --- the simulated run ------------------------------------------------------------------------------

#: Tries that fail for each message before it succeeds (None: every try fails); poison: m5.
FAILS = {"m3": 2, "m4": 5, "m6": None, "m7": MAX_ATTEMPTS - 1}
POISON = "m5"
MESSAGES = 8


class _Abort(BaseException):
    """Stops the simulation when the answer broke (it carries the Fail)."""


def _handler(decide: Any) -> Any:
    def handle(delivery: Any, ctx: Any) -> None:
        attempt = delivery.receive_count
        fails = FAILS.get(delivery.id, 0)
        try:
            if fails is None or attempt <= fails:
                raise _transient(attempt)
            ctx.effect()
        except PoisonMessage:
            error: BaseException = MalformedOrder(f"{delivery.id} has no customer id")
        except (ConnectionError, TimeoutError) as exc:
            error = exc
        else:
            ctx.ack()
            return
        try:
            decision = _decide(decide, attempt, error)
            if isinstance(decision, Retry):
                delay = float(decision.delay)
                if not 0 <= delay <= 43_200:
                    raise Fail(
                        f"decide({attempt}, {_error_text(error)}) returned Retry({delay!r}): a "
                        "delay is between 0 and 43200 seconds (SQS's visibility limit).",
                        counterexample=f"decide({attempt}, {_error_text(error)}) -> "
                        f"{short_repr(decision, 60)}",
                        kind="retry",
                    )
        except Fail as f:
            raise _Abort(f) from None
        if isinstance(decision, Retry):
            ctx.nack(requeue=True, delay=delay)
        else:
            ctx.nack(requeue=False)

    return handle


def run_policy(decide: Any) -> Any:
    """The simulated run: the history of the reference broker under ``decide``."""
    scenario = Scenario(
        messages=MESSAGES,
        producers=Producers(rate=10.0),
        consumers=Consumers(handler=_handler(decide)),
        broker=BrokerSetup(kind="sqs", max_receive_count=None),
        faults=Faults(schedule=[Fault("poison_message", msg=POISON)]),
    )
    try:
        return simulate(scenario)
    except _Abort as stop:
        raise stop.args[0] from None


def _timeline(history: Any, msg: str) -> str:
    lines = [f"what the broker recorded for {msg}:"]
    for e in history:
        if e.msg == msg and e.kind in ("deliver", "nack", "redeliver", "process", "dead_letter"):
            extra = ""
            if e.kind == "nack":
                extra = f" (delay {e.info.get('delay', 0):g} s)" if e.info.get("requeue") else ""
                extra += "" if e.info.get("requeue") else " to the DLQ"
            lines.append(f"  t={e.time:g} {e.kind}{extra}")
    return "\n".join(lines)


def _judge(run: Any) -> None:
    h = run.history
    story = {m: [e for e in h if e.msg == m] for m in (f"m{i}" for i in range(1, MESSAGES + 1))}
    if run.counts["lost"]:
        raise Fail(
            f"{run.counts['lost']} message(s) were lost: the checker's verdict {run.report!r}.",
            counterexample=str(run.report),
            kind="lost",
        )

    def fail(msg: str, text: str, kind: str) -> Fail:
        return Fail(f"{msg}: {text}", counterexample=_timeline(h, msg), kind=kind)

    for msg, events in story.items():
        tries = [e for e in events if e.kind == "deliver"]
        dead = any(e.kind == "dead_letter" for e in events)
        done = any(e.kind == "process" for e in events)
        if msg == POISON:
            if not dead or len(tries) != 1:
                raise fail(
                    msg,
                    f"a poison message must reach the DLQ after exactly 1 try; it was tried "
                    f"{len(tries)} time(s) and {'reached' if dead else 'never reached'} the DLQ.",
                    "poison",
                )
            continue
        limit = FAILS.get(msg, 0)
        if limit is None:
            if not dead or len(tries) != MAX_ATTEMPTS:
                raise fail(
                    msg,
                    f"a message that always fails must reach the DLQ after exactly "
                    f"{MAX_ATTEMPTS} tries; it was tried {len(tries)} time(s) and "
                    f"{'reached' if dead else 'never reached'} the DLQ.",
                    "max_attempts",
                )
        elif not done or dead:
            raise fail(
                msg,
                f"it fails {limit} time(s) and then succeeds, so it must be processed; it was "
                f"tried {len(tries)} time(s) and "
                f"{'sent to the DLQ' if dead else 'not processed'}.",
                "transient",
            )
        for k, e in enumerate(events):
            if e.kind != "nack" or not e.info.get("requeue"):
                continue
            attempt = sum(1 for t in tries if t.index < e.index)
            want = _delay(attempt)
            back = next((x for x in events[k + 1 :] if x.kind == "redeliver"), None)
            waited = None if back is None else back.time - e.time
            if waited is None or not math.isclose(waited, want, rel_tol=1e-6, abs_tol=1e-6):
                raise fail(
                    msg,
                    f"after try {attempt} it waited {waited if waited is None else round(waited, 6)} "
                    f"s before it was visible again; the policy says {want:g} s.",
                    "delay",
                )


def _simulated(answer: dict[str, Any]) -> None:
    _judge(run_policy(answer["decide"]))


_HINTS = {
    "default": "Check the error first (isinstance(error, PermanentError)), then the attempt "
    "number (attempt >= MAX_ATTEMPTS), and only then compute the delay.",
    "type": "Return Retry(delay) or DeadLetter(reason), imported from brokerlab.grading.",
    "schedule": "The delay after try n is min(CAP, BASE * 2 ** (n - 1)): 0.1, 0.2, 0.4, 0.8, "
    "1.6, then 2.0. The try numbered MAX_ATTEMPTS is the last one: after it fails, dead-letter "
    "with reason 'max_attempts'.",
    "permanent": "Test isinstance(error, PermanentError) (not type(error) ==), before anything "
    "else: a subclass is permanent too, at any attempt.",
    "far": "Decide to dead-letter before computing a delay: BASE * 2 ** (attempt - 1) "
    "overflows a float (or takes for ever) for huge attempt numbers.",
    "raised": "Decide to dead-letter before computing a delay: 0.1 * 2 ** 1024 no longer fits "
    "in a float, and for larger attempt numbers the power takes longer and longer.",
    "timeout": "2 ** (attempt - 1) with a huge attempt builds an enormous number: compare "
    "attempt with MAX_ATTEMPTS first.",
    "lost": "Every message must end processed or in the DLQ.",
    "poison": "A PermanentError goes to the DLQ on its first failure: retrying a poison "
    "message only delays everything behind it.",
    "max_attempts": "Count the tries: the message fails on tries 1 to MAX_ATTEMPTS, and only "
    "after the last one goes to the DLQ.",
    "transient": "Retry a transient error until the try numbered MAX_ATTEMPTS has failed: a "
    "message that succeeds on its 8th try must not be dead-lettered at its 7th failure.",
    "delay": "The wait after try n is min(CAP, BASE * 2 ** (n - 1)) seconds, where n is the "
    "attempt number decide was given.",
}

EXERCISE = Exercise(
    id="ex09_retry_policy",
    title="Retry with backoff, then dead-letter",
    chapter=7,
    contract=CONTRACT,
    names=("decide",),
    checks=(
        Check(
            "the schedule for a transient error: tries 1 to 8",
            3,
            _cases(_SCHEDULE, "schedule"),
            _HINTS,
        ),
        Check(
            "a PermanentError (or a subclass) goes to the DLQ at once, at any attempt",
            2,
            _cases(_PERMANENT, "permanent"),
            _HINTS,
        ),
        Check(
            "attempt numbers far past MAX_ATTEMPTS",
            2,
            _cases(_FAR, "far"),
            _HINTS,
        ),
        Check(
            "in a simulated run on the reference broker: nothing lost, the DLQ after exactly "
            "1 or 8 tries, the delays as decided",
            3,
            _simulated,
            _HINTS,
            timeout=20.0,
        ),
    ),
)
