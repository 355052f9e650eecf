"""The grader's core: an exercise is a contract and a list of checks; a report is their outcome.

See the package docstring (:mod:`brokerlab.grading`) for the guide to writing an exercise.
"""

from __future__ import annotations

import difflib
import html
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument
from .sandbox import Fail, _TimeUp, budget, short_repr

__all__ = ["STATUSES", "Check", "Exercise", "Report", "Row", "grade"]

#: A check's outcome: passed, failed (a wrong answer), error (the code raised, printed a flood,
#: reached into the grader, or a name is missing), timeout (it did not finish in time).
STATUSES = ("passed", "failed", "error", "timeout")
# failure kinds that are reported as "error" rather than "failed"
_ERROR_KINDS = frozenset(("raised", "stub", "flood", "reached", "missing", "grader"))

#: Once a check has timed out, the checks after it share this many CPU seconds: an answer that
#: hangs is graded in its first check's timeout plus this.
AFTER_TIMEOUT = 0.5

#: Hints the framework gives for its own failure kinds when a check has none of its own.
GENERIC_HINTS = {
    "stub": "This is still the stub: replace the raise NotImplementedError line with your "
    "answer, run the cell, then run the check again.",
    "timeout": "Look for a loop whose condition never changes, or work that grows much faster "
    "than the input.",
    "flood": "Remove the print statements inside loops; the grader does not read them.",
    "mutated": "Work on a copy (list(x), dict(x)) instead of changing what you were given.",
    "reached": "Use only what the contract gives you; the grader judges from the broker's "
    "record, so its internals cannot help.",
    "missing": "Define every name the contract lists, spelt exactly as written, and run its "
    "cell before checking.",
    "type": "Return exactly the type the contract names.",
}


@dataclass(frozen=True)
class Check:
    """One graded property of an answer.

    - ``name``: what it checks, in plain words (shown in the report);
    - ``points``: what passing it earns;
    - ``run(answer)``: ``answer`` maps each name of the contract to the learner's object. It
      calls learner code only through :func:`brokerlab.grading.sandbox.call` and raises
      :class:`~brokerlab.grading.sandbox.Fail` when the answer is wrong; returning is passing;
    - ``hints``: failure kind -> hint; ``"default"`` is required;
    - ``timeout``: seconds of CPU time for all the learner calls this check makes (and the
      grader's work between them); see :mod:`brokerlab.grading.sandbox` for the wall-clock
      limit beside it.
    """

    name: str
    points: int
    run: Callable[[dict[str, Any]], None]
    hints: Mapping[str, str]
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if "default" not in self.hints:
            raise InvalidArgument(
                f"Check {self.name!r}: hints has no 'default' entry; every check needs one."
            )
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 0:
            raise InvalidArgument(
                f"Check {self.name!r}: points={self.points!r} is not an int >= 0."
            )

    def hint(self, kind: str) -> str:
        """The hint for a failure of ``kind``: the check's own, the framework's, or the default."""
        return self.hints.get(kind) or GENERIC_HINTS.get(kind) or self.hints["default"]


@dataclass(frozen=True)
class Exercise:
    """A graded exercise: its contract and its checks.

    ``id`` is ``exNN_name`` (also the notebook's name); ``chapter`` the chapter number (int);
    ``contract`` the exact contract in Markdown; ``names`` the names the answer provides.
    """

    id: str
    title: str
    chapter: int
    contract: str
    names: tuple[str, ...]
    checks: tuple[Check, ...]

    @property
    def points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def label(self) -> str:
        """``"ex02 idempotent consumer"``: the id in words."""
        return self.id.replace("_", " ")

    def _repr_markdown_(self) -> str:
        return f"**{self.id}: {self.title}** (chapter {self.chapter:02d}, {self.points} points)\n\n{self.contract}"

    def __repr__(self) -> str:
        return f"Exercise({self.id}: {self.title}, chapter {self.chapter}, {self.points} points)"


