import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from brokerlab.backoff import backoff_schedule  # noqa: E402
from brokerlab.errors import InvalidArgument, InvalidType, PoisonMessage  # noqa: E402
from brokerlab.retry import (  # noqa: E402
    OUTCOMES,
    ProcessingError,
    Retrying,
    drain,
    incident,
    plot_dlq_depth,
    plot_outcomes,
    retry_widget,
    retrying,
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


# --- the chapter's one consumer: retrying() ---------------------------------------------------


class FakeCtx:
    """Just enough of a ctx to watch what the handler decides."""

    def __init__(self, fails):
        self.fails = fails
        self.calls = []

    def effect(self):
        if self.fails:
            raise ProcessingError("the work failed")
        self.calls.append(("effect",))

    def ack(self):
        self.calls.append(("ack",))

    def nack(self, requeue=True, delay=0.0):
        self.calls.append(("nack", requeue, delay))


class FakeDelivery:
    def __init__(self, n, msg="m1"):
        self.id = msg
        self.receive_count = n


def test_the_handler_acks_what_works_and_backs_off_what_fails():
    handle = retrying(4, base=1, cap=30, jitter="full", seed=7)
    ok = FakeCtx(fails=False)
    handle(FakeDelivery(1, "m9"), ok)
    assert ok.calls == [("effect",), ("ack",)]
    decisions = []
    for n in range(1, 5):
        ctx = FakeCtx(fails=True)
        handle(FakeDelivery(n), ctx)
        decisions += ctx.calls
    waits = backoff_schedule(3, base=1, cap=30, jitter="full", seed=7)
    assert decisions == [("nack", True, w) for w in waits] + [("nack", False, 0.0)]


def test_without_backoff_the_handler_gives_a_failure_back_at_once():
    ctx = FakeCtx(fails=True)
    retrying()(FakeDelivery(7), ctx)
    assert ctx.calls == [("nack", True, 0.0)]
    assert repr(retrying(3)) == "retrying(max_attempts=3, no backoff)"


def test_a_poison_message_fails_the_same_way():
    class Poisoned(FakeCtx):
        def effect(self):
            raise PoisonMessage("m1 is poison")

    ctx = Poisoned(fails=True)
    retrying(base=0.5, cap=0.5, jitter="none")(FakeDelivery(2), ctx)
    assert ctx.calls == [("nack", True, 0.5)]


def test_a_crash_is_not_caught_by_the_handler():
    class Crash(BaseException):
        pass

    class Crashing(FakeCtx):
        def effect(self):
            raise Crash()

    with pytest.raises(Crash):
        retrying(base=1)(FakeDelivery(1), Crashing(fails=True))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: retrying(0), InvalidArgument, "max_attempts=0"),
        (lambda: retrying(base=5, cap=1), InvalidArgument, "base=5"),
        (lambda: retrying(base=1, jitter="some"), InvalidArgument, "jitter"),
        (lambda: retrying(base=1, rng=3), InvalidType, "rng=3"),
        (lambda: drain(handler="retry"), InvalidType, "handler='retry'"),
    ],
)
def test_bad_handler_input_names_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_drain_and_incident_run_the_chapters_handler():
    run = drain(seed=5)
    assert isinstance(run.handler, Retrying) and run.handler.base == 1.0
    assert (run.handler.cap, run.handler.jitter, run.handler.max_attempts) == (30.0, "full", None)
    assert isinstance(incident().handler, Retrying)
    # the handler decides: every failed attempt is nacked with the wait the handler computed
    for e in run.history.of_kind("nack"):
        assert e.info["requeue"] is True and 0 <= e.info["delay"] <= 30
    # handing drain() the same handler by hand gives the same run, event for event
    called = []

    def spy(delivery, ctx):
        called.append(delivery.id)
        same(delivery, ctx)

    same = retrying(base=1, cap=30, jitter="none")
    by_hand = drain(seed=5, jitter="none", handler=spy)
    assert by_hand.history.to_jsonl() == drain(seed=5, jitter="none").history.to_jsonl()
    assert len(called) == len(by_hand.history.of_kind("deliver"))


def test_a_consumer_that_counts_for_itself_rejects_on_its_last_attempt():
    run = drain(20, failure_rate=0, poison=2, max_attempts=5, seed=1, handler=retrying(3, base=1))
    assert run.outcomes["dead-lettered"] == 2
    assert {m.headers["x-death"][0]["reason"] for m in run.dead} == {"rejected"}
    assert all(run.attempts[m.id] == 3 for m in run.dead)


@settings(derandomize=True, max_examples=40)
@given(
    failure_rate=st.sampled_from([0, 0.2, 0.5, 0.8, 1.0]),
    poison=st.integers(0, 3),
    max_attempts=st.integers(1, 6),
    counts_itself=st.none() | st.integers(1, 6),
    jitter=st.sampled_from(["none", "full", "decorrelated"]),
    seed=st.integers(0, 1000),
)
def test_every_message_ends_processed_or_dead_lettered_never_both(
    failure_rate, poison, max_attempts, counts_itself, jitter, seed
):
    handler = retrying(counts_itself, base=0.5, cap=8, jitter=jitter, seed=seed)
    run = drain(
        12,
        failure_rate=failure_rate,
        poison=poison,
        max_attempts=max_attempts,
        seed=seed,
        handler=handler,
    )
    processed = [e.msg for e in run.history.of_kind("process")]
    acked = [e.msg for e in run.history.of_kind("ack")]
    dead = [e.msg for e in run.history.of_kind("dead_letter")]
    published = {e.msg for e in run.history.of_kind("publish")}
    assert sorted(processed) == sorted(acked) == sorted(set(processed))  # once each, then acked
    assert len(dead) == len(set(dead))
    assert set(processed) | set(dead) == published and not set(processed) & set(dead)
    limit = max_attempts if counts_itself is None else min(max_attempts, counts_itself)
    assert all(n <= limit for n in run.attempts.values())
    assert run.report.ok("exactly-once")


def test_the_handler_runs_in_simulate_on_the_sqs_queue():
    from brokerlab import Fault, Scenario, simulate
    from brokerlab.scenario import BrokerSetup

    poison = Scenario(
        messages=3,
        broker=BrokerSetup(kind="sqs", max_receive_count=4),
        faults=[Fault("poison_message", msg="m2")],
    )
    run = simulate(poison, retrying(base=0.05, cap=0.4, seed=1))
    nacks = [e for e in run.history.of_kind("nack") if e.msg == "m2"]
    assert len(nacks) == 4 and all(e.info["delay"] > 0 for e in nacks)
    assert [e.info["reason"] for e in run.history.of_kind("dead_letter")] == ["delivery_limit"]
    assert run.counts["processed"] == 2 and run.counts["lost"] == 0
