"""Chapter 07's consumer, retries with backoff included, on the reference broker, a real RabbitMQ
and a real Redis: the same handler object, the same story per message, and a delayed retry on
each adapter that comes back no sooner than its delay and keeps the delivery count.

Delays here are tenths of a second; the lower bounds (a retry never comes back early) are what
is asserted, never how fast anything runs.
"""

from __future__ import annotations

import pytest

from brokerlab import Fault, Scenario
from brokerlab.live import RabbitMQ, RedisStreams, retry_waits, run_live, side_by_side, story
from brokerlab.retry import retrying
from brokerlab.scenario import BrokerSetup
from live_servers import need

DELAY = 0.15  # seconds
#: Redis measures idle time in whole milliseconds, and the history rounds times to 0.1 ms.
SLACK = 0.002


@pytest.fixture(scope="module")
def servers():
    need("rabbitmq-server")
    need("redis-server")
    pytest.importorskip("pika")
    pytest.importorskip("redis")
    from brokerlab.servers import start_rabbitmq, start_redis

    with start_rabbitmq() as rabbit, start_redis() as redis:
        yield rabbit, redis


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request, servers):
    rabbit, redis = servers
    b = RabbitMQ(rabbit.url) if request.param == "rabbitmq" else RedisStreams(redis.url)
    with b:
        yield b


def poison(max_receive_count=4, messages=3, kind="queue"):
    return Scenario(
        messages=messages,
        broker=BrokerSetup(kind=kind, max_receive_count=max_receive_count),
        faults=[Fault("poison_message", msg="m2")],
    )


def test_the_same_handler_object_runs_on_all_three_brokers(servers):
    rabbit, redis = servers
    handle = retrying(base=0.02, cap=0.1, seed=3)
    contexts = []

    def watched(delivery, ctx):
        contexts.append(type(ctx).__name__)
        handle(delivery, ctx)  # the very same object, on every broker

    runs = side_by_side(poison(), watched, rabbitmq=rabbit, redis=redis)
    assert set(contexts) == {"Context", "LiveContext"}
    ref = runs["reference"]
    assert story(ref.history)["m2"] == (
        ("deliver", "nack")
        + ("redeliver", "redeliver-to-consumer", "nack") * 3
        + ("dead_letter(delivery_limit)",)
    )
    for name, run in runs.items():
        assert run.stopped == "settled", name
        assert story(run.history) == story(ref.history), name
        assert run.counts == ref.counts, name
        assert run.report.verdicts == ref.report.verdicts, name
        nacks = [e for e in run.history.of_kind("nack") if e.msg == "m2"]
        assert len(nacks) == 4 and all(0 < e.info["delay"] <= 0.1 for e in nacks), name
    assert runs["RabbitMQ"].dead["m2"]["x-death"][0]["reason"] == "delivery_limit"
    assert runs["Redis"].dead["m2"]["death"]["reason"] == "delivery_limit"


def test_chapter_03s_idempotent_consumer_runs_on_the_sqs_scenario_too(servers):
    from brokerlab.scenario import Consumers
    from brokerlab.simulation import idempotent

    rabbit, redis = servers
    faults = Scenario(
        messages=3,
        broker=BrokerSetup(kind="sqs"),
        consumers=Consumers(mode="exactly-once"),
        faults=[Fault("crash_after_processing", msg="m1"), Fault("lost_ack", msg="m2")],
    )
    runs = side_by_side(faults, idempotent, rabbitmq=rabbit, redis=redis)
    for name, run in runs.items():
        assert run.report.ok("exactly-once"), name
        assert story(run.history) == story(runs["reference"].history), name


def _retry_twice(seen):
    def handle(delivery, ctx):
        seen.append((delivery.id, delivery.receive_count))
        if delivery.id == "m1" and delivery.receive_count < 3:
            ctx.nack(requeue=True, delay=DELAY * delivery.receive_count)
            return
        ctx.effect()
        ctx.ack()

    return handle


