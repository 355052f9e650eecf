"""Exercise 5 (chapter 04): assign a topic's partitions to a consumer group, stickily.

The grader needs no reference assignment: it checks properties of the answer's own results.
The one number it must compute is the fewest partitions any balanced assignment has to move
(:func:`fewest_moves`), and that it computes exactly, not with an assignor of its own:

- with ``P`` partitions and ``M`` members, ``q, r = divmod(P, M)``: a balanced assignment gives
  ``r`` members ``q + 1`` partitions and the others ``q``;
- member ``i`` can keep at most ``min(n_i, share_i)`` of the ``n_i`` partitions it owned before
  (those that still exist), so the most any assignment keeps is
  ``sum(min(n_i, q)) + min(r, #{i : n_i > q})``: the ``r`` larger shares are worth one more
  kept partition exactly to the members that owned more than ``q``;
- that bound is reached: keep those partitions, then hand the rest (new partitions, those of
  departed members, the surplus) to the members below their share. So the fewest moves are the
  previously owned partitions (of current members) minus that maximum.

``tests/test_grading_assignment.py`` checks the formula against every balanced assignment of
small groups. This is the promise of Kafka's sticky assignors (KIP-54, and KIP-429's
cooperative-sticky): balanced first, then as few moves as balance allows.

A failing answer is shown with the smallest group change that breaks a property: the first
assignment of a small group, then a member joining or leaving, partitions added, or the topic
recreated with fewer partitions (so that ``previous`` names partitions that no longer exist).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations
from typing import Any

from .core import Check, Exercise
from .helpers import raises, smallest_failure
from .sandbox import Fail, expect_type, invoke, short_repr

__all__ = ["EXERCISE", "fewest_moves", "moved"]

CONTRACT = """\
`assign(partitions: int, members: list[str], previous: dict[str, list[int]] | None = None)
-> dict[str, list[int]]` assigns partitions `0 .. partitions-1` of one topic to the members of a
consumer group.

- Every member is a key of the result, possibly with an empty list, and each list is sorted.
- Together the lists hold exactly the partitions `0 .. partitions-1`, each once.
- An empty member list, a repeated member name or a negative partition count raises
  `ValueError`.
- It is balanced: the members' counts differ by at most 1.
- It is deterministic, and it does not depend on the order of `members`.
- With `previous` (the last assignment: each partition under at most one member; it may name
  members that have left and partitions that no longer exist), the number of moved partitions
  is the smallest any balanced assignment can achieve. A partition counts as moved when its
  previous owner is still a member and its owner changes. This is the promise of Kafka's
  sticky assignor (KIP-54).
- The grader shows a failure with the smallest group change that breaks a property: members
  joining or leaving, partitions added, or the topic recreated with fewer partitions.
"""

NAMES = ("a", "b", "c", "d")
#: Seconds per call, so that an answer that hangs is stopped soon.
CALL_TIMEOUT = 2.0


def _owners(assignment: dict[str, list[int]]) -> dict[int, str]:
    return {p: m for m, ps in assignment.items() for p in ps}


def fewest_moves(partitions: int, members: list[str], previous: dict[str, list[int]] | None) -> int:
    """The fewest partitions any balanced assignment must move (see the module docstring)."""
    q, r = divmod(partitions, len(members))
    previous = previous or {}
    counts = [sum(1 for p in previous.get(m, ()) if 0 <= p < partitions) for m in members]
    kept = sum(min(n, q) for n in counts) + min(r, sum(1 for n in counts if n > q))
    return sum(counts) - kept


def moved(
    partitions: int, members: list[str], previous: dict[str, list[int]] | None, result: dict
) -> list[tuple[int, str, str]]:
    """``(partition, from, to)`` for every partition that moved between current members."""
    before = _owners(previous or {})
    after = _owners(result)
    stay = set(members)
    return [
        (p, before[p], after.get(p, "nobody"))
        for p in range(partitions)
        if before.get(p) in stay and after.get(p) != before[p]
    ]


# --- calling the answer -----------------------------------------------------------------------


def _text(partitions: int, members: list[str], previous: Any) -> str:
    tail = "" if previous is None else f", previous={short_repr(previous, 200)}"
    return f"assign({partitions}, {members!r}{tail})"


def _call(fn: Any, partitions: int, members: list[str], previous: Any) -> dict:
    what = _text(partitions, members, previous)
    args = (
        (partitions, list(members)) if previous is None else (partitions, list(members), previous)
    )
    got = expect_type(invoke(fn, args, what=what, timeout=CALL_TIMEOUT), "dict", what)
    for m, ps in got.items():
        if not isinstance(ps, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in ps
        ):
            raise Fail(
                f"{what} gave member {m!r} {short_repr(ps, 60)}; the contract says each value is "
                "a list of partition numbers (ints).",
                counterexample=f"{what} -> {short_repr(got, 200)}",
                kind="type",
            )
    return got


def _structure(partitions: int, members: list[str], got: dict) -> str | None:
    """What is wrong with the result's shape (keys, sorted lists, each partition once), or None."""
    if set(got) != set(members):
        missing = sorted(set(members) - set(got))
        extra = sorted(set(got) - set(members), key=str)
        parts = []
        if missing:
            parts.append(f"member(s) {', '.join(map(repr, missing))} missing (give them [])")
        if extra:
            parts.append(f"key(s) {', '.join(map(repr, extra))} that are not members")
        return "the keys are not exactly the members: " + "; ".join(parts)
    every = sorted(p for ps in got.values() for p in ps)
    if every != list(range(partitions)):
        seen: dict[int, int] = {}
        for p in every:
            seen[p] = seen.get(p, 0) + 1
        twice = [p for p, n in seen.items() if n > 1]
        lost = [p for p in range(partitions) if p not in seen]
        bad = [p for p in seen if not 0 <= p < partitions]
        parts = []
        if lost:
            parts.append(f"partition(s) {lost} assigned to nobody")
        if twice:
            parts.append(f"partition(s) {twice} assigned twice")
        if bad:
            parts.append(f"partition(s) {bad} that do not exist (0..{partitions - 1})")
        return "the lists do not hold each partition exactly once: " + "; ".join(parts)
    unsorted = [m for m, ps in got.items() if ps != sorted(ps)]
    if unsorted:
        return f"the list of {unsorted[0]!r} is not sorted"
    return None


