"""The same handlers on the reference broker, on a real RabbitMQ and on a real Redis: the same
story per message, the same counts, and the same checker verdicts (brokerlab.live)."""

from __future__ import annotations

import pytest

from brokerlab import Consumers, Fault, Producers, Scenario, check, simulate
from brokerlab.errors import ScenarioError
from brokerlab.history import History
from brokerlab.live import LiveDelivery, RabbitMQ, RedisStreams, run_live, story
from brokerlab.retry import retrying
from brokerlab.servers import start_rabbitmq, start_redis
from brokerlab.simulation import idempotent, process_then_ack
from live_servers import need


@pytest.fixture(scope="module")
def rabbitmq_url():
    need("rabbitmq-server")
    pytest.importorskip("pika")
    with start_rabbitmq() as server:
        yield server.url


@pytest.fixture(scope="module")
def redis_url():
    need("redis-server")
    pytest.importorskip("redis")
    with start_redis() as server:
        yield server.url


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request):
    if request.param == "rabbitmq":
        b = RabbitMQ(request.getfixturevalue("rabbitmq_url"))
    else:
        b = RedisStreams(request.getfixturevalue("redis_url"))
    with b:
        yield b


CASES = {
    "crash after processing, then a poison message": (
        Scenario(
            messages=3,
            faults=[Fault("crash_after_processing", msg="m1"), Fault("poison_message", msg="m3")],
        ),
        process_then_ack,
    ),
    "chapter 03's idempotent consumer under three faults": (
        Scenario(
            messages=4,
            consumers=Consumers(mode="exactly-once"),
            faults=[
                Fault("crash_after_processing", msg="m1"),
                Fault("lost_ack", msg="m2"),
                Fault("crash_before_processing", msg="m3"),
            ],
        ),
        idempotent,
    ),
    "chapter 07's consumer, the queue's delivery limit": (
        Scenario(messages=3, faults=[Fault("poison_message", msg="m2")]),
        retrying(),
    ),
    "chapter 07's consumer, giving up after 3 attempts": (
        Scenario(messages=3, faults=[Fault("poison_message", msg="m2")]),
        retrying(3),
    ),
    "two consumers share the queue": (
        Scenario(messages=6, consumers=Consumers(count=2)),
        process_then_ack,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_story_counts_and_verdicts_as_the_reference_broker(broker, case):
    scenario, handler = CASES[case]
    reference = simulate(scenario, handler)
    live = run_live(scenario, broker, handler)
    assert live.stopped == "settled"
    assert story(live.history) == story(reference.history)
    assert live.counts == reference.counts
    assert live.report.verdicts == check(live.history).verdicts
    assert {p: live.report.ok(p) for p in ("at-least-once", "at-most-once", "exactly-once")} == {
        p: reference.report.ok(p) for p in ("at-least-once", "at-most-once", "exactly-once")
    }
    who = [(e.actor, e.msg) for e in live.history.of_kind("process")]
    assert who == [(e.actor, e.msg) for e in reference.history.of_kind("process")]


def test_a_live_history_round_trips_through_jsonl(broker, tmp_path):
    run = run_live(Scenario(messages=2, faults=[Fault("crash_after_processing", msg="m1")]), broker)
    path = tmp_path / "run.jsonl"
    run.history.to_jsonl(path)
    again = History.from_jsonl(path)
    assert [(e.actor, e.kind, e.msg) for e in again] == [
        (e.actor, e.kind, e.msg) for e in run.history
    ]
    assert check(again).duplicated and not check(again).lost


def test_dead_letters_carry_their_death_history(broker):
    run = run_live(
        Scenario(messages=1, faults=[Fault("poison_message", msg="m1")]), broker, retrying(2)
    )
    [dead] = run.dead.values()
    if broker.name == "RabbitMQ":
        [death] = dead["x-death"]
        assert (death["reason"], death["queue"], death["count"]) == ("rejected", "jobs", 1)
        assert dead["x-first-death-reason"] == "rejected"
    else:
        death = dead["death"]
        assert (death["reason"], death["stream"], death["count"]) == ("rejected", "jobs", 2)


def test_a_delivery_looks_like_the_reference_one(broker):
    seen = []

    def look(delivery, ctx):
        seen.append(delivery)
        ctx.effect()
        ctx.ack()

    run_live(Scenario(messages=2, producers=Producers(keys=2)), broker, look)
    assert [(d.id, d.payload, d.key, d.redelivered, d.receive_count) for d in seen] == [
        ("m1", 1, "k1", False, 1),
        ("m2", 2, "k2", False, 1),
    ]
    assert all(isinstance(d, LiveDelivery) for d in seen)


def test_redis_keeps_a_crashed_consumers_entry_pending_until_claimed(redis_url):
    with RedisStreams(redis_url) as b:
        run = run_live(Scenario(messages=1, faults=[Fault("crash_before_processing", msg="m1")]), b)
    [redeliver] = run.history.of_kind("redeliver")
    assert redeliver.info["reason"] == "claimed (XCLAIM)"


def test_a_fault_a_live_run_cannot_inject_is_refused(broker):
    with pytest.raises(ScenarioError, match="not injected on a real broker"):
        run_live(Scenario(messages=1, faults=[Fault("duplicate_delivery", msg="m1")]), broker)


def test_a_scenario_is_required():
    with pytest.raises(ScenarioError, match="is not a Scenario"):
        run_live("three messages", None)  # type: ignore[arg-type]


def test_story_puts_a_nack_before_its_dead_letter():
    h = History()
    h.record(0, "p", "publish", "m1")
    h.record(1, "c", "deliver", "m1")
    h.record(2, "broker", "dead_letter", "m1", reason="rejected")
    h.record(2, "c", "nack", "m1", requeue=False)
    assert story(h) == {"m1": ("deliver", "nack", "dead_letter(rejected)")}


def test_retrying_on_the_reference_broker():
    from brokerlab.errors import OutOfRange

    poison = Scenario(messages=2, faults=[Fault("poison_message", msg="m1")])
    by_limit = simulate(poison, retrying())
    by_consumer = simulate(poison, retrying(2))
    assert [e.info["reason"] for e in by_limit.history.of_kind("dead_letter")] == ["delivery_limit"]
    assert [e.info["reason"] for e in by_consumer.history.of_kind("dead_letter")] == ["rejected"]
    delivered = [e for e in by_consumer.history.of_kind("deliver") if e.msg == "m1"]
    assert len(delivered) == 2 and by_consumer.counts["processed"] == 1
    with pytest.raises(OutOfRange, match="max_attempts"):
        retrying(0)
