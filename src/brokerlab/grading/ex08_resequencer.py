"""Exercise 8 (chapter 06): restore per-key order from a source that reorders and duplicates.

The answer is a class; the grader replays streams of ``push(key, seq, payload)`` calls into a
fresh instance and compares what each push releases, and ``pending()`` after it, with
:class:`ReferenceResequencer`. The streams come from

- generated permutations of a few keys' sequences, with duplicates and gaps, shrunk by
  hypothesis to the shortest one that fails;
- the reference broker itself: :func:`broker_streams` runs the simulation with its
  ``network_delay`` (reordering) and ``duplicate_delivery`` faults and reads the stream off the
  consumer's deliveries in the history; a failure is cut to its shortest failing prefix.

Memory is measured as the issue says: ``len(pickle.dumps(resequencer))`` after 10,000 and after
100,000 in-order messages over the same 10 keys, in the learner's own process. (A class defined
in a notebook pickles by reference to ``__main__``; the grader pickles the learner's own classes
by name, so that answers run from source measure the same.)
"""

from __future__ import annotations

import io
import pickle
import types
from functools import cache
from typing import Any

from hypothesis import strategies as st

from ..scenario import Producers, Scenario
from ..simulation import simulate
from .core import Check, Exercise
from .helpers import agree_with_reference
from .sandbox import Fail, invoke, short_repr

__all__ = ["EXERCISE", "ReferenceResequencer", "broker_streams"]

CONTRACT = """\
A class `Resequencer()` with `push(key, seq: int, payload) -> list[tuple]` and
`pending() -> int`. It restores each key's order from a source that reorders and duplicates
messages.

- Sequence numbers start at 1 for each key.
- `push` returns the `(key, seq, payload)` tuples that are now ready, in order: this message,
  if it is the next one for its key, followed by any buffered ones it unblocks.
- A duplicate (a `seq` already released or already buffered) returns `[]` and changes nothing.
- `pending()` is the number of buffered messages.
- Memory stays bounded by the keys plus the buffered messages: released messages leave nothing
  behind that grows with their count. The grader measures the state as
  `len(pickle.dumps(resequencer))` after 10,000 and after 100,000 in-order messages with small
  payloads over the same 10 keys, in your own process, and it must grow by less than 10%. So the
  object must be picklable.
- The grader's input streams come from the reference broker's reorder and duplicate faults and
  from generated permutations. A failure is shown with the shortest input that breaks order,
  loses a message, releases a duplicate or grows.
"""

GROWTH_LIMIT = 0.10
SMALL, LARGE, KEYS = 10_000, 100_000, 10


class ReferenceResequencer:
    """Per key: the next sequence number expected, and the buffered messages ahead of it."""

    def __init__(self) -> None:
        self.expected: dict[Any, int] = {}
        self.waiting: dict[Any, dict[int, Any]] = {}

    def push(self, key: Any, seq: int, payload: Any) -> list[tuple]:
        nxt = self.expected.get(key, 1)
        held = self.waiting.get(key, {})
        if seq < nxt or seq in held:
            return []
        if seq > nxt:
            self.waiting.setdefault(key, {})[seq] = payload
            return []
        ready = [(key, seq, payload)]
        nxt += 1
        while nxt in held:
            ready.append((key, nxt, held.pop(nxt)))
            nxt += 1
        self.expected[key] = nxt
        if not held:
            self.waiting.pop(key, None)
        return ready

    def pending(self) -> int:
        return sum(len(h) for h in self.waiting.values())


# --- replaying a stream ------------------------------------------------------------------------


def _norm(got: Any) -> Any:
    if isinstance(got, list) and all(isinstance(t, (tuple, list)) for t in got):
        return [tuple(t) for t in got]
    return got


def _replay(cls: Any, stream: list[tuple]) -> list[tuple]:
    """(what push returned, pending() after it) for each message; stops at an exception."""
    r = cls()
    steps = []
    for key, seq, payload in stream:
        try:
            out = _norm(r.push(key, seq, payload))
            steps.append((out, r.pending()))
        except Exception as exc:  # shown in the trace, step by step
            steps.append(("raised", f"{type(exc).__name__}: {exc}"))
            break
    return steps


def reference_replay(stream: list[tuple]) -> list[tuple]:
    return _replay(ReferenceResequencer, stream)


def _driver(cls: Any) -> Any:
    def replay(stream: list[tuple]) -> list[tuple]:
        return _replay(cls, stream)

    return replay


def _first_difference(got: list, expected: list) -> int:
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return i
    return min(len(got), len(expected))


def _kind(stream: list[tuple], got: list, expected: list) -> str:
    i = _first_difference(got, expected)
    if i >= len(got) or got[i][0] == "raised":
        return "raised"
    out, want = got[i][0], expected[i][0]
    if not isinstance(out, list):
        return "type"
    released = {(k, s) for step in got[:i] if isinstance(step[0], list) for k, s, *_ in step[0]}
    if any(tuple(t[:2]) in released for t in out) or len(set(out)) < len(out):
        return "duplicate"
    if out != sorted(out, key=lambda t: (t[0] != out[0][0], t[1])) and len(out) > 1:
        return "order"
    if len(out) < len(want) or any(t not in out for t in want):
        return "held"
    if out != want:
        return "order"
    return "kept" if got[i][1] > expected[i][1] else "pending"


