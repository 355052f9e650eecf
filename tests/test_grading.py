"""The grader's framework: the API, the sandbox against learner code that misbehaves, the
crash that cannot be caught, fresh processes, the authoring script and the CLI."""

from __future__ import annotations

import gc
import math
import os
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab import cli
from brokerlab.errors import InvalidArgument
from brokerlab.grading import (
    EXERCISES,
    Check,
    DeadLetter,
    Exercise,
    Fail,
    PermanentError,
    Report,
    Retry,
    check,
    sandbox,
)
from brokerlab.grading.authoring import AuthoringError, exercise_from_solution, stub_source
from brokerlab.grading.ex02_idempotent_consumer import WORKLOADS
from brokerlab.grading.harness import QueueFault, QueueRun, judge_queue_run
from brokerlab.grading.helpers import agree_with_reference
from brokerlab.grading.logloop import LogFault, LogRun
from brokerlab.grading.notebook import answer_from_source
from brokerlab.grading.runner import format_progress, progress

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_HANDLE = """
def handle(delivery, ctx):
    p = delivery.payload
    with ctx.db.transaction() as tx:
        if not tx.get(("applied", p["payment_id"])):
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
            tx.put(("applied", p["payment_id"]), True)
    ctx.ack()
"""


def _tiny_exercise(run, hints=None) -> Exercise:
    return Exercise(
        "ex99_tiny",
        "Tiny",
        0,
        "double(x) -> int",
        ("double",),
        (Check("doubles", 3, run, hints or {"default": "Multiply by two."}),),
    )


# --- the API --------------------------------------------------------------------------------------


def test_exercises_list_every_exercise_with_its_contract():
    assert list(EXERCISES)[:3] == [
        "ex01_capacity",
        "ex02_idempotent_consumer",
        "ex03_commit_points",
    ]
    for exercise_id, ex in EXERCISES.items():
        assert ex.id == exercise_id and ex.title and ex.contract.strip()
        assert ex.points == sum(c.points for c in ex.checks) > 0
        assert all("default" in c.hints for c in ex.checks)


def test_the_names_of_the_vocabulary_are_importable():
    assert Retry(0.5).delay == 0.5 and DeadLetter("permanent").reason == "permanent"
    assert issubclass(PermanentError, Exception)


def test_a_single_name_exercise_takes_the_object_or_a_mapping():
    handle = answer_from_source(SOLUTION_HANDLE)["handle"]
    assert check("ex02_idempotent_consumer", handle).passed
    assert check("ex02_idempotent_consumer", {"handle": handle, "other": 1}).passed


def test_a_missing_name_gives_a_failing_report_that_names_it():
    report = check("ex01_capacity", {"mean_wiat": lambda *a: 0.0})
    assert not report.passed and report.score == 0
    row = report.rows[0]
    assert row.status == "error"
    assert "mean_wait" in row.message and "consumers_needed" in row.message
    assert "mean_wiat" in row.message  # the likely typo is pointed out


def test_a_several_name_exercise_refuses_a_bare_function_with_a_report():
    report = check("ex03_commit_points", lambda consumer, process: None)
    assert not report.passed and "globals()" in report.rows[0].message


def test_an_unknown_exercise_id_raises_naming_the_ids():
    with pytest.raises(InvalidArgument, match="ex01_capacity"):
        check("ex00_nope", None)


def test_a_check_needs_a_default_hint():
    with pytest.raises(InvalidArgument, match="default"):
        Check("x", 1, lambda a: None, {"raised": "no"})


