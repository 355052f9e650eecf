"""RabbitMQ's classic and quorum queues against a small model, over random operations.

Operations: publish, pull with ``basic.get`` (``receive``), push consumers (``consume``) that
are served and crash, ack and nack (with and without requeue) of ANY delivery ever seen, and
moving the clock past the queue's TTL. The model is a list of ready message ids in delivery
order and the rules of :mod:`brokerlab.queue_types`:

- a returned message goes back to its original position (classic); on a quorum queue a plain
  nack with no delivery limit puts it at the back, and every other return (a limit set, a
  crashed consumer) puts it in rabbit_fifo's *returns* list, served first, in return order
  (as a live RabbitMQ 3.10 does: tests/test_differential_queues.py);
- a quorum queue dead-letters a message on its (limit+1)-th return, so it is delivered at most
  limit+1 times, and every redelivery carries ``x-delivery-count`` = the returns so far;
- a message past its TTL expires when it is ready or when it comes back;
- every delivery (pulled or pushed) takes the OLDEST ready message, so the deliveries of one
  step are a prefix of the model's ready list; pushed deliveries respect prefetch.

After every step: every published message is in exactly one of ready / in flight / acked /
dead-lettered, and the queue's ``peek()`` and ``stats()`` agree with the model.
"""

from __future__ import annotations

from bisect import insort

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from brokerlab.clock import VirtualClock
from brokerlab.errors import ReceiptError
from brokerlab.queue import Queue

TTL = 30


