"""The instructor gate: for every exercise in EXERCISES, the grades are honest.

- the solution notebook's answer gets full marks;
- the exercise notebook's stub gets 0 points, and the grader does not crash on it;
- every mutant in tests/grading/<id>.py (MUTANTS, at least 4) fails, with a counterexample;
- every alternative correct answer there (ALTERNATIVES, at least 2) gets full marks;
- exercises/ is what solutions/ generates, and both state the contract.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from brokerlab.grading import EXERCISES, check
from brokerlab.grading.authoring import stale
from brokerlab.grading.notebook import answer_from_notebook, answer_from_source

ROOT = Path(__file__).resolve().parents[1]
IDS = list(EXERCISES)


def _answers(exercise_id: str) -> tuple[dict, dict]:
    path = ROOT / "tests" / "grading" / f"{exercise_id}.py"
    if not path.exists():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"gate_{exercise_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "MUTANTS", {}), getattr(module, "ALTERNATIVES", {})


ANSWERS = {i: _answers(i) for i in IDS}
MUTANT_CASES = [(i, name) for i in IDS for name in ANSWERS[i][0]]
ALTERNATIVE_CASES = [(i, name) for i in IDS for name in ANSWERS[i][1]]


def _answer(value):
    return answer_from_source(value) if isinstance(value, str) else value


def _no_grader_bug(report) -> None:
    for row in report.rows:
        assert "grader itself failed" not in row.message, report.explain()


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_gets_full_marks(exercise_id):
    report = check(exercise_id, answer_from_notebook(ROOT / "solutions" / f"{exercise_id}.ipynb"))
    assert report.passed and report.score == report.max_score > 0, report.explain()


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_stub_gets_zero_without_crashing(exercise_id):
    report = check(exercise_id, answer_from_notebook(ROOT / "exercises" / f"{exercise_id}.ipynb"))
    _no_grader_bug(report)
    assert report.score == 0 and not any(r.passed for r in report.rows), report.explain()
    assert {r.status for r in report.rows} <= {"failed", "error"}, report.explain()


@pytest.mark.parametrize("exercise_id", IDS)
def test_there_are_enough_mutants_and_alternatives(exercise_id):
    mutants, alternatives = ANSWERS[exercise_id]
    assert len(mutants) >= 4, f"tests/grading/{exercise_id}.py needs at least 4 MUTANTS"
    assert len(alternatives) >= 2, f"tests/grading/{exercise_id}.py needs at least 2 ALTERNATIVES"


@pytest.mark.parametrize(("exercise_id", "name"), MUTANT_CASES)
def test_a_mutant_fails_with_a_counterexample(exercise_id, name):
    report = check(exercise_id, _answer(ANSWERS[exercise_id][0][name]))
    _no_grader_bug(report)
    assert not report.passed, f"mutant {name!r} passed: {report.explain()}"
    failed = [r for r in report.rows if not r.passed]
    assert any(r.counterexample for r in failed), report.explain()
    assert all(r.hint for r in failed)


@pytest.mark.parametrize(("exercise_id", "name"), ALTERNATIVE_CASES)
def test_an_alternative_correct_answer_gets_full_marks(exercise_id, name):
    report = check(exercise_id, _answer(ANSWERS[exercise_id][1][name]))
    assert report.passed, f"alternative {name!r} failed: {report.explain()}"


def test_exercises_are_generated_from_the_solutions():
    assert stale(ROOT) == [], "run: python -m brokerlab.grading.authoring"


@pytest.mark.parametrize("exercise_id", IDS)
def test_both_notebooks_state_the_contract(exercise_id):
    contract = EXERCISES[exercise_id].contract.strip()
    for folder in ("solutions", "exercises"):
        nb = nbformat.read(ROOT / folder / f"{exercise_id}.ipynb", as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert contract in text, f"{folder}/{exercise_id}.ipynb does not state the contract"
        calls = [c.source for c in nb.cells if c.cell_type == "code" and "check(" in c.source]
        assert any(f'"{exercise_id}"' in c for c in calls), "no check cell for this exercise"
