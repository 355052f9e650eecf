"""Backoff: how long to wait before retrying a failed message, and why the wait should be random.

A consumer that retries a failure at once usually fails again: the database is still restarting,
the partner API still rate-limits. Waiting longer after each failure (**exponential backoff**)
gives the cause time to go away; an upper bound (**cap**) keeps one message from waiting for
hours; and randomness (**jitter**) keeps a thousand messages that failed together from retrying
together and knocking the recovering service over again.

:func:`backoff_delay` computes the wait before retry ``attempt`` (1 = the first retry), in the
four variants of Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015),
which the AWS SDKs follow:

============== ============================================================================
``"none"``     ``min(cap, base * 2**(attempt - 1))``: 1, 2, 4, 8, ... seconds for base 1
``"full"``     a uniform draw in ``0 .. min(cap, base * 2**(attempt - 1))``
``"equal"``    half the exponential value plus a uniform draw in the other half
``"decorrelated"`` ``min(cap, uniform(base, previous * 3))``: grows from the last wait
============== ============================================================================

Every variant stays within ``0 .. cap`` (tested with hypothesis). The draws come from the
``random.Random`` you pass, so a seeded run repeats exactly.

>>> [backoff_delay(a, base=1, cap=30, jitter="none") for a in range(1, 7)]
[1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
>>> import random
>>> rng = random.Random(0)
>>> [round(backoff_delay(a, base=1, cap=30, jitter="full", rng=rng), 2) for a in range(1, 5)]
[0.84, 1.52, 1.68, 2.07]
"""

from __future__ import annotations

import random
from typing import Any

from .errors import InvalidArgument, InvalidType, check_choice, check_range
from .plots import figure_and_ax

__all__ = ["JITTERS", "backoff_delay", "backoff_schedule", "plot_backoff"]

JITTERS = ("none", "full", "equal", "decorrelated")
# SQS ChangeMessageVisibility allows at most 12 hours: the longest wait a queue can hold for us.
MAX_CAP = 43_200.0


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 30.0,
    jitter: str = "full",
    rng: random.Random | None = None,
    previous: float | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``base`` is the first wait and ``cap`` the longest (both seconds, ``0 < base <= cap <=
    43200``, SQS's visibility limit). ``jitter`` is one of :data:`JITTERS`; ``rng`` the random
    source for it (a fresh ``Random(0)`` if omitted, so a lone call is repeatable);
    ``previous`` the last wait, used by ``"decorrelated"`` (``base`` when omitted).
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int):
        raise InvalidType(f"attempt={attempt!r} must be a whole number >= 1, e.g. attempt=1.")
    if attempt < 1:
        raise InvalidArgument(f"attempt={attempt!r} is out of range: retries count from 1.")
    check_range("base", base, 0.001, MAX_CAP, "seconds", example=1.0)
    check_range("cap", cap, 0.001, MAX_CAP, "seconds (SQS: 12 hours at most)", example=30.0)
    if base > cap:
        raise InvalidArgument(
            f"base={base!r} is larger than cap={cap!r}: the first wait cannot exceed the longest. "
            "Pass a smaller base or a larger cap."
        )
    check_choice("jitter", jitter, JITTERS)
    rng = rng if rng is not None else random.Random(0)
    # 2**(attempt - 1) overflows a float for huge attempts; past 2**60 the cap wins anyway.
    exponential = min(cap, base * 2.0 ** min(attempt - 1, 60))
    if jitter == "none":
        return float(exponential)
    if jitter == "full":
        return rng.uniform(0, exponential)
    if jitter == "equal":
        return exponential / 2 + rng.uniform(0, exponential / 2)
    last = base if previous is None else previous
    check_range("previous", last, 0, MAX_CAP, "seconds", example=base)
    return min(cap, rng.uniform(base, max(base, last * 3)))


def backoff_schedule(
    attempts: int, *, base: float = 1.0, cap: float = 30.0, jitter: str = "full", seed: int = 0
) -> list[float]:
    """The waits before retries 1..``attempts`` of one message, drawn from ``seed``.

    >>> backoff_schedule(5, jitter="none")
    [1.0, 2.0, 4.0, 8.0, 16.0]
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise InvalidArgument(f"attempts={attempts!r} must be a whole number in 1..1000, e.g. 5.")
    rng = random.Random(seed)
    waits: list[float] = []
    for a in range(1, attempts + 1):
        prev = waits[-1] if waits else None
        waits.append(backoff_delay(a, base=base, cap=cap, jitter=jitter, rng=rng, previous=prev))
    return waits


def plot_backoff(
    attempts: int = 8, *, base: float = 1.0, cap: float = 30.0, clients: int = 20, ax: Any = None
) -> Any:
    """When ``clients`` messages that failed together retry, for each jitter variant.

    One row per variant; each dot is one client's retry, at the time it happens (the sum of its
    waits so far). Without jitter the dots of all clients sit on top of each other: every retry
    is a synchronised burst. Returns the Figure.
    """
    fig, ax = figure_and_ax(ax, (7, 2.8), (1.12, 0.14, 0.34, 0.5))
    colours = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
    for row, (jitter, colour) in enumerate(zip(JITTERS, colours)):
        xs: list[float] = []
        for client in range(clients):
            t = 0.0
            for wait in backoff_schedule(attempts, base=base, cap=cap, jitter=jitter, seed=client):
                t += wait
                xs.append(t)
        ys = [row + (i % clients) / clients * 0.6 - 0.3 for i in range(len(xs))]
        ax.scatter(xs, ys, s=6, color=colour, label=jitter)
    ax.set_yticks(range(len(JITTERS)))
    ax.set_yticklabels(JITTERS)
    ax.set_xlabel("time of the retry since the first failure (s)")
    ax.set_ylabel("jitter")
    ax.set_title(
        f"{clients} messages fail together: when do they retry? (base {base:g} s, cap {cap:g} s)"
    )
    return fig