def test_report_repr_is_one_stable_line_and_html_is_a_table():
    from brokerlab.grading.core import grade

    def run(answer):
        got = sandbox.call(answer["double"], 2)
        if got != 4:
            raise Fail(f"double(2) returned {got}", counterexample="double(2) -> <b>", kind="wrong")

    ex = _tiny_exercise(run)
    bad = grade(ex, lambda x: x)
    assert repr(bad) == "ex99 tiny: 0/1 checks passed (0/3 points)"
    html = bad._repr_html_()
    assert "<table" in html and "&lt;b&gt;" in html and "Multiply by two." in html
    good = grade(ex, lambda x: 2 * x)
    assert repr(good) == "ex99 tiny: 1/1 checks passed (3/3 points)" and good.passed
    assert isinstance(good, Report) and good.score == good.max_score == 3


def test_a_report_is_deterministic():
    source = "def handle(delivery, ctx):\n    ctx.ack()\n"
    a = check("ex02_idempotent_consumer", answer_from_source(source))
    b = check("ex02_idempotent_consumer", answer_from_source(source))
    assert a.explain() == b.explain() and a._repr_html_() == b._repr_html_()


def test_a_grader_bug_is_an_error_row_not_an_exception():
    from brokerlab.grading.core import grade

    def run(answer):
        raise ZeroDivisionError("oops")

    report = grade(_tiny_exercise(run), lambda x: x)
    assert report.rows[0].status == "error" and "grader itself" in report.rows[0].message


# --- the sandbox: learner code that misbehaves ----------------------------------------------------


def _fail_of(fn, *args, seconds=5.0, **kw) -> Fail:
    with sandbox.budget(seconds):
        with pytest.raises(Fail) as info:
            sandbox.invoke(fn, args, **kw)
    return info.value


def test_an_exception_becomes_a_failure_naming_it():
    def answer(x):
        return {}[x]

    f = _fail_of(answer, "k")
    assert f.kind == "raised" and "KeyError" in f.message and "answer('k')" in f.message


def test_the_stub_and_sys_exit_are_failures_too():
    def stub():
        raise NotImplementedError("your answer here")

    assert _fail_of(stub).kind == "stub"

    def leave():
        raise SystemExit(3)

    assert _fail_of(leave).kind == "raised"


def test_an_endless_loop_times_out():
    def spin():
        while True:
            pass

    assert _fail_of(spin, seconds=0.3).kind == "timeout"


def test_an_endless_loop_that_catches_everything_still_times_out():
    def stubborn():
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass

    assert _fail_of(stubborn, seconds=0.3).kind == "timeout"


def test_the_limit_counts_cpu_time_so_waiting_is_not_charged():
    # A busy machine or a stalled process takes wall-clock time but not CPU time: 0.6 s
    # asleep fits a 0.3 s budget, because the budget is the CPU time the call uses.
    def patient():
        time.sleep(0.6)
        return "done"

    with sandbox.budget(0.3):
        assert sandbox.invoke(patient, ()) == "done"


def test_a_correct_answer_is_not_failed_when_the_process_stalls():
    # The machine stops the kernel for 1.5 s in the middle of a call that computes for 0.3 s
    # (a loaded CI machine, a laptop under memory pressure): a 1 s limit still passes it,
    # because the stall uses no CPU time of the process. A wall-clock limit failed it.
    def handler():
        me = os.getpid()
        stall = subprocess.Popen(["sh", "-c", f"kill -STOP {me}; sleep 1.5; kill -CONT {me}"])
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        return stall.wait()  # 0 once the stall is over: it happened inside this call

    with sandbox.budget(10.0):
        assert sandbox.invoke(handler, (), timeout=1.0) == 0


def test_code_that_only_waits_is_ended_by_the_wall_clock_limit(monkeypatch):
    monkeypatch.setattr(sandbox, "WALL_EXTRA", 0.1)  # the limit: 3 x 0.2 + 0.1 = 0.7 s

    def sleeper():
        time.sleep(60)

    f = _fail_of(sleeper, seconds=0.2)  # (it would return after 60 s, and not fail, if not ended)
    assert f.kind == "timeout" and "waited more than 0.7 s" in f.message, f.message
    assert "sleep" in f.message


