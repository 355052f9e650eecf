"""Property tests of group assignment, for every assignor and any sequence of joins, leaves,
crashes (session timeouts on the virtual clock), slow members and polls.

What is checked after every step:

- every partition of the subscribed topics is owned by exactly one member (none if the group
  is empty);
- balance. roundrobin, sticky and cooperative-sticky: member counts differ by at most 1.
  range: within 1 *per topic*; overall the counts differ by at most the number of topics whose
  partition count does not divide evenly by the number of members (RangeAssignor gives every
  topic's extra partitions to the same first members);
- sticky and cooperative-sticky keep every partition they do not have to move: at each
  rebalance the partitions taken from surviving members are exactly the minimum, i.e. the
  excess above the fair share, and a member at or below its share loses nothing.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from brokerlab.clock import VirtualClock
from brokerlab.consumer_group import ASSIGNORS, range_assign, roundrobin_assign, sticky_assign
from brokerlab.log import Log, TopicPartition


def minimal_losses(before_counts: list[int], total: int) -> int:
    """Fewest owned partitions that must move when ``total`` partitions are balanced over
    members that owned ``before_counts`` (equal subscriptions)."""
    q, r = divmod(total, len(before_counts))
    over = [c for c in before_counts if c >= q + 1]
    return sum(c - (q + 1) for c in over) + max(0, len(over) - r)


class GroupMachine(RuleBasedStateMachine):
    assignor = "range"

    @initialize(
        sizes=st.lists(st.integers(1, 7), min_size=1, max_size=3),
        subscribe_all=st.booleans(),
    )
    def setup(self, sizes, subscribe_all):
        self.clock = VirtualClock()
        self.log = Log(self.clock)
        self.topics = [f"t{i}" for i in range(len(sizes))]
        for name, n in zip(self.topics, sizes, strict=True):
            self.log.create_topic(name, partitions=n)
        self.subscribed = self.topics if subscribe_all else self.topics[:1]
        self.open = []  # consumers that are neither closed nor crashed
        self.seen_events = 0

    @property
    def group(self):
        return self.log._groups.get("g")

    @precondition(lambda self: len(self.open) < 7)
    @rule(slow=st.booleans())
    def join(self, slow):
        c = self.log.consumer(
            group="g",
            assignor=self.assignor,
            max_poll_interval_ms=60_000 if slow else None,
        )
        c.subscribe(self.subscribed)
        self.open.append(c)

    @precondition(lambda self: self.open)
    @rule(i=st.integers(0, 10))
    def leave(self, i):
        self.open.pop(i % len(self.open)).close()

    @precondition(lambda self: self.open)
    @rule(i=st.integers(0, 10))
    def crash(self, i):
        self.open.pop(i % len(self.open)).crash()

    @precondition(lambda self: self.open)
    @rule(i=st.integers(0, 10))
    def poll(self, i):
        self.open[i % len(self.open)].poll()

    @rule(seconds=st.sampled_from([0.5, 5, 30, 44.9, 45, 61, 120]))
    def advance(self, seconds):
        self.clock.advance(seconds)
        self.log.tick()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def each_partition_has_exactly_one_owner(self):
        if not hasattr(self, "log"):
            return
        group = self.group
        owners: dict[TopicPartition, list[str]] = {}
        members = group.members if group else {}
        for m, mem in members.items():
            for tp in mem.assignment:
                owners.setdefault(tp, []).append(m)
        expected = {
            TopicPartition(t, i)
            for t in self.subscribed
            for i in range(len(self.log.topic(t).partitions))
        }
        if members:
            assert set(owners) == expected
            assert all(len(v) == 1 for v in owners.values()), owners
        else:
            assert owners == {}

    @invariant()
    def load_is_balanced(self):
        if not hasattr(self, "log") or not self.group or not self.group.members:
            return
        members = self.group.members
        counts = [len(mem.assignment) for mem in members.values()]
        if self.assignor != "range":
            assert max(counts) - min(counts) <= 1, counts
            return
        uneven = 0
        for t in self.subscribed:
            per_topic = [sum(tp.topic == t for tp in mem.assignment) for mem in members.values()]
            assert max(per_topic) - min(per_topic) <= 1, (t, per_topic)
            uneven += len(self.log.topic(t).partitions) % len(members) != 0
        assert max(counts) - min(counts) <= uneven, counts

    @invariant()
    def sticky_assignors_move_only_what_they_must(self):
        if not hasattr(self, "log") or not self.group:
            return
        events = self.group.events[self.seen_events :]
        self.seen_events = len(self.group.events)
        if self.assignor not in ("sticky", "cooperative-sticky"):
            return
        total = sum(len(self.log.topic(t).partitions) for t in self.subscribed)
        for e in events:
            if not e.after:
                continue
            before = [len(e.before.get(m, ())) for m in e.after]
            losses = {m: set(e.before.get(m, ())) - set(e.after[m]) for m in e.after}
            assert sum(len(v) for v in losses.values()) == minimal_losses(before, total), e
            fair = total // len(e.after)
            for m in e.after:
                if len(e.before.get(m, ())) <= fair:
                    assert not losses[m], (m, e)
            if e.protocol == "cooperative":
                assert e.revoked == {m: tuple(sorted(v)) for m, v in losses.items() if v}


def _machine(assignor: str):
    cls = type(f"Group_{assignor.replace('-', '_')}", (GroupMachine,), {"assignor": assignor})
    case = cls.TestCase
    case.settings = settings(case.settings, stateful_step_count=30)
    return case


TestRange = _machine("range")
TestRoundRobin = _machine("roundrobin")
TestSticky = _machine("sticky")
TestCooperativeSticky = _machine("cooperative-sticky")


def test_every_assignor_is_covered():
    assert set(ASSIGNORS) == {"range", "roundrobin", "sticky", "cooperative-sticky"}


# --- the assignor functions with arbitrary (unequal) subscriptions --------------------------------

subscriptions = st.dictionaries(
    st.sampled_from([f"m{i}" for i in range(6)]),
    st.sets(st.sampled_from(["a", "b", "c"]), min_size=1),
    min_size=1,
)


@st.composite
def _scenario(draw):
    subs = draw(subscriptions)
    counts = {t: draw(st.integers(0, 6)) for t in "abc"}
    universe = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    owned = {
        m: draw(st.lists(st.sampled_from(universe), max_size=5)) if universe else [] for m in subs
    }
    return subs, counts, owned


@given(_scenario())
def test_assignors_give_each_subscribed_partition_to_one_subscriber(scenario):
    subs, counts, owned = scenario
    wanted = {TopicPartition(t, p) for ts in subs.values() for t in ts for p in range(counts[t])}
    for assign in (range_assign, roundrobin_assign, sticky_assign):
        got = assign(subs, counts, owned)
        assert set(got) == set(subs)
        flat = [tp for tps in got.values() for tp in tps]
        assert len(flat) == len(set(flat)) and set(flat) == wanted
        for m, tps in got.items():
            assert all(tp.topic in subs[m] for tp in tps)


@given(_scenario())
def test_sticky_result_cannot_be_improved_by_moving_one_partition(scenario):
    # Kafka's notion of "balanced" for unequal subscriptions: no partition could go to a
    # subscriber that has 2 or more fewer partitions than its owner.
    subs, counts, owned = scenario
    got = sticky_assign(subs, counts, owned)
    for _m, tps in got.items():
        for tp in tps:
            for other, topics in subs.items():
                if tp.topic in topics:
                    assert len(got[other]) >= len(tps) - 1