def _trace(stream: list[tuple], got: list, expected: list) -> str:
    i = _first_difference(got, expected)
    lines = ["pushes in arrival order:"]
    for n, msg in enumerate(stream[: i + 1]):
        g = got[n] if n < len(got) else None
        call = f"push{msg!r}"
        if g is None:
            lines.append(f"  #{n + 1} {call}: not reached")
            continue
        if g[0] == "raised":
            lines.append(f"  #{n + 1} {call} raised {g[1]}")
            continue
        lines.append(f"  #{n + 1} {call} -> {short_repr(g[0], 90)}, pending() -> {g[1]}")
    if i < len(expected):
        e = expected[i]
        lines.append(f"expected at #{i + 1}: {short_repr(e[0], 90)}, pending() -> {e[1]}")
    return "\n".join(lines)


_MESSAGES = {
    "duplicate": "It released a message twice (or one it had already released).",
    "held": "It held back (or lost) a message that was ready to be released.",
    "order": "It released messages out of order.",
    "pending": "pending() does not count the buffered messages.",
    "kept": "pending() counts more messages than are waiting: a duplicate (or a message already "
    "released) was buffered.",
    "raised": "It raised an exception.",
    "type": "push did not return a list of (key, seq, payload) tuples.",
}


def _fail(stream: list[tuple], got: list, expected: list, where: str) -> Fail:
    kind = _kind(stream, got, expected)
    return Fail(
        f"{_MESSAGES[kind]} ({where})",
        counterexample=_trace(stream, got, expected),
        kind=kind,
    )


# --- generated streams ----------------------------------------------------------------------------


@st.composite
def _streams(draw: Any) -> tuple[list[tuple]]:
    items = []
    for key in draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 4))
        for seq in range(1, n + 1):
            copies = draw(st.sampled_from((1, 1, 1, 2, 0)))  # 0: lost on the way (a gap)
            items += [(key, seq, f"{key}{seq}")] * copies
    return (draw(st.permutations(items)),)


def _generated(answer: dict[str, Any]) -> None:
    last: list[tuple] = []

    def describe(args: tuple, got: Any, expected: Any) -> str:
        last[:] = [(args[0], got, expected)]  # hypothesis replays the shrunk case last
        return _trace(args[0], got, expected)

    run = agree_with_reference(
        "Resequencer",
        _streams(),
        reference_replay,
        max_examples=150,
        describe=describe,
        timeout=2.0,  # per stream: an answer that hangs is stopped soon
    )
    try:
        run({"Resequencer": _driver(answer["Resequencer"])})
    except Fail as f:
        if f.kind != "differs" or not last:
            raise
        raise _fail(*last[0], "the shortest generated stream found") from None


# --- streams from the reference broker -------------------------------------------------------------


@cache
def broker_streams() -> tuple[tuple[tuple, ...], ...]:
    """The consumer's deliveries in simulated runs under reordering and duplication, as
    ``(key, seq, payload)`` (seq numbered per key in publish order, payload the message id),
    the shortest first; only streams that are really out of order or duplicated."""
    found = []
    for seed in range(1, 41):
        run = simulate(
            Scenario(
                messages=6 + seed % 9,
                producers=Producers(keys=2 + seed % 2, rate=200.0),
                faults={"network_delay": 0.4, "duplicate_delivery": 0.3},
                seed=seed,
            )
        )
        number: dict[str, tuple[str, int]] = {}
        count: dict[str, int] = {}
        for e in run.history:
            if e.kind == "publish" and e.msg not in number:
                count[e.key] = count.get(e.key, 0) + 1
                number[e.msg] = (e.key, count[e.key])
        stream = tuple(
            (*number[e.msg], e.msg) for e in run.history if e.kind == "deliver" and e.msg in number
        )
        steps = reference_replay(list(stream))
        if sum(len(s[0]) for s in steps) < len(stream) or steps[-1][1] > 0:
            found.append(stream)  # something was out of order or duplicated
    return tuple(sorted(found, key=len))


def _broker(answer: dict[str, Any]) -> None:
    cls = answer["Resequencer"]
    for number, stream in enumerate(broker_streams(), start=1):
        stream = list(stream)
        got = invoke(_driver(cls), (stream,), what="Resequencer on a broker stream")
        expected = reference_replay(stream)
        if got == expected:
            continue
        cut = len(stream)
        for n in range(1, len(stream) + 1):  # the shortest failing prefix
            part = stream[:n]
            if invoke(_driver(cls), (part,), what="Resequencer") != reference_replay(part):
                cut = n
                break
        part = stream[:cut]
        failure = _fail(
            part,
            invoke(_driver(cls), (part,), what="Resequencer"),
            reference_replay(part),
            f"broker stream {number}, cut to its first {cut} deliveries",
        )
        raise failure


