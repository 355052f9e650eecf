"""Grading notebooks from the command line: ``brokerlab grade`` and ``brokerlab progress``.

- :func:`grade_notebook` executes a learner's exercise notebook in a fresh kernel (the cells
  that call ``check(`` are left out, so the grade is computed once), then grades the names the
  notebook defined, in that same kernel, and returns the report's text and whether it passed.
- :func:`progress` lists every exercise of :data:`~brokerlab.grading.EXERCISES` with its status
  in a learner's folder: missing, not started (still the stub), or the score of the report the
  notebook shows (as last run); with ``grade=True``, each notebook is graded afresh.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProgressRow", "exercise_id_of", "format_progress", "grade_notebook", "progress"]

_MARK = "BROKERLAB-GRADE-REPORT "
_REPORT_LINE = re.compile(r"^(ex\d\d [\w ]+): (\d+)/(\d+) checks passed \((\d+)/(\d+) points\)$")


def exercise_id_of(path: Path, nb: Any = None) -> str | None:
    """The exercise a notebook is for: its file name, else the first ``check("exNN_...")``."""
    from . import EXERCISES

    if path.stem in EXERCISES:
        return path.stem
    if nb is not None:
        for cell in nb.cells:
            m = re.search(r"check\(\s*[\"'](ex\d\d_\w+)[\"']", cell.source)
            if cell.cell_type == "code" and m and m.group(1) in EXERCISES:
                return m.group(1)
    return None


def grade_notebook(path: str | Path, *, timeout: int = 120) -> tuple[str, bool, int, int]:
    """Execute ``path`` in a fresh kernel and grade it; returns (text, passed, score, max)."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    exercise_id = exercise_id_of(path, nb)
    if exercise_id is None:
        from ..errors import InvalidArgument
        from . import EXERCISES

        raise InvalidArgument(
            f"{path}: not an exercise notebook (its name is not one of {', '.join(EXERCISES)} "
            "and it has no check(...) cell)."
        )
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and "check(" in c.source)]
    code = (
        "import json as _bl_json\n"
        "from brokerlab.grading import check as _bl_check\n"
        f"_bl_report = _bl_check({exercise_id!r}, globals())\n"
        f"print({_MARK!r} + _bl_json.dumps({{'text': _bl_report.explain(), "
        "'passed': _bl_report.passed, 'score': _bl_report.score, "
        "'max': _bl_report.max_score}))\n"
    )
    nb.cells.append(nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    try:
        client.execute()
    except Exception as exc:  # a cell that never ends, a kernel that died
        name = type(exc).__name__
        return (
            f"{exercise_id}: the notebook did not run to the end ({name}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no details'}). Run it "
            "top to bottom in JupyterLab, fix the cell that never ends, and try again.",
            False,
            0,
            0,
        )
    for output in nb.cells[-1].outputs:
        text = output.get("text", "")
        if output.get("output_type") == "stream" and _MARK in text:
            data = json.loads(text.split(_MARK, 1)[1].splitlines()[0])
            return data["text"], bool(data["passed"]), int(data["score"]), int(data["max"])
    errors = [o for o in nb.cells[-1].outputs if o.get("output_type") == "error"]
    why = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else "no report was printed"
    return f"{exercise_id}: the grader could not run ({why}).", False, 0, 0


@dataclass(frozen=True)
class ProgressRow:
    exercise: str
    chapter: int
    title: str
    points: str  # "6/10", or "-"
    status: str


def _stored_report(nb: Any, exercise_id: str) -> tuple[int, int] | None:
    for cell in nb.cells:
        if cell.cell_type != "code" or f"check({exercise_id!r}" not in cell.source.replace(
            '"', "'"
        ):
            continue
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            m = _REPORT_LINE.match(text.strip())
            if m:
                return int(m.group(4)), int(m.group(5))
    return None


def _code(nb: Any) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def progress(
    folder: str | Path, *, grade: bool = False, solutions: str | Path | None = None
) -> list[ProgressRow]:
    """Every exercise's status in ``folder``; ``solutions``: the course's ``solutions/`` folder
    (an exercise whose code is still what it generates is "not started"); ``grade``: execute
    and grade each notebook."""
    import nbformat

    from . import EXERCISES
    from .authoring import exercise_from_solution

    folder = Path(folder)
    rows = []
    for exercise_id, ex in EXERCISES.items():
        path = folder / f"{exercise_id}.ipynb"
        points, status = "-", "missing"
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            source = Path(solutions) / path.name if solutions is not None else None
            untouched = (
                source is not None
                and source.exists()
                and _code(nb)
                == [
                    c["source"]
                    for c in exercise_from_solution(nbformat.read(source, as_version=4))["cells"]
                    if c["cell_type"] == "code"
                ]
            )
            if grade:
                _, passed, score, top = grade_notebook(path)
                points, status = f"{score}/{top}", "passed" if passed else "not passed yet"
            elif untouched:
                points, status = f"0/{ex.points}", "not started"
            else:
                stored = _stored_report(nb, exercise_id)
                if stored is None:
                    status = "not checked yet"
                else:
                    points = f"{stored[0]}/{stored[1]}"
                    status = (
                        "passed (as last run)"
                        if stored[0] == stored[1]
                        else "in progress (as last run)"
                    )
        rows.append(ProgressRow(exercise_id, ex.chapter, ex.title, points, status))
    return rows


def format_progress(rows: list[ProgressRow]) -> str:
    """The rows as a plain-text table."""
    head = ("exercise", "chapter", "title", "points", "status")
    table = [head] + [(r.exercise, f"{r.chapter:02d}", r.title, r.points, r.status) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
