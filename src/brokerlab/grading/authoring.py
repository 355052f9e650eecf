"""Generate the learner's notebooks in ``exercises/`` from the instructor's in ``solutions/``.

``python -m brokerlab.grading.authoring`` (from the checkout) rewrites every
``exercises/exNN_name.ipynb`` from ``solutions/exNN_name.ipynb`` and executes it, so the stub's
report is stored for nbval. ``--check`` only says which are out of date (exit 1 if any);
``--no-execute`` writes them without running them; names limit the run to those exercises.

In a solution notebook:

- the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` (each on its own line) are
  replaced by a stub at the same indentation: ``raise NotImplementedError("...")``, or the
  lines of a ``# STUB:`` block written just before ``# END SOLUTION``, each starting with
  ``# STUB: `` (for an answer that is not a function body, e.g. ``MAX = None``);
- a cell whose first line is ``# SOLUTION ONLY`` (code) or ``<!-- SOLUTION ONLY -->``
  (markdown) is left out of the exercise;
- outputs are cleared, and executing the exercise stores the stub's outputs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["exercise_from_solution", "main", "stub_source", "stale"]

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
STUB = re.compile(r"^[ \t]*# STUB: ?(?P<line>.*)$")
STUB_TEXT = 'raise NotImplementedError("your answer here")'
ONLY = ("# SOLUTION ONLY", "<!-- SOLUTION ONLY -->")


class AuthoringError(ValueError):
    """A solution notebook whose markers do not pair up."""


def stub_source(source: str, where: str = "cell") -> str:
    """``source`` with every marked solution block replaced by its stub."""
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    for number, line in enumerate(source.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if block is not None:
                raise AuthoringError(f"{where}, line {number}: BEGIN SOLUTION inside a block.")
            block, indent = [], begin["indent"]
            continue
        if END.match(line):
            if block is None:
                raise AuthoringError(f"{where}, line {number}: END SOLUTION without BEGIN.")
            stub = [m["line"] for m in map(STUB.match, block) if m]
            out += [indent + s for s in (stub or [STUB_TEXT])]
            block = None
            continue
        if block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise AuthoringError(f"{where}: BEGIN SOLUTION without END SOLUTION.")
    text = "\n".join(out)
    return text + "\n" if source.endswith("\n") else text


def exercise_from_solution(solution: dict) -> dict:
    """The exercise notebook (nbformat dict) for a solution notebook: stubs in, outputs out."""
    import copy

    nb = copy.deepcopy(solution)
    cells = []
    for i, cell in enumerate(nb["cells"]):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if source.lstrip().startswith(ONLY):
            continue
        if cell["cell_type"] == "code":
            cell["source"] = stub_source(source, f"cell {i}")
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell["source"] = source
        cell.get("metadata", {}).pop("execution", None)
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _sources(nb: dict) -> list[tuple[str, str]]:
    return [
        (c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"]))
        for c in nb["cells"]
    ]


def stale(root: Path) -> list[str]:
    """The exercise notebooks whose cells differ from what their solution generates."""
    import nbformat

    out = []
    for solution in sorted((root / "solutions").glob("ex*.ipynb")):
        target = root / "exercises" / solution.name
        want = exercise_from_solution(nbformat.read(solution, as_version=4))
        if not target.exists() or _sources(nbformat.read(target, as_version=4)) != _sources(want):
            out.append(target.name)
    return out


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(
        prog="python -m brokerlab.grading.authoring",
        description="Generate exercises/ from solutions/ (stubs replace the marked solutions).",
    )
    parser.add_argument("names", nargs="*", help="exercise ids (default: all)")
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    parser.add_argument("--no-execute", action="store_true", help="do not run the exercises")
    parser.add_argument("--root", type=Path, default=None, help="the checkout (default: found)")
    args = parser.parse_args(argv)
    from ..cli import execute_notebook, find_course_root, keep_home_clean

    root = args.root or find_course_root()
    if args.check:
        found = stale(root)
        for name in found:
            print(f"out of date: exercises/{name}")
        return 1 if found else 0
    keep_home_clean()
    (root / "exercises").mkdir(exist_ok=True)
    for solution in sorted((root / "solutions").glob("ex*.ipynb")):
        if args.names and solution.stem not in args.names:
            continue
        target = root / "exercises" / solution.name
        nb = exercise_from_solution(nbformat.read(solution, as_version=4))
        nbformat.write(nbformat.from_dict(nb), target)
        print(f"wrote {target.relative_to(root)}", flush=True)
        if not args.no_execute:
            execute_notebook(target)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
