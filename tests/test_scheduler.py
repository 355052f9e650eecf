"""The discrete-event scheduler: order, ties, cancellation, stopping, and refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.clock import RealClock, VirtualClock
from brokerlab.errors import InvalidArgument, InvalidType
from brokerlab.scheduler import Scheduler


def test_events_run_in_time_order_and_move_the_clock():
    s = Scheduler()
    seen = []
    s.at(3.0, lambda: seen.append(("c", s.now)))
    s.at(1.0, lambda: seen.append(("a", s.now)))
    s.after(2.0, lambda: seen.append(("b", s.now)))
    assert s.run() == 3
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert s.clock.now() == 3.0


def test_ties_go_by_priority_then_by_scheduling_order():
    s = Scheduler()
    seen = []
    s.at(1.0, seen.append, "first")
    s.at(1.0, seen.append, "second")
    s.at(1.0, seen.append, "urgent", priority=-1)
    s.at(1.0, seen.append, "third")
    s.run()
    assert seen == ["urgent", "first", "second", "third"]


def test_soon_runs_after_what_is_already_due_now():
    s = Scheduler()
    seen = []

    def first():
        seen.append("first")
        s.soon(seen.append, "soon")

    s.at(0.0, first)
    s.at(0.0, seen.append, "already due")
    s.run()
    assert seen == ["first", "already due", "soon"]


def test_callbacks_can_schedule_more_events():
    s = Scheduler()
    ticks = []

    def tick(n):
        ticks.append((n, s.now))
        if n < 4:
            s.after(0.5, tick, n + 1)

    s.soon(tick, 0)
    s.run()
    assert ticks == [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]


def test_cancel_skips_the_event():
    s = Scheduler()
    seen = []
    h = s.at(1.0, seen.append, "cancelled")
    s.at(2.0, seen.append, "kept")
    assert s.pending() == 2
    assert s.cancel(h) is True
    assert s.cancel(h) is False
    assert s.pending() == 1
    assert s.peek() == 2.0
    assert s.run() == 1
    assert seen == ["kept"]


def test_run_until_stops_before_later_events_and_moves_the_clock_to_until():
    s = Scheduler()
    seen = []
    s.at(1.0, seen.append, 1)
    s.at(5.0, seen.append, 5)
    assert s.run(until=3.0) == 1
    assert s.now == 3.0 and seen == [1]
    assert s.run() == 1
    assert seen == [1, 5]


def test_max_events_and_stop():
    s = Scheduler()
    seen = []
    for i in range(5):
        s.at(float(i), seen.append, i)
    assert s.run(max_events=2) == 2
    assert seen == [0, 1]
    s.at(2.5, s.stop)
    assert s.run() == 2  # the event at 2.0, then stop() at 2.5
    assert seen == [0, 1, 2]
    assert s.run() == 2
    assert seen == [0, 1, 2, 3, 4]
    assert "0 pending" in repr(s)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda s: s.at(-1.0, print), InvalidArgument),
        (lambda s: s.at(float("nan"), print), InvalidArgument),
        (lambda s: s.at(float("inf"), print), InvalidArgument),
        (lambda s: s.at("soon", print), InvalidType),
        (lambda s: s.after(-0.1, print), InvalidArgument),
        (lambda s: s.after(True, print), InvalidType),
        (lambda s: s.run(until=-1), InvalidArgument),
        (lambda s: s.run(max_events=-1), InvalidArgument),
    ],
)
def test_bad_calls_are_refused_and_change_nothing(call, error):
    s = Scheduler(VirtualClock(0.0))
    s.at(1.0, print)
    before = (s.pending(), s.peek(), s.now)
    with pytest.raises(error) as info:
        call(s)
    assert "Pass" in str(info.value) or "pass" in str(info.value)
    assert (s.pending(), s.peek(), s.now) == before


def test_subclasses_of_int_and_float_take_the_full_checks_and_pass():
    """at()/after() test exact int/float first (the fast path); anything else goes to the full
    checks, which accept subclasses such as an IntEnum priority or a numpy float time."""
    import enum

    class Level(enum.IntEnum):
        LOW = 1

    class Seconds(float):
        pass

    s = Scheduler(VirtualClock(0.0))
    seen = []
    s.at(Seconds(2.0), seen.append, "at", priority=Level.LOW)
    s.after(Seconds(1.0), seen.append, "after")
    s.at(Seconds(3.0), seen.append, "soon")
    with pytest.raises(InvalidArgument, match="time="):
        s.at(Seconds(-1.0), print)
    with pytest.raises(InvalidType, match="priority="):
        s.after(1, print, priority=1.5)
    with pytest.raises(InvalidType, match="callback="):
        s.after(1, "print")
    assert s.run() == 3 and seen == ["after", "at", "soon"]


def test_a_real_clock_is_refused():
    with pytest.raises(InvalidType, match="VirtualClock"):
        Scheduler(RealClock())


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(-2, 2)), max_size=60))
def test_order_is_time_then_priority_then_insertion(entries):
    s = Scheduler()
    seen = []
    for i, (t, prio) in enumerate(entries):
        s.at(t / 4, seen.append, (t / 4, prio, i), priority=prio)
    s.run()
    assert seen == sorted(seen)
    assert len(seen) == len(entries)
