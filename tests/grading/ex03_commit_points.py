"""Mutants and alternative correct answers for ex03_commit_points (Python source)."""

_GOOD_AMO = """
def at_most_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            consumer.commit({(record.topic, record.partition): record.offset + 1})
            process(record)
"""

_GOOD_ALO = """
def at_least_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            process(record)
        consumer.commit()
"""

MUTANTS = {
    # Commits the record's own offset: the committed offset is the NEXT one to read, so a
    # restart reads (and processes) the record again.
    "at most once commits offset, not offset + 1": _GOOD_ALO
    + """
def at_most_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            consumer.commit({(record.topic, record.partition): record.offset})
            process(record)
""",
    # Commits only at the end of the batch: a crash mid-batch processes the batch again.
    "at most once commits at the end of the batch": _GOOD_ALO
    + """
def at_most_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            process(record)
        consumer.commit()
""",
    # Commits before processing in the at-least-once loop: a crash in between skips records.
    "at least once commits before processing": _GOOD_AMO
    + """
def at_least_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        consumer.commit()
        for record in records:
            process(record)
""",
    # Never commits: nothing is ever skipped, but every restart processes everything again
    # (at most once broken), and the clean run leaves nothing committed.
    "never commits": """
def at_most_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            process(record)

def at_least_once(consumer, process):
    while True:
        records = consumer.poll()
        if not records:
            return
        for record in records:
            process(record)
""",
    # Processes only the first poll.
    "one poll only": """
def at_most_once(consumer, process):
    records = consumer.poll()
    consumer.commit()
    for record in records:
        process(record)

def at_least_once(consumer, process):
    records = consumer.poll()
    for record in records:
        process(record)
    consumer.commit()
""",
    # Swaps the two loops.
    "the two loops swapped": _GOOD_AMO.replace("def at_most_once", "def at_least_once")
    + _GOOD_ALO.replace("def at_least_once", "def at_most_once"),
}

ALTERNATIVES = {
    # Commits the whole batch (positions after the poll) before processing it; commits per
    # record in the at-least-once loop.
    "batch commit first, record commit after": """
def at_most_once(consumer, process):
    batch = consumer.poll()
    while len(batch) > 0:
        consumer.commit()
        for r in batch:
            process(r)
        batch = consumer.poll()


def at_least_once(consumer, process):
    batch = consumer.poll()
    while len(batch) > 0:
        for r in batch:
            process(r)
            consumer.commit({r.tp: r.offset + 1})
        batch = consumer.poll()
""",
    # Per-partition offsets gathered in a dict, committed together; iteration by partition.
    "per-partition offsets": """
def _next_offsets(records):
    out = {}
    for record in records:
        out[(record.topic, record.partition)] = record.offset + 1
    return out


def at_most_once(consumer, process):
    for _ in iter(int, 1):
        records = consumer.poll()
        if not records:
            break
        consumer.commit(_next_offsets(records))
        for tp in records.partitions():
            for record in records.records(tp):
                process(record)


def at_least_once(consumer, process):
    for _ in iter(int, 1):
        records = consumer.poll()
        if not records:
            break
        for tp in records.partitions():
            for record in records.records(tp):
                process(record)
        consumer.commit(_next_offsets(records))
""",
}
