"""Differential tests of Redis Streams consumer groups against the reference at-least-once queue.

The same random schedule runs on a real Redis 7 (a stream read by one consumer group) and on a
reference :class:`~brokerlab.queue.Queue` pulled SQS-style (``receive``, ``ack``, a visibility
timeout on a virtual clock). The two models line up one to one:

========================= ============================== =======================================
schedule step             Redis Streams                  reference queue
========================= ============================== =======================================
publish k messages        ``XADD`` k entries             ``publish`` k messages
read(c, n)                ``XREADGROUP ... COUNT n >``   ``receive(n)``
ack(c, i)                 ``XACK`` c's i-th pending      ``ack`` that delivery
crash(c)                  nothing: the entries stay in   nothing: the deliveries stay in flight
                          the pending entries list       until their visibility timeout
claim(c)                  ``XAUTOCLAIM ... 0 0-0``       the clock moves past the visibility
                          (every pending entry, one      timeout and c receives every message
                          more delivery each)            that came back
========================= ============================== =======================================

After every step the pending entries (message, owner, times delivered) must be the same as the
reference's in-flight deliveries (message, receiver, receive count), and every read or claim
must return the same messages with the same counts.

Named difference: the reference's push consumers (RabbitMQ) get a crashed consumer's messages
back at once; Redis never hands a pending entry out again by itself (someone must claim it).
That is why the schedule uses the reference's *pull* path, whose visibility timeout is the
analogue of the claim's idle time (``test_a_crash_leaves_entries_pending_until_claimed``).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokerlab.clock import VirtualClock
from brokerlab.queue import Queue
from brokerlab.servers import start_redis
from live_servers import need

CONSUMERS = ["c1", "c2", "c3"]
VISIBILITY = 30  # seconds: the reference's stand-in for XAUTOCLAIM's min-idle-time


@pytest.fixture(scope="module")
def client():
    need("redis-server")
    redis = pytest.importorskip("redis")
    with start_redis() as server:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        yield r
        r.close()


class Both:
    """One schedule, two systems; every step returns what each one answered."""

    def __init__(self, r) -> None:
        self.r = r
        r.delete("s")
        r.xgroup_create("s", "g", id="0", mkstream=True)
        self.ids: dict[str, str] = {}  # stream entry id -> message id
        self.clock = VirtualClock()
        self.q = Queue("s", clock=self.clock, visibility_timeout=VISIBILITY, retention=None)
        self.held: dict[str, tuple[str, object]] = {}  # message id -> (owner, Delivery)
        self.crashed: set[str] = set()
        self.n = 0
        self.steps = 0

    def publish(self, k: int) -> None:
        for _ in range(k):
            self.n += 1
            msg = f"m{self.n}"
            self.ids[self.r.xadd("s", {"id": msg})] = msg
            self.q.publish(msg, id=msg)

    def _took(self, c: str, entries) -> list[tuple[str, int]]:
        """(message id, times delivered) of each entry, from the pending list."""
        pending = {p["message_id"]: p["times_delivered"] for p in self._pending_raw()}
        return [(self.ids[e], pending[e]) for e, _ in entries]

    def read(self, c: str, n: int) -> tuple[list, list]:
        got = self.r.xreadgroup("g", c, {"s": ">"}, count=n)
        live = self._took(c, got[0][1]) if got else []
        ref = []
        for d in self.q.receive(n):
            self.held[d.message.id] = (c, d)
            ref.append((d.message.id, d.receive_count))
        return live, ref

    def ack(self, c: str, i: int) -> None:
        mine = sorted(m for m, (owner, _) in self.held.items() if owner == c)
        if c in self.crashed or not mine:
            return
        msg = mine[i % len(mine)]
        entry = next(e for e, m in self.ids.items() if m == msg)
        assert self.r.xack("s", "g", entry) == 1
        self.q.ack(self.held.pop(msg)[1])

    def crash(self, c: str) -> None:
        self.crashed.add(c)  # nothing happens on either side: the entries stay pending

    def claim(self, c: str) -> tuple[list, list]:
        _, entries, *_ = self.r.xautoclaim("s", "g", c, 0, "0-0", count=1000)
        live = self._took(c, entries)
        waiting = len(self.held)
        self.clock.advance(VISIBILITY)  # every delivery in flight comes back
        self.held.clear()
        ref = []
        while len(ref) < waiting:
            batch = self.q.receive(min(10, waiting - len(ref)))
            assert batch, "the reference returned fewer messages than were in flight"
            for d in batch:
                self.held[d.message.id] = (c, d)
                ref.append((d.message.id, d.receive_count))
        return live, ref

    def _pending_raw(self) -> list[dict]:
        return self.r.xpending_range("s", "g", min="-", max="+", count=1000)

    def pending(self) -> tuple[list, list]:
        live = sorted(
            (self.ids[p["message_id"]], p["consumer"], p["times_delivered"])
            for p in self._pending_raw()
        )
        ref = sorted((m, owner, d.receive_count) for m, (owner, d) in self.held.items())
        return live, ref


def compare_step(both: Both, op: tuple) -> None:
    kind, *args = op
    answer = getattr(both, kind)(*args)
    if isinstance(answer, tuple):
        live, ref = answer
        assert live == ref, f"{op}: Redis answered {live}, the reference {ref}"
    live, ref = both.pending()
    assert live == ref, f"after {op}: Redis pending {live}, reference in flight {ref}"
    both.steps += 1


consumers = st.sampled_from(CONSUMERS)
steps = st.one_of(
    st.tuples(st.just("publish"), st.integers(1, 4)),
    st.tuples(st.just("read"), consumers, st.integers(1, 4)),
    st.tuples(st.just("ack"), consumers, st.integers(0, 3)),
    st.tuples(st.just("crash"), consumers),
    st.tuples(st.just("claim"), consumers),
)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=st.lists(steps, min_size=4, max_size=24))
def test_consumer_group_matches_the_reference_queue(client, schedule):
    both = Both(client)
    for op in schedule:
        compare_step(both, op)


def test_a_crash_leaves_entries_pending_until_claimed(client):
    """c1 reads three, acks one and crashes; its two entries stay pending (Redis) or in flight
    (reference, pulled) until c2 claims them: delivered twice, then acked; nothing is left."""
    both = Both(client)
    schedule = [
        ("publish", 4),
        ("read", "c1", 3),
        ("ack", "c1", 0),
        ("crash", "c1"),
        ("read", "c2", 5),
        ("claim", "c2"),
        ("ack", "c2", 0),
        ("ack", "c2", 0),
        ("ack", "c2", 0),
    ]
    for op in schedule:
        compare_step(both, op)
    assert both.pending() == ([], [])
    assert both.r.xinfo_groups("s")[0]["pending"] == 0


def test_push_consumers_get_a_crashed_consumers_messages_back_at_once():
    """Named difference: on the reference's push path (RabbitMQ's basic.consume), a crash puts
    the unacked messages back at once and the next consumer gets them redelivered; on Redis
    they would stay pending until claimed (the test above)."""
    q = Queue("s", retention=None)
    for i in range(1, 4):
        q.publish(f"m{i}", id=f"m{i}")
    c1 = q.consume("c1", prefetch=2)
    assert [d.message.id for d in c1.take()] == ["m1", "m2"]
    c1.crash()
    c2 = q.consume("c2")
    assert [(d.message.id, d.redelivered) for d in c2.take()] == [
        ("m1", True),
        ("m2", True),
        ("m3", False),
    ]
