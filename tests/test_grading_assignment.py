"""The grader of ex05 computes the fewest moves exactly: its formula against every balanced
assignment of small groups (brute force)."""

from __future__ import annotations

from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.grading.ex05_partition_assignment import fewest_moves, moved


def _brute_force(partitions: int, members: list[str], previous: dict[str, list[int]]) -> int:
    best = None
    for owners in product(members, repeat=partitions):
        sizes = [owners.count(m) for m in members]
        if max(sizes) - min(sizes) > 1:
            continue
        result = {m: [p for p, o in enumerate(owners) if o == m] for m in members}
        n = len(moved(partitions, members, previous, result))
        best = n if best is None else min(best, n)
    return best


@st.composite
def _groups(draw):
    partitions = draw(st.integers(0, 6))
    members = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True))
    everyone = sorted(set(members) | set(draw(st.lists(st.sampled_from("abxy"), max_size=2))))
    previous: dict[str, list[int]] = {}
    for p in range(partitions + 2):  # some previous partitions no longer exist
        owner = draw(st.sampled_from([None, *everyone]))
        if owner is not None:
            previous.setdefault(owner, []).append(p)
    return partitions, members, previous


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_groups())
def test_fewest_moves_is_what_the_best_balanced_assignment_achieves(group):
    partitions, members, previous = group
    assert fewest_moves(partitions, members, previous) == _brute_force(
        partitions, members, previous
    )


def test_a_member_joining_a_balanced_group_moves_only_what_it_takes():
    previous = {"a": [0, 1], "b": [2, 3]}
    assert fewest_moves(4, ["a", "b", "c"], previous) == 1
    assert fewest_moves(4, ["a", "c"], previous) == 0  # b's partitions were free to take
