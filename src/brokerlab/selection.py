"""Technology selection: from requirements to Kafka, RabbitMQ, SQS (standard or FIFO), or a mix.

:func:`recommend` takes the requirements a team states (:data:`REQUIREMENTS`) and answers with a
:class:`Recommendation`: the systems to use, and for each requirement the system it led to,
*why* (the property of that system the choice rests on) and *what it costs*. The rules are few
and written out below, so that a learner can argue with them.

Every "why" that rests on a property the course measures names it in :attr:`Reason.claims`, as
the field of the chapter 04 comparison table (:mod:`brokerlab.comparison`, ``Profile``) and the
value the choice needs. :data:`FACTS` is this module's copy of those values, and a test checks
both against the table the models produce, so the helper cannot claim what the models do not
show.

The rules, in order (each toggled requirement adds one reason):

================================ ===============================================================
replay                           Kafka: the log keeps records after they are read; rewind a
                                 group or start a new one from the beginning
throughput                       Kafka: partitions spread load over brokers and consumers
real-time stream processing      Kafka: a replayable, ordered-per-partition log is what Kafka
                                 Streams and Flink read
complex routing                  RabbitMQ: exchanges route on keys, patterns and headers
managed and simple               SQS: nothing to run; standard unless order or deduplication
                                 is also asked for, then FIFO
strict ordering                  Kafka (one key per entity) when Kafka is already chosen, else
                                 SQS FIFO (message groups) when managed, else RabbitMQ (one
                                 queue, one consumer)
exactly-once effect              an idempotent consumer everywhere; plus Kafka transactions when
                                 Kafka is chosen, else SQS FIFO deduplication when managed
================================ ===============================================================

With nothing toggled the answer is SQS standard, the least to run. Where rules pick several
systems the answer is a combination (for example Kafka as the log of record and RabbitMQ to route
work), and the costs of each system are listed. ``managed and simple`` together with a rule that
needs Kafka does not add SQS: it is noted as a cost (run Kafka as a managed service, such as
Amazon MSK or Confluent Cloud, which is managed but not simple).

>>> recommend("replay", "complex routing").systems
('Kafka', 'RabbitMQ')
>>> recommend("managed and simple", "strict ordering").systems
('SQS FIFO',)
>>> recommend().systems
('SQS standard',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, InvalidType
from .plots import figure_and_ax

__all__ = [
    "COSTS",
    "FACTS",
    "REQUIREMENTS",
    "SYSTEMS",
    "Reason",
    "Recommendation",
    "plot_recommendation",
    "recommend",
    "selection_widget",
]

REQUIREMENTS = (
    "replay",
    "throughput",
    "complex routing",
    "managed and simple",
    "real-time stream processing",
    "strict ordering",
    "exactly-once effect",
)
SYSTEMS = ("Kafka", "RabbitMQ", "SQS standard", "SQS FIFO")

# The properties the rules rely on, as the chapter 04 comparison table names them
# (brokerlab.comparison.Profile fields). tests/test_selection.py checks them against
# brokerlab.comparison.profiles(), which measures them on the reference models.
FACTS: dict[str, dict[str, Any]] = {
    "Kafka": {
        "replay": True,
        "keeps_after_consume": True,
        "content_routing": False,
        "ordering": "per partition",
    },
    "RabbitMQ": {
        "replay": False,
        "keeps_after_consume": False,
        "content_routing": True,
        "ordering": "per queue",
    },
    "SQS standard": {
        "replay": False,
        "keeps_after_consume": False,
        "content_routing": False,
        "ordering": "best effort",
        "deduplication": False,
    },
    "SQS FIFO": {
        "replay": False,
        "keeps_after_consume": False,
        "content_routing": False,
        "ordering": "per message group",
        "deduplication": True,
    },
}

# The same costs in a few words, for the picture (drawing text is what a redraw pays for).
COST_SUMMARY: dict[str, str] = {
    "Kafka": "a cluster to run; partitions to plan; offsets, no built-in DLQ",
    "RabbitMQ": "a broker to run; gone once acked, no replay",
    "SQS standard": "duplicates and loose order; no replay; 14 days max",
    "SQS FIFO": "lower throughput; no replay; a slow message holds its group",
}
SHORT_BECAUSE: dict[str, str] = {
    "replay": "keeps records after reading",
    "throughput": "partitions spread the load",
    "real-time stream processing": "a replayable, ordered log",
    "complex routing": "exchanges route on content",
    "managed and simple": "nothing to run",
}

# What choosing each system costs, whatever the reason it was chosen.
COSTS: dict[str, tuple[str, ...]] = {
    "Kafka": (
        "a cluster to run (or pay for): brokers, partitions, retention, upgrades",
        "partitions to plan up front: they cap a group's parallelism and adding some moves keys",
        "consumers track offsets; no per-message retry or DLQ built in",
    ),
    "RabbitMQ": (
        "a broker to run; a message is gone once acknowledged: no replay",
        "throughput per queue is bounded by one queue process; scale by more queues",
    ),
    "SQS standard": (
        "best-effort order and occasional duplicates: consumers must be idempotent",
        "no replay, retention 14 days at most; large payloads go to S3 with a pointer",
    ),
    "SQS FIFO": (
        "lower throughput than standard (per message group, per API action)",
        "no replay, retention 14 days at most; one slow message holds back its group",
    ),
}


@dataclass(frozen=True)
class Reason:
    """One requirement's contribution: the ``system`` it led to, ``because`` why, and the
    measured properties (``claims``: comparison-table field -> value) the choice rests on."""

    requirement: str
    system: str
    because: str
    claims: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        return f"Reason({self.requirement} -> {self.system}: {self.because})"


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend` answers: ``systems`` in a fixed order, the ``reasons`` that led
    there (one or more per requirement), and ``notes`` on conflicts between requirements."""

    requirements: tuple[str, ...]
    systems: tuple[str, ...]
    reasons: tuple[Reason, ...]
    notes: tuple[str, ...] = ()

    @property
    def costs(self) -> dict[str, tuple[str, ...]]:
        """What each chosen system costs (:data:`COSTS`)."""
        return {s: COSTS[s] for s in self.systems}

    @property
    def answer(self) -> str:
        return " + ".join(self.systems)

    def explain(self) -> str:
        """The reasoning as text: requirement -> system because ..., then the costs."""
        lines = [f"Recommendation: {self.answer}"]
        for r in self.reasons:
            lines.append(f"  {r.requirement} -> {r.system}: {r.because}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        for system, costs in self.costs.items():
            lines.append(f"  cost of {system}:")
            lines.extend(f"    - {c}" for c in costs)
        return "\n".join(lines)

    def __repr__(self) -> str:
        asked = ", ".join(self.requirements) or "nothing special"
        return f"Recommendation({asked} -> {self.answer})"


def _requirements(args: tuple[Any, ...], flags: dict[str, Any]) -> tuple[str, ...]:
    names = {r.replace(" ", "_").replace("-", "_"): r for r in REQUIREMENTS}
    wanted: list[str] = []
    for a in args:
        if not isinstance(a, str):
            raise InvalidType(f"requirement {a!r} is not a str: pass names such as 'replay'.")
        if a not in REQUIREMENTS:
            raise InvalidArgument(
                f"requirement {a!r} is not one the helper knows: use one of "
                f"{', '.join(repr(r) for r in REQUIREMENTS)}."
            )
        wanted.append(a)
    for k, v in flags.items():
        if k not in names:
            raise InvalidArgument(
                f"{k}= is not a requirement: use one of {', '.join(sorted(names))} (=True/False)."
            )
        if not isinstance(v, bool):
            raise InvalidType(f"{k}={v!r}: pass True or False.")
        if v:
            wanted.append(names[k])
    return tuple(r for r in REQUIREMENTS if r in wanted)


def recommend(*requirements: str, **flags: bool) -> Recommendation:
    """Recommend a system (or a combination) for ``requirements``.

    Pass names (``recommend("replay", "strict ordering")``) or flags with underscores
    (``recommend(replay=True, strict_ordering=True)``); both may be mixed.
    """
    asked = _requirements(requirements, flags)
    reasons: list[Reason] = []
    notes: list[str] = []
    kafka_rules = {"replay", "throughput", "real-time stream processing"}
    kafka = bool(kafka_rules & set(asked))
    managed = "managed and simple" in asked
    if "replay" in asked:
        reasons.append(
            Reason(
                "replay",
                "Kafka",
                "the log keeps records after consumers read them; any group can rewind",
                (("replay", True), ("keeps_after_consume", True)),
            )
        )
    if "throughput" in asked:
        reasons.append(
            Reason(
                "throughput",
                "Kafka",
                "partitions spread the load over brokers and consumers, ordered per partition",
                (("ordering", "per partition"),),
            )
        )
    if "real-time stream processing" in asked:
        reasons.append(
            Reason(
                "real-time stream processing",
                "Kafka",
                "Kafka Streams and Flink read a replayable log, ordered per partition",
                (("replay", True), ("ordering", "per partition")),
            )
        )
    if "complex routing" in asked:
        reasons.append(
            Reason(
                "complex routing",
                "RabbitMQ",
                "exchanges route on keys, topic patterns and headers to many queues",
                (("content_routing", True),),
            )
        )
    fifo = managed and not kafka and bool({"strict ordering", "exactly-once effect"} & set(asked))
    if "strict ordering" in asked:
        if kafka:
            reasons.append(
                Reason(
                    "strict ordering",
                    "Kafka",
                    "key each record by entity: its records stay in one partition, in order",
                    (("ordering", "per partition"),),
                )
            )
        elif managed:
            reasons.append(
                Reason(
                    "strict ordering",
                    "SQS FIFO",
                    "a message group (one per entity) is delivered in order",
                    (("ordering", "per message group"),),
                )
            )
        else:
            reasons.append(
                Reason(
                    "strict ordering",
                    "RabbitMQ",
                    "one queue with one consumer delivers in order",
                    (("ordering", "per queue"),),
                )
            )
    if "exactly-once effect" in asked:
        if kafka:
            reasons.append(
                Reason(
                    "exactly-once effect",
                    "Kafka",
                    "idempotent producer + transactions + read_committed for Kafka-to-Kafka "
                    "work; an idempotent consumer for effects outside Kafka",
                )
            )
        elif fifo:
            reasons.append(
                Reason(
                    "exactly-once effect",
                    "SQS FIFO",
                    "deduplication drops producer retries for 5 minutes; the consumer must still "
                    "be idempotent",
                    (("deduplication", True),),
                )
            )
        else:
            notes.append(
                "exactly-once effect: no broker delivers exactly once; make the consumer "
                "idempotent (a dedup store written with the effect)"
            )
    if managed:
        if kafka:
            notes.append(
                "managed and simple: what you asked for needs Kafka; run it as a managed "
                "service (Amazon MSK, Confluent Cloud): managed, but not simple"
            )
        elif "complex routing" in asked:
            notes.append(
                "managed and simple: RabbitMQ is also offered managed (Amazon MQ, CloudAMQP); "
                "SQS alone cannot route on content"
            )
        else:
            reasons.append(
                Reason(
                    "managed and simple",
                    "SQS FIFO" if fifo else "SQS standard",
                    "nothing to run or scale: a queue is an API call",
                )
            )
    chosen = {r.system for r in reasons}
    if not chosen:
        chosen = {"SQS standard"}
        if not asked or asked == ("exactly-once effect",):
            notes.insert(0, "nothing special asked for: the simplest queue to run wins")
    systems = tuple(s for s in SYSTEMS if s in chosen)
    return Recommendation(asked, systems, tuple(reasons), tuple(notes))


def plot_recommendation(rec: Recommendation, ax: Any = None) -> Any:
    """The reasoning as a picture: one line per requirement -> system, then each system's costs.

    Returns the Figure.
    """
    colour = {
        "Kafka": "#0072B2",
        "RabbitMQ": "#E69F00",
        "SQS standard": "#009E73",
        "SQS FIFO": "#CC79A7",
    }
    lines: list[tuple[str, str]] = []  # (text, colour)
    for r in rec.reasons:
        why = SHORT_BECAUSE.get(r.requirement) or _ORDER_WHY.get((r.requirement, r.system), "")
        lines.append((f"{r.requirement} -> {r.system}: {why}", colour[r.system]))
    for note in rec.notes:
        lines.append((_clip(f"note: {note}", 90), "#000000"))
    for system in rec.systems:
        lines.append((f"cost of {system}: {COST_SUMMARY[system]}", colour[system]))
    # A picture of its own is as tall as its lines; on a given ax (the widget's) the spacing is
    # fixed, so lines do not jump about as requirements are toggled.
    n = len(lines) if ax is None else max(len(lines), 9)
    fig, ax = figure_and_ax(ax, (7, 0.5 + 0.3 * n), (0.07, 0.07, 0.4, 0.06))
    for i, (text, c) in enumerate(lines):
        ax.text(
            0.01, 1 - (i + 0.6) / n, text, color=c, fontsize=9, va="center", transform=ax.transAxes
        )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"Recommendation: {rec.answer}")
    return fig


_ORDER_WHY = {
    ("strict ordering", "Kafka"): "one key per entity",
    ("strict ordering", "SQS FIFO"): "one message group per entity",
    ("strict ordering", "RabbitMQ"): "one queue, one consumer",
    ("exactly-once effect", "Kafka"): "transactions + idempotent consumer",
    ("exactly-once effect", "SQS FIFO"): "deduplication + idempotent consumer",
}


def _clip(text: str, width: int = 125) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def selection_widget() -> Any:
    """The chapter's widget: one checkbox per requirement -> the recommendation and its reasons."""
    import ipywidgets as widgets

    from .widgets import live_figure

    def reasoning(ax: Any, **requirements: bool) -> None:
        plot_recommendation(recommend(**requirements), ax=ax)

    boxes = {
        r.replace(" ", "_").replace("-", "_"): widgets.Checkbox(value=False, description=r)
        for r in REQUIREMENTS
    }
    return live_figure(reasoning, figsize=(7.0, 3.2), **boxes)
