"""SqsContext.nack(requeue=True, delay=d): a retry's backoff on the simulated SQS queue."""

from __future__ import annotations

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


def test_the_message_is_visible_again_exactly_after_the_delay():
    def handle(delivery, ctx):
        if delivery.receive_count < 3:
            ctx.nack(requeue=True, delay=0.25 * delivery.receive_count)
        else:
            ctx.effect()
            ctx.ack()

    run = _run(handle)
    events = [e for e in run.history if e.msg == "m1" and e.kind in ("nack", "redeliver")]
    waits = [round(b.time - a.time, 9) for a, b in zip(events[::2], events[1::2])]
    assert [e.kind for e in events] == ["nack", "redeliver"] * 2
    assert waits == [0.25, 0.5]
    assert [e.info["delay"] for e in events[::2]] == [0.25, 0.5]
    assert sum(1 for e in run.history.of_kind("deliver")) == 3
    assert run.counts["lost"] == 0 and run.counts["processed"] == 1


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