def test_a_budget_freezes_the_old_heap_for_the_garbage_collector_and_thaws_it():
    assert gc.get_freeze_count() == 0
    with sandbox.budget(1.0):
        assert gc.get_freeze_count() > 0  # a full collection skips what existed before
    assert gc.get_freeze_count() == 0
    gc.freeze()  # someone else's freeze is left as it was
    try:
        frozen = gc.get_freeze_count()
        with sandbox.budget(1.0):
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_hanging_answer_times_out_in_every_check_and_the_kernel_goes_on():
    # (how long it takes is measured by benchmarks/bench_grading.py, not asserted here)
    def spin(*args):
        while True:
            pass

    report = check("ex01_capacity", {"mean_wait": spin, "consumers_needed": spin})
    assert {r.status for r in report.rows} == {"timeout"}
    assert all("time allowed" in r.message for r in report.rows if "ran out" not in r.message)


def test_a_print_flood_is_stopped_and_nothing_reaches_the_notebook(capsys):
    def chatty():
        while True:
            print("x" * 100)

    f = _fail_of(chatty)
    assert f.kind == "flood"
    assert capsys.readouterr().out == ""


def test_a_few_prints_are_fine():
    def polite(x):
        print("thinking about", x)
        return x

    with sandbox.budget(1):
        assert sandbox.call(polite, 3) == 3


def test_changing_an_input_in_place_is_a_failure():
    def sorts_in_place(xs):
        xs.sort()
        return xs

    f = _fail_of(sorts_in_place, [3, 1, 2])
    assert f.kind == "mutated" and "[3, 1, 2]" in f.message


def test_a_wrong_type_is_named():
    with pytest.raises(Fail, match="returned str '3'; the contract says it returns int") as info:
        sandbox.expect_type("3", "int", "f(1)")
    assert info.value.kind == "type"
    with pytest.raises(Fail, match=r"int\(\.\.\.\)"):
        sandbox.expect_type(3.0, "int", "f(1)")
    assert sandbox.expect_type(math.inf, "float", "f") == math.inf
    with pytest.raises(Fail):
        sandbox.expect_type(True, "int", "f")


def test_something_not_callable_is_named():
    f = _fail_of(42)
    assert f.kind == "type" and "int" in f.message


def test_a_restricted_view_shows_only_the_contract():
    class Impl:
        secret = 1

        def ack(self):
            return "acked"

    reached: list[str] = []
    view = sandbox.restricted(Impl(), ("ack",), "ctx", reached)
    assert view.ack() == "acked"
    with pytest.raises(AttributeError, match="only ack"):
        view.secret  # noqa: B018
    with pytest.raises(AttributeError):
        view.flag = True
    assert reached == ["secret", "flag"]


def test_a_fresh_process_forgets_memory_kept_between_calls():
    ns = answer_from_source(
        """
seen = set()
class Cache:
    hits = []
def helper(x):
    seen.add(x)
    Cache.hits.append(x)
    return len(seen) + len(Cache.hits)
def handle(x, memo=[]):
    memo.append(x)
    handle.calls = getattr(handle, "calls", 0) + 1
    return helper(x) + len(memo) + handle.calls
def make():
    box = []
    def inner(x):
        box.append(x)
        return len(box)
    return inner
counter = make()
def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)
"""
    )
    start = sandbox.fresh_process(ns["handle"])
    first = start()
    assert first(1) == 4 and first(2) == 8  # state grows within one process
    assert start()(1) == 4  # and is gone in the next
    assert ns["seen"] == set() and ns["Cache"].hits == []  # the learner's own objects untouched
    closure = sandbox.fresh_process(ns["counter"])
    c = closure()
    assert c(1) == 1 and c(1) == 2 and closure()(1) == 1
    assert sandbox.fresh_process(ns["fact"])()(5) == 120


# --- the injected crash cannot be caught ---------------------------------------------------------