@dataclass(frozen=True)
class Row:
    """One check's outcome in a :class:`Report`."""

    name: str
    points: int  # earned
    max_points: int
    status: str  # one of STATUSES
    message: str = ""
    counterexample: str | None = None
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class Report:
    """The outcome of :func:`brokerlab.grading.check`: one :class:`Row` per check.

    ``repr`` is one stable line (``ex02 idempotent consumer: 3/5 checks passed (6/10
    points)``); in Jupyter it is shown as a table with the counterexamples and hints;
    ``print(report.explain())`` gives the same as text.
    """

    exercise: str
    rows: tuple[Row, ...]
    label: str = field(default="")

    @property
    def score(self) -> int:
        return sum(r.points for r in self.rows)

    @property
    def max_score(self) -> int:
        return sum(r.max_points for r in self.rows)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        n = sum(r.passed for r in self.rows)
        return (
            f"{self.label or self.exercise}: {n}/{len(self.rows)} checks passed "
            f"({self.score}/{self.max_score} points)"
        )

    def explain(self) -> str:
        """Every check with its status and, for a failure, the message, counterexample, hint."""
        lines = [repr(self)]
        for r in self.rows:
            lines.append(f"[{r.status}] {r.name} ({r.points}/{r.max_points})")
            if not r.passed:
                lines.append(f"  {r.message}")
                if r.counterexample:
                    lines += ["  Counterexample:"] + [
                        "    " + x for x in r.counterexample.splitlines()
                    ]
                lines.append(f"  Hint: {r.hint}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        colours = {
            "passed": "#009E73",
            "failed": "#D55E00",
            "error": "#CC79A7",
            "timeout": "#E69F00",
        }
        out = [
            f"<p><b>{esc(repr(self))}</b></p>",
            '<table style="text-align:left"><tr><th style="min-width:16em">check</th>'
            "<th>points</th><th>status</th><th>what happened</th></tr>",
        ]
        for r in self.rows:
            detail = ""
            if not r.passed:
                detail = esc(r.message)
                if r.counterexample:
                    detail += (
                        '<details><summary>counterexample</summary><pre style="text-align:left">'
                        f"{esc(r.counterexample)}</pre></details>"
                    )
                detail += f"<br><i>Hint: {esc(r.hint)}</i>"
            out.append(
                f'<tr style="vertical-align:top"><td style="text-align:left">{esc(r.name)}</td>'
                f"<td>{r.points}/{r.max_points}</td>"
                f'<td style="color:{colours[r.status]}"><b>{r.status}</b></td>'
                f'<td style="text-align:left">{detail}</td></tr>'
            )
        out.append("</table>")
        return "\n".join(out)


def _status(kind: str) -> str:
    if kind == "timeout":
        return "timeout"
    return "error" if kind in _ERROR_KINDS else "failed"


def _resolve(exercise: Exercise, answer: Any) -> tuple[dict[str, Any], list[str], str]:
    """The answer as name -> object, the missing names, and a message about them."""
    names = exercise.names
    if not isinstance(answer, Mapping):
        if len(names) == 1:
            return {names[0]: answer}, [], ""
        return (
            {},
            list(names),
            f"This exercise asks for {len(names)} names ({', '.join(names)}), so pass a mapping "
            f"from name to object, e.g. check({exercise.id!r}, globals()); got a "
            f"{type(answer).__name__}.",
        )
    found = {n: answer[n] for n in names if n in answer}
    missing = [n for n in names if n not in answer]
    if not missing:
        return found, [], ""
    keys = [k for k in answer if isinstance(k, str) and not k.startswith("_")]
    parts = []
    for n in missing:
        close = difflib.get_close_matches(n, keys, n=1, cutoff=0.7)
        parts.append(f"{n} (there is a {close[0]!r}: a typo?)" if close else n)
    return (
        found,
        missing,
        f"The answer does not define {', '.join(parts)}: define it with exactly that name and "
        "run its cell before checking.",
    )


def grade(exercise: Exercise, answer: Any) -> Report:
    """Run every check of ``exercise`` on ``answer``; see :func:`brokerlab.grading.check`."""
    resolved, missing, why = _resolve(exercise, answer)
    rows = []
    hung_at: float | None = None  # once a check timed out, the rest share AFTER_TIMEOUT
    for c in exercise.checks:
        if missing:
            rows.append(Row(c.name, 0, c.points, "error", why, None, c.hint("missing")))
            continue
        seconds = c.timeout
        if hung_at is not None:
            seconds = min(seconds, max(hung_at + AFTER_TIMEOUT - time.process_time(), 0.01))
        try:
            with budget(seconds):
                c.run(dict(resolved))
        except Fail as f:
            if f.kind == "timeout" and hung_at is None:
                hung_at = time.process_time()
            rows.append(
                Row(
                    c.name,
                    0,
                    c.points,
                    _status(f.kind),
                    f.message,
                    f.counterexample,
                    f.hint or c.hint(f.kind),
                )
            )
        except _TimeUp:  # the timer struck between two learner calls: still a timeout
            hung_at = hung_at or time.process_time()
            rows.append(
                Row(
                    c.name,
                    0,
                    c.points,
                    "timeout",
                    "The check ran out of time.",
                    None,
                    c.hint("timeout"),
                )
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a grader bug must not kill the kernel
            rows.append(
                Row(
                    c.name,
                    0,
                    c.points,
                    "error",
                    f"The grader itself failed on this answer ({type(exc).__name__}: "
                    f"{short_repr(str(exc), 200)}). Please report it to the course authors.",
                    None,
                    c.hint("grader"),
                )
            )
        else:
            rows.append(Row(c.name, c.points, c.points, "passed"))
    return Report(exercise.id, tuple(rows), exercise.label)