# --- memory ----------------------------------------------------------------------------------------


class _Sizer(pickle.Pickler):
    """Pickles the learner's own classes and functions by name, as a notebook's ``__main__``
    would; everything else as pickle does."""

    def __init__(self, file: Any, module: str) -> None:
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)
        self.module = module

    def reducer_override(self, obj: Any) -> Any:
        if (
            isinstance(obj, (type, types.FunctionType))
            and getattr(obj, "__module__", None) == self.module
            and "<" not in obj.__qualname__
        ):
            return str, (obj.__qualname__,)
        return NotImplemented


def _size(obj: Any, module: str) -> int:
    buffer = io.BytesIO()
    _Sizer(buffer, module).dump(obj)
    return len(buffer.getvalue())


#: The same 10 key objects for every push, so that the pickled size (pickle stores a repeated
#: object once) does not depend on the order a set of them happens to be in.
_KEY_NAMES = tuple(f"k{i}" for i in range(KEYS))


def _in_order(r: Any, start: int, stop: int) -> int:
    """Push messages start..stop-1 in order over KEYS keys; return how many were released."""
    released = 0
    for i in range(start, stop):
        released += len(r.push(_KEY_NAMES[i % KEYS], i // KEYS + 1, i % 100))
    return released


def _memory(answer: dict[str, Any]) -> None:
    cls = answer["Resequencer"]
    r = invoke(cls, (), what="Resequencer()")
    module = getattr(cls, "__module__", "__main__")
    sizes = []
    for start, stop in ((0, SMALL), (SMALL, LARGE)):
        released = invoke(_in_order, (r, start, stop), what=f"{stop - start:,} in-order pushes")
        if released != stop - start:
            raise Fail(
                f"{stop - start:,} messages pushed in order released {released:,}: each in-order "
                "message must be released at once.",
                counterexample=f"push('k0', 1, 0), push('k1', 1, 1), ... ({KEYS} keys, in order)",
                kind="held",
            )
        try:
            sizes.append(_size(r, module))
        except Exception as exc:
            raise Fail(
                f"pickle.dumps(resequencer) failed ({type(exc).__name__}: "
                f"{short_repr(str(exc), 120)}). The grader measures memory by pickling it, so "
                "it must be picklable.",
                counterexample="pickle.dumps(Resequencer()) after in-order pushes",
                kind="unpicklable",
            ) from None
    growth = sizes[1] / sizes[0] - 1
    if growth >= GROWTH_LIMIT:
        raise Fail(
            f"The pickled state grew by {growth:.0%} between {SMALL:,} and {LARGE:,} in-order "
            f"messages (the limit is {GROWTH_LIMIT:.0%}): something keeps every released "
            "message.",
            counterexample=f"after {SMALL:,} in-order messages over {KEYS} keys: "
            f"{sizes[0]:,} bytes; after {LARGE:,}: {sizes[1]:,} bytes",
            kind="grows",
        )


_HINTS = {
    "default": "Keep, per key, the next sequence number you expect and a dict of the messages "
    "that arrived early.",
    "duplicate": "A seq below the next expected one was released already, and one in the "
    "buffer is waiting: both are duplicates, so return [] and change nothing.",
    "held": "After releasing a message, keep releasing the buffered ones while the next "
    "expected seq is in the buffer.",
    "order": "Release a key's messages in seq order: first this one, then the buffered ones it "
    "unblocks, one after the other.",
    "kept": "Drop a duplicate before buffering it: a seq below the next expected one was "
    "released already, and one already in the buffer is waiting.",
    "pending": "pending() counts the messages in the buffers, across all keys (released ones "
    "are not pending).",
    "grows": "Do not remember every released seq (a set of seen numbers grows for ever): the "
    "next expected seq per key says which ones were released.",
    "unpicklable": "Keep the state in plain dicts and ints: a lambda (for example in "
    "defaultdict(lambda: 1)) cannot be pickled; dict.get(key, 1) does the same job.",
    "type": "push returns a list of (key, seq, payload) tuples, possibly empty.",
}

EXERCISE = Exercise(
    id="ex08_resequencer",
    title="Put each key's messages back in order",
    chapter=6,
    contract=CONTRACT,
    names=("Resequencer",),
    checks=(
        Check(
            "restores order on generated permutations with duplicates and gaps",
            4,
            _generated,
            _HINTS,
            timeout=15.0,
        ),
        Check(
            "restores order on streams from the reference broker's reorder and duplicate faults",
            3,
            _broker,
            _HINTS,
            timeout=15.0,
        ),
        Check(
            "memory: the pickled state grows by less than 10% from 10,000 to 100,000 messages",
            3,
            _memory,
            _HINTS,
            timeout=30.0,
        ),
    ),
)
