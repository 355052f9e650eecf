"""Exercise 1 (chapter 01): how many consumers? The M/M/c queue and Erlang C.

The reference is the Erlang B recursion ``B(0) = 1``, ``B(k) = A·B(k-1) / (k + A·B(k-1))``,
which stays between 0 and 1 for any load (no factorial, no power), then Erlang C
``C = c·B / (c - A·(1 - B))`` and the mean wait ``Wq = C·s / (c - A)`` (Kleinrock, *Queueing
Systems* vol. 1, §3.5; the recursion is the standard stable way to compute Erlang B).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .core import Check, Exercise
from .helpers import Example, agree_with_reference, close, examples, raises
from .sandbox import Fail, expect_type, invoke

__all__ = ["EXERCISE", "reference_consumers_needed", "reference_mean_wait"]

CONTRACT = """\
Messages arrive at random (Poisson, `arrival_rate` per second), each takes an exponentially
distributed time with mean `service_time` seconds to process, and `consumers` consumers work in
parallel: the M/M/c queue. The offered load is `arrival_rate * service_time`.

- `mean_wait(arrival_rate, service_time, consumers) -> float`: the mean time a message waits in
  the queue before a consumer starts it (Erlang C). It returns `math.inf` when the load is
  unstable (`consumers <= arrival_rate * service_time`).
- `consumers_needed(arrival_rate, service_time, max_wait) -> int`: the smallest number of
  consumers whose `mean_wait` is at most `max_wait`.
- Both raise `ValueError` for a rate or service time that is not a positive finite number, a
  `max_wait` that is not a positive finite number, or a consumer count below 1.
- Both must work for offered loads up to 10,000 (for example 100,000 messages/s at 0.1 s each)
  and consumer counts up to 100,000 without overflow, each call within a second.
- The grader compares `mean_wait` with a relative tolerance of 1e-9 (or an absolute 1e-300 for
  waits that small). It checks `consumers_needed` only on cases whose answer does not change
  within that tolerance, and keeps away from the unstable edge (`consumers` within 1e-3 of the
  load), where every floating-point formula loses precision.
