"""What a rejected call on the log must leave alone: shared by the log's test files."""

from __future__ import annotations

import copy

from brokerlab.log import Log


def log_state(log: Log):
    """Everything a rejected call must leave alone."""
    topics = {
        name: [(p.log_start_offset, p.records(), dict(p._open)) for p in t.partitions]
        for name, t in log._topics.items()
    }
    groups = {
        name: (
            copy.deepcopy(g.committed),
            {m: list(mem.assignment) for m, mem in g.members.items()},
            g.generation,
            len(g.events),
        )
        for name, g in log._groups.items()
    }
    return topics, groups
