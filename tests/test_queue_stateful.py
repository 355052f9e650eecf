"""The queue against a simple model, over random sequences of operations.

Operations: publish (with or without a delay), receive (pull), ack and nack (with and without
requeue) of ANY delivery ever seen (so stale and settled receipts are exercised too), moving
the clock, starting push consumers, taking from them, and crashing them.

Invariants after every step:

- nothing is lost: every published message is in exactly one of ready / in flight / delayed /
  acked / dead-lettered (retention is never reached here, so nothing expires silently);
- nothing is duplicated: no message is ready or in flight twice, or in two places at once;
- receive counts only rise;
- a receipt works exactly when the model says it is live (in flight, or the latest receipt
  of a pulled message whose visibility timeout ran out and nobody received it again);
- prefetch limits hold.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from brokerlab.clock import VirtualClock
from brokerlab.errors import ReceiptError
from brokerlab.queue import Queue


class QueueMachine(RuleBasedStateMachine):
    @initialize(
        max_receive_count=st.sampled_from([None, 2, 3]),
        message_ttl=st.sampled_from([None, 30]),
        max_length=st.sampled_from([None, 4]),
        visibility_timeout=st.sampled_from([0, 5, 10]),
        fifo=st.booleans(),
    )
    def setup(self, max_receive_count, message_ttl, max_length, visibility_timeout, fifo):
        self.clock = VirtualClock()
        self.fifo = fifo
        self.dlq = Queue("dlq", clock=self.clock, fifo=fifo)
        self.q = Queue(
            "q",
            clock=self.clock,
            fifo=fifo,
            dead_letter=self.dlq,
            visibility_timeout=visibility_timeout,
            max_receive_count=max_receive_count,
            message_ttl=message_ttl,
            max_length=max_length,
        )
        self.published: list[str] = []
        self.acked: set[str] = set()
        self.seen = []  # every delivery ever observed, in order
        self.seen_tags: set[int] = set()
        self.latest: dict[str, int] = {}  # message id -> tag of its latest delivery
        self.pulled: dict[str, bool] = {}  # message id -> was its latest delivery pulled?
        self.settled: set[int] = set()  # tags acked or nacked
        self.counts: dict[str, int] = {}  # message id -> highest receive count observed
        self.consumers = []
        self.calls = 0
        self.call_of: dict[int, int] = {}  # delivery tag -> which receive() call handed it out

    # --- bookkeeping -----------------------------------------------------------------------

    def observe(self, deliveries, pulled):
        for d in deliveries:
            if d.delivery_tag in self.seen_tags:
                continue  # already observed (through in_flight() before take())
            self.seen_tags.add(d.delivery_tag)
            assert d.receive_count > self.counts.get(d.id, 0), "receive count went down"
            assert d.redelivered == (d.receive_count > 1)
            self.counts[d.id] = d.receive_count
            if self.latest.get(d.id, 0) < d.delivery_tag:
                self.latest[d.id] = d.delivery_tag
                self.pulled[d.id] = pulled if d.consumer is None else False
            self.seen.append(d)

    def sync(self):
        self.observe(self.q.in_flight(), pulled=True)

    def live_tags(self):
        live = {d.delivery_tag for d in self.q.in_flight()}
        for m in self.q.peek():
            tag = self.latest.get(m.id)
            if tag and self.pulled[m.id] and tag not in self.settled:
                live.add(tag)
        return live

    # --- rules ------------------------------------------------------------------------------

    @rule(delay=st.sampled_from([None, None, 0, 7]), group=st.sampled_from(["A", "B"]))
    def publish(self, delay, group):
        n = len(self.published)
        if self.fifo:  # no per-message delay on FIFO; a unique dedup id per send
            m = self.q.publish(n, group=group, dedup_id=str(n))
        else:
            m = self.q.publish(n, delay=delay)
        self.published.append(m.id)
        self.sync()

    @rule(n=st.integers(1, 10), vt=st.sampled_from([None, 0, 3, 20]))
    def receive(self, n, vt):
        got = self.q.receive(n, visibility_timeout=vt)
        self.calls += 1
        for d in got:
            self.call_of[d.delivery_tag] = self.calls
        assert len(got) <= n
        self.observe(got, pulled=True)
        self.sync()

    @precondition(lambda self: self.seen)
    @rule(data=st.data(), how=st.sampled_from(["ack", "nack", "nack-drop", "reject-drop"]))
    def settle(self, data, how):
        d = data.draw(st.sampled_from(self.seen))
        receipt = data.draw(st.sampled_from([d, d.delivery_tag, d.receipt_handle]))
        expect_ok = d.delivery_tag in self.live_tags()
        try:
            if how == "ack":
                self.q.ack(receipt)
            elif how == "nack":
                self.q.nack(receipt, requeue=True)
            elif how == "nack-drop":
                self.q.nack(receipt, requeue=False)
            else:
                self.q.reject(receipt, requeue=False)
        except ReceiptError:
            assert not expect_ok, f"{how} of live delivery {d} was refused"
        else:
            assert expect_ok, f"{how} of dead receipt {d} was accepted"
            self.settled.add(d.delivery_tag)
            if how == "ack":
                self.acked.add(d.id)
        self.sync()

    @rule(seconds=st.sampled_from([0, 1, 3, 5, 10, 25]))
    def advance(self, seconds):
        self.clock.advance(seconds)
        self.sync()

    @precondition(lambda self: len(self.consumers) < 3)
    @rule(prefetch=st.integers(0, 3))
    def consume(self, prefetch):
        self.consumers.append(self.q.consume(prefetch=prefetch))
        self.sync()

    @precondition(lambda self: self.consumers)
    @rule(data=st.data())
    def take(self, data):
        c = data.draw(st.sampled_from(self.consumers))
        self.observe(c.take(), pulled=False)
        self.sync()

    @precondition(lambda self: self.consumers)
    @rule(data=st.data(), crash=st.booleans())
    def stop_consumer(self, data, crash):
        c = data.draw(st.sampled_from(self.consumers))
        self.sync()  # see what it held before it goes
        c.crash() if crash else c.close()
        self.consumers.remove(c)
        self.sync()

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def nothing_lost_or_duplicated(self):
        ready = [m.id for m in self.q.peek()]
        flying = [d.id for d in self.q.in_flight()]
        dead = [m.id for m in self.dlq.peek()]
        s = self.q.stats()
        for name, ids in (("ready", ready), ("in flight", flying), ("dead", dead)):
            assert len(ids) == len(set(ids)), f"duplicated in {name}: {ids}"
        places = [set(ready), set(flying), set(dead), self.acked]
        assert sum(len(p) for p in places) == len(set().union(*places)), "a message in two places"
        accounted = set().union(*places)
        assert accounted <= set(self.published)
        assert len(set(self.published) - accounted) == s["delayed"], "lost a message"
        assert s["expired"] == 0 and s["discarded"] == 0
        assert s["acked"] == len(self.acked)
        assert s["enqueued"] == len(self.published)
        assert (
            s["ready"] + s["in_flight"] + s["delayed"] + s["acked"] + s["dead_lettered"]
            == s["enqueued"]
        )
        assert s["dead_lettered"] == len(dead)
        for m in self.dlq.peek():
            assert m.deaths and m.deaths[0]["queue"] == "q"
            assert m.deaths[0]["reason"] in ("rejected", "expired", "maxlen", "delivery_limit")

    @invariant()
    def fifo_groups_respected(self):
        if not self.fifo:
            return
        flying = self.q.in_flight()
        by_group: dict[str, list] = {}
        for d in flying:
            by_group.setdefault(d.message.group, []).append(d)
        for group, ds in by_group.items():
            # all in-flight messages of a group were handed out together: one push, or one
            # receive call (consecutive tags), never to two takers at once
            owners = {d.consumer for d in ds}
            assert len(owners) == 1, f"group {group} in flight at {owners}"
            if ds[0].consumer is not None:
                assert len(ds) == 1, f"group {group}: {len(ds)} pushed at once"
            calls = {self.call_of.get(d.delivery_tag) for d in ds}
            assert len(calls) == 1, f"group {group} in flight from several receive calls"

    @invariant()
    def prefetch_respected(self):
        for c in self.consumers:
            if c.prefetch:
                assert len(c.unacked) <= c.prefetch


QueueMachine.TestCase.settings = settings(
    settings.default, max_examples=1000, stateful_step_count=30, deadline=None
)
test_queue_against_model = QueueMachine.TestCase
