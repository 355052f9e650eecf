"""Benchmark: how long the grader takes for a full ``check`` of each kind of answer.

For every exercise in ``brokerlab.grading.EXERCISES``, in one process, the wall time of
``check(exercise_id, answer)`` for

- **solution**: the answer in ``solutions/<id>.ipynb`` (full marks);
- **stub**: the untouched ``exercises/<id>.ipynb`` (0 points);
- **mutants**: every wrong answer in ``tests/grading/<id>.py`` (one row each);
- **hang**: an answer whose every name loops for ever (``while True: pass``), once.

Wall time, because a learner waits in wall time. (The grader's limits count CPU time, so that
a busy machine cannot fail a correct answer; a spinning hang uses CPU time as fast as the clock
runs on an idle machine, so its row shows the limit itself.) Each answer is graded
``--repeat`` times and the median is reported (the first round also pays for hypothesis' and
the modules' warm-up, which a learner pays once per kernel).

Targets (issue 10): a correct answer in at most 3 s (median), a stub in at most 1 s, and a
hanging answer within its first check's timeout plus 1 s.

Run:  python benchmarks/bench_grading.py [--repeat 3] [--exercises ex01_capacity,...]
[--no-hang] [--write]   (``--write`` also writes benchmarks/results/grading.md)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from machine import describe, machine  # noqa: E402

from brokerlab.grading import EXERCISES, check  # noqa: E402
from brokerlab.grading.notebook import answer_from_notebook, answer_from_source  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "grading.md"
TARGET = {"solution": 3.0, "stub": 1.0}


def _mutants(exercise_id: str) -> dict:
    path = ROOT / "tests" / "grading" / f"{exercise_id}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"bench_{exercise_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "MUTANTS", {})


def _hang(*args, **kwargs):
    while True:
        pass


def _time(exercise_id: str, answer, repeat: int) -> tuple[float, str]:
    times, line = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        report = check(exercise_id, answer)
        times.append(time.perf_counter() - started)
        line = repr(report).split(": ", 1)[1]
    return statistics.median(times), line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exercises", default="", help="comma-separated ids (default: all)")
    parser.add_argument("--no-hang", action="store_true", help="skip the hanging answers")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    ids = [i for i in args.exercises.split(",") if i] or list(EXERCISES)
    rows = []
    misses = []
    for exercise_id in ids:
        ex = EXERCISES[exercise_id]
        answers = [
            ("solution", answer_from_notebook(ROOT / "solutions" / f"{exercise_id}.ipynb")),
            ("stub", answer_from_notebook(ROOT / "exercises" / f"{exercise_id}.ipynb")),
        ]
        answers += [
            (f"mutant: {name}", answer_from_source(src) if isinstance(src, str) else src)
            for name, src in _mutants(exercise_id).items()
        ]
        for kind, answer in answers:
            seconds, line = _time(exercise_id, answer, args.repeat)
            target = TARGET.get(kind)
            ok = "" if target is None else ("yes" if seconds <= target else "NO")
            if ok == "NO":
                misses.append(f"{exercise_id} {kind}")
            rows.append((exercise_id, kind, seconds, line, target, ok))
            print(f"{exercise_id:28} {kind:52} {seconds:7.3f} s  {line}", flush=True)
        if not args.no_hang:
            limit = ex.checks[0].timeout + 1.0  # the target: its timeout plus 1 s
            seconds, line = _time(exercise_id, {n: _hang for n in ex.names}, 1)
            ok = "yes" if seconds <= limit else "NO"
            if ok == "NO":
                misses.append(f"{exercise_id} hang")
            rows.append((exercise_id, "hang (while True: pass)", seconds, line, limit, ok))
            print(f"{exercise_id:28} {'hang':52} {seconds:7.3f} s  {line}", flush=True)
    print("Targets: solution <= 3 s, stub <= 1 s, hang <= first check's timeout + 1 s.")
    print("all targets met" if not misses else f"targets missed: {', '.join(misses)}")
    if args.write:
        m = machine()
        lines = [
            "# Grading benchmark: the time of a full check() per answer",
            "",
            f"- date: {m['date']}",
            f"- machine: {describe(m)}; load average {m['load']} after the run (the machine is "
            "shared)",
            f"- command: `python benchmarks/bench_grading.py --repeat {args.repeat} --write`",
            "- wall time of `check(exercise_id, answer)`, median of the rounds (the hang: one "
            "round); solution and stub from the notebooks, mutants from `tests/grading/`.",
            "",
            "| exercise | answer | seconds | report | target (s) | met |",
            "|---|---|---:|---|---:|:---:|",
        ]
        for exercise_id, kind, seconds, line, target, ok in rows:
            t = "" if target is None else f"{target:g}"
            lines.append(f"| {exercise_id} | {kind} | {seconds:.3f} | {line} | {t} | {ok} |")
        lines += [
            "",
            "Targets (issue 10): a correct answer graded in at most 3 s (median), a stub in at "
            "most 1 s, a hanging answer within its first check's timeout plus 1 s (the checks "
            "after a timeout share half a second).",
            "",
        ]
        RESULTS.write_text("\n".join(lines), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
