"""Exercise 6 (chapter 05): count per key in tumbling event-time windows, with Kafka Streams' grace.

The reference applies :class:`brokerlab.watermark.StreamTime` (stream time = the largest
timestamp seen, the current record included; a window is closed once ``end <= stream time -
grace``, Kafka Streams' ``KStreamWindowAggregate``) and :func:`brokerlab.windows.windows_for`
(tumbling windows aligned to 0, half-open). The counterexample is the shortest stream on which
the answer differs, printed event by event with the stream time after each one.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ..watermark import StreamTime
from ..windows import windows_for
from .core import Check, Exercise
from .helpers import Example, agree_with_reference, examples
from .sandbox import Fail, invoke, short_repr

__all__ = ["EXERCISE", "reference_windowed_counts"]

CONTRACT = """\
`windowed_counts(events, size: int, grace: int) -> tuple[dict[tuple[Any, int], int], list]`
counts events per key in tumbling event-time windows over out-of-order input, as Kafka Streams
does.

- `events` is an iterable of `(key, timestamp)` pairs in arrival order; timestamps are integer
  milliseconds, 0 or more. `size` is at least 1 and `grace` at least 0 (milliseconds).
- The window of a timestamp `t` starts at `t - t % size` and holds `[start, start + size)`.
- Stream time is the largest timestamp seen so far, the current event included.
- An event is late when its window's end is at or before `stream time - grace`. Late events are
  not counted: they go to the returned list, in arrival order (the side output), as the
  `(key, timestamp)` pairs they arrived as.
- The dict holds the count of on-time events for every `(key, window start)` that has at least
  one.
