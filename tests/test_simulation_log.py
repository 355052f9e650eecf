"""The simulation on the Kafka-style log: a consumer group, commits, transactions, rebalances."""

from dataclasses import replace

import pytest

from brokerlab.checker import problems
from brokerlab.errors import ScenarioError
from brokerlab.faults import Fault
from brokerlab.partitioning import partition_for_key
from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario
from brokerlab.simulation import (
    MAX_POLL_INTERVAL,
    SESSION_TIMEOUT_MS,
    LogContext,
    LogDelivery,
    builtin_handler,
    commit_then_process,
    process_then_commit,
    simulate,
    transactional,
)

LOG = BrokerSetup(kind="log", partitions=3)


def log_run(faults=(), mode="at-least-once", messages=4, **kw):
    consumers = kw.pop("consumers", Consumers(mode=mode))
    return simulate(
        Scenario(
            messages=messages,
            broker=kw.pop("broker", LOG),
            consumers=consumers,
            faults=list(faults),
            **kw,
        )
    )


def test_builtin_log_handlers():
    assert builtin_handler("at-most-once", "log") is commit_then_process
    assert builtin_handler("at-least-once", "log") is process_then_commit
    assert builtin_handler("exactly-once", "log") is transactional


def test_a_clean_log_run_partitions_by_key_and_commits_offsets():
    run = log_run(messages=9, producers=Producers(keys=3), consumers=Consumers(count=2))
    assert run.ok and run.counts["processed"] == 9 and not run.errors
    rebalances = run.history.of_kind("rebalance")
    assert [e.get("reason") for e in rebalances] == ["consumer-1 joined", "consumer-2 joined"]
    for e in run.history.of_kind("deliver"):  # the log's own partitioner: murmur2 of the key
        assert e.partition == partition_for_key(e.key.encode(), 3)
    commits = run.history.of_kind("commit")
    assert commits and all(c.partition is not None and c.offset >= 1 for c in commits)
    assert not problems(run.history)
    assert run.report.ok("per-partition-order") and run.report.ok("offsets")


def test_same_log_scenario_same_history():
    s = Scenario(
        messages=30,
        broker=LOG,
        producers=Producers(keys=4),
        consumers=Consumers(count=2, batch=3),
        faults={"crash_before_processing": 0.1, "lost_ack": 0.1, "rebalance": 0.05},
        seed=11,
    )
    assert simulate(s).history.to_jsonl() == simulate(s).history.to_jsonl()


def test_crash_before_processing_on_a_log():
    alo = log_run([Fault("crash_before_processing", msg="m1")], messages=2)
    crash = alo.history.of_kind("crash")[0]
    assert crash.get("when") == "before processing"
    assert alo.ok and alo.counts["processed"] == 2
    # the crashed member stays in the group until its session times out
    expiry = [e for e in alo.history.of_kind("rebalance") if "session timeout" in e.get("reason")]
    assert expiry and expiry[0].time == pytest.approx(
        crash.time + SESSION_TIMEOUT_MS / 1000, abs=0.01
    )
    amo = log_run([Fault("crash_before_processing", msg="m1")], "at-most-once", messages=2)
    assert amo.counts["lost"] == 1 and amo.report.lost[0].what == "committed"
    assert amo.ok


def test_crash_after_processing_on_a_log():
    alo = log_run([Fault("crash_after_processing", msg="m1")], messages=2)
    assert alo.counts["duplicated"] == 1
    eo = log_run([Fault("crash_after_processing", msg="m1")], "exactly-once", messages=2)
    assert eo.ok and eo.counts["duplicated"] == 0 and eo.counts["processed"] == 2
    # the transaction left open by the crash was fenced, so its effect never counted
    assert len(eo.history.of_kind("process")) == 2
    outcomes = [o.outcome for o in eo.broker.transactions.outcomes]
    assert outcomes == ["fenced", "committed", "committed"]


def test_a_rebalance_in_the_middle_of_a_batch():
    """A slow record: the member overstays max.poll.interval.ms, the group hands its partition
    to another member, and its batch commit is refused."""
    consumers = Consumers(count=2, batch=5, processing_time=0.01)
    setup = dict(
        messages=6,
        broker=BrokerSetup(kind="log", partitions=1),
        producers=Producers(rate=1000),  # all six arrive before the first poll is done
        faults=[Fault("rebalance", msg="m3")],
    )
    alo = simulate(Scenario(consumers=consumers, **setup))
    reasons = [e.get("reason") for e in alo.history.of_kind("rebalance")]
    assert any("max.poll.interval.ms" in r for r in reasons)
    assert any("CommitFailed" in n for n in alo.notes)
    assert alo.counts["lost"] == 0 and alo.counts["duplicated"] >= 1
    assert alo.end > MAX_POLL_INTERVAL
    for mode in ("at-most-once", "exactly-once"):
        run = simulate(Scenario(consumers=replace(consumers, mode=mode), **setup))
        assert run.counts["duplicated"] == 0, (mode, run.report.summary())


def test_a_lost_commit_makes_the_member_rejoin():
    alo = log_run([Fault("lost_ack", msg="m1")], messages=2)
    [lost] = alo.history.of_kind("lost")
    assert (lost.actor, lost.get("what")) == ("consumer-1", "commit")
    assert any("left (close)" in e.get("reason") for e in alo.history.of_kind("rebalance"))
    assert alo.counts["duplicated"] == 1 and alo.counts["lost"] == 0
    eo = log_run([Fault("lost_ack", msg="m1")], "exactly-once", messages=2)
    assert eo.ok and eo.counts["duplicated"] == 0