def test_a_delayed_retry_comes_back_no_sooner_and_keeps_its_delivery_count(broker):
    seen = []
    run = run_live(Scenario(messages=2), broker, _retry_twice(seen), timeout=10)
    assert run.stopped == "settled"
    assert [n for m, n in seen if m == "m1"] == [1, 2, 3]  # the count goes on across delays
    events = [e for e in run.history if e.msg == "m1" and e.kind in ("nack", "deliver")]
    assert [e.kind for e in events] == ["deliver", "nack"] * 2 + ["deliver"]
    for n, (nack, back) in enumerate(zip(events[1::2], events[2::2]), start=1):
        assert nack.info["delay"] == DELAY * n
        assert back.time - nack.time >= DELAY * n - SLACK  # never early
    assert story(run.history)["m1"] == (
        ("deliver", "nack")
        + ("redeliver", "redeliver-to-consumer", "nack")
        + ("redeliver", "redeliver-to-consumer", "process", "ack")
    )
    assert run.counts["processed"] == 2 and run.counts["duplicated"] == 0


def test_the_delivery_limit_still_dead_letters_a_message_retried_with_delays(broker):
    run = run_live(poison(max_receive_count=3), broker, retrying(base=0.01, cap=0.02), timeout=10)
    assert run.stopped == "settled"
    delivered = [e for e in run.history.of_kind("deliver") if e.msg == "m2"]
    assert len(delivered) == 3
    [dead] = run.history.of_kind("dead_letter")
    assert (dead.msg, dead.info["reason"]) == ("m2", "delivery_limit")
    if broker.name == "RabbitMQ":
        assert run.dead["m2"]["x-death"][0]["reason"] == "delivery_limit"
    else:
        assert run.dead["m2"]["death"]["count"] == 3


def test_a_consumer_that_counts_rejects_after_its_backoffs(broker):
    run = run_live(poison(max_receive_count=None), broker, retrying(2, base=0.01), timeout=10)
    assert [e.info["reason"] for e in run.history.of_kind("dead_letter")] == ["rejected"]
    assert sum(1 for e in run.history.of_kind("deliver") if e.msg == "m2") == 2


def _once(bad_call):
    """A handler that makes ``bad_call(ctx)`` on the first delivery (the consumer dies of the
    error, as any consumer whose handler raises), then processes the message."""

    def handle(delivery, ctx):
        if delivery.receive_count == 1:
            bad_call(ctx)
        ctx.effect()
        ctx.ack()

    return handle


def test_a_delay_with_requeue_false_is_refused(broker):
    handle = _once(lambda ctx: ctx.nack(requeue=False, delay=1.0))
    run = run_live(Scenario(messages=1), broker, handle, timeout=10)
    assert run.errors and "delay=1.0 with requeue=False" in run.errors[0].error


def test_on_rabbitmq_a_held_delivery_takes_a_prefetch_slot(servers):
    seen = []
    with RabbitMQ(servers[0].url) as b:
        run = run_live(Scenario(messages=2), b, _retry_twice(seen), timeout=10)
    first_nack = next(e for e in run.history.of_kind("nack"))
    m2 = next(e for e in run.history.of_kind("deliver") if e.msg == "m2")
    assert m2.time - first_nack.time >= DELAY - SLACK  # prefetch 1: nothing else until the nack


