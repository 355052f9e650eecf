"""Durability: what a real RabbitMQ still holds after it is killed with SIGKILL and restarted.

Two switches decide whether a message outlives its broker, and you need both:

- a **durable** queue (``queue_declare(durable=True)``) is itself recorded on disk, so it is
  declared again when the node boots; a transient one is gone;
- a **persistent** message (``delivery_mode=2``) is written to disk in a durable queue; a
  transient one (``delivery_mode=1``) lives in memory and is dropped at boot, even in a durable
  queue.

A quorum queue is always durable and keeps every message on disk (the ``delivery_mode`` is
ignored); it is built to survive the loss of a node *in a cluster*, which is
:mod:`brokerlab.replication`'s experiment. It is left out here: on the RabbitMQ this course
was checked with (3.10.8, Debian's package), a single-node quorum queue killed with SIGKILL
came back with an empty Raft log and no leader, and every ``basic.get`` on it timed out.

:func:`survives_restart` declares one queue per combination, publishes the same number of
messages to each with publisher confirms (so every message was accepted before the crash),
kills the node with SIGKILL (no clean shutdown: nothing gets a chance to flush), starts it
again on the same data directory, and counts what each queue gives back. The run is recorded
as a :class:`~brokerlab.history.History`: the publishes and confirms, the broker's crash and
restart, the final drain (``deliver``, ``process``, ``ack``), and a ``lost`` event
(``what="message"``) for every confirmed message the drain did not find. The checker then
names the lost messages.

>>> from brokerlab.durability import COMBINATIONS
>>> [c.queue for c in COMBINATIONS]
['durable queue, persistent messages', 'durable queue, transient messages', 'transient queue, persistent messages', 'transient queue, transient messages']
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .checker import Report, check
from .clock import RealClock
from .history import History
from .plots import figure_and_ax

__all__ = ["COMBINATIONS", "Combination", "Survival", "plot_survival", "survives_restart"]


@dataclass(frozen=True)
class Combination:
    """One queue of the experiment: its name, and how it and its messages are declared."""

    queue: str
    durable: bool
    persistent: bool
    quorum: bool = False


COMBINATIONS = (
    Combination("durable queue, persistent messages", True, True),
    Combination("durable queue, transient messages", True, False),
    Combination("transient queue, persistent messages", False, True),
    Combination("transient queue, transient messages", False, False),
)


@dataclass(frozen=True)
class Survival:
    """What :func:`survives_restart` counted: per queue, messages confirmed before the crash
    and messages found after the restart; ``queue_exists`` says whether the queue itself came
    back. ``history`` and ``report`` are the run's."""

    confirmed: dict[str, int]
    survived: dict[str, int]
    queue_exists: dict[str, bool]
    history: History
    report: Report

    def table(self) -> str:
        """One line per queue: confirmed before, found after, and whether the queue came back."""
        width = max(len(q) for q in self.confirmed)
        lines = [f"{'queue':<{width}}  confirmed  after restart"]
        for q, n in self.confirmed.items():
            after = str(self.survived[q]) if self.queue_exists[q] else "queue gone"
            lines.append(f"{q:<{width}}  {n:>9}  {after:>13}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        kept = sum(self.survived.values())
        return f"Survival({kept} of {sum(self.confirmed.values())} confirmed messages survived)"


def survives_restart(server: Any, messages: int = 10) -> Survival:
    """Publish ``messages`` to each queue of :data:`COMBINATIONS` on ``server`` (a
    :class:`~brokerlab.servers.RabbitMQServer`), kill it with SIGKILL, restart it, and count."""
    import pika

    clock, history = RealClock(), History()
    conn = pika.BlockingConnection(pika.URLParameters(server.url))
    ch = conn.channel()
    ch.confirm_delivery()
    confirmed: dict[str, int] = {}
    sent: dict[str, list[str]] = {}
    n = 0
    for c in COMBINATIONS:
        ch.queue_delete(c.queue)
        args = {"x-queue-type": "quorum"} if c.quorum else None
        ch.queue_declare(c.queue, durable=c.durable, arguments=args)
        props = pika.BasicProperties(delivery_mode=2 if c.persistent else 1)
        confirmed[c.queue], sent[c.queue] = 0, []
        for _ in range(messages):
            n += 1
            msg = f"m{n}"
            props.message_id = msg
            history.record(clock.now(), "producer", "publish", msg, key=c.queue)
            ch.basic_publish("", c.queue, msg.encode(), props)  # waits for the confirm
            history.record(clock.now(), "producer", "confirm", msg)
            confirmed[c.queue] += 1
            sent[c.queue].append(msg)
    conn.close()
    history.record(clock.now(), "broker", "crash", when="SIGKILL")
    server.kill()
    server.restart()
    history.record(clock.now(), "broker", "restart")
    conn = pika.BlockingConnection(pika.URLParameters(server.url))
    survived, exists = {}, {}
    for c in COMBINATIONS:
        found: set[str] = set()
        for _attempt in range(40):  # a quorum queue needs a moment to recover after a boot
            try:
                exists[c.queue] = _drain(conn, c.queue, found, history, clock)
                break
            except pika.exceptions.ConnectionClosedByBroker:  # "timeout" while it recovers
                time.sleep(0.25)
                conn = pika.BlockingConnection(pika.URLParameters(server.url))
        survived[c.queue] = len(found)
        for msg in sent[c.queue]:
            if msg not in found:
                reason = "queue gone after the restart" if not exists[c.queue] else (
                    "not in the queue after the restart"
                )  # fmt: skip
                history.record(clock.now(), "broker", "lost", msg, what="message", reason=reason)
    conn.close()
    return Survival(confirmed, survived, exists, history, check(history))


def _drain(conn: Any, queue: str, found: set[str], history: History, clock: Any) -> bool:
    """Read ``queue`` empty, recording each message; False if the queue is not there."""
    import pika

    ch = conn.channel()
    try:
        ch.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:  # 404: the queue did not come back
        return False
    while True:
        method, props, _body = ch.basic_get(queue)
        if method is None:
            break
        found.add(props.message_id)
        history.record(clock.now(), "consumer", "deliver", props.message_id)
        history.record(clock.now(), "consumer", "process", props.message_id)
        ch.basic_ack(method.delivery_tag)
        history.record(clock.now(), "consumer", "ack", props.message_id)
    ch.close()
    return True


def plot_survival(result: Survival, ax: Any = None) -> Any:
    """Bars: confirmed before the crash, and found after the restart, per queue. Returns the
    Figure."""
    fig, ax = figure_and_ax(ax, (8, 3.2), (2.9, 0.3, 0.55, 0.55))
    names = list(result.confirmed)
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [result.confirmed[q] for q in names], height=0.38,
            color="#0072B2", label="confirmed before the SIGKILL")  # fmt: skip
    ax.barh([y - 0.2 for y in ys], [result.survived[q] for q in names], height=0.38,
            color="#009E73", label="found after the restart")  # fmt: skip
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("messages")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title("What a RabbitMQ node keeps across a SIGKILL")
    return fig