# --- the group changes the search tries, smallest first ---------------------------------------


def _changes(partitions: int, members: list[str]) -> Iterator[tuple[str, Any]]:
    if len(members) < len(NAMES):
        yield "join", NAMES[len(members)]
    if len(members) > 1:
        for m in members:
            yield "leave", m
    for k in (1, 2, 3):
        yield "add", k
    for k in (1, 2):
        if partitions - k >= 0:
            yield "fewer", k


def _size(change: tuple[str, Any]) -> int:
    kind, what = change
    return 1 if kind in ("join", "leave") else what


def scenarios() -> list[tuple[int, list[str], tuple[str, Any]]]:
    """(partitions, members, change), smallest first: 0..6 partitions, 1..4 members."""
    out = [
        (p, list(NAMES[:m]), change)
        for p in range(7)
        for m in range(1, len(NAMES) + 1)
        for change in _changes(p, list(NAMES[:m]))
    ]
    return sorted(out, key=lambda s: (s[0] + len(s[1]) + _size(s[2]), s[0], len(s[1])))


def _after(partitions: int, members: list[str], change: tuple[str, Any]) -> tuple[int, list[str]]:
    kind, what = change
    if kind == "join":
        return partitions, [*members, what]
    if kind == "leave":
        return partitions, [m for m in members if m != what]
    if kind == "add":
        return partitions + what, members
    return partitions - what, members


def _says(partitions: int, members: list[str], change: tuple[str, Any]) -> str:
    kind, what = change
    if kind in ("join", "leave"):
        return f"then {what!r} {kind}s"
    if kind == "add":
        return f"then {what} partition(s) are added"
    return f"then the topic is recreated with {partitions - what} partition(s)"


#: Hand-made ``previous`` the group changes cannot produce: uneven, naming members that left
#: and partitions that do not exist.
FIXED = (
    (4, ["a", "b", "c"], {"a": [0, 1, 2, 3]}),
    (4, ["a", "b", "c"], {"c": [0, 1, 2, 3]}),
    (5, ["a", "b"], {"a": [0], "b": [1, 2, 3, 4]}),
    (2, ["a", "b", "c"], {"a": [0, 1]}),
    (3, ["a", "b"], {"a": [0, 1, 2, 3, 4], "x": []}),
    (5, ["b", "c"], {"a": [0, 1, 2], "b": [3], "c": [4, 7]}),
    (6, ["a", "b", "c"], {"a": [5], "b": [0, 1, 2, 3], "c": [4], "z": [9]}),
    (0, ["a"], {"a": [0, 1]}),
    (3, ["a"], {}),
)


class _Run:
    """One property, tried on every scenario and hand-made case; the first failure is raised."""

    def __init__(self, fn: Any, prop: Any, kind: str) -> None:
        self.fn, self.prop, self.kind = fn, prop, kind

    def one(self, partitions: int, members: list[str], previous: Any, story: list[str]) -> dict:
        try:
            got = _call(self.fn, partitions, members, previous)
        except Fail as f:
            f.counterexample = "\n".join([*story, f.counterexample or ""]).strip()
            raise
        story.append(f"{_text(partitions, members, previous)}\n  -> {short_repr(got, 200)}")
        problem = self.prop(self.fn, partitions, members, previous, got)
        if problem:
            raise Fail(
                f"{_text(partitions, members, previous)}: {problem}.",
                counterexample="\n".join(story) + f"\n  {problem}",
                kind=self.kind,
            )
        return got

    def scenario(self, case: tuple) -> Fail | None:
        partitions, members, change = case
        story: list[str] = []
        try:
            first = self.one(partitions, members, None, story)
            if _structure(partitions, members, first):
                return None  # the structure check reports this one
            story.append(_says(partitions, members, change) + ":")
            p2, m2 = _after(partitions, members, change)
            self.one(p2, m2, first, story)
        except Fail as f:
            return f
        return None

    def fixed(self, case: tuple) -> Fail | None:
        try:
            self.one(*case, [])
        except Fail as f:
            return f
        return None

    def __call__(self) -> None:
        smallest_failure(scenarios(), self.scenario, what="group changes")
        fixed = sorted(FIXED, key=lambda c: (c[0] + len(c[1]), c[0]))
        smallest_failure(fixed, self.fixed, what="hand-made previous assignments")


