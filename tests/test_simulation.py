"""The simulation on the reference queue and exchange: determinism, each fault, and handlers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab.checker import problems
from brokerlab.errors import PoisonMessage, ScenarioError
from brokerlab.faults import Fault
from brokerlab.scenario import EXCHANGE_TYPES, MODES, BrokerSetup, Consumers, Producers, Scenario
from brokerlab.simulation import (
    Context,
    DedupStore,
    ack_then_process,
    builtin_handler,
    compare,
    idempotent,
    process_then_ack,
    simulate,
)

MIX = {
    "crash_before_processing": 0.1,
    "crash_after_processing": 0.1,
    "lost_ack": 0.1,
    "producer_retry": 0.1,
    "broker_restart": 0.05,
    "network_delay": 0.1,
    "poison_message": 0.05,
}


def one(fault, mode="at-least-once", messages=1, **kw):
    """A run with one scheduled fault."""
    return simulate(
        Scenario(messages=messages, consumers=Consumers(mode=mode), faults=[fault], **kw)
    )


# --- determinism ------------------------------------------------------------------------------


def test_same_scenario_same_history_byte_for_byte():
    s = Scenario(
        messages=40,
        producers=Producers(count=2, keys=3),
        consumers=Consumers(count=3),
        broker=BrokerSetup(prefetch=2),
        faults=MIX,
        seed=7,
    )
    first = simulate(s).history.to_jsonl()
    simulate(s.replace(seed=8))  # another run in between changes nothing
    second = simulate(s).history.to_jsonl()
    assert first == second
    assert len(first.splitlines()) > 100


def test_the_seed_changes_where_faults_strike():
    s = Scenario(messages=30, faults=MIX, seed=1)
    assert simulate(s).history.to_jsonl() != simulate(s.replace(seed=2)).history.to_jsonl()


def test_one_fault_kind_does_not_move_another():
    """Each fault kind draws from its own random stream: adding one leaves the others put."""
    base = simulate(Scenario(messages=30, faults={"lost_ack": 0.2}, seed=3))
    more = simulate(Scenario(messages=30, faults={"lost_ack": 0.2, "network_delay": 0.0}, seed=3))
    assert base.history.to_jsonl() == more.history.to_jsonl()


# --- a clean run -------------------------------------------------------------------------------


def test_a_run_without_faults_processes_everything_once_in_order():
    run = simulate(Scenario(messages=10, producers=Producers(keys=2)))
    assert run.stopped == "settled"
    assert run.counts == {
        "published": 10,
        "processed": 10,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "dead_lettered": 0,
        "unfinished": 0,
    }
    assert run.ok and not run.errors and not run.notes
    assert [e.kind for e in run.history][:5] == ["publish", "confirm", "deliver", "process", "ack"]
    assert repr(run).startswith("Run(at-least-once, 10 msgs, seed=0: 0 lost, 0 duplicated")
    assert not problems(run.history)


def test_the_history_round_trips_through_jsonl(tmp_path):
    from brokerlab.history import History

    run = simulate(Scenario(messages=8, faults=MIX, seed=4))
    path = tmp_path / "run.jsonl"
    run.history.to_jsonl(path)
    assert History.from_jsonl(path).to_jsonl() == run.history.to_jsonl()


# --- each fault, under each mode ---------------------------------------------------------------


def test_crash_before_processing():
    alo = one(Fault("crash_before_processing", msg="m1"))
    assert [e.get("when") for e in alo.history.of_kind("crash")] == ["before processing"]
    assert len(alo.history.of_kind("redeliver")) == 1 and len(alo.history.of_kind("process")) == 1
    assert alo.counts["lost"] == 0 and alo.counts["duplicated"] == 0
    assert alo.history.of_kind("restart")  # the consumer came back
    amo = one(Fault("crash_before_processing", msg="m1"), "at-most-once")
    assert amo.counts["lost"] == 1 and not amo.history.of_kind("process")
    assert amo.report.lost[0].what == "acked"


def test_crash_after_processing():
    alo = one(Fault("crash_after_processing", msg="m1"))
    assert alo.counts["duplicated"] == 1 and alo.counts["lost"] == 0
    eo = one(Fault("crash_after_processing", msg="m1"), "exactly-once")
    assert eo.counts["duplicated"] == 0 and eo.counts["lost"] == 0
    assert [e.kind for e in eo.history if e.actor == "consumer-1"][-2:] == ["deliver", "ack"]
    amo = one(Fault("crash_after_processing", msg="m1"), "at-most-once")
    assert amo.ok and amo.counts["processed"] == 1


def test_lost_ack_closes_the_connection_and_the_message_comes_back():
    alo = one(Fault("lost_ack", msg="m1"))
    lost = alo.history.of_kind("lost")
    assert [(e.actor, e.get("what")) for e in lost] == [("consumer-1", "ack")]
    assert alo.counts["duplicated"] == 1
    assert not alo.history.of_kind("crash")  # the process did not crash, its connection dropped
    amo = one(Fault("lost_ack", msg="m1"), "at-most-once")
    assert amo.ok and amo.counts == alo.counts | {"duplicated": 0}
    eo = one(Fault("lost_ack", msg="m1"), "exactly-once")
    assert eo.ok and eo.counts["duplicated"] == 0


def test_producer_retry_after_a_lost_confirm():
    alo = one(Fault("producer_retry", msg="m1"))
    assert [e.get("attempt") for e in alo.history.of_kind("publish")] == [1, 2]
    assert alo.counts["duplicated"] == 1
    amo = one(Fault("producer_retry", msg="m1"), "at-most-once")
    assert len(amo.history.of_kind("publish")) == 1  # an at-most-once producer never retries
    fifo = one(Fault("producer_retry", msg="m1"), producers=Producers(idempotent=True))
    assert fifo.counts["duplicated"] == 0
    assert fifo.history.of_kind("confirm")[-1].get("deduplicated") is True


def test_broker_restart_durable_and_not():
    schedule = [Fault("broker_restart", msg="m2")]
    durable = simulate(
        Scenario(messages=3, consumers=Consumers(processing_time=0.5), faults=schedule)
    )
    assert durable.history.of_kind("restart")[0].actor == "broker"
    assert durable.counts["lost"] == 0 and durable.counts["processed"] == 3
    transient = simulate(
        Scenario(
            messages=3,
            consumers=Consumers(processing_time=0.5),
            broker=BrokerSetup(durable=False),
            faults=schedule,
        )
    )
    dropped = [e for e in transient.history.of_kind("lost") if e.get("what") == "message"]
    assert dropped and transient.counts["lost"] == len(dropped)
    assert transient.report.lost[0].what == "dropped"


def test_broker_restart_at_a_time():
    run = simulate(Scenario(messages=5, faults=[Fault("broker_restart", at=0.25)]))
    assert [e.time for e in run.history.of_kind("restart") if e.actor == "broker"] == [0.25]
    assert run.ok


def test_network_delay_reorders_a_key():
    run = simulate(Scenario(messages=3, faults=[Fault("network_delay", msg="m1", delay=0.5)]))
    assert [e.msg for e in run.history.of_kind("process")] == ["m2", "m3", "m1"]
    assert run.counts["out_of_order"] >= 1 and run.counts["lost"] == 0
    assert not run.report.ok("per-key-order")


def test_duplicate_delivery_breaks_at_most_once_but_not_exactly_once():
    amo = one(Fault("duplicate_delivery", msg="m1"), "at-most-once")
    assert amo.counts["duplicated"] == 1
    eo = one(Fault("duplicate_delivery", msg="m1"), "exactly-once")
    assert eo.ok and len(eo.history.of_kind("deliver")) == 2


def test_poison_message_is_dead_lettered_after_the_delivery_limit():
    run = one(Fault("poison_message", msg="m1"), broker=BrokerSetup(max_receive_count=3))
    assert len(run.history.of_kind("deliver")) == 3
    [dead] = run.history.of_kind("dead_letter")
    assert dead.get("reason") == "delivery_limit"
    assert run.counts["dead_lettered"] == 1 and run.counts["lost"] == 0
    assert len(run.errors) == 3 and "PoisonMessage" in run.errors[0].error


def test_a_handler_can_reject_a_poison_message_at_once():
    def careful(delivery, ctx):
        try:
            ctx.effect()
        except PoisonMessage:
            ctx.nack(requeue=False)
            return
        ctx.ack()

    run = simulate(
        Scenario(
            messages=2,
            consumers=Consumers(handler=careful),
            faults=[Fault("poison_message", msg="m1")],
        )
    )
    assert [e.get("reason") for e in run.history.of_kind("dead_letter")] == ["rejected"]
    assert not run.errors and run.counts["processed"] == 1


# --- handlers ------------------------------------------------------------------------------------


def test_builtin_handlers_per_mode():
    assert builtin_handler("at-most-once") is ack_then_process
    assert builtin_handler("at-least-once") is process_then_ack
    assert builtin_handler("exactly-once") is idempotent


def test_a_learner_handler_that_raises_is_recorded_not_fatal():
    def broken(delivery, ctx):
        ctx.effect()
        raise KeyError("customer")

    run = simulate(Scenario(messages=2, consumers=Consumers(handler=broken)))
    assert run.errors and run.errors[0].error == "KeyError: 'customer'"
    assert "test_simulation.py" in run.errors[0].where
    crash = run.history.of_kind("crash")[0]
    assert crash.get("when") == "handler raised" and crash.get("error") == "KeyError: 'customer'"
    assert run.counts["duplicated"] == 2  # processed, never acked, redelivered...
    assert run.stopped == "settled"


def test_a_fault_cannot_be_swallowed_by_a_bare_except():
    def stubborn(delivery, ctx):
        try:
            ctx.effect()
        except BaseException:  # noqa: B036 - the point of the test
            pass
        try:
            ctx.ack()
        except BaseException:  # noqa: B036
            pass

    run = simulate(
        Scenario(
            messages=1,
            consumers=Consumers(handler=stubborn),
            faults=[Fault("crash_before_processing", msg="m1")],
        )
    )
    consumer = [e.kind for e in run.history if e.actor == "consumer-1"]
    assert consumer == ["deliver", "crash", "restart", "deliver", "process", "ack"]
    assert run.ok and not run.errors


def test_sys_exit_in_a_handler_is_a_handler_error():
    import sys

    def quit_(delivery, ctx):
        sys.exit("bye")

    run = simulate(
        Scenario(
            messages=1, consumers=Consumers(handler=quit_), broker=BrokerSetup(max_receive_count=1)
        )
    )
    assert run.errors[0].error == "SystemExit: bye"
    assert run.counts["dead_lettered"] == 1


def test_a_handler_that_loops_forever_is_stopped():
    def spin(delivery, ctx):
        while True:
            pass

    run = simulate(
        Scenario(
            messages=1,
            consumers=Consumers(handler=spin, max_steps=1000),
            broker=BrokerSetup(max_receive_count=2),
        )
    )
    assert len(run.errors) == 2
    assert "more than 1000 steps" in run.errors[0].error and "endless loop" in run.errors[0].error
    assert run.counts["dead_lettered"] == 1


def test_a_handler_that_calls_effect_in_a_loop_is_stopped():
    def flood(delivery, ctx):
        for _ in range(1000):
            ctx.effect()

    run = simulate(Scenario(messages=1, consumers=Consumers(handler=flood)))
    assert "at most 100" in run.errors[0].error
    assert len(run.history) < 1000


def test_acking_twice_is_the_broker_error():
    def twice(delivery, ctx):
        ctx.effect()
        ctx.ack()
        ctx.ack()

    run = simulate(Scenario(messages=1, consumers=Consumers(handler=twice)))
    assert run.errors[0].error.startswith("AlreadyAcknowledged")
    assert run.counts["processed"] == 1 and run.counts["duplicated"] == 0
    assert not problems(run.history)


def test_a_handler_that_never_acks_waits_for_the_consumer_timeout():
    def forgetful(delivery, ctx):
        ctx.effect()

    run = simulate(
        Scenario(
            messages=1,
            consumers=Consumers(handler=forgetful),
            broker=BrokerSetup(max_receive_count=2),
        )
    )
    assert run.notes and "without ack or nack" in run.notes[0]
    assert run.end > 1800  # RabbitMQ's consumer_timeout, 30 minutes
    assert run.counts["duplicated"] == 1 and run.counts["dead_lettered"] == 1


def test_commit_on_a_queue_is_explained():
    def kafkaesque(delivery, ctx):
        ctx.effect()
        ctx.commit()

    run = simulate(Scenario(messages=1, consumers=Consumers(handler=kafkaesque)))
    assert "ctx.commit() is for log setups" in run.errors[0].error


def test_the_handler_sees_the_delivery_and_a_context():
    seen = []

    def look(delivery, ctx):
        seen.append((delivery.id, delivery.key, delivery.payload, ctx.consumer, repr(ctx)))
        assert isinstance(ctx, Context) and isinstance(ctx.store, DedupStore)
        ctx.effect("row written")
        ctx.ack()

    run = simulate(Scenario(messages=2, producers=Producers(keys=["alice", "bob"])), handler=look)
    assert [s[:4] for s in seen] == [
        ("m1", "alice", 1, "consumer-1"),
        ("m2", "bob", 2, "consumer-1"),
    ]
    assert seen[0][4].startswith("Context(consumer-1, m1, t=")
    assert run.history.of_kind("process")[0].get("value") == "row written"


def test_the_dedup_store_is_atomic_with_remember_and_survives_crashes():
    def remember_late(delivery, ctx):  # the effect and the id are NOT written together
        if delivery.id in ctx.store:
            ctx.ack()
            return
        ctx.effect()
        ctx.store.add(delivery.id)
        ctx.ack()

    fault = [Fault("crash_after_processing", msg="m1")]
    late = simulate(Scenario(messages=1, consumers=Consumers(handler=remember_late), faults=fault))
    assert late.counts["duplicated"] == 1
    atomic = simulate(Scenario(messages=1, consumers=Consumers(handler=idempotent), faults=fault))
    assert atomic.counts["duplicated"] == 0
    assert repr(DedupStore()) == "DedupStore(0 ids: )"


# --- setups ------------------------------------------------------------------------------------


def test_fanout_exchange_gives_every_queue_every_message():
    run = simulate(
        Scenario(
            messages=4,
            broker=BrokerSetup(kind="exchange", exchange_type="fanout", queues=2),
            consumers=Consumers(mode="exactly-once"),
            faults={"crash_after_processing": 0.3, "duplicate_delivery": 0.3},
            seed=5,
        )
    )
    groups = {e.get("group") for e in run.history.of_kind("process")}
    assert groups == {"q1", "q2"}
    assert run.counts["processed"] == 8 and run.ok


def test_direct_exchange_splits_keys_between_queues():
    run = simulate(
        Scenario(
            messages=6,
            producers=Producers(keys=2),
            broker=BrokerSetup(kind="exchange", exchange_type="direct", queues=2),
        )
    )
    by_group = {}
    for e in run.history.of_kind("process"):
        by_group.setdefault(e.get("group"), set()).add(e.key)
    assert by_group == {"q1": {"k1"}, "q2": {"k2"}}


def test_competing_consumers_share_a_queue_round_robin():
    run = simulate(Scenario(messages=6, consumers=Consumers(count=3, processing_time=1.0)))
    assert [e.actor for e in run.history.of_kind("process")][:3] == [
        "consumer-1",
        "consumer-2",
        "consumer-3",
    ]


def test_duration_stops_a_run_early():
    run = simulate(Scenario(messages=50, duration=1.0))
    assert run.stopped == "duration" and run.end == 1.0
    assert run.counts["unfinished"] > 0 and run.counts["lost"] == 0


def test_compare_runs_each_mode():
    runs = compare(Scenario(messages=20, faults=MIX, seed=2))
    assert list(runs) == ["at-most-once", "at-least-once", "exactly-once"]
    assert runs["at-least-once"].counts["lost"] == 0
    assert runs["at-most-once"].counts["duplicated"] == 0
    assert runs["exactly-once"].ok


def test_simulate_refuses_what_is_not_a_scenario():
    with pytest.raises(ScenarioError, match="is not a Scenario"):
        simulate({"messages": 3})


# --- any scenario: deterministic and well-formed ---------------------------------------------


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["queue", "exchange", "sqs", "log"]))
    names = ["crash_before_processing", "crash_after_processing", "lost_ack", "producer_retry"]
    names += ["rebalance"] if kind == "log" else ["duplicate_delivery"]
    faults = draw(st.dictionaries(st.sampled_from(names), st.sampled_from([0.0, 0.1, 0.5])))
    return Scenario(
        messages=draw(st.integers(1, 8)),
        producers=Producers(keys=draw(st.integers(1, 3))),
        broker=BrokerSetup(
            kind=kind,
            queues=2 if kind == "exchange" else 1,
            exchange_type=draw(st.sampled_from(EXCHANGE_TYPES)) if kind == "exchange" else "direct",
        ),
        consumers=Consumers(
            count=draw(st.integers(1, 2)), mode=draw(st.sampled_from(MODES)), batch=2
        ),
        faults=faults,
        seed=draw(st.integers(0, 1000)),
    )


@given(scenarios())
def test_any_scenario_replays_exactly_and_records_a_well_formed_history(scenario):
    first = simulate(scenario)
    assert simulate(scenario).history.to_jsonl() == first.history.to_jsonl()
    assert not problems(first.history)
    assert first.stopped == "settled"
    assert first.report.ok(scenario.consumers.mode) or "duplicate_delivery" in scenario.faults.kinds