"""


def reference_windowed_counts(events: Any, size: int, grace: int) -> tuple[dict, list]:
    """Kafka Streams' rule, applied with the package's StreamTime."""
    clock = StreamTime(grace=grace)
    counts: dict[tuple[Any, int], int] = {}
    late: list = []
    for key, t in events:
        clock.observe(t)
        [(start, end)] = windows_for(t, size)
        if clock.closed(end - 1):
            late.append((key, t))
        else:
            counts[(key, start)] = counts.get((key, start), 0) + 1
    return counts, late


def _normal(result: Any) -> Any:
    """The result with late events as tuples (a list [key, t] reads the same)."""
    try:
        counts, late = result
        return dict(counts), [tuple(e) for e in late]
    except Exception:
        return result


def _equal(got: Any, expected: Any) -> bool:
    return _normal(got) == expected


def _trace(events: list, size: int, grace: int) -> str:
    """The stream, one event a line, with the stream time after it and what the rule says."""
    clock = StreamTime(grace=grace)
    lines = [f"events in arrival order (size={size}, grace={grace}):"]
    for i, (key, t) in enumerate(events, start=1):
        now = clock.observe(t)
        start = t - t % size
        end = start + size
        verdict = (
            f"late: its window ended at {end} <= {now} - {grace}"
            if clock.closed(end - 1)
            else "on time"
        )
        lines.append(
            f"  #{i} ({key!r}, {t})  stream time {now}  window [{start}, {end})  {verdict}"
        )
    return "\n".join(lines)


def _describe(args: tuple, got: Any, expected: Any) -> str:
    events, size, grace = args
    return (
        f"{_trace(events, size, grace)}\n"
        f"got:      {short_repr(_normal(got), 200)}\n"
        f"expected: {short_repr(expected, 200)}"
    )


def _stream(size: int, edges_only: bool, max_t: int = 60) -> st.SearchStrategy[list]:
    # on a window's first or last millisecond: k * size or k * size - 1
    edge = st.tuples(st.integers(0, max_t // size), st.sampled_from((0, -1))).map(
        lambda kd: max(0, kd[0] * size + kd[1])
    )
    stamp = edge if edges_only else st.one_of(st.integers(0, max_t), edge)
    return st.lists(st.tuples(st.sampled_from("ab"), stamp), max_size=8)


@st.composite
def _cases(
    draw: Any, graces: tuple[int, ...] = (0, 0, 1, 3, 5, 10, 20), edges_only: bool = False
) -> tuple:
    size = draw(st.sampled_from((1, 2, 5, 10)))
    grace = draw(st.sampled_from(graces))
    return draw(_stream(size, edges_only)), size, grace


def _ex(events: list, size: int, grace: int, hint: str) -> Example:
    return Example((events, size, grace), reference_windowed_counts(events, size, grace), hint)


_WORKED = (
    _ex([], 10, 0, "No events: return ({}, [])."),
    _ex([("a", 7)], 10, 0, "One event is never late: it sets stream time itself."),
    _ex(
        [("a", 1), ("a", 5), ("b", 12)],
        10,
        0,
        "In order: ('a', 0) holds 2 events and ('b', 10) one; the key is the (key, window "
        "start) pair.",
    ),
    _ex(
        [("a", 15), ("a", 9)],
        10,
        0,
        "The window of 9 is [0, 10); after 15 stream time is 15 and 10 <= 15 - 0, so 9 is late.",
    ),
    _ex(
        [("a", 15), ("a", 9)],
        10,
        5,
        "With grace 5 the window [0, 10) stays open until stream time reaches 15: 10 <= 15 - 5 "
        "is true, so 9 is still late (the rule is 'at or before').",
    ),
    _ex(
        [("a", 15), ("a", 9)],
        10,
        6,
        "With grace 6, 10 <= 15 - 6 is false: 9 is on time and counted in window 0.",
    ),
    _ex(
        [("a", 10), ("a", 9)],
        10,
        0,
        "10 starts a new window [10, 20); stream time 10 closes [0, 10) with grace 0, since its "
        "end 10 <= 10.",
    ),
    _ex(
        [("a", 20), ("b", 20), ("a", 20)],
        10,
        0,
        "Events with the same timestamp all count; an event exactly on a window start belongs "
        "to the window it starts.",
    ),
    _ex(
        [("a", 3), ("a", 30), ("a", 7), ("a", 29), ("a", 2)],
        10,
        0,
        "Stream time never goes back: after 30, the late 7 does not lower it.",
    ),
)


#: Seconds per call in the first check, so that an answer that hangs is stopped soon.
CALL_TIMEOUT = 2.0


def _one_pass(answer: dict[str, Any]) -> None:
    """The events as a generator, read once: an answer that reads them twice sees nothing."""
    events = [("a", 5), ("a", 25), ("a", 1)]
    what = f"windowed_counts(iter({events!r}), 10, 0)"
    got = invoke(answer["windowed_counts"], (iter(events), 10, 0), what=what, timeout=CALL_TIMEOUT)
    expected = reference_windowed_counts(events, 10, 0)
    if not _equal(got, expected):
        raise Fail(
            f"{what} returned {short_repr(got, 80)}; expected {short_repr(expected, 80)}.",
            counterexample=f"{what} -> {short_repr(got, 80)} (expected {short_repr(expected, 80)})",
            kind="one_pass",
        )


def _worked(answer: dict[str, Any]) -> None:
    examples("windowed_counts", _WORKED, returns="tuple", equal=_equal, timeout=CALL_TIMEOUT)(
        answer
    )
    _one_pass(answer)


_HINTS = {
    "default": "Walk the counterexample event by event: update stream time first (max with "
    "this timestamp), then compare the window's end with stream time - grace.",
    "type": "Return a tuple of two things: the dict of counts and the list of late events.",
    "differs": "Read the trace: each line shows the stream time after the event and what the "
    "rule says about it. Compare with what your code did for the first differing event.",
}

EXERCISE = Exercise(
    id="ex06_windowed_counts",
    title="Count in windows, late events aside",
    chapter=5,
    contract=CONTRACT,
    names=("windowed_counts",),
    checks=(
        Check(
            "worked examples: in order, late, exactly on the grace boundary, a one-pass stream",
            3,
            _worked,
            {
                **_HINTS,
                "one_pass": "events may be a stream you can read only once (a generator): go "
                "through it a single time, updating stream time as you go.",
            },
        ),
        Check(
            "agrees with Kafka Streams' grace rule on generated out-of-order streams",
            4,
            agree_with_reference(
                "windowed_counts",
                _cases(),
                reference_windowed_counts,
                equal=_equal,
                max_examples=150,
                describe=_describe,
            ),
            _HINTS,
            timeout=15.0,
        ),
        Check(
            "events on the first and last millisecond of windows, grace 0 and whole windows",
            3,
            agree_with_reference(
                "windowed_counts",
                _cases(graces=(0, 0, 0, 1, 2, 5, 10), edges_only=True),
                reference_windowed_counts,
                equal=_equal,
                max_examples=80,
                describe=_describe,
            ),
            _HINTS,
            timeout=15.0,
        ),
    ),
)