def _structure_prop(fn: Any, partitions: int, members: list[str], previous: Any, got: dict) -> Any:
    return _structure(partitions, members, got)


def _balanced(fn: Any, partitions: int, members: list[str], previous: Any, got: dict) -> Any:
    if _structure(partitions, members, got):
        return None
    sizes = {m: len(got[m]) for m in members}
    if max(sizes.values()) - min(sizes.values()) > 1:
        return f"not balanced: the counts are {sizes}, which differ by more than 1"
    return None


def _stable(fn: Any, partitions: int, members: list[str], previous: Any, got: dict) -> Any:
    again = _call(fn, partitions, members, previous)
    if again != got:
        return f"a second identical call returned {short_repr(again, 200)}: not deterministic"
    others = [list(p) for p in permutations(members)][1:]
    for order in others[:6]:
        other = _call(fn, partitions, order, previous)
        if other != got:
            return (
                f"with members in the order {order!r} it returns {short_repr(other, 200)}: the "
                "result depends on the order of members"
            )
    return None


def _sticky(fn: Any, partitions: int, members: list[str], previous: Any, got: dict) -> Any:
    if previous is None or _structure(partitions, members, got):
        return None
    if _balanced(fn, partitions, members, previous, got):
        return None
    moves = moved(partitions, members, previous, got)
    best = fewest_moves(partitions, members, previous)
    if len(moves) > best:
        shown = ", ".join(f"{p} ({a} -> {b})" for p, a, b in moves)
        return (
            f"it moves {len(moves)} partition(s) [{shown}], but a balanced assignment can move "
            f"as few as {best}"
        )
    return None


def _run(prop: Any, kind: str) -> Any:
    def run(answer: dict[str, Any]) -> None:
        _Run(answer["assign"], prop, kind)()

    return run


_BAD = [
    (3, []),
    (3, ["a", "a"]),
    (4, ["a", "b", "a"]),
    (-1, ["a"]),
    (-5, ["a", "b"]),
]

_HINTS = {
    "default": "Work it out on paper for the counterexample: who had which partition, and what "
    "the group looks like now.",
    "raised": "previous may name members that have left and partitions that no longer exist: "
    "skip them instead of looking them up.",
    "type": "Return a dict from each member name to a list of ints.",
}

EXERCISE = Exercise(
    id="ex05_partition_assignment",
    title="Assign partitions to a consumer group",
    chapter=4,
    contract=CONTRACT,
    names=("assign",),
    checks=(
        Check(
            "every member is a key, each partition is assigned exactly once, lists sorted",
            2,
            _run(_structure_prop, "structure"),
            {
                **_HINTS,
                "structure": "Start the result with {m: [] for m in members}, give out exactly "
                "range(partitions), ignore previous partitions >= partitions and previous "
                "members that left, and sort each list at the end.",
            },
        ),
        Check(
            "balanced: the counts differ by at most 1",
            2,
            _run(_balanced, "unbalanced"),
            {
                **_HINTS,
                "unbalanced": "With P partitions and M members, q, r = divmod(P, M): r members "
                "get q + 1 partitions and the rest q. A member that kept its old partitions may "
                "have to give some up.",
            },
        ),
        Check(
            "deterministic, and the same whatever the order of members",
            2,
            _run(_stable, "order"),
            {
                **_HINTS,
                "order": "Sort the members (and break every tie by name) before deciding "
                "anything, so that the input order cannot matter.",
            },
        ),
        Check(
            "moves as few partitions as any balanced assignment can (sticky)",
            3,
            _run(_sticky, "moves"),
            {
                **_HINTS,
                "moves": "Let every current member keep its previous partitions, up to its "
                "share; give the r larger shares (q + 1) to the members that owned more than q "
                "before; then hand the remaining partitions to those below their share.",
            },
            timeout=15.0,
        ),
        Check(
            "refuses an empty group, a repeated member and a negative partition count",
            1,
            raises(
                "assign",
                ValueError,
                _BAD,
                "Check the arguments first: raise ValueError for no members, a name given twice "
                "(compare len(set(members)) with len(members)) or partitions < 0.",
            ),
            {"default": "Raise ValueError for the bad input the contract lists."},
        ),
    ),
)