"""

REL, ABS = 1e-9, 1e-300
EQUAL = close(REL, ABS)
#: CPU seconds allowed per call in the at-scale check. The contract says one; the grader allows
#: two, for hardware slower than the course's (a busy machine no longer counts: see sandbox).
SCALE_TIMEOUT = 2.0


def _erlang_b(load: float, consumers: int) -> float:
    b = 1.0
    for k in range(1, consumers + 1):
        b = load * b / (k + load * b)
    return b


def _wait(load: float, service_time: float, c: int, b: float) -> float:
    erlang_c = c * b / (c - load * (1.0 - b))
    return erlang_c * service_time / (c - load)


def reference_mean_wait(arrival_rate: float, service_time: float, consumers: int) -> float:
    """Erlang C mean wait in queue, computed with the stable Erlang B recursion."""
    load = arrival_rate * service_time
    if consumers <= load:
        return math.inf
    return _wait(load, service_time, consumers, _erlang_b(load, consumers))


def reference_consumers_needed(arrival_rate: float, service_time: float, max_wait: float) -> int:
    """The smallest stable consumer count whose mean wait is at most ``max_wait``."""
    load = arrival_rate * service_time
    c = math.floor(load) + 1
    b = _erlang_b(load, c)
    while _wait(load, service_time, c, b) > max_wait:
        c += 1
        b = load * b / (c + load * b)
    return c


# --- generated cases -----------------------------------------------------------------------------


def _stable_enough(load: float, c: int) -> bool:
    """Away from the unstable edge: more than 1e-3 consumers of headroom (or unstable)."""
    return c <= load or c - load > 1e-3


@st.composite
def _loads(draw: Any, max_load: float = 1000.0, max_extra: int = 60) -> tuple[float, float, int]:
    rate = draw(st.floats(0.01, 10_000.0))
    service = draw(st.floats(0.0001, 10.0))
    load = rate * service
    assume(load <= max_load)
    if draw(st.booleans()) or load < 1:
        c = math.floor(load) + 1 + draw(st.integers(0, max_extra))
    else:
        c = draw(st.integers(1, math.floor(load)))
    assume(_stable_enough(load, c))
    return rate, service, c


@st.composite
def _targets(draw: Any) -> tuple[float, float, float]:
    rate = draw(st.floats(0.01, 10_000.0))
    service = draw(st.floats(0.0001, 10.0))
    assume(rate * service <= 1000.0)
    max_wait = service * draw(st.floats(0.0001, 10.0))
    assume(_clear_answer(rate, service, max_wait))
    return rate, service, max_wait


def _clear_answer(rate: float, service: float, max_wait: float) -> bool:
    """True when no wait within the tolerance of max_wait could change the answer."""
    c = reference_consumers_needed(rate, service, max_wait)
    load = rate * service
    for n in (c, c - 1):
        if n < 1 or not _stable_enough(load, n):
            return n < 1 or n <= load
        w = reference_mean_wait(rate, service, n)
        if math.isclose(w, max_wait, rel_tol=10 * REL, abs_tol=ABS):
            return False
    return True


# --- checks -----------------------------------------------------------------------------------------

_WORKED = (
    Example(
        (1.0, 0.5, 1),
        0.5,
        "With one consumer Erlang C is the M/M/1 queue: utilisation ρ = 0.5 and "
        "Wq = ρ·service_time/(1 - ρ) = 0.5 s. Check that you return the wait in the queue only.",
    ),
    Example(
        (2.0, 1.0, 3),
        4 / 9,
        "Load A = 2 on c = 3 consumers: Erlang C gives C = 4/9, and Wq = C·service_time/(c - A) "
        "= 4/9 s. Is the probability of waiting computed over all c servers?",
    ),
    Example(
        (1.0, 0.1, 2),
        reference_mean_wait(1.0, 0.1, 2),
        "Light load (A = 0.1) on two consumers: waiting is rare, so the mean wait is tiny but "
        "not zero.",
    ),
    Example(
        (2.0, 1.0, 2),
        math.inf,
        "consumers == load is unstable: the queue grows without end, so the wait is math.inf.",
    ),
    Example(
        (10.0, 1.0, 5),
        math.inf,
        "Five consumers cannot keep up with a load of 10: return math.inf.",
    ),
)

_NEEDED = (
    Example(
        (2.0, 1.0, 0.5),
        3,
        "Load 2: two consumers are exactly at full load (unstable), three wait 4/9 s on "
        "average, which meets 0.5 s. Rounding the load up is not enough.",
    ),
    Example(
        (10.0, 1.0, 0.1),
        13,
        "Load 10 with a 0.1 s target: 12 consumers wait about 0.22 s, 13 about 0.095 s. "
        "Return the smallest count that meets the target, not the first one above it.",
    ),
    Example(
        (3.0, 2.0, 0.05),
        11,
        "Load 6: keep adding consumers while mean_wait is above max_wait (at most is allowed).",
    ),
)

_BAD = [
    (0.0, 1.0, 1),
    (-1.0, 1.0, 1),
    (math.nan, 1.0, 1),
    (math.inf, 1.0, 1),
    (1.0, 0.0, 1),
    (1.0, -2.0, 1),
    (1.0, math.nan, 1),
    (1.0, math.inf, 1),
    (1.0, 1.0, 0),
    (1.0, 1.0, -3),
]
_BAD_NEEDED = [
    (0.0, 1.0, 1.0),
    (-1.0, 1.0, 1.0),
    (math.nan, 1.0, 1.0),
    (math.inf, 1.0, 1.0),
    (1.0, 0.0, 1.0),
    (1.0, math.inf, 1.0),
    (1.0, 1.0, 0.0),
    (1.0, 1.0, -1.0),
    (1.0, 1.0, math.nan),
    (1.0, 1.0, math.inf),
]

_AT_SCALE_WAIT = [
    (100_000.0, 0.1, 10_001),
    (100_000.0, 0.1, 10_100),
    (100_000.0, 0.1, 100_000),
    (50.0, 0.2, 100_000),
    (1000.0, 1.0, 1100),
    (9_999.5, 1.0, 10_000),
]
_AT_SCALE_NEEDED = [(100_000.0, 0.1, 0.01), (100_000.0, 0.1, 1e-4), (5000.0, 1.0, 0.001)]


def _at_scale(answer: dict[str, Any]) -> None:
    mean_wait, needed = answer["mean_wait"], answer["consumers_needed"]
    for args in _AT_SCALE_WAIT:
        what = f"mean_wait{args}"
        got = invoke(mean_wait, args, what=what, timeout=SCALE_TIMEOUT)
        expect_type(got, "float", what)
        want = reference_mean_wait(*args)
        if not EQUAL(got, want):
            raise Fail(
                f"{what} returned {got!r}; expected {want!r}.",
                counterexample=f"{what} -> {got!r} (expected {want!r})",
                kind="differs",
            )
    for args in _AT_SCALE_NEEDED:
        what = f"consumers_needed{args}"
        got = expect_type(invoke(needed, args, what=what, timeout=SCALE_TIMEOUT), "int", what)
        want = reference_consumers_needed(*args)
        if got != want:
            raise Fail(
                f"{what} returned {got}; expected {want}.",
                counterexample=f"{what} -> {got} (expected {want})",
                kind="differs",
            )


def _needed(answer: dict[str, Any]) -> None:
    examples("consumers_needed", _NEEDED, returns="int", timeout=SCALE_TIMEOUT)(answer)
    agree_with_reference(
        "consumers_needed",
        _targets(),
        reference_consumers_needed,
        returns="int",
        max_examples=60,
        timeout=SCALE_TIMEOUT,
    )(answer)


def _bad_input(answer: dict[str, Any]) -> None:
    hint = (
        "Check every argument before computing: math.isfinite(x) and x > 0 for the rate, the "
        "service time and max_wait, and consumers >= 1, raising ValueError otherwise."
    )
    raises("mean_wait", ValueError, _BAD, hint)(answer)
    raises("consumers_needed", ValueError, _BAD_NEEDED, hint)(answer)


EXERCISE = Exercise(
    id="ex01_capacity",
    title="How many consumers?",
    chapter=1,
    contract=CONTRACT,
    names=("mean_wait", "consumers_needed"),
    checks=(
        Check(
            "mean_wait on worked examples: one consumer, several, full load",
            2,
            examples("mean_wait", _WORKED, returns="float", equal=EQUAL, timeout=SCALE_TIMEOUT),
            {
                "default": "Erlang C gives the probability of waiting; multiply by "
                "service_time / (consumers - load)."
            },
        ),
        Check(
            "mean_wait agrees with Erlang C on generated loads",
            2,
            agree_with_reference(
                "mean_wait", _loads(), reference_mean_wait, returns="float", equal=EQUAL
            ),
            {
                "default": "Compare your formula with the worked examples; the time waiting "
                "excludes the service itself.",
                "raised": "A load above a few hundred overflows factorials and powers: use "
                "logarithms or the Erlang B recursion.",
            },
        ),
        Check(
            "mean_wait and consumers_needed at scale: load 10,000, 100,000 consumers",
            2,
            _at_scale,
            {
                "default": "Large loads need a form that never builds huge numbers: the Erlang B "
                "recursion B(k) = A·B(k-1) / (k + A·B(k-1)) stays between 0 and 1.",
                "raised": "math.factorial(c) or A**c overflow a float long before c = 10,000. "
                "Use the Erlang B recursion, or work in logarithms (math.lgamma).",
                "timeout": "Each call should take well under a second: compute Erlang B once "
                "and update it as the consumer count grows, instead of from scratch.",
            },
            timeout=30.0,
        ),
        Check(
            "consumers_needed is the smallest count that meets max_wait",
            2,
            _needed,
            {
                "default": "Start at the first stable count (floor(load) + 1) and add consumers "
                "until mean_wait <= max_wait."
            },
            timeout=20.0,
        ),
        Check(
            "bad input raises ValueError",
            2,
            _bad_input,
            {"default": "Validate the arguments first and raise ValueError."},
        ),
    ),
)
