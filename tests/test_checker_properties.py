"""Hypothesis: on random well-formed histories the checker agrees with a brute-force recount.

The histories come from a tiny model of a queue and of a partitioned log, driven by a list of
random steps (so hypothesis can shrink a failure to a few steps). Every step the model takes is
legal, so the histories are well-formed; the faults (crashes, lost acks, lost publishes, drops,
acks before processing, commits past unprocessed offsets) are what make them interesting.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from brokerlab.checker import check, problems
from brokerlab.history import History

CONSUMERS = ("c1", "c2")
KEYS = ("a", "b")

steps = st.lists(
    st.tuples(
        st.sampled_from(
            (
                "publish",
                "publish_lost",
                "retry",
                "deliver",
                "process",
                "ack",
                "nack",
                "reject",
                "crash",
                "drop",
                "lose_ack",
            )
        ),
        st.integers(0, 7),
        st.integers(0, 1),
    ),
    max_size=60,
)


def queue_history(plan: list[tuple[str, int, int]], *, safe: bool = False) -> History:
    """A history of a queue with competing consumers.

    ``safe=True`` keeps the consumers at-least-once (ack only after processing) and leaves out
    the faults that lose messages on purpose (drops, lost publishes).
    """
    h = History()
    t = 0.0
    published: list[str] = []
    ready: list[str] = []  # held by the broker, not delivered
    inflight: list[tuple[str, str]] = []  # (consumer, message)
    processed: set[tuple[str, str]] = set()  # (consumer, message) deliveries that took effect
    wire_lost: list[str] = []
    for action, i, j in plan:
        t += 0.5
        c = CONSUMERS[j]
        if action in ("publish", "publish_lost") or (action == "retry" and not wire_lost):
            m = f"m{len(published) + len(wire_lost)}"
            h.record(t, "producer", "publish", m, key=KEYS[i % 2])
            if action == "publish_lost" and not safe:
                h.record(t, "producer", "lost", m, what="publish")
                wire_lost.append(m)
            else:
                published.append(m)
                ready.append(m)
        elif action == "retry":
            m = wire_lost.pop(i % len(wire_lost))
            h.record(t, "producer", "publish", m, key=KEYS[int(m[1:]) % 2], attempt=2)
            published.append(m)
            ready.append(m)
        elif action == "deliver" and ready:
            m = ready.pop(i % len(ready) if not safe else 0)
            h.record(t, c, "deliver", m)
            inflight.append((c, m))
        elif action == "process" and inflight:
            c, m = inflight[i % len(inflight)]
            h.record(t, c, "process", m)
            processed.add((c, m))
        elif action in ("ack", "lose_ack") and inflight:
            c, m = inflight[i % len(inflight)]
            if safe and (c, m) not in processed:
                h.record(t, c, "process", m)  # an at-least-once consumer processes first
            inflight.remove((c, m))
            processed.discard((c, m))
            if action == "lose_ack":  # recorded instead of the ack: the broker never saw it
                h.record(t, c, "lost", m, what="ack")
                h.record(t + 0.1, "broker", "redeliver", m)
                ready.append(m)
            else:
                h.record(t, c, "ack", m)
        elif action in ("nack", "reject") and inflight:
            c, m = inflight[i % len(inflight)]
            inflight.remove((c, m))
            processed.discard((c, m))
            h.record(t, c, "nack", m, requeue=action == "nack")
            if action == "nack":
                ready.append(m)
            else:
                h.record(t, "broker", "dead_letter", m, reason="rejected")
        elif action == "crash":
            h.record(t, c, "crash")
            for cm in [x for x in inflight if x[0] == c]:
                inflight.remove(cm)
                processed.discard(cm)
                h.record(t, "broker", "redeliver", cm[1])
                ready.append(cm[1])
        elif action == "drop" and ready and not safe:
            m = ready.pop(i % len(ready))
            h.record(t, "broker", "lost", m, what="message")
    return h


def log_history(plan: list[tuple[str, int, int]]) -> History:
    """A history of one partition read by one group; commits may run ahead of processing."""
    h = History()
    t = 0.0
    n = 0
    position = 0  # next offset the consumer reads
    committed = 0
    for action, i, _j in plan:
        t += 0.5
        if action in ("publish", "publish_lost", "retry"):
            h.record(t, "producer", "publish", f"m{n}", partition=0, offset=n, key=KEYS[i % 2])
            n += 1
        elif action in ("deliver", "process") and position < n:
            m = f"m{position}"
            h.record(t, "c1", "deliver", m, partition=0, offset=position)
            if action == "process" or i % 2:
                h.record(t, "c1", "process", m)
            position += 1
        elif action in ("ack", "lose_ack", "nack"):
            committed = position if action != "nack" else min(position, committed + i)
            h.record(t, "c1", "commit", partition=0, offset=committed)
        elif action in ("crash", "reject", "drop"):
            h.record(t, "c1", "crash")
            position = committed
    return h


def brute_force(h: History) -> tuple[set[str], set[str]]:
    """Lost and duplicated, recounted the slow and obvious way (one default group)."""
    events = list(h)
    effects = Counter(e.msg for e in events if e.kind == "process")
    duplicated = {m for m, n in effects.items() if n > 1}
    commits = [e for e in events if e.kind == "commit" and e.partition is not None]
    lost = set()
    for m in {e.msg for e in events if e.kind == "publish"}:
        mine = [e for e in events if e.msg == m]
        if effects[m] or any(e.kind == "dead_letter" for e in mine):
            continue
        acked = any(e.kind == "ack" for e in mine)
        dropped = any(e.kind == "lost" and e.get("what") == "message" for e in mine)
        attempts = sum(e.kind == "publish" for e in mine)
        on_wire = sum(e.kind == "lost" and e.get("what") == "publish" for e in mine)
        reached = any(
            not (e.kind == "publish" or (e.kind == "lost" and e.get("what") == "publish"))
            for e in mine
        )
        offsets = [e.offset for e in mine if e.offset is not None]
        committed_past = bool(commits and offsets and commits[-1].offset > offsets[0])
        if acked or dropped or committed_past or (on_wire >= attempts and not reached):
            lost.add(m)
    return lost, duplicated


def check_against_brute_force(h: History):
    """check(h) finds exactly the lost and duplicated messages that the recount finds."""
    assert problems(h) == []
    r = check(h)
    lost, duplicated = brute_force(h)
    assert {a.msg for a in r.lost} == lost
    assert {a.msg for a in r.duplicated} == duplicated
    assert r.ok("at-least-once") == (not lost)
    assert r.ok("at-most-once") == (not duplicated)
    # every quoted event is really in the history, at its index
    for a in r.anomalies():
        assert a.events and all(h[e.index] is e for e in a.events)
    return r


@given(steps)
def test_queue_histories_match_brute_force(plan):
    h = queue_history(plan)
    r = check_against_brute_force(h)
    # the duplicated anomaly quotes every effect of its message
    for a in r.duplicated:
        quoted = [e for e in a.events if e.kind == "process"]
        assert len(quoted) == sum(1 for e in h if e.kind == "process" and e.msg == a.msg)


@given(steps)
def test_log_histories_match_brute_force(plan):
    r = check_against_brute_force(log_history(plan))
    for a in r.lost:
        assert a.what == "committed"
        assert any(e.kind == "commit" for e in a.events)


@given(steps)
def test_at_least_once_consumers_never_lose(plan):
    r = check(queue_history(plan, safe=True))
    assert r.lost == []
    assert r.ok("at-least-once")


@given(steps)
def test_every_message_is_accounted_for_once_per_group(plan):
    """Each published message is exactly one of: processed, dead-lettered, lost, unfinished."""
    h = queue_history(plan)
    r = check(h)
    published = {e.msg for e in h if e.kind == "publish"}
    fates = (
        [e.msg for e in h if e.kind == "process"],
        [a.msg for a in r.dead_lettered],
        [a.msg for a in r.lost],
        [a.msg for a in r.unfinished],
    )
    processed = set(fates[0])
    others = fates[1] + fates[2] + fates[3]
    assert len(others) == len(set(others))
    assert processed.isdisjoint(set(fates[2]) | set(fates[3]))
    assert processed | set(others) == published
    assert r.processed == len(processed) and r.messages == len(published)


def as_group(h: History, group: str) -> History:
    """A copy of ``h`` whose consumers are in ``group`` (renamed) and whose ids are prefixed."""
    out = History()
    for e in h:
        actor = e.actor if e.actor in ("producer", "broker") else f"{group}-{e.actor}"
        info = dict(e.info or {})
        if e.kind == "deliver":
            info["group"] = group
        out.record(
            e.time,
            actor,
            e.kind,
            f"{group}-{e.msg}" if e.msg else None,
            key=e.key,
            partition=e.partition,
            offset=e.offset,
            **info,
        )
    return out


@given(steps, steps)
def test_two_groups_are_checked_as_if_alone(plan_a, plan_b):
    """Interleave two independent runs in two groups: each group's anomalies are its own."""
    a, b = as_group(queue_history(plan_a), "A"), as_group(queue_history(plan_b), "B")
    both = History(e.copy() for e in sorted([*a, *b], key=lambda e: (e.time, e.actor[0] != "A")))
    r = check(both)
    for kind in ("lost", "duplicated", "unfinished", "dead_lettered"):
        alone = {x.msg for x in getattr(check(a), kind)} | {x.msg for x in getattr(check(b), kind)}
        assert {x.msg for x in getattr(r, kind)} == alone, kind
    assert r.processed == check(a).processed + check(b).processed
