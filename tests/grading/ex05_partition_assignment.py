"""Mutants and alternative correct answers for ex05_partition_assignment (Python source)."""

_CHECK = """
def _check(partitions, members):
    if not members or len(set(members)) != len(members) or partitions < 0:
        raise ValueError("bad group")
"""

# The reference shape every sticky mutant below changes in one place.
_STICKY = (
    _CHECK
    + """
def assign(partitions, members, previous=None):
    _check(partitions, members)
    members = sorted(members)
    previous = previous or {}
    q, r = divmod(partitions, len(members))
    kept = {m: sorted(p for p in previous.get(m, []) if 0 <= p < partitions) for m in members}
    order = sorted(members, key=lambda m: (-len(kept[m]), m))
    share = {m: q + (1 if i < r else 0) for i, m in enumerate(order)}
    result = {m: kept[m][: share[m]] for m in members}
    taken = {p for ps in result.values() for p in ps}
    free = [p for p in range(partitions) if p not in taken]
    for m in members:
        need = share[m] - len(result[m])
        result[m] += free[:need]
        free = free[need:]
    return {m: sorted(ps) for m, ps in result.items()}
"""
)

MUTANTS = {
    # Round robin from scratch every time: balanced, but it ignores previous.
    "round robin, not sticky": _CHECK
    + """
def assign(partitions, members, previous=None):
    _check(partitions, members)
    members = sorted(members)
    result = {m: [] for m in members}
    for p in range(partitions):
        result[members[p % len(members)]].append(p)
    return result
""",
    # The larger shares go to the first members by name, not to those that owned more.
    "larger shares by name": _STICKY.replace(
        "order = sorted(members, key=lambda m: (-len(kept[m]), m))", "order = members"
    ),
    # Members are not sorted: the spare partitions go out in the caller's order.
    "depends on the order of members": _STICKY.replace(
        "    members = sorted(members)\n", "", 1
    ).replace(
        "order = sorted(members, key=lambda m: (-len(kept[m]), m))",
        "order = sorted(members, key=lambda m: -len(kept[m]))",
    ),
    # Keeps every previous partition, however many: a newcomer may get nothing.
    "keeps everything it had": _STICKY.replace(
        "result = {m: kept[m][: share[m]] for m in members}",
        "result = {m: list(kept[m]) for m in members}",
    ),
    # Treats a departed member's partitions as still taken: they are never handed out again.
    "departed members keep theirs": _STICKY.replace(
        "taken = {p for ps in result.values() for p in ps}",
        "taken = {p for ps in result.values() for p in ps} | {p for ps in previous.values() for p in ps}",
    ),
    # Does not drop previous partitions that no longer exist.
    "old partitions kept": _STICKY.replace("if 0 <= p < partitions", ""),
    # No checks at all.
    "no ValueError": _STICKY.replace("    _check(partitions, members)\n", ""),
}

ALTERNATIVES = {
    # Keeps the highest-numbered partitions, breaks ties by reverse name, deals the rest out
    # one at a time to the member furthest below its share.
    "keep the highest, deal one at a time": _CHECK
    + """
def assign(partitions, members, previous=None):
    _check(partitions, members)
    previous = previous or {}
    group = sorted(members, reverse=True)
    q, r = divmod(partitions, len(group))
    mine = {m: sorted((p for p in previous.get(m, ()) if p < partitions), reverse=True) for m in group}
    big = set(sorted(group, key=lambda m: (len(mine[m]) > q, m), reverse=True)[:r])
    share = {m: q + (m in big) for m in group}
    out = {m: mine[m][: share[m]] for m in group}
    owned = {p for ps in out.values() for p in ps}
    spare = [p for p in range(partitions) if p not in owned]
    while spare:
        m = max(group, key=lambda m: (share[m] - len(out[m]), m))
        out[m].append(spare.pop(0))
    return {m: sorted(out[m]) for m in sorted(group)}
""",
    # KIP-54's way: everyone keeps everything, the free partitions go to the least loaded, then
    # one partition at a time moves from the most loaded member to the least loaded.
    "rebalance one move at a time": _CHECK
    + """
def assign(partitions, members, previous=None):
    _check(partitions, members)
    group = sorted(members)
    owned = {m: [] for m in group}
    for m, ps in sorted((previous or {}).items()):
        if m in owned:
            owned[m] = sorted(p for p in ps if 0 <= p < partitions)
    taken = {p for ps in owned.values() for p in ps}

    def least():
        return min(group, key=lambda m: (len(owned[m]), m))

    def most():
        return max(group, key=lambda m: (len(owned[m]), m))

    for p in range(partitions):
        if p not in taken:
            owned[least()].append(p)
    while len(owned[most()]) - len(owned[least()]) > 1:
        giver, taker = most(), least()
        owned[taker].append(owned[giver].pop())
    return {m: sorted(owned[m]) for m in group}
""",
}
