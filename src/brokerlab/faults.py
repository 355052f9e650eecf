"""Faults: the things that go wrong, named, and when they strike.

A fault is injected by the simulation (:mod:`brokerlab.simulation`) at a precise point: a
consumer's call to ``ctx.effect()`` or ``ctx.ack()``, a producer's wait for a confirm, a
message arriving at the broker. There are two ways to ask for faults, and they mix:

- **probabilities** - ``Faults({"crash_before_processing": 0.1})``: at every chance the fault
  has to strike (its *opportunity*, in the table below), a seeded random draw decides;
- **a schedule** - ``Faults(schedule=[Fault("crash_before_processing", msg="m1")])``: the
  fault strikes exactly there, and nowhere else. The shortest-counterexample search
  (:mod:`brokerlab.counterexample`) enumerates schedules like this one.

The vocabulary (see :data:`FAULTS` for the same table as data):

========================= ===================================================================
fault                     what happens, and where (its opportunity)
========================= ===================================================================
crash_before_processing   the consumer dies at its ``ctx.effect()`` call, before the effect:
                          unacked deliveries go back to the queue (RabbitMQ requeues on
                          channel close; Kafka's new owner re-reads from the last commit)
crash_after_processing    the consumer dies right after the effect, before it can ack/commit
lost_ack                  the consumer's ack/commit never reaches the broker: the connection
                          dropped (AMQP) or the commit failed (Kafka raises
                          ``CommitFailedException``). The handler stops at that call
duplicate_delivery        the broker hands a message out twice (SQS standard queues may keep
                          more than one copy of a message; here: a second copy is stored)
producer_retry            the broker's confirm of a publish is lost, so the producer publishes
                          the same message again (if it retries at all). On a log the whole
                          connection breaks: the responses after it are lost too, and the
                          producer resends every unconfirmed batch, in order
broker_restart            the broker restarts after a message arrives: every connection
                          closes, unacked deliveries are requeued; a non-durable queue loses
                          its messages
network_delay             a publish is held up on the network for up to ``max_delay``
                          seconds. On a queue later messages can overtake it (reordering, as
                          with SQS's independent requests); a log producer's single connection
                          holds the later ones back instead
rebalance                 (log only) partitions move between group members in the middle of
                          a batch
poison_message            a message whose processing always fails: every ``ctx.effect()``
                          for it raises, until the broker dead-letters it
========================= ===================================================================

On an ``"sqs"`` setup (consumers pull; see :mod:`brokerlab.simulation`) nothing is pushed and
no channel closes, so the same faults play out through the visibility timeout: a crashed
consumer's received messages, and a message whose delete was lost (``lost_ack``), stay
invisible until their visibility timeout runs out and are then received again (a
``redeliver`` with reason ``visibility timeout``); a ``broker_restart`` loses nothing and
redelivers nothing early (SQS keeps messages and their in-flight state redundantly), so it is
only recorded.

A :class:`Fault` in a schedule names *where* it strikes: a message id (``msg="m2"``) and which
delivery of it (``delivery=1`` is the first), or, for the broker, which message's arrival
(``msg="m2"``). ``delivery`` counts the times a message has reached consumers, redeliveries
included: by default across every queue, and with ``group=`` within one. On an exchange
setup with several queues (each queue is a group of consumers: ``"q1"``, ``"q2"``...),
``Fault("lost_ack", msg="m1", delivery=1, group="q2")`` strikes the first delivery of m1 *in
q2*, whatever q1 did; without ``group`` the same fault strikes the first delivery of m1 in
whichever queue comes first. With one queue (or a log's one consumer group) the two meanings
are the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ScenarioError

__all__ = [
    "FAULTS",
    "FAULT_NAMES",
    "PER_DELIVERY",
    "Fault",
    "FaultKind",
    "Faults",
    "check_fault_name",
]


@dataclass(frozen=True)
class FaultKind:
    """What a fault is: its name, where it can strike, and which setups it applies to."""

    name: str
    opportunity: str  # when a probability is drawn for it
    does: str  # what it does, in one sentence
    setups: tuple[str, ...] = ("queue", "exchange", "sqs", "log")

    def __repr__(self) -> str:
        return f"FaultKind({self.name!r}: {self.does})"


FAULTS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        FaultKind(
            "crash_before_processing",
            "every ctx.effect() call",
            "the consumer dies before the effect; its unacked deliveries are redelivered",
        ),
        FaultKind(
            "crash_after_processing",
            "every ctx.effect() call, once the effect is done",
            "the consumer dies after the effect, before it acks or commits",
        ),
        FaultKind(
            "lost_ack",
            "every ctx.ack() / ctx.commit() call",
            "the ack or commit never reaches the broker; the handler stops there",
        ),
        FaultKind(
            "duplicate_delivery",
            "every message arriving at the broker",
            "the broker stores a second copy, so the message is delivered twice",
            ("queue", "exchange", "sqs"),
        ),
        FaultKind(
            "producer_retry",
            "every confirm the broker sends a producer",
            "the confirm is lost, so the producer publishes the message again",
        ),
        FaultKind(
            "broker_restart",
            "every message arriving at the broker",
            "the broker restarts: connections close, unacked deliveries are requeued",
        ),
        FaultKind(
            "network_delay",
            "every publish",
            "the publish is delayed on the network (on a queue, later ones overtake it)",
        ),
        FaultKind(
            "rebalance",
            "every record a group member processes",
            "the group rebalances in the middle of the member's batch",
            ("log",),
        ),
        FaultKind(
            "poison_message",
            "every message a producer publishes",
            "processing the message always fails, until it is dead-lettered",
        ),
    )
}
FAULT_NAMES: tuple[str, ...] = tuple(FAULTS)


def check_fault_name(name: Any, where: str) -> str:
    """Return ``name`` if it names a fault, else raise :class:`ScenarioError` (with a guess)."""
    if isinstance(name, str) and name in FAULTS:
        return name
    guess = difflib.get_close_matches(str(name), FAULT_NAMES, n=1)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    raise ScenarioError(
        f"{where}={name!r} is not a fault: the faults are {', '.join(FAULT_NAMES)}.{hint}"
    )


def _check_number(where: str, value: Any, low: float, high: float, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}={value!r} is not a number: allowed is {low}..{high}. {fix}")
    if value != value or not (low <= value <= high):
        raise ScenarioError(f"{where}={value!r} is out of range: allowed is {low}..{high}. {fix}")
    return float(value)


#: The fault kinds that strike a consumer's delivery (they count deliveries, and take group=).
PER_DELIVERY = ("crash_before_processing", "crash_after_processing", "lost_ack", "rebalance")


@dataclass(frozen=True)
class Fault:
    """One fault in a schedule: its kind, and where it strikes.

    - ``msg``: the message it concerns (``"m1"``...). Every fault needs one except
      ``broker_restart`` and ``rebalance``, which may give ``at`` instead;
    - ``delivery``: for consumer faults, which delivery of ``msg`` (1 = the first);
    - ``at``: a virtual time; the fault strikes at its first opportunity at or after ``at``;
    - ``delay``: for ``network_delay``, how many seconds the publish is held up;
    - ``group``: for consumer faults on an exchange setup, the queue (``"q1"``, ``"q2"``...)
      whose delivery it strikes; ``delivery`` then counts that queue's deliveries only. None
      (the default): deliveries are counted across every queue.

    >>> Fault("crash_before_processing", msg="m1")
    Fault('crash_before_processing', msg='m1')
    """

    kind: str
    msg: str | None = None
    delivery: int = 1
    at: float | None = None
    delay: float = 1.0
    group: str | None = None

    def __post_init__(self) -> None:
        check_fault_name(self.kind, "Fault.kind")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise ScenarioError(
                f"Fault.group={self.group!r} is not a queue name: pass the queue whose delivery "
                "the fault strikes, e.g. group='q2', or None to count deliveries across queues."
            )
        if self.group is not None and self.kind not in PER_DELIVERY:
            raise ScenarioError(
                f"Fault({self.kind!r}, group={self.group!r}): only the faults that strike a "
                f"consumer's delivery ({', '.join(PER_DELIVERY)}) take group=. Leave it out."
            )
        if self.msg is not None and not isinstance(self.msg, str):
            raise ScenarioError(
                f"Fault.msg={self.msg!r} is not a message id: pass a string such as 'm1' "
                "(messages are numbered m1, m2, ... in publish order)."
            )
        if (
            isinstance(self.delivery, bool)
            or not isinstance(self.delivery, int)
            or self.delivery < 1
        ):
            raise ScenarioError(
                f"Fault.delivery={self.delivery!r} is not allowed: it counts deliveries of the "
                "message from 1 (the first). Pass an int >= 1."
            )
        if self.at is not None:
            _check_number(
                "Fault.at", self.at, 0, float("inf"), "Pass a time in seconds >= 0, or None."
            )
        _check_number("Fault.delay", self.delay, 0, 3600, "Pass a delay in seconds, e.g. 1.0.")
        if self.msg is None and self.at is None:
            if self.kind in ("broker_restart", "rebalance"):
                raise ScenarioError(
                    f"Fault({self.kind!r}) says neither where nor when: pass msg='m1' (after that "
                    "message) or at=2.0 (at a virtual time)."
                )
            raise ScenarioError(
                f"Fault({self.kind!r}) needs msg=: the message it strikes, e.g. msg='m1'."
            )
        if self.kind not in ("broker_restart", "rebalance") and self.msg is None:
            raise ScenarioError(
                f"Fault({self.kind!r}, at={self.at!r}) needs msg= as well: this fault strikes a "
                "message, e.g. msg='m1'."
            )

    def __repr__(self) -> str:
        parts = [repr(self.kind)]
        if self.msg is not None:
            parts.append(f"msg={self.msg!r}")
        if self.delivery != 1:
            parts.append(f"delivery={self.delivery}")
        if self.at is not None:
            parts.append(f"at={self.at:g}")
        if self.kind == "network_delay":
            parts.append(f"delay={self.delay:g}")
        if self.group is not None:
            parts.append(f"group={self.group!r}")
        return f"Fault({', '.join(parts)})"


@dataclass(frozen=True)
class Faults:
    """The faults of a scenario: probabilities, an explicit schedule, or both.

    - ``probabilities``: fault name -> probability (0..1) at each of its opportunities;
    - ``schedule``: :class:`Fault` objects that strike exactly where they say;
    - ``max_delay``: the longest ``network_delay`` drawn at random, in seconds.

    >>> Faults({"lost_ack": 0.1})
    Faults(lost_ack=0.1)
    >>> Faults()
    Faults(none)
    """

    probabilities: Mapping[str, float] = field(default_factory=dict)
    schedule: tuple[Fault, ...] = ()
    max_delay: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.probabilities, Mapping):
            raise ScenarioError(
                f"faults.probabilities={self.probabilities!r} is not a mapping: pass a dict of "
                "fault name -> probability, e.g. {'lost_ack': 0.1}."
            )
        probs: dict[str, float] = {}
        for name, p in self.probabilities.items():
            check_fault_name(name, "faults name")
            probs[name] = _check_number(
                f"faults[{name!r}]", p, 0, 1, "A probability is between 0 and 1; pass e.g. 0.1."
            )
        if isinstance(self.schedule, (str, bytes)) or not isinstance(self.schedule, Iterable):
            raise ScenarioError(
                f"faults.schedule={self.schedule!r} is not a list of Fault: pass e.g. "
                "[Fault('crash_before_processing', msg='m1')]."
            )
        schedule = tuple(self.schedule)
        for i, f in enumerate(schedule):
            if not isinstance(f, Fault):
                raise ScenarioError(
                    f"faults.schedule[{i}]={f!r} is not a Fault: build it with "
                    "Fault(kind, msg=...), e.g. Fault('lost_ack', msg='m1')."
                )
        _check_number("faults.max_delay", self.max_delay, 0, 3600, "Pass seconds, e.g. 1.0.")
        # Normalise (a frozen dataclass: set through object.__setattr__, once, before use).
        object.__setattr__(self, "probabilities", _ReadOnlyDict(sorted(probs.items())))
        object.__setattr__(self, "schedule", schedule)

    @classmethod
    def coerce(cls, value: Any) -> Faults:
        """Accept a :class:`Faults`, a dict of probabilities, a list of :class:`Fault`, or None."""
        if value is None:
            return cls()
        if isinstance(value, Faults):
            return value
        if isinstance(value, Mapping):
            return cls(value)
        if isinstance(value, Fault):
            return cls(schedule=(value,))
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            return cls(schedule=tuple(value))
        raise ScenarioError(
            f"faults={value!r} is not a fault description: pass a dict of probabilities such as "
            "{'lost_ack': 0.1}, a list of Fault(...), or Faults(...)."
        )

    @property
    def kinds(self) -> frozenset[str]:
        """Every fault kind that can strike: with a probability above 0 or in the schedule."""
        return frozenset([n for n, p in self.probabilities.items() if p > 0]) | {
            f.kind for f in self.schedule
        }

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def __repr__(self) -> str:
        parts = [f"{n}={p:g}" for n, p in self.probabilities.items()]
        parts += [repr(f) for f in self.schedule]
        if self.max_delay != 1.0:
            parts.append(f"max_delay={self.max_delay:g}")
        return f"Faults({', '.join(parts) or 'none'})"


class _ReadOnlyDict(dict):
    """A dict that refuses changes, so a frozen scenario stays frozen (and hashable)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("faults.probabilities is read-only: build a new Faults(...) instead.")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle as a plain dict, then re-freeze
        return (_ReadOnlyDict, (dict(self),))