CATCHES_THE_CRASH = """
def handle(delivery, ctx):
    p = delivery.payload
    try:
        with ctx.db.transaction() as tx:
            key = ("balance", p["account"])
            tx.put(key, tx.get(key, 0) + p["amount"])
    except BaseException:
        with ctx.db.transaction() as tx:     # a dead process cannot write...
            tx.put(("balance", p["account"]), 999)
    finally:
        ctx.ack()                            # ...nor ack
"""


def _run(source, faults, workload=WORKLOADS[0]):
    factory = sandbox.fresh_process(answer_from_source(source)["handle"])
    with sandbox.budget(10):
        return QueueRun(factory, workload, faults).execute()


def test_a_caught_crash_changes_nothing_afterwards():
    crash = QueueFault("crash", invocation=1, call=3, when="before")  # before the tx.put
    out = _run(CATCHES_THE_CRASH, (crash,))
    kinds = [(e.kind, e.get("delivery")) for e in out.history]
    first_crash = kinds.index(("crash", None))
    assert ("ack", "m1") not in kinds[: first_crash + 1]
    assert ("process", "m1") not in kinds[:first_crash]  # rolled back
    redelivered = [e for e in out.history.of_kind("deliver") if e.get("redelivered")]
    assert redelivered, "the message comes back to a new process"
    assert out.db[("balance", "alice")] == 10  # applied once, by the second process; no 999
    assert out.unacked == []


def test_a_crash_right_after_commit_keeps_the_commit():
    source = SOLUTION_HANDLE
    clean = _run(source, ())
    commit_call = next(p.call for p in clean.points if p.label == "commit of the transaction")
    out = _run(source, (QueueFault("crash", invocation=1, call=commit_call, when="after"),))
    assert out.db[("applied", "p1")] is True and out.db[("balance", "alice")] == 10
    assert judge_queue_run(WORKLOADS[0], (), out) is None


def test_the_database_keeps_plain_data_and_returns_copies():
    source = """
def handle(delivery, ctx):
    with ctx.db.transaction() as tx:
        tx.put("list", [1])
        got = tx.get("list")
        got.append(2)
        tx.put("seen", tx.get("list"))
    ctx.ack()
"""
    out = _run(source, ())
    assert out.db["seen"] == [1] and out.failure is None
    bad = _run(
        "def handle(delivery, ctx):\n    with ctx.db.transaction() as tx:\n"
        "        tx.put('x', object())\n",
        (),
    )
    assert bad.failure is not None and "TypeError" in bad.failure.message
    assert "plain data" in bad.failure.message


def test_reaching_into_the_grader_fails_the_check():
    report = check(
        "ex02_idempotent_consumer",
        answer_from_source(
            "def handle(delivery, ctx):\n    ctx.h.run.db.data[('balance', 'alice')] = 10\n"
        ),
    )
    assert report.score == 0 and report.rows[0].status == "error"
    assert "reached" not in report.rows[0].message  # plain words
    assert "contract" in report.rows[0].message


def test_a_crash_in_the_log_loop_is_final_too():
    source = """
def at_least_once(consumer, process):
    while True:
        try:
            records = consumer.poll()
            if not records:
                return
            for record in records:
                process(record)
        except BaseException:
            consumer.commit()       # raises the crash again, commits nothing
            raise
        consumer.commit()
"""
    fn = answer_from_source(source)["at_least_once"]
    factory = sandbox.fresh_process(fn)
    with sandbox.budget(10):
        out = LogRun(factory, "at_least_once", 1, faults=(LogFault(1, 2, "after"),)).execute()
    commits = [e for e in out.history.of_kind("commit") if e.actor == "consumer-1"]
    assert commits == []  # the crash struck after the first process; no commit followed
    assert sorted(e.msg for e in out.history.of_kind("process")) == [
        "orders-0@0",
        "orders-0@0",
        "orders-0@1",
    ]


# --- helpers ----------------------------------------------------------------------------------------


