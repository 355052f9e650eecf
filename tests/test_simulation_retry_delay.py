"""SqsContext.nack(requeue=True, delay=d): a retry's backoff on the simulated SQS queue."""

from __future__ import annotations

import pytest

from brokerlab.scenario import BrokerSetup, Consumers, Scenario
from brokerlab.simulation import simulate


def _run(handler, messages=1):
    return simulate(
        Scenario(
            messages=messages,
            consumers=Consumers(handler=handler),
            broker=BrokerSetup(kind="sqs", max_receive_count=None),
        )
    )


@pytest.mark.parametrize(
    "kind, reason",
    [("sqs", "visibility timeout"), ("queue", "backoff over")],  # queue: held, then nacked
)
def test_the_message_comes_back_exactly_after_the_delay(kind, reason):
    def handle(delivery, ctx):
        if delivery.receive_count < 3:
            ctx.nack(requeue=True, delay=0.25 * delivery.receive_count)
        else:
            ctx.effect()
            ctx.ack()

    run = _run(handle) if kind == "sqs" else _queue_run(handle)
    events = [e for e in run.history if e.msg == "m1" and e.kind in ("nack", "redeliver")]
    waits = [round(b.time - a.time, 9) for a, b in zip(events[::2], events[1::2])]
    assert [e.kind for e in events] == ["nack", "redeliver"] * 2
    assert waits == [0.25, 0.5]
    assert [e.info["delay"] for e in events[::2]] == [0.25, 0.5]
    assert {e.info["reason"] for e in events[1::2]} == {reason}
    delivered = list(run.history.of_kind("deliver"))
    assert [bool(e.get("redelivered")) for e in delivered] == [False, True, True]
    assert run.counts["lost"] == 0 and run.counts["processed"] == 1
    assert run.report.ok("at-least-once")


def test_no_delay_is_visible_at_once_as_before():
    def handle(delivery, ctx):
        if delivery.receive_count == 1:
            ctx.nack()
        else:
            ctx.effect()
            ctx.ack()

    run = _run(handle)
    [nack] = run.history.of_kind("nack")
    [back] = run.history.of_kind("redeliver")
    assert back.time == nack.time and back.info["reason"] == "nack"
    assert "delay" not in nack.info


def test_a_delay_on_a_dead_letter_is_refused():
    def handle(delivery, ctx):
        ctx.nack(requeue=False, delay=1.0)

    run = _run(handle)
    assert run.errors and "delay=1.0 with requeue=False" in run.errors[0].error


# --- the queue setup (RabbitMQ): the consumer holds the delivery for the delay, then nacks -----


def _queue_run(handler, messages=1, **broker):
    return simulate(
        Scenario(
            messages=messages,
            consumers=Consumers(handler=handler),
            broker=BrokerSetup(**broker),
        )
    )


def test_the_delivery_limit_still_counts_held_retries():
    """The return after the wait is a plain nack: the queue counts it, so max_receive_count
    dead-letters the message after as many deliveries as without a delay (the reason a
    held delivery is used instead of a TTL retry queue, which would reset the count)."""

    def handle(delivery, ctx):
        ctx.nack(requeue=True, delay=1.0)

    run = _queue_run(handle, max_receive_count=3)
    assert sum(1 for e in run.history.of_kind("deliver")) == 3
    [dead] = run.history.of_kind("dead_letter")
    assert dead.info["reason"] == "delivery_limit"


def test_a_held_delivery_takes_its_prefetch_slot():
    """With prefetch 1, nothing else reaches the consumer while it holds a retry."""

    def handle(delivery, ctx):
        if delivery.id == "m1" and delivery.receive_count == 1:
            ctx.nack(requeue=True, delay=5.0)
        else:
            ctx.effect()
            ctx.ack()

    run = _queue_run(handle, messages=2, prefetch=1)
    [nack] = run.history.of_kind("nack")
    second = [e for e in run.history.of_kind("deliver") if e.msg == "m2"][0]
    assert second.time >= nack.time + 5.0


def test_a_crash_while_holding_gives_the_delivery_back_at_once():
    from brokerlab.faults import Fault

    def handle(delivery, ctx):
        if delivery.id == "m1" and delivery.receive_count == 1:
            ctx.nack(requeue=True, delay=60.0)
        else:
            ctx.effect()
            ctx.ack()

    run = simulate(
        Scenario(
            messages=2,
            consumers=Consumers(handler=handle),
            faults=[Fault("crash_before_processing", msg="m2")],
            broker=BrokerSetup(prefetch=2),
        )
    )
    [nack] = run.history.of_kind("nack")
    back = [e for e in run.history.of_kind("redeliver") if e.msg == "m1"][0]
    assert back.info["reason"] == "channel closed" and back.time < nack.time + 60.0
    assert run.report.ok("at-least-once")


def test_a_hold_past_consumer_timeout_closes_the_channel():
    from brokerlab.simulation import CONSUMER_TIMEOUT

    def handle(delivery, ctx):
        if delivery.receive_count == 1:
            ctx.nack(requeue=True, delay=CONSUMER_TIMEOUT + 600)
        else:
            ctx.effect()
            ctx.ack()

    run = _queue_run(handle)
    [nack] = run.history.of_kind("nack")
    [back] = [e for e in run.history.of_kind("redeliver") if e.msg == "m1"]
    assert back.info["reason"] == "channel closed"
    assert round(back.time - nack.time, 6) == CONSUMER_TIMEOUT
    assert any("consumer_timeout" in n for n in run.notes)


def test_a_bad_delay_is_refused_naming_it():
    def handle(delivery, ctx):
        ctx.nack(requeue=True, delay=-1)

    run = _queue_run(handle)
    assert run.errors and "delay=" in run.errors[0].error
