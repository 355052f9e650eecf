"""Messaging patterns: who gets which message, through a queue, a topic, an exchange or a log.

The same messages, sent by the same producers, reach different consumers depending on what
sits in the middle. *Enterprise Integration Patterns* (Hohpe and Woolf) names the two basic
answers; real brokers offer them in a few shapes:

- **point-to-point** (:func:`point_to_point`): one :class:`~brokerlab.queue.Queue` with
  *competing consumers*. Each message goes to exactly **one** of them; adding consumers shares
  the work. RabbitMQ queues and SQS queues work this way.
- **publish/subscribe** (:func:`publish_subscribe`): a :class:`~brokerlab.pubsub.Topic` with
  one subscription per subscriber. Each message goes to **every** subscription; adding a
  subscriber adds a copy. This is SNS fanning out to SQS queues.
- **fanout exchange** (:func:`fanout_exchange`): RabbitMQ's way to do the same: a ``fanout``
  exchange copies each message into every queue bound to it, one queue per subscriber.
- **log with consumer groups** (:func:`log_groups`): Kafka's way. The topic keeps every record
  in its partitions; each *consumer group* reads all of them at its own offsets (so every group
  gets every message), and inside a group each partition belongs to one member (so the members
  share the work, as competing consumers do).

Each function runs its setup on the reference broker and returns a :class:`Distribution`: the
messages in the order they were published (``m1``, ``m2``, ... with the producer that sent
each) and what each recipient received, in order. Producers take turns: with two producers
``p1`` sends m1, ``p2`` m2, ``p1`` m3, and so on. :func:`plot_who_got_what` draws one or more
distributions as a grid (recipients x messages); :meth:`Distribution.graph` is the setup's
topology for :func:`brokerlab.topology.draw_topology`.

Which consumer of a queue gets which message is decided by the queue's dispatch rules (see
``brokerlab.queue``); this module does not restate them, it reports what happened.

>>> topic = publish_subscribe(producers=1, subscribers=2)
>>> topic.recipients("m2")
['billing/c1', 'shipping/c1']
>>> sorted(set(point_to_point(producers=2, consumers=3).copies().values()))
[1]

Sources: G. Hohpe and B. Woolf, *Enterprise Integration Patterns* (2003): Point-to-Point
Channel, Publish-Subscribe Channel, Competing Consumers; RabbitMQ documentation, *Exchanges*
(fanout) and *Consumer Prefetch*; Amazon SNS Developer Guide, *Fanout to Amazon SQS queues*;
Apache Kafka documentation, *Consumers* (consumer groups) and ``RangeAssignor.java``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import VirtualClock
from .errors import InvalidArgument, InvalidType, check_whole
from .plots import OKABE_ITO, figure_and_ax

__all__ = [
    "Distribution",
    "fanout_exchange",
    "log_groups",
    "plot_who_got_what",
    "point_to_point",
    "publish_subscribe",
    "queue_and_topic",
    "who_got_what_widget",
]

_PRODUCER_COLOURS = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["vermillion"],
)


@dataclass(frozen=True)
class Distribution:
    """Who received which message (see the module docstring).

    ``messages``: ``(id, producer)`` in publish order. ``received``: recipient -> the ids it
    received, in order; recipients are named ``"<where>/<consumer>"`` (``"jobs/c1"``,
    ``"billing/c1"``, ``"group billing/consumer-1"``). ``where``: recipient -> the queue,
    subscription or group it reads from.
    """

    pattern: str
    messages: tuple[tuple[str, str], ...]
    received: dict[str, tuple[str, ...]]
    where: dict[str, str]
    _graph: Any = field(repr=False, compare=False)

    def recipients(self, message_id: str) -> list[str]:
        """The recipients that received ``message_id``, in recipient order."""
        if message_id not in dict(self.messages):
            known = ", ".join(m for m, _ in self.messages)
            raise InvalidArgument(
                f"message_id={message_id!r} was not published here: the messages are {known}."
            )
        return [r for r, ids in self.received.items() if message_id in ids]

    def copies(self) -> dict[str, int]:
        """Message id -> how many recipients received it."""
        counts = {m: 0 for m, _ in self.messages}
        for ids in self.received.values():
            for m in ids:
                counts[m] += 1
        return counts

    def graph(self) -> Any:
        """The setup, producers included, as a networkx DiGraph for ``draw_topology``."""
        return self._graph.copy()

    def table(self) -> str:
        """One line per recipient: what it received, in order."""
        width = max(len(r) for r in self.received)
        return "\n".join(
            f"{r:<{width}}  {' '.join(ids) or '(nothing)'}" for r, ids in self.received.items()
        )

    def __repr__(self) -> str:
        producers = len({p for _, p in self.messages})
        copies = sum(self.copies().values())
        return (
            f"Distribution({self.pattern}: {len(self.messages)} messages from {producers} "
            f"producer{'s' if producers != 1 else ''}, {len(self.received)} recipients, "
            f"{copies} deliveries)"
        )


# --- checks ---------------------------------------------------------------------------------------


def _plan(producers: int, per_producer: int) -> list[str]:
    """Producer names in publish order: they take turns, each sending ``per_producer``."""
    check_whole("producers", producers, 1, 26, example=2)
    check_whole("per_producer", per_producer, 1, 1000, example=3)
    return [f"p{k + 1}" for _ in range(per_producer) for k in range(producers)]


def _drain(consumers: list[Any], received: dict[str, list[str]], names: list[str]) -> None:
    """Consumers take turns taking what was pushed to them and acking it, one at a time,
    until nothing is left (each ack may let the queue push the next message)."""
    busy = True
    while busy:
        busy = False
        for c, name in zip(consumers, names):
            for d in c.take():
                received[name].append(d.message.id)
                c.ack(d)
                busy = True


# --- the four setups ------------------------------------------------------------------------------


def point_to_point(
    producers: int = 2, consumers: int = 3, *, per_producer: int = 3, prefetch: int = 1
) -> Distribution:
    """Messages through one queue, ``jobs``, with competing consumers ``c1``, ``c2``...

    The consumers register first (RabbitMQ ``basic.consume`` with ``prefetch``), then the
    producers publish, then the consumers take turns working off what the queue pushed them.
    """
    from .broker import Broker

    plan = _plan(producers, per_producer)
    check_whole("consumers", consumers, 1, 26, example=3)
    broker = Broker(VirtualClock())
    queue = broker.declare_queue("jobs")
    names = [f"c{i + 1}" for i in range(consumers)]
    cs = [queue.consume(n, prefetch=prefetch) for n in names]
    messages = [(broker.publish("", "jobs", {"from": p}).message.id, p) for p in plan]
    received: dict[str, list[str]] = {f"jobs/{n}": [] for n in names}
    _drain(cs, received, list(received))
    return _result(
        "point-to-point queue",
        messages,
        received,
        {r: "queue jobs" for r in received},
        broker,
        {p: "jobs" for p in dict.fromkeys(plan)},
    )


def publish_subscribe(
    producers: int = 2, subscribers: int = 3, *, per_producer: int = 3
) -> Distribution:
    """Messages through a topic, ``orders``, with one subscription (and consumer) per subscriber.

    Subscriptions are named after teams (``billing``, ``shipping``, ``analytics``, then
    ``sub4``...); each has one consumer, ``c1``.
    """
    from .broker import Broker

    broker = Broker(VirtualClock())
    topic = broker.declare_topic("orders")
    return _to_subscribers(
        "topic with subscriptions",
        broker,
        producers,
        subscribers,
        per_producer,
        lambda s: topic.subscribe(s),
        lambda p: topic.publish({"from": p}).id,
        "subscription",
    )


def fanout_exchange(
    producers: int = 2, subscribers: int = 3, *, per_producer: int = 3
) -> Distribution:
    """Messages through a RabbitMQ ``fanout`` exchange, ``orders``, bound to one queue per
    subscriber (named as in :func:`publish_subscribe`), each with one consumer."""
    from .broker import Broker

    broker = Broker(VirtualClock())
    broker.declare_exchange("orders", "fanout")

    def bound_queue(name: str) -> Any:
        broker.declare_queue(name)
        broker.bind(name, "orders")
        return broker.queue(name)

    return _to_subscribers(
        "fanout exchange",
        broker,
        producers,
        subscribers,
        per_producer,
        bound_queue,
        lambda p: broker.publish("orders", "", {"from": p}).message.id,
        "queue",
    )


def _to_subscribers(
    pattern, broker, producers, subscribers, per_producer, queue_for, publish, kind
) -> Distribution:
    """One queue per subscriber (``queue_for(name)``), one consumer ``c1`` on each; the
    producers publish with ``publish(producer) -> message id``; the consumers work it off."""
    plan = _plan(producers, per_producer)
    check_whole("subscribers", subscribers, 1, 26, example=3)
    subs = _subscriber_names(subscribers)
    cs = [queue_for(s).consume("c1", prefetch=1) for s in subs]
    messages = [(publish(p), p) for p in plan]
    received: dict[str, list[str]] = {f"{s}/c1": [] for s in subs}
    _drain(cs, received, list(received))
    return _result(
        pattern,
        messages,
        received,
        {f"{s}/c1": f"{kind} {s}" for s in subs},
        broker,
        {p: "orders" for p in dict.fromkeys(plan)},
    )


def log_groups(
    producers: int = 2,
    groups: dict[str, int] | None = None,
    *,
    per_producer: int = 3,
    partitions: int = 3,
) -> Distribution:
    """Messages appended to a Kafka-style topic, ``orders``, read by consumer groups.

    ``groups`` maps a group name to its number of members (default ``{"billing": 2,
    "audit": 1}``). Each message is keyed by its own id, so the default partitioner (murmur2 of
    the key) spreads them over ``partitions``. Every member joins before anyone polls, so each
    group's partitions are assigned once (Kafka's default ``range`` assignor); then each member
    polls once, from the earliest offset.
    """
    from .log import Log

    plan = _plan(producers, per_producer)
    groups = {"billing": 2, "audit": 1} if groups is None else groups
    if not isinstance(groups, dict) or not groups:
        raise InvalidArgument(
            f"groups={groups!r} must be a dict of group name -> members, e.g. "
            "{'billing': 2, 'audit': 1}."
        )
    for name, members in groups.items():
        if not isinstance(name, str) or not name:
            raise InvalidType(f"group name {name!r} must be a non-empty str, e.g. 'billing'.")
        check_whole(f"groups[{name!r}]", members, 1, 26, example=2)
    check_whole("partitions", partitions, 1, 64, example=3)
    log = Log(VirtualClock())
    log.create_topic("orders", partitions=partitions)
    producer = log.producer()
    messages = []
    for i, p in enumerate(plan, start=1):
        mid = f"m{i}"
        producer.send("orders", mid, key=mid)
        messages.append((mid, p))
    members = []
    for group, count in groups.items():
        for k in range(count):
            c = log.consumer(group=group, name=f"{group}-c{k + 1}", auto_offset_reset="earliest")
            c.subscribe(["orders"])
            members.append((group, f"c{k + 1}", c))
    received: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for group, member, c in members:
        name = f"{group}/{member}"
        received[name] = [r.value for r in c.poll()]
        where[name] = f"group {group}"
    return _result(
        "log with consumer groups",
        messages,
        received,
        where,
        log,
        {p: "orders" for p in dict.fromkeys(plan)},
    )


def _subscriber_names(n: int) -> list[str]:
    teams = ["billing", "shipping", "analytics"]
    return (teams + [f"sub{i + 1}" for i in range(len(teams), n)])[:n]


def _result(pattern, messages, received, where, setup, producers) -> Distribution:
    from .topology import topology_graph

    return Distribution(
        pattern,
        tuple(messages),
        {r: tuple(ids) for r, ids in received.items()},
        dict(where),
        topology_graph(setup, producers),
    )


# --- pictures -------------------------------------------------------------------------------------


def plot_who_got_what(distributions: Distribution | list[Distribution], ax: Any = None) -> Any:
    """A grid: one column per message, one row per recipient, a square where it was received.

    Squares are coloured by the producer that sent the message. Several distributions (of the
    same messages) are stacked, each block labelled with its pattern. Returns the Figure.
    """
    if isinstance(distributions, Distribution):
        distributions = [distributions]
    if not distributions or not all(isinstance(d, Distribution) for d in distributions):
        raise InvalidType(
            "plot_who_got_what needs a Distribution or a list of them (from point_to_point(), "
            "publish_subscribe(), fanout_exchange() or log_groups())."
        )
    rows = sum(len(d.received) + 1 for d in distributions)
    messages = distributions[0].messages
    fig, ax = figure_and_ax(ax, (7.0, min(9.0, 1.1 + 0.25 * rows)), margins=(1.1, 0.2, 0.45, 0.55))
    column = {m: i for i, (m, _) in enumerate(messages)}
    producer_of = dict(messages)
    producers = list(dict.fromkeys(p for _, p in messages))
    labels: list[str] = []
    points: dict[str, tuple[list[int], list[int]]] = {p: ([], []) for p in producers}
    for block, d in enumerate(distributions):
        row = len(labels)
        if block:
            ax.axhline(row - 0.5, color="#888888", linewidth=0.8)
        ax.text(-0.5, row, d.pattern, ha="left", va="center", fontsize=8, fontweight="bold")
        labels.append("")
        for recipient, ids in d.received.items():
            for m in ids:
                xs, ys = points[producer_of.get(m, producers[0])]
                xs.append(column[m])
                ys.append(len(labels))
            labels.append(recipient)
    for k, p in enumerate(producers):
        xs, ys = points[p]
        colour = _PRODUCER_COLOURS[k % len(_PRODUCER_COLOURS)]
        ax.scatter(xs, ys, marker="s", s=60, color=colour, label=f"sent by {p}")
    ax.set_xticks(range(len(messages)), [m for m, _ in messages], fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(-0.6, len(messages) - 0.4)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("message (in publish order)")
    ax.legend(
        loc="upper right",
        ncol=len(producers),
        fontsize="x-small",
        frameon=False,
        borderaxespad=0.1,
        handletextpad=0.2,
        columnspacing=0.8,
    )
    copies = sum(sum(d.copies().values()) for d in distributions)
    ax.set_title(f"Who got which message: {len(messages)} messages, {copies} deliveries")
    return fig


def queue_and_topic(
    producers: int = 2, consumers: int = 3, subscribers: int = 3
) -> list[Distribution]:
    """The same messages through a queue with ``consumers`` competing consumers and through a
    topic with ``subscribers`` subscriptions: what :func:`who_got_what_widget` draws."""
    return [point_to_point(producers, consumers), publish_subscribe(producers, subscribers)]


def who_got_what_widget(producers: int = 2, consumers: int = 3, subscribers: int = 3) -> Any:
    """Sliders for producers, competing consumers and subscribers, driving a
    :func:`plot_who_got_what` of the same messages through a queue and through a topic."""
    import ipywidgets as widgets

    from .widgets import live_figure

    queue_and_topic(producers, consumers, subscribers)  # clear errors before any widget exists

    def who_got_what(ax: Any, producers: int, consumers: int, subscribers: int) -> None:
        plot_who_got_what(queue_and_topic(producers, consumers, subscribers), ax=ax)

    return live_figure(
        who_got_what,
        figsize=(7.0, 3.8),
        producers=widgets.IntSlider(value=producers, min=1, max=4, description="producers"),
        consumers=widgets.IntSlider(value=consumers, min=1, max=6, description="consumers"),
        subscribers=widgets.IntSlider(value=subscribers, min=1, max=6, description="subscribers"),
    )
