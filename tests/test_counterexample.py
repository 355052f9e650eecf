"""The shortest-counterexample search: smallest failing runs, 1-minimal cores, honest misses."""

import pytest

from brokerlab.checker import check, problems
from brokerlab.counterexample import (
    Counterexample,
    NoCounterexample,
    _schedules,
    fault_points,
    shortest_counterexample,
)
from brokerlab.errors import InvalidArgument, PoisonMessage, ScenarioError
from brokerlab.faults import Fault
from brokerlab.history import History
from brokerlab.scenario import Scenario
from brokerlab.simulation import idempotent, process_then_ack, simulate


def ack_first(delivery, ctx):
    ctx.ack()
    ctx.effect()


def assert_one_minimal(core: History, prop: str) -> None:
    """The core breaks ``prop``, and dropping any single event repairs it or makes it malformed."""
    assert not problems(core)
    assert not check(core).ok(prop)
    for i in range(len(core)):
        smaller = core.select([j for j in range(len(core)) if j != i])
        assert problems(smaller) or check(smaller, strict=False).ok(prop), (
            f"event #{i} {core[i]!r} can be dropped and the core still fails"
        )


def test_acking_before_processing_is_caught_losing_a_message():
    cx = shortest_counterexample(ack_first, "at-least-once")
    assert isinstance(cx, Counterexample) and cx.found and cx
    assert cx.messages == 1
    assert cx.faults == (Fault("crash_before_processing", msg="m1"),)
    assert cx.anomaly.kind == "lost" and cx.anomaly.msg == "m1"
    # the run itself: acked, then crashed before the effect
    kinds = [e.kind for e in cx.history if e.actor == "consumer-1"]
    assert kinds[:3] == ["deliver", "ack", "crash"]
    # the core is 1-minimal, and made of events of the run, in order
    assert_one_minimal(cx.core, "at-least-once")
    original = [e.to_dict() for e in cx.history]
    positions = [original.index(e.to_dict()) for e in cx.core]
    assert positions == sorted(positions)
    assert [e.kind for e in cx.core] == ["publish", "deliver", "ack"]
    # nothing smaller fails: the same consumer without faults keeps the guarantee
    assert simulate(cx.scenario.replace(faults=())).report.ok("at-least-once")
    assert "broken with 1 message and 1 fault" in repr(cx)
    assert "The smallest part of the history" in cx.explain()


def test_the_counterexample_replays_byte_for_byte():
    cx = shortest_counterexample(ack_first, "at-least-once")
    assert simulate(cx.scenario).history.to_jsonl() == cx.history.to_jsonl()


def test_a_correct_consumer_yields_no_counterexample_and_says_how_much_was_searched():
    result = shortest_counterexample(process_then_ack, "at-least-once", max_messages=2)
    assert isinstance(result, NoCounterexample) and not result.found and not result
    searched = result.searched
    assert searched.complete and searched.max_messages == 2 and searched.max_faults == 2
    # every schedule of 1 and 2 messages with up to 2 faults was run
    expected = 0
    for n in (1, 2):
        points = fault_points(searched.kinds, n, searched.max_delivery)
        expected += sum(1 for k in range(3) for _ in _schedules(points, k))
    assert searched.schedules == expected > 300
    assert "held in all" in repr(result) and "evidence, not proof" in result.explain()


def test_the_idempotent_consumer_holds_exactly_once_but_process_then_ack_does_not():
    assert not shortest_counterexample(idempotent, "exactly-once", max_messages=2)
    cx = shortest_counterexample(process_then_ack, "exactly-once")
    assert cx.messages == 1 and cx.anomaly.kind == "duplicated"
    assert cx.faults == (Fault("crash_after_processing", msg="m1"),)
    assert_one_minimal(cx.core, "exactly-once")


def test_swallowing_a_processing_error_loses_the_message():
    def swallow(delivery, ctx):
        try:
            ctx.effect()
        except PoisonMessage:
            pass  # "log and move on"
        ctx.ack()

    cx = shortest_counterexample(swallow, "at-least-once")
    assert cx.faults == (Fault("poison_message", msg="m1"),)
    assert_one_minimal(cx.core, "at-least-once")


def test_order_needs_two_messages_and_a_delay():
    cx = shortest_counterexample(None, "per-key-order", max_messages=2)
    assert cx.messages == 2
    assert [f.kind for f in cx.faults] == ["network_delay"]
    assert_one_minimal(cx.core, "per-key-order")


def test_committing_a_log_batch_before_processing_it_loses_records():
    def commit_batch_first(record, ctx):
        if ctx.first_in_batch:
            ctx.commit()
        ctx.effect()

    cx = shortest_counterexample(commit_batch_first, "at-least-once", setup="log")
    assert cx.messages == 1 and cx.anomaly.kind == "lost"
    assert cx.anomaly.what == "committed"
    assert_one_minimal(cx.core, "at-least-once")


def test_a_base_scenario_and_chosen_fault_kinds():
    base = Scenario(messages=9, faults={"lost_ack": 0.5})
    result = shortest_counterexample(
        process_then_ack, "exactly-once", scenario=base, faults=["lost_ack"], max_faults=1
    )
    assert result.faults == (Fault("lost_ack", msg="m1"),)
    assert result.scenario.faults.probabilities == {}  # the base's faults were replaced


def test_the_budget_stops_the_search_and_says_so():
    result = shortest_counterexample(process_then_ack, "at-least-once", budget=10)
    assert not result.found
    assert result.searched.schedules == 10 and not result.searched.complete
    assert "budget ran out" in str(result.searched)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"guarantee": "sometimes"}, InvalidArgument, "sometimes"),
        ({"max_messages": 0}, InvalidArgument, "max_messages=0"),
        ({"max_faults": 9}, InvalidArgument, "max_faults=9"),
        ({"mode": "twice"}, InvalidArgument, "mode='twice'"),
        ({"faults": ["rebalance"]}, ScenarioError, "'rebalance' cannot happen"),
        ({"faults": ["meteor"]}, ScenarioError, "the faults are"),
        ({"scenario": "big"}, ScenarioError, "is not a Scenario"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, text):
    kwargs = {"guarantee": "at-least-once", **kwargs}
    with pytest.raises(error, match=text):
        shortest_counterexample(process_then_ack, **kwargs)


def test_the_core_is_explained_with_the_numbers_the_verdict_quotes():
    """A core is renumbered from #0, and the checker's reason quotes the whole run's numbers:
    explain() lists the core's events with their run numbers, so the two match (session 3
    printed the renumbered core beside the run's numbers)."""
    import re

    from brokerlab.counterexample import shortest_counterexample

    def process_then_ack(delivery, ctx):
        ctx.effect()
        ctx.ack()

    cx = shortest_counterexample(process_then_ack, "at-most-once", max_messages=2)
    text = cx.explain()
    verdict = text.split("The checker says:")[1].split("\n")[0]
    listed = text.split("numbered as in the whole run, cx.history):\n")[1].split("\nSearched")[0]
    shown = [int(n) for n in re.findall(r"<#(\d+) ", listed)]
    assert len(shown) == len(cx.core) and shown == sorted(shown)
    took_effect = re.search(r"took effect 2 times \(#(\d+) [^,]*, #(\d+) ", verdict)
    assert took_effect and {int(n) for n in took_effect.groups()} <= set(shown), (verdict, listed)
    for n in shown:  # each listed event is the run's event of that number
        assert repr(cx.history[n]) in listed
