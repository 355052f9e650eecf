"""The clock: the one source of time for every time-based rule in the broker.

Visibility timeouts, delays, TTLs, retention, session timeouts and windows all ask a clock what
time it is. None of them calls :func:`time.time` directly. That single rule is what makes the
course reproducible: with a :class:`VirtualClock`, time stands still until you move it, so the
same cells give the same result every time they run (nbval re-executes every notebook and
compares the output byte for byte).

Time is measured in **seconds** as a float, starting at 0.0. Kafka speaks milliseconds, so the
clock also offers :meth:`Clock.now_ms`.

>>> clock = VirtualClock()
>>> clock.now()
0.0
>>> clock.advance(30)
30.0
>>> clock
VirtualClock(t=30s)

:class:`RealClock` follows the wall clock (monotonic), for the chapter that talks to a real
RabbitMQ and Redis, where time cannot be stopped.
"""

from __future__ import annotations

import time

from .errors import InvalidArgument, InvalidType


class Clock:
    """What every time-based rule needs: the current time in seconds."""

    def now(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def now_ms(self) -> int:
        """The current time in whole milliseconds (Kafka's unit for timestamps)."""
        return int(round(self.now() * 1000))

    def advance(self, seconds: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidType(
            f"{name}={value!r} is not a number of seconds. Pass an int or float, e.g. 1.5."
        )
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidArgument(
            f"{name}={value!r} is not a finite number. Pass a finite number of seconds."
        )
    return float(value)


class VirtualClock(Clock):
    """A clock that moves only when told to.

    ``advance(seconds)`` moves it forward; ``advance_to(t)`` jumps to an absolute time. It never
    goes backwards: time travel would break every timeout rule, so it is refused.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        start = _check_seconds("start", start)
        if start < 0:
            raise InvalidArgument(
                f"start={start!r} is negative: a clock starts at 0 or later. Pass start=0."
            )
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (>= 0) and return the new time."""
        seconds = _check_seconds("seconds", seconds)
        if seconds < 0:
            raise InvalidArgument(
                f"seconds={seconds!r} is negative: a clock cannot go backwards. "
                "Pass 0 or more (advance_to() jumps to an absolute time)."
            )
        self._now += seconds
        return self._now

    def advance_to(self, t: float) -> float:
        """Jump to absolute time ``t``, which must not be in the past. Returns ``t``."""
        t = _check_seconds("t", t)
        if t < self._now:
            raise InvalidArgument(
                f"t={t!r} is in the past (now is {self._now!r}): a clock cannot go backwards. "
                f"Pass t >= {self._now!r}."
            )
        self._now = t
        return t

    def __repr__(self) -> str:
        return f"VirtualClock(t={self._now:g}s)"


class RealClock(Clock):
    """Wall-clock time (monotonic), in seconds since the clock was made.

    ``advance`` sleeps, so code written against a clock works with either kind.
    """

    __slots__ = ("_start",)

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def advance(self, seconds: float) -> float:
        seconds = _check_seconds("seconds", seconds)
        if seconds < 0:
            raise InvalidArgument(f"seconds={seconds!r} is negative: pass 0 or more.")
        time.sleep(seconds)
        return self.now()

    def __repr__(self) -> str:
        return f"RealClock(t={self.now():.3f}s)"