def test_agree_with_reference_reports_the_shrunk_input():
    run = agree_with_reference("f", st.tuples(st.integers(0, 1000)), lambda x: x)
    with sandbox.budget(10):
        with pytest.raises(Fail) as info:
            run({"f": lambda x: x if x < 10 else x + 1})
    assert info.value.counterexample == "f(10) -> 11 (expected 10)"


# --- authoring ------------------------------------------------------------------------------------


def test_the_stub_replaces_the_block_at_its_indentation():
    source = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    assert stub_source(source) == ('def f(x):\n    raise NotImplementedError("your answer here")\n')
    custom = "# BEGIN SOLUTION\nLIMIT = 3\n# STUB: LIMIT = None  # your value\n# END SOLUTION"
    assert stub_source(custom) == "LIMIT = None  # your value"
    with pytest.raises(AuthoringError):
        stub_source("# BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(AuthoringError):
        stub_source("# END SOLUTION\n")


@given(st.lists(st.text(alphabet="ab #:\t", max_size=12), max_size=8))
def test_source_without_markers_is_left_as_it_is(lines):
    source = "\n".join(lines)
    if "SOLUTION" not in source:
        assert stub_source(source) == source


def test_solution_only_cells_are_left_out():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("<!-- SOLUTION ONLY -->\nWhy it works"),
        nbformat.v4.new_code_cell("# SOLUTION ONLY\nprint(1)"),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    out = exercise_from_solution(nb)
    assert [c["source"] for c in out["cells"]] == ["x = 1"]


# --- the CLI ----------------------------------------------------------------------------------------


def test_progress_lists_every_exercise(tmp_path):
    (tmp_path / "ex01_capacity.ipynb").write_bytes(
        (ROOT / "solutions" / "ex01_capacity.ipynb").read_bytes()
    )
    (tmp_path / "ex02_idempotent_consumer.ipynb").write_bytes(
        (ROOT / "exercises" / "ex02_idempotent_consumer.ipynb").read_bytes()
    )
    rows = {r.exercise: r for r in progress(tmp_path, solutions=ROOT / "solutions")}
    assert set(rows) == set(EXERCISES)
    assert rows["ex01_capacity"].points == "10/10"
    assert rows["ex02_idempotent_consumer"].status == "not started"
    assert rows["ex03_commit_points"].status == "missing"
    table = format_progress(list(rows.values()))
    assert table.splitlines()[0].split() == ["exercise", "chapter", "title", "points", "status"]


def test_progress_and_grade_refuse_missing_paths(tmp_path, capsys):
    assert cli.main(["progress", str(tmp_path / "nope")]) == 2
    assert cli.main(["grade", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "no such notebook" in err


def test_progress_prints_the_table(capsys):
    assert cli.main(["progress", str(ROOT / "solutions")]) == 0
    out = capsys.readouterr().out
    assert "ex02_idempotent_consumer" in out and "10/10" in out


@pytest.mark.slow
def test_grade_executes_a_notebook_and_exits_by_the_result(capsys):
    assert cli.main(["grade", str(ROOT / "solutions" / "ex03_commit_points.ipynb")]) == 0
    assert "ex03 commit points: 3/3 checks passed (10/10 points)" in capsys.readouterr().out
    assert cli.main(["grade", str(ROOT / "exercises" / "ex03_commit_points.ipynb")]) == 1
    assert "0/10 points" in capsys.readouterr().out


@pytest.mark.slow
def test_grade_survives_a_notebook_cell_that_never_ends(tmp_path, capsys):
    nb = nbformat.read(ROOT / "exercises" / "ex03_commit_points.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("while True:\n    pass"))
    path = tmp_path / "ex03_commit_points.ipynb"
    nbformat.write(nb, path)
    assert cli.main(["grade", str(path), "--timeout", "2"]) == 1
    assert "did not run to the end" in capsys.readouterr().out