def test_producer_retries_on_a_log_with_and_without_idempotence():
    fault = [Fault("producer_retry", msg="m1")]
    idem = log_run(fault, messages=2)  # Kafka's default: idempotent
    confirms = [e for e in idem.history.of_kind("confirm") if e.msg == "m1"]
    assert [c.get("deduplicated") for c in confirms] == [True]
    assert idem.counts["duplicated"] == 0
    plain = log_run(fault, messages=2, producers=Producers(idempotent=False))
    offsets = sorted({e.offset for e in plain.history.of_kind("deliver") if e.msg == "m1"})
    assert len(offsets) == 2  # the record is in the log twice
    assert plain.counts["duplicated"] == 1
    eo_plain = log_run(fault, "exactly-once", messages=2, producers=Producers(idempotent=False))
    assert eo_plain.counts["duplicated"] == 1  # transactions alone do not undo a duplicate write


def test_network_delay_on_a_log_holds_back_the_requests_behind_it():
    """A Kafka producer has one connection: a delayed request delays the ones after it, it is
    not overtaken (unlike independent queue publishes, see test_network_delay_reorders_a_key)."""
    run = log_run(
        [Fault("network_delay", msg="m1", delay=0.3)],
        messages=3,
        broker=BrokerSetup(kind="log", partitions=1),
    )
    assert [e.msg for e in run.history.of_kind("process")] == ["m1", "m2", "m3"]
    arrivals = [e.time for e in run.history.of_kind("confirm")]
    assert arrivals == sorted(arrivals) and arrivals[1] - arrivals[0] < 0.01
    assert run.ok and run.report.ok("per-key-order")


def test_a_lost_confirm_breaks_the_producer_connection_and_resends_in_order():
    run = log_run(
        [Fault("producer_retry", msg="m2")],
        messages=6,
        broker=BrokerSetup(kind="log", partitions=1),
        producers=Producers(rate=1000),  # several batches in flight at once
    )
    lost = [e.msg for e in run.history.of_kind("lost") if e.get("what") == "confirm"]
    assert "m2" in lost and len(lost) > 1  # the responses around it were lost too
    resent = [e.msg for e in run.history.of_kind("publish") if e.get("attempt") == 2]
    assert resent == lost  # every unconfirmed batch, in order
    waited = [e for e in run.history.of_kind("publish") if e.msg == "m4"]
    assert waited[0].time >= 1.0  # nothing new is sent on a broken connection
    assert run.counts["duplicated"] == 0  # the idempotent producer's resends were dropped
    assert run.report.ok("per-partition-order")


def test_broker_restart_on_a_log_keeps_the_records():
    run = log_run([Fault("broker_restart", msg="m2")], messages=4)
    assert [e.actor for e in run.history.of_kind("restart")][0] == "broker"
    assert run.ok and run.counts["processed"] == 4


def test_a_poison_record_goes_to_the_dead_letter_topic():
    run = log_run(
        [Fault("poison_message", msg="m1")],
        messages=2,
        broker=BrokerSetup(kind="log", max_receive_count=2),
    )
    [dead] = run.history.of_kind("dead_letter")
    assert dead.get("reason") == "delivery_limit" and dead.partition == 0
    assert run.counts["dead_lettered"] == 1 and run.counts["lost"] == 0
    assert run.counts["processed"] == 1
    assert run.broker.topic("orders.DLT").partition(0).log_end_offset == 1


def test_an_idempotent_log_consumer_written_by_a_learner():
    def dedup(record, ctx):
        assert isinstance(record, LogDelivery) and isinstance(ctx, LogContext)
        if record.id not in ctx.store:
            ctx.effect(remember=record.id)
        ctx.commit(record)

    run = log_run(
        [Fault("crash_after_processing", msg="m1"), Fault("lost_ack", msg="m2")],
        messages=3,
        consumers=Consumers(handler=dedup, mode="exactly-once"),
    )
    assert run.ok and not run.errors


def test_a_log_delivery_reads_like_the_record():
    seen = []

    def look(record, ctx):
        seen.append(repr(record))
        ctx.effect()
        ctx.commit(record)

    log_run(messages=1, producers=Producers(keys=["alice"]), consumers=Consumers(handler=look))
    assert seen == [f"LogDelivery('m1', orders-{partition_for_key(b'alice', 3)}@0, key='alice')"]


def test_queue_calls_on_a_log_are_explained():
    def wrong(record, ctx):
        ctx.effect()
        ctx.ack()

    run = log_run(messages=1, consumers=Consumers(handler=wrong))
    assert "ctx.ack() is for queues" in run.errors[0].error


def test_transactions_do_not_nest_and_commit_takes_a_record():
    def nested(record, ctx):
        with ctx.transaction(), ctx.transaction():
            ctx.effect()

    run = log_run(messages=1, consumers=Consumers(handler=nested))
    assert "do not nest" in run.errors[0].error
    assert not run.history.of_kind("process")  # the aborted transaction's effect never happened

    def odd(record, ctx):
        ctx.commit("m1")

    run = log_run(messages=1, consumers=Consumers(handler=odd))
    assert "is not a record of this run" in run.errors[0].error


def test_log_scenarios_that_kafka_would_refuse():
    with pytest.raises(ScenarioError, match="durable=False needs kind='queue'"):
        Scenario(broker=BrokerSetup(kind="log", durable=False))
    with pytest.raises(ScenarioError, match="ConfigException"):
        Scenario(
            broker="log",
            producers=Producers(idempotent=True),
            consumers=Consumers(mode="at-most-once"),
        )
