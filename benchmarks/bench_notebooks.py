"""Benchmark: how long nbval takes on the course's notebooks, against notebooks that do nothing.

Every notebook must run top to bottom quickly (the course's rule: about 20 s or less each, and
the whole nbval run at most twice what the same number of trivial notebooks cost). A notebook's
nbval time is mostly fixed cost (starting a kernel, importing matplotlib, drawing the first
figure) plus what its cells compute. To separate the two, this script times:

- **course**: ``pytest`` (the project's settings: ``--nbval --nbval-current-env``, the sanitize
  file, ...) on every chapter notebook in ``notebooks/`` and every notebook in ``solutions/``;
- **baseline**: the same command on as many *baseline* notebooks, generated in a temporary
  folder inside the checkout (so the same ``conftest.py`` and settings apply) and removed
  afterwards. Each baseline notebook imports the course's stack (matplotlib, networkx,
  ipywidgets, brokerlab) and draws one small figure, and nothing else. It is executed once
  before timing, so that nbval compares outputs as it does for the course.

The two commands take turns, ``--repeat`` times each, in separate processes; the table gives the
median wall time of each, the ratio (target: at most 2x), and per notebook the time its cells
took (from ``pytest --durations``; kernel start-up is not in it) and that time minus a baseline
notebook's, i.e. what the notebook's own work costs.

Run:  python benchmarks/bench_notebooks.py [--repeat 3] [--notebooks PATH ...] [--write]
``--write`` also writes benchmarks/results/notebooks.md, keeping its hand-written notes section.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine, write_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "notebooks.md"
TARGET_RATIO = 2.0
TARGET_NOTEBOOK_S = 20.0

BASELINE_CELLS = [
    "%matplotlib inline\n"
    "import ipywidgets\n"
    "import matplotlib.pyplot as plt\n"
    "import networkx\n"
    "\n"
    "import brokerlab\n"
    "\n"
    'plt.rcParams.update({"figure.dpi": 100})',
    "fig, ax = plt.subplots(figsize=(7, 3))\n"
    "ax.plot([0, 1, 2, 3], [0, 1, 4, 9], label='y = x squared')\n"
    "ax.set_xlabel('x')\n"
    "ax.set_ylabel('y')\n"
    "ax.legend()\n"
    "plt.show()",
]

DURATION = re.compile(r"^\s*([\d.]+)s\s+(setup|call|teardown)\s+(\S+?\.ipynb)::")


def course_notebooks() -> list[Path]:
    """Every chapter notebook and every solution notebook, as the README's pytest runs them."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")) + sorted(
        (ROOT / "solutions").glob("*.ipynb")
    )


