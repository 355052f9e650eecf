"""The simulation's "sqs" setup: pull consumers, the visibility timeout, and what faults mean there.

Also the headers exchange in the exchange setup.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.checker import problems
from brokerlab.errors import PoisonMessage, ScenarioError
from brokerlab.faults import FAULTS, Fault
from brokerlab.queue import Queue
from brokerlab.scenario import MODES, BrokerSetup, Consumers, Producers, Scenario
from brokerlab.simulation import builtin_handler, compare, process_then_ack, simulate

SQS = BrokerSetup(kind="sqs")


def sqs(messages=1, mode="at-least-once", faults=None, broker=SQS, **kw):
    consumers = kw.pop("consumers", Consumers(mode=mode))
    return simulate(
        Scenario(messages=messages, broker=broker, consumers=consumers, faults=faults, **kw)
    )


# --- the setup ---------------------------------------------------------------------------------


def test_defaults_are_sqs_defaults_and_readable():
    b = BrokerSetup(kind="sqs")
    assert (b.visibility_timeout, b.receive_batch, b.poll_interval) == (30.0, 1, 0.1)
    assert repr(b) == "BrokerSetup(sqs, visibility 30s, receive 1, poll 0.1s)"
    assert "sqs, visibility 5s" in repr(
        Scenario(broker=BrokerSetup(kind="sqs", visibility_timeout=5))
    )
    assert Scenario(broker="sqs").broker == b


@pytest.mark.parametrize(
    "make, field, allowed",
    [
        (
            lambda: BrokerSetup(kind="sqs", visibility_timeout=-5),
            "visibility_timeout=-5",
            "0..43200",
        ),
        (
            lambda: BrokerSetup(kind="sqs", visibility_timeout=43201),
            "visibility_timeout=43201",
            "0..43200",
        ),
        (
            lambda: BrokerSetup(kind="sqs", visibility_timeout="30"),
            "visibility_timeout='30'",
            "number",
        ),
        (lambda: BrokerSetup(kind="sqs", receive_batch=0), "receive_batch=0", "1..10"),
        (lambda: BrokerSetup(kind="sqs", receive_batch=11), "receive_batch=11", "1..10"),
        (lambda: BrokerSetup(kind="sqs", receive_batch=2.0), "receive_batch=2.0", "whole number"),
        (lambda: BrokerSetup(kind="sqs", poll_interval=0), "poll_interval=0", "more than 0"),
        (lambda: BrokerSetup(kind="sqs", durable=False), "durable=False", "'sqs'"),
        (lambda: BrokerSetup(kind="sqs", prefetch=3), "prefetch=3", "receive_batch"),
        (lambda: BrokerSetup(visibility_timeout=30), "visibility_timeout=30", "kind='sqs'"),
        (
            lambda: BrokerSetup(kind="log", visibility_timeout=5),
            "visibility_timeout=5",
            "kind='sqs'",
        ),
        (lambda: BrokerSetup(kind="exchange", receive_batch=10), "receive_batch=10", "kind='sqs'"),
        (lambda: BrokerSetup(poll_interval=1.0), "poll_interval=1.0", "kind='sqs'"),
        (
            lambda: Scenario(broker="sqs", faults={"rebalance": 0.1}),
            "'rebalance' cannot happen with broker.kind='sqs'",
            "log only",
        ),
        (
            lambda: Scenario(
                broker="sqs",
                producers=Producers(idempotent=True),
                faults={"duplicate_delivery": 0.1},
            ),
            "'duplicate_delivery' cannot happen",
            "FIFO",
        ),
    ],
)
def test_bad_sqs_settings_are_refused_clearly(make, field, allowed):
    with pytest.raises(ScenarioError) as info:
        make()
    assert field in str(info.value) and allowed in str(info.value)


def test_every_fault_but_rebalance_applies_to_sqs():
    assert [k for k, f in FAULTS.items() if "sqs" not in f.setups] == ["rebalance"]


def test_the_broker_is_a_standard_queue_with_the_visibility_timeout():
    run = sqs(3, broker=BrokerSetup(kind="sqs", visibility_timeout=7))
    assert isinstance(run.broker, Queue)
    assert run.broker.visibility_timeout == 7 and not run.broker.fifo
    assert builtin_handler("exactly-once", "sqs") is builtin_handler("exactly-once", "queue")


# --- the happy path -----------------------------------------------------------------------------


def test_without_faults_every_message_is_received_processed_and_deleted_once():
    run = sqs(
        10,
        producers=Producers(keys=2, rate=100),
        consumers=Consumers(count=2, processing_time=0.05),
    )
    assert run.stopped == "settled" and run.ok and not problems(run.history)
    assert run.counts["processed"] == 10 and run.counts["duplicated"] == 0
    assert len(run.history.of_kind("deliver")) == len(run.history.of_kind("ack")) == 10
    assert not run.history.of_kind("redeliver")
    assert {e.actor for e in run.history.of_kind("process")} == {"consumer-1", "consumer-2"}
    assert run.broker.stats()["acked"] == 10 and len(run.broker) == 0


def test_a_receive_takes_up_to_receive_batch_messages_at_once():
    # 10 messages published at once; an idle consumer polls and takes 4, then 4, then 2
    run = sqs(
        10,
        broker=BrokerSetup(kind="sqs", receive_batch=4, poll_interval=1.0),
        producers=Producers(rate=1000),
    )
    times = [e.time for e in run.history.of_kind("deliver")]
    assert [times.count(t) for t in sorted(set(times))] == [4, 4, 2]
    assert times[0] == pytest.approx(1.001)  # its first poll after the messages arrived: t=1
    assert run.ok


def test_an_empty_receive_waits_poll_interval():
    slow = sqs(1, broker=BrokerSetup(kind="sqs", poll_interval=2.0))
    fast = sqs(1, broker=BrokerSetup(kind="sqs", poll_interval=0.01))
    assert slow.history.of_kind("deliver")[0].time == pytest.approx(2.001)
    assert fast.history.of_kind("deliver")[0].time == pytest.approx(0.011)


def test_same_seed_same_history_bytes():
    s = Scenario(
        messages=30,
        producers=Producers(count=2, keys=3),
        broker=BrokerSetup(kind="sqs", visibility_timeout=2, receive_batch=3),
        consumers=Consumers(count=3),
        faults={
            "crash_before_processing": 0.1,
            "crash_after_processing": 0.1,
            "lost_ack": 0.1,
            "duplicate_delivery": 0.1,
            "producer_retry": 0.1,
            "broker_restart": 0.05,
            "network_delay": 0.1,
            "poison_message": 0.05,
        },
        seed=11,
    )
    first = simulate(s).history.to_jsonl()
    simulate(s.replace(seed=12))
    assert simulate(s).history.to_jsonl() == first
    assert len(first.splitlines()) > 100


# --- each fault, on sqs -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [k for k, f in FAULTS.items() if "sqs" in f.setups])
def test_at_least_once_loses_nothing_under_every_fault_kind(fault):
    for seed in range(8):
        run = sqs(
            12,
            faults={fault: 0.3},
            seed=seed,
            producers=Producers(keys=2),
            consumers=Consumers(count=2),
            broker=BrokerSetup(kind="sqs", receive_batch=2, visibility_timeout=5),
        )
        assert run.stopped == "settled" and not problems(run.history)
        assert run.counts["lost"] == 0, run.report.summary()
        assert run.counts["unfinished"] == 0


def test_a_lost_delete_comes_back_after_the_visibility_timeout_as_a_duplicate():
    run = sqs(
        2,
        faults=[Fault("lost_ack", msg="m1")],
        broker=BrokerSetup(kind="sqs", visibility_timeout=10),
    )
    [lost] = run.history.of_kind("lost")
    assert (lost.msg, lost.get("what"), lost.actor) == ("m1", "ack", "consumer-1")
    [again] = run.history.of_kind("redeliver")
    first = run.history.of_kind("deliver")[0]
    assert again.msg == "m1" and again.get("reason") == "visibility timeout"
    assert again.time == pytest.approx(first.time - 0.001 + 10)  # received at deliver - latency
    assert not run.history.of_kind("crash")  # the process goes on with its next message
    [dup] = run.report.duplicated
    assert dup.msg == "m1" and "after a redelivery" in dup.reason
    assert again in dup.events
    assert run.counts["lost"] == 0


def test_a_crashed_consumers_messages_stay_invisible_until_the_timeout():
    run = sqs(
        3,
        faults=[Fault("crash_after_processing", msg="m1")],
        broker=BrokerSetup(kind="sqs", visibility_timeout=20, receive_batch=3),
        producers=Producers(rate=1000),
    )
    [crash] = run.history.of_kind("crash")
    assert crash.get("when") == "after processing"
    again = run.history.of_kind("redeliver")
    # the whole batch it held comes back when the timeout runs out, not when it crashed
    assert sorted(e.msg for e in again) == ["m1", "m2", "m3"]
    received = run.history.of_kind("deliver")[0].time - 0.001
    assert [e.time for e in again] == pytest.approx([received + 20] * 3)
    assert run.history.of_kind("restart")[0].time < again[0].time
    assert [d.msg for d in run.report.duplicated] == ["m1"]
    assert run.counts["lost"] == 0


def test_at_most_once_loses_a_message_on_a_crash_after_the_delete():
    run = sqs(2, mode="at-most-once", faults=[Fault("crash_before_processing", msg="m1")])
    assert [a.msg for a in run.report.lost] == ["m1"]
    assert run.ok  # at-most-once allows the loss; nothing was duplicated


def test_at_most_once_survives_a_lost_delete_the_message_comes_back():
    run = sqs(1, mode="at-most-once", faults=[Fault("lost_ack", msg="m1")])
    assert run.counts["processed"] == 1 and run.counts["lost"] == 0
    assert run.history.of_kind("redeliver")[0].get("reason") == "visibility timeout"


def test_processing_longer_than_the_visibility_timeout_duplicates():
    # two messages in one receive, 0.6 s each: m2 waits behind m1 and its 1 s runs out
    run = sqs(
        2,
        broker=BrokerSetup(kind="sqs", visibility_timeout=1, receive_batch=2, poll_interval=0.5),
        consumers=Consumers(count=2, processing_time=0.6),
        producers=Producers(rate=100),
    )
    [dup] = run.report.duplicated
    assert dup.msg == "m2" and "after a redelivery" in dup.reason
    [again] = run.history.of_kind("redeliver")
    assert (again.msg, again.get("reason")) == ("m2", "visibility timeout")
    late = [a for a in run.history.of_kind("ack") if a.get("stale")]
    assert [(a.msg, a.actor) for a in late] == [("m2", "consumer-1")]  # SQS: success, no delete
    assert any("out-of-date receipt handle" in n for n in run.notes)
    assert run.counts["lost"] == 0 and run.broker.stats()["acked"] == 2
    assert run.stopped == "settled" and not problems(run.history)


def test_work_always_longer_than_the_timeout_repeats_until_the_dlq():
    run = sqs(
        1,
        broker=BrokerSetup(kind="sqs", visibility_timeout=1, max_receive_count=3),
        consumers=Consumers(count=2, processing_time=1.5),
    )
    assert len(run.history.of_kind("process")) == 3  # every receive did the work; no delete counted
    assert [a.get("stale") for a in run.history.of_kind("ack")] == [True, True, True]
    assert [e.get("reason") for e in run.history.of_kind("dead_letter")] == ["delivery_limit"]
    assert run.counts["duplicated"] == 1 and run.counts["dead_lettered"] == 1


def test_exactly_once_effect_comes_from_the_consumers_store():
    slow = BrokerSetup(kind="sqs", visibility_timeout=1, max_receive_count=None)
    run = sqs(
        3,
        mode="exactly-once",
        broker=slow,
        consumers=Consumers(count=2, mode="exactly-once", processing_time=1.5),
    )
    assert run.history.of_kind("redeliver") and run.ok and run.counts["processed"] == 3


def test_dead_lettered_after_max_receive_count_receives():
    run = sqs(
        1,
        faults={"poison_message": 1.0},
        broker=BrokerSetup(kind="sqs", visibility_timeout=10, max_receive_count=3),
    )
    assert len(run.history.of_kind("deliver")) == 3
    [dead] = run.history.of_kind("dead_letter")
    assert dead.get("reason") == "delivery_limit"
    assert dead.time == pytest.approx(run.history.of_kind("deliver")[-1].time - 0.001 + 10)
    assert len(run.history.of_kind("redeliver")) == 2
    assert run.counts["dead_lettered"] == 1 and run.counts["lost"] == 0
    assert all("PoisonMessage" in e.error for e in run.errors)


def test_a_handler_can_reject_to_the_dlq_or_make_a_message_visible_again():
    def reject_poison(delivery, ctx):
        try:
            ctx.effect()
        except PoisonMessage:
            ctx.nack(requeue=False)
            return
        if delivery.id == "m2" and not delivery.redelivered:
            ctx.nack()  # ChangeMessageVisibility(0): try again now
            return
        ctx.ack()

    run = sqs(
        2, faults=[Fault("poison_message", msg="m1")], consumers=Consumers(handler=reject_poison)
    )
    [dead] = run.history.of_kind("dead_letter")
    assert (dead.msg, dead.get("reason")) == ("m1", "rejected")
    [again] = run.history.of_kind("redeliver")
    assert (again.msg, again.get("reason")) == ("m2", "nack")
    assert again.time < 1  # at once, not after the visibility timeout
    assert not problems(run.history) and run.counts["lost"] == 0


def test_a_handler_that_never_deletes_sees_the_message_again():
    def forgetful(delivery, ctx):
        ctx.effect()

    run = sqs(
        1,
        broker=BrokerSetup(kind="sqs", visibility_timeout=5, max_receive_count=2),
        consumers=Consumers(handler=forgetful),
    )
    assert len(run.history.of_kind("process")) == 2 and run.history.of_kind("dead_letter")
    assert any("without deleting it" in n for n in run.notes)


def test_duplicate_delivery_breaks_at_most_once_but_not_exactly_once():
    faults = [Fault("duplicate_delivery", msg="m1")]
    assert sqs(2, mode="at-most-once", faults=faults).counts["duplicated"] == 1
    assert sqs(2, mode="exactly-once", faults=faults).ok


def test_producer_retry_duplicates_unless_the_queue_is_fifo():
    faults = [Fault("producer_retry", msg="m1")]
    standard = sqs(2, faults=faults)
    assert [p.get("attempt") for p in standard.history.of_kind("publish") if p.msg == "m1"] == [
        1,
        2,
    ]
    assert standard.counts["duplicated"] == 1
    fifo = sqs(2, faults=faults, producers=Producers(idempotent=True))
    assert fifo.broker.fifo and fifo.counts["duplicated"] == 0
    assert any(e.get("deduplicated") for e in fifo.history.of_kind("confirm"))


def test_broker_restart_loses_nothing_and_redelivers_nothing_early():
    run = sqs(5, faults=[Fault("broker_restart", msg="m2")], consumers=Consumers(count=2))
    assert (
        len(run.history.of_kind("restart")) == 1
        and run.history.of_kind("restart")[0].actor == "broker"
    )
    assert not run.history.of_kind("redeliver") and not run.history.of_kind("crash")
    assert run.counts["processed"] == 5 and run.ok


def test_network_delay_lets_a_later_message_overtake():
    run = sqs(3, faults=[Fault("network_delay", msg="m1", delay=0.5)])
    assert [e.msg for e in run.history.of_kind("process")] == ["m2", "m3", "m1"]
    assert run.report.order and run.counts["lost"] == 0


def test_compare_on_sqs():
    runs = compare(
        Scenario(
            messages=30,
            broker=BrokerSetup(kind="sqs", visibility_timeout=5),
            faults={"crash_before_processing": 0.1, "crash_after_processing": 0.1, "lost_ack": 0.1},
            seed=3,
        )
    )
    assert (
        runs["at-most-once"].counts["lost"] > 0 and runs["at-most-once"].counts["duplicated"] == 0
    )
    assert (
        runs["at-least-once"].counts["lost"] == 0 and runs["at-least-once"].counts["duplicated"] > 0
    )
    assert runs["exactly-once"].ok


def test_a_custom_handler_on_sqs_is_checked_against_its_mode():
    run = sqs(
        5,
        faults={"crash_after_processing": 0.5},
        consumers=Consumers(handler=process_then_ack),
        seed=2,
    )
    assert run.counts["lost"] == 0


# --- any sqs scenario: deterministic and well-formed -------------------------------------------


@st.composite
def sqs_scenarios(draw):
    names = ["crash_before_processing", "crash_after_processing", "lost_ack", "producer_retry"]
    names += ["broker_restart", "network_delay", "duplicate_delivery"]
    faults = draw(st.dictionaries(st.sampled_from(names), st.sampled_from([0.0, 0.1, 0.5])))
    return Scenario(
        messages=draw(st.integers(1, 8)),
        producers=Producers(keys=draw(st.integers(1, 3))),
        broker=BrokerSetup(
            kind="sqs",
            visibility_timeout=draw(st.sampled_from([0.5, 5, 30])),
            receive_batch=draw(st.integers(1, 10)),
            poll_interval=draw(st.sampled_from([0.05, 1.0])),
        ),
        consumers=Consumers(count=draw(st.integers(1, 3)), mode=draw(st.sampled_from(MODES))),
        faults=faults,
        seed=draw(st.integers(0, 1000)),
    )


@settings(max_examples=60)
@given(sqs_scenarios())
def test_any_sqs_scenario_replays_exactly_and_is_well_formed(scenario):
    first = simulate(scenario)
    assert simulate(scenario).history.to_jsonl() == first.history.to_jsonl()
    assert not problems(first.history)
    assert first.stopped == "settled"
    if scenario.consumers.mode != "at-most-once":
        assert first.counts["lost"] == 0
    if (
        scenario.consumers.mode == "exactly-once"
        and "duplicate_delivery" not in scenario.faults.kinds
    ):
        assert first.ok


# --- the headers exchange -----------------------------------------------------------------------


def test_headers_exchange_routes_on_the_key_header():
    run = simulate(
        Scenario(
            messages=6,
            producers=Producers(keys=3),
            broker=BrokerSetup(kind="exchange", exchange_type="headers", queues=2),
        )
    )
    by_group = {}
    for e in run.history.of_kind("process"):
        by_group.setdefault(e.get("group"), set()).add(e.key)
    assert by_group == {"q1": {"k1", "k3"}, "q2": {"k2"}}
    assert run.ok and run.counts["processed"] == 6
    assert run.broker.exchange("events").type == "headers"


def test_headers_exchange_keeps_its_bindings_and_headers_through_faults():
    run = simulate(
        Scenario(
            messages=8,
            producers=Producers(keys=2),
            broker=BrokerSetup(kind="exchange", exchange_type="headers", queues=2, durable=False),
            consumers=Consumers(mode="exactly-once"),
            faults={
                "duplicate_delivery": 0.3,
                "broker_restart": 0.2,
                "crash_after_processing": 0.2,
            },
            seed=4,
        )
    )
    assert not problems(run.history)
    assert not run.report.duplicated
    assert not [e for e in run.history if e.kind == "lost" and e.get("reason") == "unroutable"]


# --- the rest of the toolkit works on sqs runs unchanged --------------------------------------


def test_pictures_and_the_counterexample_search_work_on_sqs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from brokerlab.counterexample import shortest_counterexample
    from brokerlab.diagram import draw_sequence
    from brokerlab.plots import plot_depth
    from brokerlab.simulation import ack_then_process

    run = sqs(
        3,
        faults=[Fault("lost_ack", msg="m1")],
        broker=BrokerSetup(kind="sqs", visibility_timeout=5),
    )
    for fig in (draw_sequence(run.history, run.report), plot_depth(run.history)):
        assert fig.axes
        plt.close(fig)
    cx = shortest_counterexample(ack_then_process, "at-least-once", setup="sqs")
    assert cx.anomaly.kind == "lost" and cx.scenario.broker.kind == "sqs"
