"""The scheduler: a discrete-event simulation loop on the virtual clock.

A discrete-event simulation does not let time flow. It keeps a list of things that *will*
happen ("at t=2.5 consumer-1 finishes processing m7"), jumps the clock straight to the earliest
one, runs it, and repeats. Whatever a callback does (publish, deliver, crash) may schedule more
events. Nothing happens between events, so a run of an hour of virtual time takes milliseconds.

>>> from brokerlab.scheduler import Scheduler
>>> s = Scheduler()
>>> seen = []
>>> _ = s.at(2.0, seen.append, "b")
>>> _ = s.at(1.0, seen.append, "a")
>>> _ = s.after(2.0, seen.append, "c")   # also at t=2.0, scheduled later: runs after "b"
>>> s.run()
3
>>> seen, s.clock
(['a', 'b', 'c'], VirtualClock(t=2s))

**Determinism.** Events are kept in a heap of ``(time, priority, seq, callback, args)``.
Two events at the same time run in ``priority`` order (lower first), then in the order they were
scheduled (``seq``, a counter owned by this scheduler). Nothing depends on object ids, hash
order or the wall clock, so the same program gives the same sequence of events every time,
byte for byte. That is what lets a test (or a notebook checked by nbval) replay a run exactly,
and what lets the shortest-counterexample search trust that a failure it found will happen
again.

**Why not simpy?** simpy (an event loop and a clock, with processes, resources and stores built
on top) is the model this module follows, and it is deterministic too. But its generator-based
processes cost time. On this project's machine (AMD EPYC, 2 shared cores, Python 3.11) a
producer/consumer workload (a message every 10 ms, 5 ms of work each, three events a message)
ran at about 0.12-0.13 M messages/s with a ``simpy.Store``; this scheduler runs the same
workload at about 0.58 M messages/s (4.5-4.8x simpy), and a bare ``heapq`` loop with no function
call per event at 0.9-1.4 M. The course needs at least twice simpy's rate, so that widgets and
the 10,000-run test stay quick, so this module is that small heapq loop plus cancellation and
stop conditions. ``benchmarks/bench_simulation.py`` measures all three side by side; see
``benchmarks/results/simulation.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

from .clock import VirtualClock
from .errors import InvalidArgument, InvalidType

__all__ = ["Scheduler"]

_INF = float("inf")
_SECONDS = (float, int)  # exactly these types pass at once; others go to the full checks


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(
            f"{name}={value!r} is a {type(value).__name__}, not a number of seconds. "
            "Pass an int or float."
        )


def _check_time(time: Any, now: float) -> None:
    _check_seconds("time", time)
    if not (now <= time < _INF):  # also refuses NaN
        raise InvalidArgument(
            f"time={time!r} is not allowed: events can only be scheduled at a finite time, "
            f"now ({now!r}) or later. Pass time >= {now!r}, or use after(delay, ...)."
        )


def _check_delay(delay: Any) -> None:
    _check_seconds("delay", delay)
    if not (0 <= delay < _INF):  # also refuses NaN
        raise InvalidArgument(
            f"delay={delay!r} is not allowed: an event happens 0 or more (finite) seconds from "
            "now. Pass a finite number >= 0."
        )


def _check_callback(callback: Any, priority: Any) -> None:
    if not callable(callback):
        raise InvalidType(
            f"callback={callback!r} is a {type(callback).__name__}, not something to call. "
            "Pass a function, e.g. s.at(1.0, print, 'hello')."
        )
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidType(
            f"priority={priority!r} is a {type(priority).__name__}: pass an int (lower runs "
            "first among events at the same time; default 0)."
        )


class Scheduler:
    """Run callbacks in virtual-time order on a :class:`~brokerlab.clock.VirtualClock`.

    - ``at(t, fn, *args)`` runs ``fn(*args)`` at absolute time ``t``;
    - ``after(delay, fn, *args)`` runs it ``delay`` seconds from now;
    - ``soon(fn, *args)`` runs it now, after everything already due now;
    - ``run(until=None, max_events=None)`` processes events in order and returns how many ran;
    - ``cancel(handle)`` removes a scheduled event (it is skipped when its turn comes).

    ``priority`` orders events that fall at the same time (lower first, default 0); ties after
    that go to the one scheduled first.

    ``at`` and ``after`` return the event's heap entry, a list ``[time, priority, seq,
    callback, args]``, as its handle (the ``heapq`` documentation's recipe for cancellable
    entries): cancelling blanks its callback, which costs nothing until its turn comes.

    While it runs, the scheduler moves the clock itself (``clock._now``): the heap guarantees
    that time never goes backwards, so the clock's own checks would only cost time.
    """

    __slots__ = ("clock", "_heap", "_seq", "events_run", "_stopped")

    def __init__(self, clock: VirtualClock | None = None) -> None:
        if clock is None:
            clock = VirtualClock()
        elif not isinstance(clock, VirtualClock):
            raise InvalidType(
                f"clock={clock!r} is not a VirtualClock: a simulation jumps time forward, which "
                "only a virtual clock can do. Pass VirtualClock() or leave clock out."
            )
        self.clock = clock
        self._heap: list[list[Any]] = []
        self._seq = 0
        self.events_run = 0
        self._stopped = False

    # --- scheduling ---------------------------------------------------------------------------

    def at(
        self, time: float, callback: Callable[..., Any], *args: Any, priority: int = 0
    ) -> list[Any]:
        """Schedule ``callback(*args)`` at absolute virtual time ``time`` (not in the past)."""
        now = self.clock._now
        if not (
            type(time) in _SECONDS and now <= time < _INF
        ):  # the usual case passes this one test
            _check_time(time, now)
        return self._push(time, callback, args, priority)

    def after(
        self, delay: float, callback: Callable[..., Any], *args: Any, priority: int = 0
    ) -> list[Any]:
        """Schedule ``callback(*args)`` ``delay`` seconds (>= 0) from now."""
        if not (
            type(delay) in _SECONDS and 0 <= delay < _INF
        ):  # the usual case passes this one test
            _check_delay(delay)
        return self._push(self.clock._now + delay, callback, args, priority)

    def soon(self, callback: Callable[..., Any], *args: Any, priority: int = 0) -> None:
        """Schedule ``callback(*args)`` now, after what is already due now (no handle)."""
        self._push(self.clock._now, callback, args, priority)

    def _push(self, time: float, callback: Any, args: tuple, priority: Any) -> list[Any]:
        """Check the callback and priority, then add the event: a refused call adds nothing."""
        if not (callable(callback) and type(priority) is int):  # the usual case: one test
            _check_callback(callback, priority)
        entry = [time, priority, self._seq, callback, args]
        self._seq += 1
        heappush(self._heap, entry)
        return entry

    @staticmethod
    def cancel(handle: list[Any]) -> bool:
        """Cancel a scheduled event. Returns False if it was already cancelled."""
        if not (isinstance(handle, list) and len(handle) == 5):
            raise InvalidType(
                f"handle={handle!r} is not an event handle: pass what at() or after() returned."
            )
        if handle[3] is None:
            return False
        handle[3] = None
        return True

    # --- running ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to return after the event that is running now."""
        self._stopped = True

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Run events in order; return how many ran (cancelled ones do not count).

        Stops when no events are left, when the next event is later than ``until`` (the clock
        is then moved to ``until``), after ``max_events`` events, or when a callback calls
        :meth:`stop`.
        """
        if until is not None:
            _check_seconds("until", until)
            if not (self.clock._now <= until < _INF):
                raise InvalidArgument(
                    f"until={until!r} is not allowed: now is {self.clock._now!r}. "
                    "Pass a finite time from now on, or None."
                )
        if max_events is not None and (
            isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 0
        ):
            raise InvalidArgument(
                f"max_events={max_events!r} is not allowed: pass an int >= 0, or None for no limit."
            )
        heap = self._heap
        clock = self.clock
        limit = _INF if until is None else until
        budget = -1 if max_events is None else max_events
        ran = 0
        self._stopped = False
        while heap and ran != budget:
            if heap[0][0] > limit:
                break
            time, _, _, callback, args = heappop(heap)
            if callback is None:  # cancelled
                continue
            clock._now = time
            callback(*args)
            ran += 1
            if self._stopped:
                break
        if until is not None and not self._stopped and ran != budget and until > clock._now:
            clock._now = float(until)
        self.events_run += ran
        return ran

    # --- inspection ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock._now

    def pending(self) -> int:
        """How many events are scheduled and not cancelled."""
        return sum(1 for entry in self._heap if entry[3] is not None)

    def peek(self) -> float | None:
        """The time of the next event that will run, or None if there is none."""
        times = [entry[0] for entry in self._heap if entry[3] is not None]
        return min(times) if times else None

    def __repr__(self) -> str:
        return f"Scheduler(t={self.clock._now:g}s, {self.pending()} pending, {self.events_run} run)"
