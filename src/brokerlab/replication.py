"""Replication: a quorum queue on a 3-node RabbitMQ cluster, while the node leading it dies.

A quorum queue keeps a copy of every message on each of its members (three nodes here) and
confirms a publish only once a majority of them have written it (the Raft log). One member is
the **leader**: it takes the publishes and orders them. When the leader dies, the others elect
a new one and carry on, with every message a majority had written.

So what does a producer lose when the leader is killed with SIGKILL in the middle of a
stream of publishes? That depends on the producer. :func:`publish_through_failover` is the
experiment, in the style of Jepsen (a client, a nemesis that kills a node at a random moment,
and a checker that reads the final state):

- the **producer** is connected to the leader's node, the worst place to be: its connection
  dies with the node. It publishes ``messages`` messages, one after another;
- the **nemesis** is a thread of its own that kills the leader with SIGKILL once ``kill_at``
  messages have been sent (the producer does not wait for it: it keeps publishing while the
  node dies);
- with ``confirms=True`` the producer waits for each publisher confirm. When the connection
  breaks it does not know whether the message in flight arrived, so it reconnects to a
  surviving node and publishes that message again (the same message id: a possible
  duplicate, never a possible loss);
- with ``confirms=False`` it writes and moves on. When the connection breaks, it reconnects and
  carries on with the next message; whatever was still in flight is gone, and it never knows;
- at the end a consumer drains the queue from a surviving node (the **final read**).

The run is recorded as a :class:`~brokerlab.history.History`: ``publish`` (with its attempt),
``confirm``, the leader's ``crash``, the drain's ``deliver``/``process``/``ack``, and for every
message the drain did not find, a ``lost`` event: ``what="message"`` if the broker had
confirmed it (a broken promise), ``what="publish"`` if it had not (the producer was never told
it arrived). The checker's at-least-once verdict then reads: no confirmed message was lost
(with confirms), or these were lost (without).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .checker import Report, check
from .clock import RealClock
from .history import History
from .plots import figure_and_ax

__all__ = ["Failover", "plot_failover", "publish_through_failover"]


@dataclass(frozen=True)
class Failover:
    """What :func:`publish_through_failover` saw.

    ``published`` messages were sent (each once, or more with retries), ``confirmed`` were
    confirmed, ``drained`` were found by the final read (``duplicates`` of them twice or
    more); ``lost_confirmed`` lists confirmed messages the read did not find (the guarantee
    says: none), ``lost_unconfirmed`` the unconfirmed ones it did not find. ``leader`` is the
    index of the node that led the queue and was killed; ``killed_at`` is the number of
    publishes sent when the nemesis struck; ``reconnects`` how often the producer noticed a
    broken connection and opened a new one, ``noticed_at`` the publish at which it first
    noticed (None: never).
    """

    confirms: bool
    published: int
    confirmed: int
    drained: int
    duplicates: int
    lost_confirmed: tuple[str, ...]
    lost_unconfirmed: tuple[str, ...]
    leader: int
    killed_at: int
    reconnects: int
    noticed_at: int | None
    history: History
    report: Report

    def summary(self) -> str:
        how = "with publisher confirms" if self.confirms else "without confirms"
        return (
            f"{how}: {self.published} published, {self.confirmed} confirmed, "
            f"{self.drained} read back ({self.duplicates} twice); lost: "
            f"{len(self.lost_confirmed)} confirmed, {len(self.lost_unconfirmed)} unconfirmed; "
            f"killed at publish {self.killed_at}, the producer noticed at "
            f"{'no publish' if self.noticed_at is None else f'publish {self.noticed_at}'}"
        )

    def __repr__(self) -> str:
        return f"Failover({self.summary()})"


def _connect(url: str) -> Any:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = 5
    params.blocked_connection_timeout = 10
    return pika.BlockingConnection(params)


def publish_through_failover(
    cluster: Any,
    *,
    queue: str = "orders",
    messages: int = 400,
    confirms: bool = True,
    kill_at: int | None = None,
    leader: int = 0,
) -> Failover:
    """Publish to a quorum queue while its leader is killed (see the module docstring).

    ``cluster`` is a running :class:`~brokerlab.servers.RabbitMQCluster` whose nodes are all up.
    ``kill_at`` defaults to half the messages. ``leader`` is the node the queue is declared on
    (``x-queue-leader-locator: client-local`` makes it the first leader), the producer's node,
    and the node the nemesis kills.
    """
    import pika

    clock, history = RealClock(), History()
    # "client-local": the queue's first leader is the node the declaring client is on
    admin = _connect(cluster.nodes[leader].url)
    ch = admin.channel()
    ch.queue_delete(queue)
    ch.queue_declare(
        queue,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-queue-leader-locator": "client-local"},
    )
    admin.close()
    survivors = [i for i in cluster.running() if i != leader]

    conn = _connect(cluster.nodes[leader].url)
    ch = conn.channel()
    if confirms:
        ch.confirm_delivery()
    kill_at = messages // 2 if kill_at is None else kill_at
    sent = [0]
    go, killed = threading.Event(), threading.Event()
    at_kill = [0]

    def nemesis() -> None:
        if go.wait(120):
            at_kill[0] = sent[0]
            cluster.kill(leader)
        killed.set()

    timer = threading.Thread(target=nemesis, daemon=True)
    confirmed: set[str] = set()
    published: set[str] = set()
    broken = (pika.exceptions.AMQPError, OSError)
    reconnects = 0
    noticed_at: int | None = None
    timer.start()
    try:
        i = 1
        attempt = 1
        while i <= messages:
            msg = f"m{i}"
            props = pika.BasicProperties(message_id=msg, delivery_mode=2)
            history.record(clock.now(), "producer", "publish", msg, attempt=attempt)
            published.add(msg)
            sent[0] += 1
            if sent[0] == kill_at:
                go.set()
            try:
                ch.basic_publish("", queue, msg.encode(), props)
            except broken:
                # the connection died with the node: reconnect to a survivor
                killed.wait(30)
                reconnects += 1
                if noticed_at is None:
                    noticed_at = sent[0]
                conn = _connect(cluster.nodes[survivors[0]].url)
                ch = conn.channel()
                if confirms:
                    ch.confirm_delivery()
                    attempt += 1  # in doubt: send the same message again
                    continue
                i, attempt = i + 1, 1
                continue
            if confirms:
                history.record(clock.now(), "producer", "confirm", msg, attempt=attempt)
                confirmed.add(msg)
            i, attempt = i + 1, 1
    finally:
        go.set()
        killed.wait(60)
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - it may be dead already
            pass
    history.record(clock.now(), f"node-{leader + 1}", "crash", when="SIGKILL (nemesis)")

    # the final read, from a survivor
    conn = _connect(cluster.nodes[survivors[0]].url)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=500)
    seen: dict[str, int] = {}
    quiet = 0
    # read until two passes a second apart find nothing (a new leader may still be settling)
    while quiet < 2:
        got = 0
        for method, props, _body in ch.consume(queue, inactivity_timeout=0.5):
            if method is None:  # nothing for half a second
                break
            got += 1
            msg = props.message_id
            seen[msg] = seen.get(msg, 0) + 1
            history.record(clock.now(), "consumer", "deliver", msg)
            history.record(clock.now(), "consumer", "process", msg)
            ch.basic_ack(method.delivery_tag)
            history.record(clock.now(), "consumer", "ack", msg)
        ch.cancel()
        quiet = quiet + 1 if got == 0 else 0
        if quiet < 2:
            time.sleep(0.5)
    conn.close()
    order = sorted(published, key=lambda m: int(m[1:]))
    lost_confirmed = tuple(m for m in order if m in confirmed and m not in seen)
    lost_unconfirmed = tuple(m for m in order if m not in confirmed and m not in seen)
    for m in lost_confirmed:
        history.record(
            clock.now(), "broker", "lost", m, what="message", reason="confirmed, not read back"
        )
    for m in lost_unconfirmed:
        history.record(
            clock.now(),
            "producer",
            "lost",
            m,
            what="publish",
            reason="never confirmed, not read back",
        )
    return Failover(
        confirms=confirms,
        published=len(published),
        confirmed=len(confirmed),
        drained=len(seen),
        duplicates=sum(1 for n in seen.values() if n > 1),
        lost_confirmed=lost_confirmed,
        lost_unconfirmed=lost_unconfirmed,
        leader=leader,
        killed_at=at_kill[0],
        reconnects=reconnects,
        noticed_at=noticed_at,
        history=history,
        report=check(history),
    )


def plot_failover(runs: list[Failover], ax: Any = None) -> Any:
    """Stacked bars per run: read back once, read back twice, lost unconfirmed, lost confirmed.
    Returns the Figure."""
    fig, ax = figure_and_ax(ax, (8, 3.0), (1.6, 0.3, 0.45, 1.0))
    parts = (
        ("read back", "#009E73", lambda r: r.drained - r.duplicates),
        ("read back twice", "#E69F00", lambda r: r.duplicates),
        ("lost, never confirmed", "#56B4E9", lambda r: len(r.lost_unconfirmed)),
        ("lost, confirmed", "#D55E00", lambda r: len(r.lost_confirmed)),
    )
    names = ["with confirms" if r.confirms else "without confirms" for r in runs]
    left = [0] * len(runs)
    for label, colour, value in parts:
        widths = [value(r) for r in runs]
        ax.barh(names, widths, left=left, color=colour, label=label, height=0.5)
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()
    ax.set_xlabel("messages")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, fontsize=8, frameon=False)
    ax.set_title("A quorum queue's leader killed with SIGKILL mid-stream")
    return fig