def test_on_rabbitmq_a_crash_gives_held_deliveries_back_at_once(servers):
    """A consumer that dies while it holds a delivery for a long delay: its channel closes
    and RabbitMQ requeues the delivery at once, delay or not (a named difference from Redis,
    which keeps the entry pending, its wait still in force)."""

    def handle(delivery, ctx):
        if delivery.id == "m1" and delivery.receive_count == 1:
            ctx.nack(requeue=True, delay=60.0)
            return
        ctx.effect()
        ctx.ack()

    scenario = Scenario(
        messages=2,
        broker=BrokerSetup(prefetch=2),
        faults=[Fault("crash_before_processing", msg="m2")],
    )
    with RabbitMQ(servers[0].url) as b:
        run = run_live(scenario, b, handle, timeout=10)
    assert run.stopped == "settled"  # m1 did not wait out its 60 s
    back = [e.msg for e in run.history.of_kind("redeliver") if e.info["reason"] == "channel closed"]
    assert sorted(back) == ["m1", "m2"]
    assert run.counts["processed"] == 2


def test_redis_keeps_the_wait_where_every_consumer_of_the_group_sees_it(servers):
    with RedisStreams(servers[1].url) as b:
        b.setup(max_receive_count=None, prefetch=1)
        b.publish("m1", "k1", 1)
        first = b.connect("a")
        d, _ = b.poll(first)
        b.nack(first, d, True, delay=60.0)
        other = b.connect("b")
        assert b.poll(other) == (None, [])  # b may not claim it: its wait is not over
        [pending] = b.pending()
        assert (pending["consumer"], pending["times_delivered"]) == ("a", 1)  # no delivery counted
        assert b._r.hget(b.backoff, d.tag) == "60000"


def test_a_delay_out_of_range_is_refused(broker):
    handle = _once(lambda ctx: ctx.nack(requeue=True, delay=50_000))
    run = run_live(Scenario(messages=1), broker, handle, timeout=10)
    assert run.errors and "delay=50000" in run.errors[0].error


def test_retry_waits_pairs_each_delay_with_the_wait_that_followed():
    from brokerlab import simulate

    run = simulate(poison(max_receive_count=3), retrying(base=0.5, cap=0.5, jitter="none"))
    waits = retry_waits(run.history, "m2")
    assert [asked for asked, _ in waits] == [0.5, 0.5, 0.5]
    assert all(waited >= asked for asked, waited in waits)
    assert retry_waits(run.history, "m1") == []


def test_why_not_a_ttl_retry_queue_on_rabbitmq_the_count_starts_again(servers):
    """The usual RabbitMQ retry recipe: reject to a retry queue whose message TTL dead-letters
    back into the work queue. Each return is a new message in the work queue, so its
    x-delivery-count never grows and x-delivery-limit never trips; only x-death counts. That
    is why the adapter holds the delivery instead (live.py, "Delayed retries")."""
    import time

    import pika

    conn = pika.BlockingConnection(pika.URLParameters(servers[0].url))
    try:
        ch = conn.channel()
        for q in ("ttl-work", "ttl-retry"):
            ch.queue_delete(q)
        ch.queue_declare("ttl-work", durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": 1,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "ttl-retry"})  # fmt: skip
        ch.queue_declare("ttl-retry", durable=True, arguments={
            "x-message-ttl": 20, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "ttl-work"})  # fmt: skip
        ch.basic_publish("", "ttl-work", b"poison")
        counts, rejected = [], []
        for _ in range(4):  # four failures, with a delivery limit of 1 (two deliveries)
            for _ in range(500):
                method, props, _body = ch.basic_get("ttl-work")
                if method is not None:
                    break
                time.sleep(0.01)
            assert method is not None, "the message did not come back from the retry queue"
            headers = props.headers or {}
            counts.append(int(headers.get("x-delivery-count", 0)))
            deaths = {d["reason"].decode() if isinstance(d["reason"], bytes) else d["reason"]:
                      int(d["count"]) for d in headers.get("x-death", [])}  # fmt: skip
            rejected.append(deaths.get("rejected", 0))
            ch.basic_nack(method.delivery_tag, requeue=False)  # to the retry queue
        assert counts == [0, 0, 0, 0]  # the limit of 1 never trips
        assert rejected == [0, 1, 2, 3]  # only x-death counts the trips
    finally:
        conn.close()
