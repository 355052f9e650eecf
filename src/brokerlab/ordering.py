"""Message ordering on the log: which order you get, what it costs, and how it breaks.

A Kafka topic keeps order *inside a partition* and nowhere else. Everything in this module
follows from that one rule, shown on the reference :class:`~brokerlab.log.Log`:

- :func:`consume_in_parallel` sends a stream of keyed events (a skewed key distribution if you
  ask for one) to a topic in one of three ways, ``"one partition"`` (a total order, one
  consumer does all the work), ``"by key"`` (order per key, parallel across keys) or
  ``"no key"`` (no order: Kafka's sticky partitioner spreads the records), lets a consumer
  group work through them on the virtual clock, and hands the history to the checker. Its
  :class:`OrderingRun` says how much each consumer did and how many effects were out of key
  order; :func:`plot_consumer_load` draws it (the chapter's widget).
- Three ways to break per-key order even with keys, each recorded as a
  :class:`~brokerlab.history.History` and judged by :func:`~brokerlab.checker.check`:
  :func:`producer_retry` (several requests in flight, a retried one lands behind a later one,
  no idempotence to stop it), :func:`rebalance_mid_batch` (the commit ran ahead of the work,
  and the partition's new owner overtakes the old one's unfinished batch) and
  :func:`parallel_workers` (a consumer that hands one partition's records to a thread pool).
- :func:`plot_effect_order` draws any of those histories: one row per key, effects over time,
  the ones the checker quotes as out of order in vermillion.

The producer, partitioner, consumer group, commits and rebalances are the reference log's own
(so murmur2 keys, sticky key-less batches of ``batch.size`` bytes and Kafka's
``max.poll.interval.ms`` eviction behave as in Kafka). What the module adds is the consumer
side's *timing*: each consumer (or worker) handles one record at a time, for ``service_time``
virtual seconds, and the module records ``deliver``/``process``/``commit`` events at those
times. Message ids are the producer's logical ids (``m1``, ``m2``, ... in send order), so the
checker's per-key order means "in the order the application sent them".

>>> run = consume_in_parallel("by key", partitions=4, consumers=4, messages=40, seed=1)
>>> run.violations, sum(run.processed.values())
(0, 40)
>>> consume_in_parallel("no key", partitions=4, consumers=4, messages=200, seed=1).violations > 0
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .checker import Report, check
from .clock import VirtualClock
from .errors import BrokerError, InvalidArgument, InvalidType, check_choice, check_range
from .history import History
from .log import Log
from .plots import figure_and_ax

__all__ = [
    "STRATEGIES",
    "OrderingRun",
    "OrderStory",
    "consume_in_parallel",
    "key_weights",
    "ordering_widget",
    "parallel_workers",
    "plot_consumer_load",
    "plot_effect_order",
    "producer_retry",
    "rebalance_mid_batch",
    "skewed_keys",
]

STRATEGIES = ("one partition", "by key", "no key")
TOPIC = "events"
# A typical event of about 1 KB: Kafka's sticky partitioner moves key-less records to another
# partition after batch.size = 16384 bytes, i.e. every 17 of these.
VALUE_BYTES = 1000


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _whole(name: str, value: Any, low: int, high: int, unit: str, example: int) -> int:
    check_range(name, value, low, high, unit, example=example)
    if isinstance(value, float):
        raise InvalidType(f"{name}={value!r} must be a whole number. Pass e.g. {name}={example}.")
    return value


# --- the workload: keys with a skew ------------------------------------------------------------


def key_weights(keys: int, skew: float) -> list[float]:
    """The share of traffic of each key when key ranks follow a Zipf law with exponent ``skew``.

    Key number ``r`` (1-based) gets weight ``1 / r**skew``, normalised to sum to 1. ``skew=0``
    is uniform; around 1 the busiest key carries several times the average; at 2 it carries most
    of the traffic. Real traffic often looks like this: one big customer, one popular product.

    >>> [round(w, 2) for w in key_weights(3, 0)]
    [0.33, 0.33, 0.33]
    >>> [round(w, 2) for w in key_weights(3, 2)]
    [0.73, 0.18, 0.08]
    """
    _whole("keys", keys, 1, 10_000, "keys", 20)
    check_range("skew", skew, 0, 5, "(Zipf exponent)", example=1.0)
    raw = [1 / (r**skew) for r in range(1, keys + 1)]
    total = sum(raw)
    return [w / total for w in raw]


def skewed_keys(messages: int, keys: int = 20, skew: float = 0.0, seed: int = 0) -> list[str]:
    """``messages`` keys (``"acct-01"``, ...) drawn with :func:`key_weights`, from ``seed``.

    >>> skewed_keys(5, keys=3, skew=0, seed=1)
    ['acct-01', 'acct-03', 'acct-03', 'acct-01', 'acct-02']
    """
    _whole("messages", messages, 1, 100_000, "messages", 200)
    weights = key_weights(keys, skew)
    return random.Random(seed).choices(_key_names(keys), weights=weights, k=messages)


def _key_names(keys: int) -> list[str]:
    """``acct-01``, ``acct-02``, ...: the first is the busiest under any skew."""
    width = max(2, len(str(keys)))
    return [f"acct-{r:0{width}d}" for r in range(1, keys + 1)]


# --- one consumer group working through a topic -------------------------------------------------


@dataclass(frozen=True)
class OrderingRun:
    """What :func:`consume_in_parallel` measured.

    ``processed`` and ``busy`` map each consumer to the records it handled and the seconds it
    spent on them; ``partitions_of`` to the partitions it was assigned (idle consumers have
    none); ``per_partition`` counts the records in each partition; ``finished_at`` is the time
    of the last effect; ``report`` is the checker's report on ``history``.
    """

    strategy: str
    partitions: int
    consumers: int
    skew: float
    service_time: float
    processed: dict[str, int]
    busy: dict[str, float]
    partitions_of: dict[str, list[int]]
    per_partition: list[int]
    finished_at: float
    history: History
    report: Report

    @property
    def violations(self) -> int:
        """Effects that happened before an earlier-sent message of the same key took effect."""
        return sum(1 for a in self.report.order if a.what == "key")

    @property
    def throughput(self) -> float:
        """Messages processed per second, over the whole run."""
        return sum(self.processed.values()) / self.finished_at if self.finished_at else 0.0

    def rate(self, consumer: str) -> float:
        """Messages per second that ``consumer`` processed, over the whole run."""
        return self.processed[consumer] / self.finished_at if self.finished_at else 0.0

    @property
    def hottest_share(self) -> float:
        """The share of all messages handled by the busiest consumer (1/consumers is fair)."""
        total = sum(self.processed.values())
        return max(self.processed.values()) / total if total else 0.0

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {n}" for c, n in self.processed.items())
        return (
            f"OrderingRun({self.strategy}, {_n(self.partitions, 'partition')}, "
            f"{_n(self.consumers, 'consumer')}, skew={self.skew:g}: {counts}; "
            f"{self.throughput:.0f} msg/s, "
            f"{self.violations} out of key order)"
        )


def consume_in_parallel(
    strategy: str = "by key",
    *,
    partitions: int = 6,
    consumers: int = 3,
    skew: float = 0.0,
    messages: int = 240,
    keys: int = 20,
    rate: float = 200.0,
    service_time: float = 0.01,
    split_hot: int = 1,
    seed: int = 0,
) -> OrderingRun:
    """Send ``messages`` events with :func:`skewed_keys`, then let a group of ``consumers`` read.

    ``strategy`` is how the producer places them: ``"one partition"`` (the topic has a single
    partition; ``partitions`` is ignored), ``"by key"`` (the key is the record key: murmur2 picks
    the partition) or ``"no key"`` (the key stays in the payload only; the sticky partitioner
    places records in runs of about 16 KB). The producer sends ``rate`` events per second. The
    group uses Kafka's default range assignor; each consumer handles its records one at a time,
    ``service_time`` seconds each, oldest first across its partitions, and commits after each.

    ``split_hot=n`` (``"by key"`` only) splits the busiest key into ``n`` sub-keys for the
    partitioner (``acct-01#0`` ... ``acct-01#{n-1}``, in turn), the usual cure for a hot key.
    The history still records the account's own key, so the checker judges the order the
    business needs: per account, which the split no longer promises.
    """
    check_choice("strategy", strategy, STRATEGIES)
    _whole("split_hot", split_hot, 1, 64, "sub-keys", 4)
    _whole("partitions", partitions, 1, 64, "partitions", 6)
    _whole("consumers", consumers, 1, 64, "consumers", 3)
    check_range("rate", rate, 0.001, 1_000_000, "messages per second", example=200)
    check_range("service_time", service_time, 0.0001, 3600, "seconds", example=0.01)
    sent_keys = skewed_keys(messages, keys, skew, seed)
    n_parts = 1 if strategy == "one partition" else partitions

    clock = VirtualClock()
    log = Log(clock)
    log.create_topic(TOPIC, partitions=n_parts)
    producer = log.producer(seed=seed)
    value = b"x" * VALUE_BYTES
    sends: list[tuple] = []
    placed: list[list[tuple[float, str, str, int]]] = [[] for _ in range(n_parts)]
    hot_key = _key_names(keys)[0]
    turn = 0
    for i, key in enumerate(sent_keys):
        t = i / rate
        clock.advance_to(t)
        record_key = None if strategy == "no key" else key
        if split_hot > 1 and key == hot_key and strategy == "by key":
            record_key, turn = f"{key}#{turn % split_hot}", turn + 1
        meta = producer.send(TOPIC, value, key=record_key)
        msg = f"m{i + 1}"
        sends.append((t, 0, i, "producer", "publish", msg, key, None, None))
        placed[meta.partition].append((t, msg, key, meta.offset))

    group = [log.consumer(group="readers", name=f"consumer-{c + 1}") for c in range(consumers)]
    for member in group:
        member.subscribe([TOPIC])
    owned = {m.name: sorted(tp.partition for tp in m.assignment()) for m in group}

    # Each consumer: its records oldest first across its partitions, one at a time.
    events: list[tuple] = []
    processed = {m.name: 0 for m in group}
    busy = {m.name: 0.0 for m in group}
    for name, parts in owned.items():
        todo = sorted((sent, msg, key, off, p) for p in parts for sent, msg, key, off in placed[p])
        free = 0.0
        for sent, msg, key, offset, p in todo:
            start = max(free, sent)
            free = start + service_time
            n = len(events)
            events.append((start, 1, n, name, "deliver", msg, key, p, offset))
            events.append((free, 1, n + 1, name, "process", msg, key, p, offset))
            events.append((free, 1, n + 2, name, "commit", None, None, p, offset + 1))
            processed[name] += 1
            busy[name] += service_time
    # One history in time order; at equal times a send comes before what consumers do.
    history = History()
    for t, _, _, actor, kind, msg, key, partition, offset in sorted(sends + events):
        history.record(t, actor, kind, msg, key=key, partition=partition, offset=offset)
    finished = max((ev[0] for ev in events), default=0.0)
    return OrderingRun(
        strategy,
        n_parts,
        consumers,
        float(skew),
        service_time,
        processed,
        busy,
        owned,
        [len(p) for p in placed],
        finished,
        history,
        check(history),
    )


def plot_consumer_load(run: OrderingRun, ax: Any = None) -> Any:
    """Bars: messages per second each consumer processed, against one consumer's capacity.

    The dashed line is ``1 / service_time``, the most one consumer can do. The busiest
    consumer's bar is vermillion; one that reaches the line was busy the whole run (the hot
    partition's owner); an empty slot is an idle consumer (more consumers than partitions). The title gives the strategy, the overall
    throughput and the checker's count of effects out of key order. Returns the Figure.
    """
    fig, ax = figure_and_ax(ax, (7, 2.6), (0.7, 0.14, 0.36, 0.52))
    names = list(run.processed)
    rates = [run.rate(c) for c in names]
    top = max(rates)
    hot = [i for i, r in enumerate(rates) if r == top and r > 0]
    rest = [i for i in range(len(names)) if i not in hot]
    ax.bar(rest, [rates[i] for i in rest], color="#0072B2", width=0.7)
    ax.bar(hot, [rates[i] for i in hot], color="#D55E00", width=0.7)
    capacity = 1 / run.service_time
    ax.axhline(capacity, color="#000000", linestyle="--", linewidth=1)
    # Direct labels instead of a legend: a legend's layout costs a widget ~2 ms per redraw.
    ax.text(len(names) - 0.6, capacity * 1.03, "one consumer's limit", ha="right", fontsize=8)
    if hot:
        ax.text(hot[0], top * 1.03 + 4, "busiest", ha="center", fontsize=8, color="#D55E00")
    ax.set_xticks(list(range(len(names))))
    ax.set_xticklabels([c.removeprefix("consumer-") for c in names])
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel("consumer")
    ax.set_ylabel("messages / s")
    ax.set_ylim(0, capacity * 1.3)
    ax.set_title(
        f"{run.strategy}: {run.throughput:.0f} msg/s in all, "
        f"{run.violations} effects out of key order"
    )
    return fig


# --- three ways per-key order breaks --------------------------------------------------------


@dataclass(frozen=True)
class OrderStory:
    """One recorded scenario: its ``history``, the checker's ``report``, and what happened.

    ``notes`` are the scenario's own lines (what the producer or consumer saw, errors the log
    raised), in order; ``order`` lists the checker's order anomalies, each quoting its events.
    """

    title: str
    history: History
    report: Report
    notes: tuple[str, ...] = ()
    finished_at: float = 0.0

    @property
    def order(self) -> list:
        return self.report.order

    def verdicts(self) -> dict[str, bool]:
        """The two order verdicts: ``per-key-order`` and ``per-partition-order``."""
        return {p: self.report.ok(p) for p in ("per-key-order", "per-partition-order")}

    def __repr__(self) -> str:
        v = ", ".join(f"{p} {'ok' if ok else 'FAIL'}" for p, ok in self.verdicts().items())
        return f"OrderStory({self.title}: {v}; {len(self.history)} events)"


def _consume_in_order(
    log: Log, history: History, ids: dict[int, str], start: float, service_time: float
) -> float:
    """A consumer reads partition 0 from the beginning and processes each record in turn."""
    reader = log.consumer(group="readers", name="consumer-1", auto_offset_reset="earliest")
    reader.subscribe([TOPIC])
    t = start
    for r in reader.poll():
        key = r.key.decode()
        history.record(
            t, reader.name, "deliver", ids[r.offset], key=key, partition=0, offset=r.offset
        )
        t += service_time
        history.record(
            t, reader.name, "process", ids[r.offset], key=key, partition=0, offset=r.offset
        )
        history.record(t, reader.name, "commit", partition=0, offset=r.offset + 1)
    return t


def producer_retry(idempotent: bool = False, in_flight: int = 2) -> OrderStory:
    """Two events of one customer, ``signup`` then ``purchase``, each in its own request.

    The first request fails on the broker with a retriable error (the partition's leader moved:
    Kafka's ``NOT_LEADER_OR_FOLLOWER``) and is retried. With ``in_flight >= 2``
    (``max.in.flight.requests.per.connection``, default 5) the second request was already on its
    way and is appended first, unless the producer is idempotent: then the broker refuses it
    (``OutOfOrderSequence``: its sequence number is ahead) and the producer resends both in
    order. With ``in_flight=1`` the second request waits for the first, so order holds either
    way, at the price of one round trip per request. Kafka's documentation warns of exactly this
    reordering for ``max.in.flight.requests.per.connection`` > 1 without idempotence.
    """
    if not isinstance(idempotent, bool):
        raise InvalidType(f"idempotent={idempotent!r}: pass True or False.")
    _whole("in_flight", in_flight, 1, 5, "requests", 5)
    clock = VirtualClock()
    log = Log(clock)
    log.create_topic(TOPIC, partitions=1)
    producer = log.producer(enable_idempotence=idempotent, name="producer")
    history = History()
    notes: list[str] = []
    events = [("m1", b"signup"), ("m2", b"purchase")]
    batches = {m: producer.build_batch(TOPIC, [v], key="alice") for m, v in events}
    ids: dict[int, str] = {}

    def send(msg: str, t: float, attempt: int) -> float:
        """Record the publish; the broker appends it 2 ms later. Returns that time."""
        history.record(t, "producer", "publish", msg, key="alice", attempt=attempt)
        t += 0.002
        clock.advance_to(t)
        [meta] = producer.retry(batches[msg]) if attempt > 1 else producer.deliver(batches[msg])
        ids[meta.offset] = msg
        history.record(
            t, "producer", "confirm", msg, partition=0, offset=meta.offset, attempt=attempt
        )
        notes.append(f"t={t:g}: {msg} attempt {attempt} appended at offset {meta.offset}")
        return t

    def fail(msg: str, t: float, why: str) -> None:
        history.record(t, "producer", "lost", msg, what="publish")
        notes.append(f"t={t:g}: {msg} attempt 1 failed ({why})")

    history.record(0.0, "producer", "publish", "m1", key="alice", attempt=1)
    if in_flight == 1:  # m2 waits until m1 is settled
        fail("m1", 0.010, "NOT_LEADER_OR_FOLLOWER); m2 waits its turn (1 in flight")
        send("m1", 0.110, 2)
        end = send("m2", 0.113, 1)
    else:  # m2 is already on the wire when m1 fails
        history.record(0.001, "producer", "publish", "m2", key="alice", attempt=1)
        fail("m1", 0.010, f"NOT_LEADER_OR_FOLLOWER), will retry ({in_flight} in flight")
        clock.advance_to(0.011)
        try:
            [meta] = producer.deliver(batches["m2"])
        except BrokerError as err:  # the idempotent producer: the broker wants m1 first
            notes.append(f"t=0.011: m2 refused: {type(err).__name__}: {err}")
            history.record(0.011, "producer", "lost", "m2", what="publish")
            send("m1", 0.110, 2)
            end = send("m2", 0.113, 2)
        else:
            ids[meta.offset] = "m2"
            history.record(
                0.011, "producer", "confirm", "m2", partition=0, offset=meta.offset, attempt=1
            )
            notes.append(f"t=0.011: m2 attempt 1 appended at offset {meta.offset}")
            end = send("m1", 0.110, 2)
    finished = _consume_in_order(log, history, ids, end + 0.1, 0.01)
    title = (
        f"producer retry, {in_flight} in flight, {'idempotent' if idempotent else 'not idempotent'}"
    )
    return OrderStory(title, history, check(history), tuple(notes), round(finished, 6))


def rebalance_mid_batch(commit: str = "before processing", batch: int = 3) -> OrderStory:
    """One customer's six events; consumer-1 polls a batch, then stalls on its second record.

    ``commit="before processing"`` commits the batch as soon as it is polled (a common way to
    "not lose my place"); ``"after processing"`` commits each record after its effect. The stall
    outlasts ``max.poll.interval.ms`` (set to 60 s here; Kafka's default is 300 s), so the group
    removes consumer-1 and gives its partition to consumer-2, which starts at the *committed*
    offset. consumer-1, not knowing yet, finishes its batch as a zombie, and its next commit
    fails with ``CommitFailed``. Committed before processing, the new owner starts *after*
    the batch and overtakes it: the key's later events take effect before earlier ones.
    Committed after, it starts inside the batch: duplicates instead of reordering.
    """
    check_choice("commit", commit, ("before processing", "after processing"))
    _whole("batch", batch, 2, 5, "records", 3)
    clock = VirtualClock()
    log = Log(clock)
    log.create_topic(TOPIC, partitions=1)
    producer = log.producer(name="producer")
    history = History()
    notes: list[str] = []
    ids: dict[int, str] = {}
    steps = ["opened", "deposit", "withdraw", "deposit", "withdraw", "closed"]
    for i, step in enumerate(steps):
        meta = producer.send(TOPIC, step.encode(), key="acct-7")
        ids[meta.offset] = f"m{i + 1}"
        history.record(0.0, "producer", "publish", f"m{i + 1}", key="acct-7")
    config = dict(
        group="readers",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=batch,
        max_poll_interval_ms=60_000,
    )
    c1 = log.consumer(name="consumer-1", **config)
    c2 = log.consumer(name="consumer-2", **config)
    c1.subscribe([TOPIC])
    c2.subscribe([TOPIC])  # consumer-2 joins: one partition, so it waits idle

    def deliver(who: str, records: Any, t: float) -> None:
        for r in records:
            history.record(
                t, who, "deliver", ids[r.offset], key="acct-7", partition=0, offset=r.offset
            )

    def effect(who: str, r: Any, t: float) -> None:
        history.record(t, who, "process", ids[r.offset], key="acct-7", partition=0, offset=r.offset)

    clock.advance_to(1.0)
    first = list(c1.poll())
    deliver("consumer-1", first, 1.0)
    if commit == "before processing":
        c1.commit()
        history.record(1.0, "consumer-1", "commit", partition=0, offset=first[-1].offset + 1)
        notes.append(f"t=1: consumer-1 polled offsets 0..{first[-1].offset} and committed them")
    effect("consumer-1", first[0], 1.01)
    if commit == "after processing":
        c1.commit({(TOPIC, 0): first[0].offset + 1})
        history.record(1.01, "consumer-1", "commit", partition=0, offset=first[0].offset + 1)
    notes.append("t=1.01: consumer-1 starts on its second record and stalls (a slow call)")
    # consumer-2 keeps polling (its heartbeat and poll keep it in the group) while consumer-1
    # is stuck; the group notices consumer-1 at the first poll after max.poll.interval.ms.
    t = 1.0
    taken: list = []
    while not taken:
        t += 10.0
        clock.advance_to(t)
        taken = list(c2.poll())
    event = log.group("readers").events[-1]
    history.record(t, "readers", "rebalance", reason="consumer-1 missed max.poll.interval.ms")
    notes.append(f"t={t:g}: {event!r}")
    while taken:  # consumer-2 works through everything from the committed offset on
        deliver("consumer-2", taken, t)
        for r in taken:
            t += 0.01
            effect("consumer-2", r, t)
            c2.commit({(TOPIC, 0): r.offset + 1})
            history.record(t, "consumer-2", "commit", partition=0, offset=r.offset + 1)
        taken = list(c2.poll())
    t += 1.0
    for r in first[1:]:  # the zombie wakes up and finishes its batch
        t += 0.01
        effect("consumer-1", r, t)
    try:
        c1.commit()
    except BrokerError as err:
        notes.append(f"t={t:g}: consumer-1's commit: {type(err).__name__}")
    return OrderStory(
        f"rebalance mid-batch, commit {commit}", history, check(history), tuple(notes), round(t, 6)
    )


def parallel_workers(
    workers: int = 3, by_key: bool = False, seed: int = 4, messages: int = 9
) -> OrderStory:
    """A consumer polls one partition's records and hands them to a pool of ``workers`` threads.

    Three customers each send ``created``, ``paid``, ``shipped`` (interleaved, one partition,
    so the log's order is right). Each record takes a seeded random 10..100 ms. With
    ``by_key=False`` the next free worker takes the next record, so a fast ``paid`` can finish
    before a slow ``created`` of the same customer. With ``by_key=True`` each key always goes to
    the same worker (``hash % workers``, the idea behind Confluent's parallel consumer's
    ``KEY`` ordering), so each key's records stay in order and the keys still run in parallel.
    The consumer commits once the whole batch is done. ``finished_at`` is when that happens.
    """
    _whole("workers", workers, 1, 16, "threads", 3)
    _whole("messages", messages, 1, 300, "messages", 9)
    if not isinstance(by_key, bool):
        raise InvalidType(f"by_key={by_key!r}: pass True or False.")
    clock = VirtualClock()
    log = Log(clock)
    log.create_topic(TOPIC, partitions=1)
    producer = log.producer(name="producer")
    history = History()
    customers = ["alice", "bob", "carol"]
    steps = ["created", "paid", "shipped"]
    ids: dict[int, str] = {}
    for i in range(messages):
        key = customers[i % 3]
        meta = producer.send(TOPIC, steps[(i // 3) % 3].encode(), key=key)
        ids[meta.offset] = f"m{i + 1}"
        history.record(i * 0.001, "producer", "publish", f"m{i + 1}", key=key)
    reader = log.consumer(group="readers", name="consumer-1", auto_offset_reset="earliest")
    reader.subscribe([TOPIC])
    records = list(reader.poll())
    rng = random.Random(seed)
    costs = [rng.randint(10, 100) / 1000 for _ in records]
    start = 0.1
    free = [start] * workers
    done: list[tuple[float, int, str, Any]] = []
    for r, cost in zip(records, costs):
        if by_key:
            w = customers.index(r.key.decode()) % workers
        else:
            w = min(range(workers), key=lambda i: (free[i], i))
        free[w] = max(free[w], start) + cost
        done.append((free[w], r.offset, f"worker-{w + 1}", r))
    for r in records:
        history.record(
            start,
            "consumer-1",
            "deliver",
            ids[r.offset],
            key=r.key.decode(),
            partition=0,
            offset=r.offset,
        )
    done.sort(key=lambda d: (d[0], d[1]))
    for t, _, worker, r in done:
        history.record(
            t,
            "consumer-1",
            "process",
            ids[r.offset],
            key=r.key.decode(),
            partition=0,
            offset=r.offset,
            worker=worker,
        )
    end = max(d[0] for d in done)
    reader.commit()
    history.record(end, "consumer-1", "commit", partition=0, offset=records[-1].offset + 1)
    if workers == 1:
        title = "1 worker"
    else:
        title = f"{workers} workers, {'by key' if by_key else 'any free worker'}"
    return OrderStory(title, history, check(history), (), round(end, 6))


def plot_effect_order(story: OrderStory | Any, ax: Any = None) -> Any:
    """One row per key: the effects in the order they happened, labelled with their send order.

    The x axis counts effects (1st, 2nd, ... first effect of any message), so a long pause does
    not squash the picture. Labels read 1, 2, 3 from left to right when the key's order held. An
    effect the checker quotes as out of key order (the later one of the pair) is drawn in
    vermillion with a cross. ``story`` is an :class:`OrderStory` or an :class:`OrderingRun`.
    Returns the Figure.
    """
    history, report = getattr(story, "history", None), getattr(story, "report", None)
    if not hasattr(history, "of_kind") or report is None:
        raise InvalidArgument(
            f"story={story!r} has no history: pass what producer_retry(), rebalance_mid_batch(), "
            "parallel_workers() or consume_in_parallel() returned."
        )
    rank: dict[str, int] = {}
    per_key: dict[str, int] = {}
    for e in history.of_kind("publish"):
        if e.msg not in rank and e.key is not None:
            per_key[e.key] = per_key.get(e.key, 0) + 1
            rank[e.msg] = per_key[e.key]
    keys = sorted(per_key)
    fig, ax = figure_and_ax(ax, (7, 1.5 + 0.45 * len(keys)), (0.98, 0.14, 0.35, 0.55))
    late = {a.msg for a in report.order if a.what == "key"}
    row = {k: i for i, k in enumerate(keys)}
    seen: set[str] = set()
    xs, ys, bad_x, bad_y = [], [], [], []
    for e in history.of_kind("process"):
        if e.msg in seen or e.key not in row:
            continue
        seen.add(e.msg)
        x = len(seen)
        (bad_x if e.msg in late else xs).append(x)
        (bad_y if e.msg in late else ys).append(row[e.key])
        ax.annotate(
            str(rank.get(e.msg, "?")),
            (x, row[e.key]),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="#D55E00" if e.msg in late else "#000000",
        )
    ax.scatter(xs, ys, color="#0072B2", s=30, label="in order", zorder=3)
    ax.scatter(bad_x, bad_y, color="#D55E00", marker="X", s=60, label="out of key order", zorder=3)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels(keys)
    ax.set_ylim(-0.6, len(keys) + 0.2)
    ax.set_xlim(0.3, max(len(seen), 1) + 0.7)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("effects, in the order they happened")
    ax.set_ylabel("key")
    ax.legend(loc="upper right", ncol=2, fontsize=8, frameon=False)
    ax.set_title(getattr(story, "title", getattr(story, "strategy", "")))
    return fig


def ordering_widget(messages: int = 240) -> Any:
    """The chapter's widget: partitions, key skew, consumers and keys -> load and order.

    Each move runs :func:`consume_in_parallel` and draws :func:`plot_consumer_load`: the bars
    are each consumer's throughput, the title the overall throughput and the checker's count of
    effects out of key order.
    """
    import ipywidgets as widgets

    from .widgets import live_figure

    _whole("messages", messages, 1, 2000, "messages", 240)

    def load(ax: Any, partitions: int, skew: float, consumers: int, keys: str) -> None:
        run = consume_in_parallel(
            keys, partitions=partitions, consumers=consumers, skew=skew, messages=messages
        )
        plot_consumer_load(run, ax=ax)

    return live_figure(
        load,
        figsize=(7.0, 2.6),
        partitions=widgets.IntSlider(value=6, min=1, max=12, description="partitions"),
        skew=widgets.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.25, description="key skew"),
        consumers=widgets.IntSlider(value=3, min=1, max=12, description="consumers"),
        keys=widgets.Dropdown(options=["by key", "no key"], value="by key", description="records"),
    )