class RabbitQueueMachine(RuleBasedStateMachine):
    @initialize(
        kind=st.sampled_from(["classic", "quorum"]),
        limit=st.sampled_from([None, 0, 1, 3]),
        ttl=st.sampled_from([None, TTL]),
    )
    def setup(self, kind, limit, ttl):
        self.clock = VirtualClock()
        self.kind = kind
        self.limit = limit if kind == "quorum" else None
        self.ttl = ttl
        self.dlq = Queue("dlq", clock=self.clock)
        self.q = Queue(
            "q",
            clock=self.clock,
            queue_type=kind,
            dead_letter=self.dlq,
            delivery_limit=self.limit,
            message_ttl=ttl,
        )
        self.order: dict[str, int] = {}  # id -> publish number (a classic queue's position)
        self.born: dict[str, float] = {}
        self.returned: list[str] = []  # quorum: rabbit_fifo's returns list, served first
        self.rest: list[str] = []  # every other ready message, in delivery order
        self.in_flight: dict[int, str] = {}  # tag -> id
        self.returns: dict[str, int] = {}
        self.deliveries: dict[str, int] = {}
        self.acked: set[str] = set()
        self.dead: dict[str, str] = {}  # id -> reason
        self.seen: list[int] = []  # every delivery tag ever handed out
        self.consumers = []

    # --- the model ---------------------------------------------------------------------------

    @property
    def ready(self) -> list[str]:
        return self.returned + self.rest

    def take_oldest(self, n: int) -> None:
        from_returned = min(n, len(self.returned))
        del self.returned[:from_returned]
        del self.rest[: n - from_returned]

    def drop(self, msg: str) -> None:
        (self.returned if msg in self.returned else self.rest).remove(msg)

    def expired(self, msg: str) -> bool:
        return self.ttl is not None and self.born[msg] + self.ttl <= self.clock.now()

    def observe(self, deliveries):
        """Deliveries handed out in one step: the oldest ready messages, in tag order."""
        deliveries = sorted(deliveries, key=lambda d: d.delivery_tag)
        ids = [d.id for d in deliveries]
        assert ids == self.ready[: len(ids)], (ids, self.ready)
        self.take_oldest(len(ids))
        for d in deliveries:
            self.in_flight[d.delivery_tag] = d.id
            self.seen.append(d.delivery_tag)
            self.deliveries[d.id] = self.deliveries.get(d.id, 0) + 1
            assert d.receive_count == self.deliveries[d.id]
            assert d.redelivered == (d.receive_count > 1)
            returns = self.returns.get(d.id, 0)
            if self.kind == "quorum" and returns:
                assert d.headers["x-delivery-count"] == returns
            else:
                assert "x-delivery-count" not in d.headers
            if self.limit is not None:
                assert self.deliveries[d.id] <= self.limit + 1

    def sync_consumers(self):
        pushed = [d for c in self.consumers if c.is_open for d in c.take()]
        self.observe(pushed)

    def give_back(self, msg: str, how: str) -> None:
        """``msg`` came back unacked: ``how`` is "nack" (with requeue) or "crash"."""
        self.returns[msg] = self.returns.get(msg, 0) + 1
        if self.limit is not None and self.returns[msg] > self.limit:
            self.dead[msg] = "delivery_limit"
        elif self.expired(msg):
            self.dead[msg] = "expired"
        elif self.kind == "quorum" and how == "nack" and self.limit is None:
            self.rest.append(msg)
        elif self.kind == "quorum":
            self.returned.append(msg)
        else:
            insort(self.rest, msg, key=self.order.__getitem__)

    # --- operations ----------------------------------------------------------------------------

    @rule()
    def publish(self):
        msg = self.q.publish(len(self.order)).id
        self.order[msg] = len(self.order)
        self.born[msg] = self.clock.now()
        self.rest.append(msg)
        self.sync_consumers()

    @rule(n=st.integers(1, 3))
    def basic_get(self, n):
        self.observe(self.q.receive(n))

    @rule(prefetch=st.sampled_from([0, 1, 2]))
    def consume(self, prefetch):
        if sum(c.is_open for c in self.consumers) < 3:
            self.consumers.append(self.q.consume(prefetch=prefetch))
            self.sync_consumers()

    @precondition(lambda self: any(c.is_open for c in self.consumers))
    @rule(data=st.data())
    def crash(self, data):
        c = data.draw(st.sampled_from([c for c in self.consumers if c.is_open]))
        self.sync_consumers()
        held = sorted(d.delivery_tag for d in c.unacked)
        c.crash()
        for tag in held:
            self.give_back(self.in_flight.pop(tag), "crash")
        self.sync_consumers()

    @precondition(lambda self: self.seen)
    @rule(data=st.data(), how=st.sampled_from(["ack", "requeue", "reject"]))
    def settle(self, data, how):
        tag = data.draw(st.sampled_from(self.seen))
        live = tag in self.in_flight
        try:
            if how == "ack":
                self.q.ack(tag)
            else:
                self.q.nack(tag, requeue=how == "requeue")
        except ReceiptError:
            assert not live
            return
        assert live
        msg = self.in_flight.pop(tag)
        if how == "ack":
            self.acked.add(msg)
        elif how == "reject":
            self.dead[msg] = "rejected"
        else:
            self.give_back(msg, "nack")
        self.sync_consumers()

    @rule(seconds=st.sampled_from([1, 10, TTL]))
    def advance(self, seconds):
        self.clock.advance(seconds)
        for msg in [m for m in self.ready if self.expired(m)]:
            self.drop(msg)
            self.dead[msg] = "expired"
        len(self.q)  # the queue applies its time rules at the next call
        self.sync_consumers()

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self):
        s = self.q.stats()
        assert [m.id for m in self.q.peek()] == self.ready
        assert sorted(d.delivery_tag for d in self.q.in_flight()) == sorted(self.in_flight)
        assert s["acked"] == len(self.acked)
        assert s["dead_lettered"] == len(self.dead) == len(self.dlq)
        reasons = {r: 0 for r in s["dead_letter_reasons"]}
        for r in self.dead.values():
            reasons[r] += 1
        assert s["dead_letter_reasons"] == reasons

    @invariant()
    def nothing_lost_or_duplicated(self):
        places = [*self.ready, *self.in_flight.values(), *self.acked, *self.dead]
        assert sorted(places) == sorted(self.order)

    @invariant()
    def prefetch_holds(self):
        for c in self.consumers:
            if c.is_open and c.prefetch:
                assert len(c.unacked) <= c.prefetch


RabbitQueueMachine.TestCase.settings = settings(
    settings.default, max_examples=500, stateful_step_count=40, deadline=None
)
test_rabbit_queue_types_against_model = RabbitQueueMachine.TestCase