def make_baselines(folder: Path, count: int) -> list[Path]:
    """``count`` baseline notebooks in ``folder``, executed (outputs saved) like the course's."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    sys.path.insert(0, str(ROOT / "src"))
    from brokerlab.cli import execute_notebook, keep_home_clean

    keep_home_clean()
    paths = []
    for i in range(count):
        nb = new_notebook()
        nb.metadata = {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        }
        nb.cells = [new_markdown_cell(f"# Baseline {i + 1}: the stack and one figure")]
        nb.cells += [new_code_cell(source) for source in BASELINE_CELLS]
        path = folder / f"baseline-{i + 1:02d}.ipynb"
        nbformat.write(nb, path)
        execute_notebook(path)
        paths.append(path)
    return paths


def run_nbval(paths: list[Path]) -> tuple[float, dict[str, float], str]:
    """Run pytest (the project's settings) on ``paths``; return wall seconds, seconds of cell
    work per notebook (setup + call + teardown of its items), and the summary line."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=0",
        "--durations-min=0",
        *[str(p.relative_to(ROOT)) for p in paths],
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nbval failed on {', '.join(map(str, paths))}:\n{done.stdout[-3000:]}")
    per: dict[str, float] = {str(p.relative_to(ROOT)): 0.0 for p in paths}
    for line in done.stdout.splitlines():
        m = DURATION.match(line)
        if m and m.group(3) in per:
            per[m.group(3)] += float(m.group(1))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return wall, per, summary


def measure(notebooks: list[Path], repeat: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=".bench-baseline-", dir=ROOT))
    try:
        baselines = make_baselines(folder, len(notebooks))
        walls: dict[str, list[float]] = {"course": [], "baseline": []}
        cells: dict[str, list[float]] = {}
        for r in range(repeat):
            order = [("course", notebooks), ("baseline", baselines)]
            if r % 2:  # take turns at going first
                order.reverse()
            for name, paths in order:
                wall, per, summary = run_nbval(paths)
                walls[name].append(wall)
                for nb, seconds in per.items():
                    key = "baseline" if name == "baseline" else nb
                    cells.setdefault(key, []).append(seconds)
                print(f"  round {r + 1}: {name:<8} {wall:6.1f} s  ({summary})", flush=True)
        return {"walls": walls, "cells": cells, "notebooks": notebooks}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(result: dict) -> list[str]:
    walls = result["walls"]
    course = statistics.median(walls["course"])
    base = statistics.median(walls["baseline"])
    n = len(result["notebooks"])
    cells = result["cells"]
    base_cells = statistics.median(cells["baseline"])
    rows = [
        "| run | notebooks | nbval wall s (median) | per notebook s | ratio to baseline |",
        "|---|---:|---:|---:|---:|",
        f"| course | {n} | {course:.1f} | {course / n:.1f} | {course / base:.2f}x |",
        f"| baseline (stack + one figure) | {n} | {base:.1f} | {base / n:.1f} | 1.00x |",
        "",
        "| notebook | cells s (median) | minus a baseline notebook's cells s |",
        "|---|---:|---:|",
    ]
    for nb in result["notebooks"]:
        key = str(nb.relative_to(ROOT))
        median = statistics.median(cells[key])
        rows.append(f"| `{key}` | {median:.1f} | {median - base_cells:+.1f} |")
    rows.append(f"| a baseline notebook | {base_cells:.1f} | +0.0 |")
    return rows


def verdict(result: dict) -> str:
    walls = result["walls"]
    course = statistics.median(walls["course"])
    base = statistics.median(walls["baseline"])
    ratio = course / base
    slowest = max(
        result["notebooks"],
        key=lambda nb: statistics.median(result["cells"][str(nb.relative_to(ROOT))]),
    )
    slow_s = statistics.median(result["cells"][str(slowest.relative_to(ROOT))])
    return (
        f"nbval on the course's {len(result['notebooks'])} notebooks took {course:.1f} s "
        f"(median of {len(walls['course'])}), against {base:.1f} s for as many baseline "
        f"notebooks: {ratio:.2f}x (target: at most {TARGET_RATIO:g}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}). The slowest notebook's cells took "
        f"{slow_s:.1f} s ({slowest.name}; target about {TARGET_NOTEBOOK_S:g} s or less: "
        f"{'met' if slow_s <= TARGET_NOTEBOOK_S else 'NOT met'})."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command")
    ap.add_argument(
        "--notebooks", nargs="*", type=Path, help="notebooks to time (default: all the course's)"
    )
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/notebooks.md")
    args = ap.parse_args()

    notebooks = [p.resolve() for p in args.notebooks] if args.notebooks else course_notebooks()
    if not notebooks:
        raise SystemExit("no notebooks to time")
    result = measure(notebooks, args.repeat)
    out = table(result)
    print("\n".join(out))
    print()
    print(verdict(result))

    if args.write:
        m = machine()
        command = "python benchmarks/bench_notebooks.py"
        if args.notebooks:
            command += " --notebooks " + " ".join(str(p) for p in args.notebooks)
        text = [
            "# Notebook benchmark: nbval on the course's notebooks against trivial notebooks",
            "",
            f"- date: {m['date']}",
            f"- machine: {m['cpu']}, nproc={m['nproc']}, Python {m['python']}; load average "
            f"{m['load']} after the run (the machine is shared)",
            f"- command: `{command} --repeat {args.repeat} --write`",
            "- each run is one `pytest` process with the project's settings (pyproject's "
            "addopts: `--nbval --nbval-current-env`, the sanitize file); the two runs take "
            "turns. A baseline notebook imports matplotlib, networkx, ipywidgets and brokerlab "
            "and draws one figure. Cell times come from `pytest --durations` and leave out "
            "kernel start-up.",
            "",
            verdict(result),
            "",
            *out,
        ]
        write_results(RESULTS, text)


if __name__ == "__main__":
    main()
