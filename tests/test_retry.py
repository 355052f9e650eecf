import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType  # noqa: E402
from brokerlab.retry import (  # noqa: E402
    OUTCOMES,
    drain,
    incident,
    plot_dlq_depth,
    plot_outcomes,
    retry_widget,
)


@settings(derandomize=True, max_examples=40)
@given(
    messages=st.integers(1, 60),
    failure_rate=st.sampled_from([0, 0.1, 0.5, 0.9, 1.0]),
    poison=st.integers(0, 5),
    max_attempts=st.integers(1, 8),
    jitter=st.sampled_from(["none", "full", "equal", "decorrelated"]),
    seed=st.integers(0, 100),
)
def test_outcomes_sum_to_the_messages_and_nothing_is_lost_or_doubled(
    messages, failure_rate, poison, max_attempts, jitter, seed
):
    poison = min(poison, messages)
    run = drain(
        messages,
        failure_rate=failure_rate,
        poison=poison,
        max_attempts=max_attempts,
        jitter=jitter,
        seed=seed,
    )
    assert sum(run.outcomes.values()) == messages
    assert run.outcomes["dead-lettered"] >= poison  # poison never gets through
    assert run.report.ok("exactly-once")
    assert len(run.report.dead_lettered) == run.outcomes["dead-lettered"]
    assert all(1 <= n <= max_attempts for n in run.attempts.values())
    assert run.retries == sum(run.attempts.values()) - messages


def test_poison_is_dead_lettered_after_max_attempts_with_its_reason():
    run = drain(20, failure_rate=0, poison=2, max_attempts=4, seed=1)
    assert run.outcomes == {
        "processed first time": 18,
        "processed after retries": 0,
        "dead-lettered": 2,
    }
    assert run.retries == 2 * 3  # each poison message: 4 attempts, 3 of them retried
    for dead in run.dead:
        assert dead.headers["x-death"][0]["reason"] == "delivery_limit"
        assert run.attempts[dead.id] == 4


def test_more_attempts_save_flaky_messages_and_longer_backoff_drains_later():
    few = drain(40, failure_rate=0.5, poison=0, max_attempts=2, seed=3)
    many = drain(40, failure_rate=0.5, poison=0, max_attempts=8, seed=3)
    assert many.outcomes["dead-lettered"] < few.outcomes["dead-lettered"]
    slow = drain(40, failure_rate=0.5, poison=0, max_attempts=8, base=8, cap=120, seed=3)
    assert slow.drained_at > many.drained_at


def test_no_failures_means_no_retries():
    run = drain(10, failure_rate=0, poison=0)
    assert run.outcomes["processed first time"] == 10 and run.retries == 0
    assert run.dlq_depth == ((0.0, 0),)


def test_the_incident_fills_the_dlq_fires_the_alarm_and_redrive_loses_nothing():
    story = incident()
    assert story.alarm_at is not None and story.bug[0] < story.alarm_at
    assert story.redriven == len(story.dead) >= story.threshold
    assert story.dlq_depth[-1] == (story.redrive_at, 0)
    assert story.report.ok("exactly-once")  # nothing lost, nothing processed twice
    processed = {e.msg for e in story.history.of_kind("process")}
    assert {m.id for m in story.dead} <= processed
    assert all(m.headers["x-death"][0]["reason"] == "delivery_limit" for m in story.dead)


def test_an_alarm_threshold_above_the_peak_never_fires():
    assert incident(threshold=1000).alarm_at is None


def test_runs_repeat_exactly():
    assert drain(seed=4).history.to_jsonl() == drain(seed=4).history.to_jsonl()
    assert incident(seed=2).history.to_jsonl() == incident(seed=2).history.to_jsonl()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: drain(0), InvalidArgument, "messages=0"),
        (lambda: drain(failure_rate=1.5), InvalidArgument, "failure_rate=1.5"),
        (lambda: drain(10, poison=11), InvalidArgument, "poison=11"),
        (lambda: drain(max_attempts=2.0), InvalidType, "max_attempts=2.0"),
        (lambda: drain(base=5, cap=1), InvalidArgument, "base=5"),
        (lambda: incident(redrive_at=10), InvalidArgument, "redrive_at=10"),
        (lambda: incident(bug=(5, 1)), InvalidType, "bug="),
    ],
)
def test_bad_input_names_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pictures_and_widget():
    fig = plot_outcomes(drain())
    assert fig.axes[0].get_xlabel() == "messages"
    assert [t.get_text().split(":")[0] for t in fig.axes[0].get_legend().get_texts()] == list(
        OUTCOMES
    )
    assert plot_dlq_depth(incident()).axes[0].get_ylabel() == "messages in the DLQ"
    w = retry_widget()
    w.controls["failure_rate"].value = 0.9
    w.controls["max_attempts"].value = 10
    w.controls["base"].value = 10.0
    w.controls["cap"].value = 300.0
    assert w.error.value == ""
