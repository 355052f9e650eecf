"""The grader: judge an answer by what it does, under the faults that break wrong answers.

For learners
------------
>>> from brokerlab.grading import check
>>> check("ex01_capacity", {"mean_wait": lambda r, s, c: 0.0, "consumers_needed": max})
ex01 capacity: 0/5 checks passed (0/10 points)

``check(exercise_id, answer)`` returns a :class:`Report`: one row per check with its points,
its status (passed, failed, error, timeout), the smallest counterexample the grader found and a
hint chosen by the kind of failure. In Jupyter it is a table; its ``repr`` is one stable line.
``answer`` is the function or class the contract names, or a mapping from name to object
(``globals()`` works) when the exercise asks for several names. :data:`EXERCISES` holds every
exercise's title, chapter, points and exact contract.

Guide for exercise authors
--------------------------
An exercise is one module ``brokerlab/grading/exNN_name.py`` (the id is the module name, and
the notebooks are ``solutions/exNN_name.ipynb`` and ``exercises/exNN_name.ipynb``) that defines

.. code-block:: python

    EXERCISE = Exercise(
        id="exNN_name", title="...", chapter=NN,
        contract=CONTRACT,            # markdown: the exact contract, also shown in the notebook
        names=("fn",),                # what the answer provides
        checks=(Check(name, points, run, hints, timeout=10.0), ...),
    )

and one line in :data:`_MODULES` below. Then:

1. **A check** is ``Check(name, points, run, hints, timeout)``. ``name`` says in plain words
   what is checked. ``run(answer)`` gets ``{name: learner object}``, returns if the answer
   passes, raises :class:`Fail` ``(message, counterexample=..., kind=..., hint=None)`` if not.
   ``hints`` maps a failure kind to a hint and must have ``"default"``. ``timeout`` is the
   CPU time for all the learner calls of the check together (a busy machine does not count
   against it; a wall-clock limit of three times it plus 2 s ends code that only waits).
2. **Call learner code only through** :func:`brokerlab.grading.sandbox.call` (``call(fn, *args)``)
   or ``sandbox.invoke(fn, args, kwargs, what=..., timeout=..., passthrough=..., watch=...)``.
   It turns a timeout, an exception (``NotImplementedError``: kind ``"stub"``), a print flood
   and a changed input into a ``Fail`` of kinds ``timeout``, ``raised``, ``flood``,
   ``mutated``. Check return types with ``sandbox.expect_type(value, "int", what)`` (kind
   ``type``). Hand grader objects to learner code through ``sandbox.restricted(...)`` (only the
   contract's names are visible) and copy a handler per simulated process with
   ``sandbox.fresh_process(fn)``.
3. **Ready-made runs** (``brokerlab.grading.helpers``): ``examples(name, [Example(args,
   expect, hint)], returns=..., equal=...)`` for worked cases (``expect`` may be an exception
   class); ``raises(name, ValueError, cases, hint)``; ``agree_with_reference(name, strategy,
   reference, equal=..., returns=...)``, a hypothesis property (derandomized, no database, no
   deadline) whose shrunk failing input is the counterexample; ``smallest_failure(cases,
   attempt)`` to try cases smallest first; ``close(rel, abs)`` for floats. For consumers,
   ``brokerlab.grading.harness`` runs a handler on the reference queue under fault schedules
   and judges the history with :mod:`brokerlab.checker` (``search(handle, workloads,
   kinds=..., max_faults=..., must=...)``, one run: ``QueueRun``), and
   ``brokerlab.grading.logloop.search_log`` does the same for a poll loop on the log. To build
   another harness: raise ``harness.Crash`` from the grader's objects at a fault point, call
   the learner through ``harness.run_crashable``, and tell the failing run with
   ``harness.tell`` (faults, verdict, state, minimal core). To check that an answer behaves
   the same in a new process, ``brokerlab.grading.shipping`` sends a notebook function's source
   to fresh interpreters (``ship``, ``run_fresh``).
4. **Verdicts come from records**, never from what learner code returns about itself: the
   broker's :class:`~brokerlab.history.History` (checked by :func:`brokerlab.checker.check`),
   a store the grader owns, or a reference implementation.
5. **Determinism**: reports are compared by nbval, so no times, addresses or random seeds in
   messages; hypothesis is derandomized by the helpers.
6. **The gate** (``tests/test_grading_gate.py``) runs for every exercise in ``EXERCISES``: the
   solution notebook's answer gets full marks, the stub gets 0 points without crashing, every
   mutant in ``tests/grading/exNN_name.py`` (``MUTANTS = {name: answer}``, at least 4) fails
   with a counterexample, and every alternative there (``ALTERNATIVES``, at least 2) gets full
   marks. An answer there is a mapping of names to objects, or Python source that defines them.
7. **Notebooks**: write ``solutions/exNN_name.ipynb`` with the contract in a markdown cell
   (the gate checks that ``EXERCISE.contract`` appears there word for word), the answer
   between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines (the stub replaces the block, keeping its
   indentation: ``raise NotImplementedError`` by default, or the lines of a ``# STUB:`` comment
   block just before ``# END SOLUTION``), a cell ``check("exNN_name", ...)``, then run
   ``python -m brokerlab.grading.authoring`` to generate ``exercises/`` and execute both.

``Retry``, ``DeadLetter`` and ``PermanentError`` are the vocabulary of the retry-policy
exercise's answers (:mod:`brokerlab.grading.retry`).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import InvalidArgument
from .core import Check, Exercise, Report, Row
from .retry import DeadLetter, PermanentError, Retry
from .sandbox import Fail

__all__ = [
    "EXERCISES",
    "Check",
    "DeadLetter",
    "Exercise",
    "Fail",
    "PermanentError",
    "Report",
    "Retry",
    "Row",
    "check",
]

#: One line per exercise: the module ``brokerlab.grading.<name>`` defining ``EXERCISE``.
_MODULES = (
    "ex01_capacity",
    "ex02_idempotent_consumer",
    "ex03_commit_points",
    "ex04_topic_routing",
    "ex05_partition_assignment",
    "ex06_windowed_counts",
    "ex07_key_partitioner",
    "ex08_resequencer",
    "ex09_retry_policy",
)


def _load() -> dict[str, Exercise]:
    found: dict[str, Exercise] = {}
    for name in _MODULES:
        module = importlib.import_module(f".{name}", __name__)
        exercise = module.EXERCISE
        if exercise.id != name:
            raise InvalidArgument(f"{name}.EXERCISE has id {exercise.id!r}; it must be {name!r}.")
        found[exercise.id] = exercise
    return found


#: Every exercise by id, in course order.
EXERCISES: dict[str, Exercise] = _load()


def check(exercise_id: str, answer: Any) -> Report:
    """Grade ``answer`` for the exercise ``exercise_id`` and return its :class:`Report`.

    ``answer``: the function or class the contract names, or a mapping name -> object (for
    example ``globals()``). A missing name gives a failing report naming it.
    """
    from .core import grade

    exercise = EXERCISES.get(exercise_id) if isinstance(exercise_id, str) else None
    if exercise is None:
        raise InvalidArgument(
            f"exercise_id={exercise_id!r} is not an exercise: use one of "
            f"{', '.join(EXERCISES)} (the notebook's file name without .ipynb)."
        )
    return grade(exercise, answer)
