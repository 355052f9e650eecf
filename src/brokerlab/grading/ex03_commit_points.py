"""Exercise 3 (chapter 03): where to commit, for at-most-once and for at-least-once.

The answers run on the package's log and Kafka-style consumer under a crash at every call to
``poll``, ``commit`` and ``process`` (:mod:`brokerlab.grading.logloop`); the verdict is the
checker's reading of the log's history.
"""

from __future__ import annotations

from typing import Any

from .core import Check, Exercise
from .logloop import search_log

__all__ = ["EXERCISE"]

CONTRACT = """\
Two loops over the package's log consumer (`brokerlab`'s Kafka-style `Consumer`: `poll()`,
`commit()` for the positions of what was polled, `commit(offsets)` for explicit offsets,
`position()`; the committed offset is the next one to read).

- The answer is `at_most_once(consumer, process) -> None` and
  `at_least_once(consumer, process) -> None`. Each loop polls until `poll()` returns no
  records, calls `process(record)` for every record, and commits explicitly. Auto-commit is off.
- The grader injects a crash at every call to `poll`, `commit` and `process` in turn, on topics
  of 1 to 3 partitions. After a crash it calls the same function again with a fresh consumer of
  the same group, which starts from the committed offsets.
- It checks, from the history, that `at_most_once` never processes a record twice, that
  `at_least_once` never skips one, and that both process every record when nothing crashes.
"""


def _clean(answer: dict[str, Any]) -> None:
    for name in ("at_most_once", "at_least_once"):
        search_log(answer[name], name, None, max_faults=0)


def _crashes(name: str, guarantee: str) -> Any:
    def run(answer: dict[str, Any]) -> None:
        search_log(answer[name], name, guarantee, max_faults=1)

    return run


_COMMON = {
    "raised": "The loop raised: read the message. commit(offsets) takes "
    "{(topic, partition): next_offset}, and record.offset + 1 is the next offset.",
    "reached": "Use only poll(), commit(), commit(offsets) and position() on the consumer.",
    "unprocessed": "Keep polling until poll() returns no records, and process every record of "
    "every batch.",
}

EXERCISE = Exercise(
    id="ex03_commit_points",
    title="Where to commit",
    chapter=3,
    contract=CONTRACT,
    names=("at_most_once", "at_least_once"),
    checks=(
        Check(
            "both loops process every record once and commit it, when nothing crashes",
            2,
            _clean,
            {
                **_COMMON,
                "default": "With no crash, each record should be processed exactly once.",
                "uncommitted": "Commit what you processed: at the end the committed offset of "
                "each partition should be the next offset to read (the log's end).",
                "duplicate": "A record was processed twice with no crash at all: does the loop "
                "process a batch twice, or read back from an old offset?",
            },
        ),
        Check(
            "at_most_once never processes a record twice, whatever call crashes",
            4,
            _crashes("at_most_once", "at-most-once"),
            {
                **_COMMON,
                "default": "At most once means: commit past a record before processing it.",
                "duplicate": "Commit past a record before you process it, and commit "
                "record.offset + 1 (the committed offset is the next one to read): a commit "
                "after processing, or of record.offset itself, lets a restart process the "
                "record again.",
            },
        ),
        Check(
            "at_least_once never skips a record, whatever call crashes",
            4,
            _crashes("at_least_once", "at-least-once"),
            {
                **_COMMON,
                "default": "At least once means: process a record before committing past it.",
                "skipped": "Commit only after processing: a commit before process(record) "
                "lets a crash in between skip the record forever.",
            },
        ),
    ),
)
