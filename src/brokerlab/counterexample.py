"""The shortest counterexample: the smallest run in which a consumer breaks its guarantee.

Give :func:`shortest_counterexample` a handler and the guarantee it claims. It tries fault
schedules, smallest first, and returns the first run that breaks the guarantee:

>>> def ack_first(delivery, ctx):       # acks before the work: a crash in between loses it
...     ctx.ack()
...     ctx.effect()
>>> cx = shortest_counterexample(ack_first, "at-least-once")
>>> cx
Counterexample(at-least-once broken with 1 message and 1 fault [Fault('crash_before_processing', msg='m1')]: lost m1; core of 3 events, 2 schedules tried)
>>> for e in cx.core: print(e)
<#0 t=0 producer-1 publish m1 key=k1 attempt=1>
<#1 t=0.002 consumer-1 deliver m1 key=k1>
<#2 t=0.012 consumer-1 ack m1>

The core needs no crash: a message that was acked and never processed is lost, whatever came
next. ``cx.history`` is the whole run, crash and restart included; ``print(cx.explain())``
tells the story.

How the search works
--------------------
This is the *small-scope* search DSLabs uses to test students' distributed systems: most bugs
show up in small cases, so try every small case, in order of size, and report the first
failure - which is then a smallest one. Here a case is a number of messages and a *fault
schedule* (a tuple of :class:`~brokerlab.faults.Fault`, each striking one precise point: "crash
before processing the 1st delivery of m2"). The search goes

1. by number of messages, 1 to ``max_messages``;
2. then by number of faults, 0 to ``max_faults``;
3. then through every combination of that many faults, in a fixed order.

A simulated run is deterministic, so each schedule is run once and the checker
(:func:`brokerlab.checker.check`) decides. The first schedule whose run breaks the guarantee
is the answer: no run with fewer messages, or as many messages and fewer faults, breaks it.
The failing history is then cut down to a *minimal core* by
:func:`brokerlab.checker.minimal_core`: a sub-history in which no single event can be dropped
and still show the failure.

If no schedule breaks the guarantee, the result says so, and how much was searched: that is
evidence, not proof (a bug may need more messages or faults than were tried).

Where faults can strike
-----------------------
For ``n`` messages, every fault kind that applies to the setup can strike every message: the
consumer faults (``crash_before_processing``, ``crash_after_processing``, ``lost_ack``,
``rebalance``) at its 1st to ``max_delivery``-th delivery, ``producer_retry`` at its 1st to
``max_delivery``-th publish attempt, and the others once (``network_delay`` holds the publish
back by ``delay`` seconds, enough to let the next message overtake it). On an exchange with
several queues, each queue's deliveries are places of their own (``Fault(..., group="q2")``),
so a fault can strike the second queue's first delivery whatever the first queue did.

By default the at-most-once search leaves ``duplicate_delivery`` out: a broker that stores a
message twice defeats every consumer without a dedup store, so it says nothing about *your*
consumer. Pass ``faults=`` to choose the kinds yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from .checker import PROPERTIES, Anomaly, core_in, minimal_core, property_name, violations
from .errors import BrokerError, InvalidArgument, ScenarioError
from .faults import FAULTS, PER_DELIVERY, Fault, check_fault_name
from .history import History
from .scenario import MODES, BrokerSetup, Consumers, Scenario
from .simulation import Run, simulate

__all__ = [
    "Counterexample",
    "NoCounterexample",
    "Searched",
    "fault_points",
    "shortest_counterexample",
]

#: Fault kinds that strike a consumer's delivery (counted by delivery).
_PER_DELIVERY = PER_DELIVERY


def _groups(broker: BrokerSetup) -> tuple[str | None, ...]:
    """The queues a consumer fault can aim at: each queue of an exchange with several (each its
    own group of consumers), else None (one group: deliveries counted across it)."""
    if broker.kind == "exchange" and broker.queues > 1:
        return tuple(f"q{i}" for i in range(1, broker.queues + 1))
    return (None,)


@dataclass(frozen=True)
class Searched:
    """How much a search covered: schedules run, and the bounds it searched within."""

    schedules: int
    max_messages: int
    max_faults: int
    max_delivery: int
    kinds: tuple[str, ...]
    complete: bool = True  # False: the budget ran out before the bounds were covered

    def __str__(self) -> str:
        cut = "" if self.complete else " (the budget ran out here)"
        return (
            f"{self.schedules} schedules: up to {self.max_messages} message(s), up to "
            f"{self.max_faults} fault(s) of {len(self.kinds)} kind(s) "
            f"({', '.join(self.kinds)}), deliveries 1..{self.max_delivery}{cut}"
        )


@dataclass(frozen=True)
class Counterexample:
    """The smallest failing run found.

    - ``guarantee``: the property broken (a :data:`~brokerlab.checker.PROPERTIES` name);
    - ``scenario``: the exact scenario (``simulate(cx.scenario)`` replays it);
    - ``faults``: the fault schedule; ``messages``: how many messages it needed;
    - ``run``: the failing :class:`~brokerlab.simulation.Run` (``cx.history`` is its history);
    - ``anomaly``: the checker's first anomaly breaking the guarantee;
    - ``core``: a 1-minimal sub-history that still breaks it;
    - ``searched``: how much was tried before (and including) this one.
    """

    guarantee: str
    scenario: Scenario
    faults: tuple[Fault, ...]
    messages: int
    run: Run
    anomaly: Anomaly
    core: History
    searched: Searched

    found = True

    @property
    def history(self) -> History:
        return self.run.history

    def __bool__(self) -> bool:
        return True

    def explain(self) -> str:
        """A few lines a learner can read: what broke, under which faults, and the core."""
        s = "s" if self.messages != 1 else ""
        lines = [
            f"{self.guarantee} is broken with {self.messages} message{s} and "
            f"{len(self.faults)} fault(s):",
        ]
        lines += [f"  {f!r}" for f in self.faults] or ["  (no fault at all)"]
        lines.append(
            f"The checker says: {self.anomaly.kind} {self.anomaly.msg or ''}: {self.anomaly.reason}"
        )
        lines.append(
            f"The smallest part of the history that still shows it ({len(self.core)} of its "
            f"{len(self.history)} events, numbered as in the whole run, cx.history):"
        )
        lines += [f"  {e!r}" for e in core_in(self.history, self.core)]
        lines.append(f"Searched {self.searched}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        s = "s" if self.messages != 1 else ""
        fs = "s" if len(self.faults) != 1 else ""
        return (
            f"Counterexample({self.guarantee} broken with {self.messages} message{s} and "
            f"{len(self.faults)} fault{fs} {list(self.faults)!r}: {self.anomaly.kind} "
            f"{self.anomaly.msg or ''}; core of {len(self.core)} events, "
            f"{self.searched.schedules} schedules tried)"
        )


@dataclass(frozen=True)
class NoCounterexample:
    """No schedule within the bounds broke the guarantee; ``searched`` says how much was tried."""

    guarantee: str
    searched: Searched
    scenario: Scenario

    found = False

    def __bool__(self) -> bool:
        return False

    def explain(self) -> str:
        return (
            f"No counterexample: {self.guarantee} held in every run searched ({self.searched}). "
            "That is evidence, not proof: a bug may need more messages or faults."
        )

    def __repr__(self) -> str:
        return f"NoCounterexample({self.guarantee} held in all {self.searched})"


def fault_points(
    kinds: Iterable[str],
    messages: int,
    max_delivery: int = 2,
    delay: float = 0.5,
    groups: Iterable[str | None] = (None,),
) -> list[Fault]:
    """Every place a fault of ``kinds`` can strike in a run of ``messages`` messages.

    ``groups``: the queues a consumer fault can aim at (``("q1", "q2")`` on an exchange with
    two queues: each delivery in each queue is its own place); ``(None,)`` for one group.
    """
    for name, value in (("messages", messages), ("max_delivery", max_delivery)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name}={value!r} is not allowed: pass an int >= 1, e.g. 2.")
    if isinstance(kinds, str) or not isinstance(kinds, Iterable):
        raise InvalidArgument(
            f"kinds={kinds!r} is not a list of fault names: pass e.g. ['lost_ack']."
        )
    kinds = [check_fault_name(k, "kinds") for k in kinds]
    groups = tuple(groups)
    points: list[Fault] = []
    for i in range(1, messages + 1):
        msg = f"m{i}"
        for kind in kinds:
            if kind in _PER_DELIVERY:
                points += [
                    Fault(kind, msg=msg, delivery=n, group=g)
                    for g in groups
                    for n in range(1, max_delivery + 1)
                ]
            elif kind == "producer_retry":
                points += [Fault(kind, msg=msg, delivery=n) for n in range(1, max_delivery + 1)]
            elif kind == "network_delay":
                points.append(Fault(kind, msg=msg, delay=delay))
            else:
                points.append(Fault(kind, msg=msg))
    return points


def _schedules(points: list[Fault], k: int) -> Iterator[tuple[Fault, ...]]:
    """Combinations of ``k`` points, skipping ones that put two faults on one opportunity that
    cannot both strike (a crash before and a crash after processing the same delivery)."""
    for combo in combinations(points, k):
        spots = [(f.msg, f.delivery, f.group) for f in combo if f.kind in _PER_DELIVERY]
        if len(spots) != len(set(spots)):
            continue
        yield combo


def shortest_counterexample(
    handler: Callable[[Any, Any], Any] | None,
    guarantee: str,
    *,
    setup: str | BrokerSetup = "queue",
    consumers: int = 1,
    mode: str | None = None,
    max_messages: int = 3,
    max_faults: int = 2,
    max_delivery: int = 2,
    faults: Iterable[str] | None = None,
    scenario: Scenario | None = None,
    budget: int = 20_000,
) -> Counterexample | NoCounterexample:
    """Search fault schedules, smallest first, for a run where ``handler`` breaks ``guarantee``.

    - ``handler``: ``handle(delivery, ctx)``, or ``None`` for the mode's built-in handler;
    - ``guarantee``: ``"at-least-once"``, ``"at-most-once"``, ``"exactly-once"``, or another
      checker property (``"per-key-order"``...);
    - ``setup``: ``"queue"``, ``"sqs"``, ``"exchange"``, ``"log"`` or a :class:`BrokerSetup`;
      ``consumers``: how many; ``mode``: the delivery mode the run uses (producer retries
      follow it), by default the guarantee if it is a mode, else at-least-once;
    - ``max_messages``, ``max_faults``, ``max_delivery``: the bounds of the search;
    - ``faults``: the fault kinds to try (default: every kind that applies; see the module
      docstring for at-most-once);
    - ``scenario``: a base scenario to take everything else from (its messages and faults are
      replaced by the search's);
    - ``budget``: at most this many runs.

    Returns a :class:`Counterexample`, or a :class:`NoCounterexample` saying what was searched.
    """
    try:
        prop = property_name(guarantee) if isinstance(guarantee, str) else None
    except BrokerError:  # the checker names its own parameter; this call's is `guarantee`
        prop = None
    if prop is None:
        raise InvalidArgument(
            f"guarantee={guarantee!r} is not a property: use one of {', '.join(PROPERTIES)}."
        )
    if mode is None:
        mode = prop if prop in MODES else "at-least-once"
    elif mode not in MODES:
        raise InvalidArgument(f"mode={mode!r} is not allowed: use one of {', '.join(MODES)}.")
    for name, value, low, high in (
        ("max_messages", max_messages, 1, 20),
        ("max_faults", max_faults, 0, 5),
        ("max_delivery", max_delivery, 1, 5),
        ("consumers", consumers, 1, 10),
        ("budget", budget, 1, 10_000_000),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidArgument(
                f"{name}={value!r} is out of range: allowed is {low}..{high}. A small scope finds "
                "most bugs; start small."
            )
    if scenario is None:
        broker = setup if isinstance(setup, BrokerSetup) else BrokerSetup(kind=setup)
        base = Scenario(
            broker=broker, consumers=Consumers(count=consumers, mode=mode, handler=handler)
        )
    elif isinstance(scenario, Scenario):
        base = replace(
            scenario,
            consumers=replace(scenario.consumers, mode=mode, handler=handler),
            faults=(),
        )
    else:
        raise ScenarioError(
            f"scenario={scenario!r} is not a Scenario: build one with Scenario(...)."
        )
    kind = base.broker.kind
    if faults is None:
        kinds = [k for k, fk in FAULTS.items() if kind in fk.setups]
        if prop == "at-most-once":
            kinds = [k for k in kinds if k != "duplicate_delivery"]
        if base.producers.idempotent_for(kind, mode) and kind == "queue":
            kinds = [k for k in kinds if k != "duplicate_delivery"]
    else:
        kinds = list(dict.fromkeys(check_fault_name(k, "faults") for k in faults))
        for k in kinds:
            if kind not in FAULTS[k].setups:
                raise ScenarioError(
                    f"faults: {k!r} cannot happen with broker.kind={kind!r}: it applies to "
                    f"{', '.join(FAULTS[k].setups)} only."
                )
    kinds_t = tuple(kinds)

    tried = 0
    for n in range(1, max_messages + 1):
        points = fault_points(kinds_t, n, max_delivery, groups=_groups(base.broker))
        for k in range(0, max_faults + 1):
            for schedule in _schedules(points, k):
                if tried >= budget:
                    return NoCounterexample(
                        prop, Searched(tried, n, k, max_delivery, kinds_t, False), base
                    )
                tried += 1
                s = replace(base, messages=n, faults=schedule)
                run = simulate(s)
                report = run.report
                if report.ok(prop):
                    continue
                found = violations(report, prop)
                core = minimal_core(run.history, prop, anomaly=found[0])
                return Counterexample(
                    prop,
                    s,
                    tuple(schedule),
                    n,
                    run,
                    found[0],
                    core,
                    Searched(tried, max_messages, max_faults, max_delivery, kinds_t),
                )
    return NoCounterexample(
        prop, Searched(tried, max_messages, max_faults, max_delivery, kinds_t), base
    )
