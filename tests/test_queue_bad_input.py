"""Every public call refuses bad input with a specific error that names the parameter, what is
allowed and how to fix it, and a refused call changes nothing."""

from __future__ import annotations

import math

import pytest

from brokerlab.clock import VirtualClock
from brokerlab.errors import (
    AlreadyAcknowledged,
    AlreadyExists,
    DeadLetterConfigError,
    FifoError,
    InvalidArgument,
    InvalidType,
    OutOfRange,
    StaleReceipt,
    UnknownReceipt,
)
from brokerlab.message import Message
from brokerlab.queue import Queue


def snapshot(*queues):
    return [
        (q.stats(), q.peek(), [(d.delivery_tag, d.receipt_handle) for d in q.in_flight()])
        for q in queues
    ]


@pytest.fixture
def world():
    """A queue with something ready, something pulled, something pushed, and a FIFO queue."""
    clock = VirtualClock()
    dlq = Queue("jobs.dlq", clock=clock)
    q = Queue("jobs", clock=clock, dead_letter=dlq, visibility_timeout=10)
    for i in range(4):
        q.publish(i)
    pulled = q.receive()
    c = q.consume("w", prefetch=1)
    pushed = c.take()
    f = Queue("f.fifo", clock=clock, fifo=True)
    f.publish("x", group="g", dedup_id="1")
    return {
        "q": q,
        "dlq": dlq,
        "f": f,
        "c": c,
        "pulled": pulled[0],
        "pushed": pushed[0],
        "clock": clock,
    }


def refused(world, error, match, call):
    before = snapshot(world["q"], world["dlq"], world["f"])
    with pytest.raises(error, match=match):
        call()
    assert snapshot(world["q"], world["dlq"], world["f"]) == before


# --- making a queue -----------------------------------------------------------------------------

QUEUE_ARGS = [
    (
        {"visibility_timeout": -5},
        OutOfRange,
        r"visibility_timeout=-5 is out of range: SQS allows 0\.\.43200 seconds",
    ),
    ({"visibility_timeout": 43201}, OutOfRange, "0..43200"),
    ({"visibility_timeout": "30"}, InvalidType, "visibility_timeout='30'"),
    ({"visibility_timeout": True}, InvalidType, "visibility_timeout=True"),
    ({"visibility_timeout": math.nan}, OutOfRange, "visibility_timeout=nan"),
    ({"retention": 59}, OutOfRange, r"retention=59 is out of range: SQS allows 60\.\.1209600"),
    ({"retention": 1209601}, OutOfRange, "retention=1209601"),
    ({"delay": 901}, OutOfRange, r"delay=901 is out of range: SQS allows 0\.\.900"),
    ({"delay": -1}, OutOfRange, "delay=-1"),
    ({"message_ttl": -1}, OutOfRange, "message_ttl=-1"),
    ({"max_length": -1}, OutOfRange, "max_length=-1"),
    ({"max_length": 1.5}, InvalidType, "max_length=1.5"),
    (
        {"max_receive_count": 0},
        OutOfRange,
        r"max_receive_count=0 is out of range: SQS maxReceiveCount allows 1\.\.1000",
    ),
    ({"max_receive_count": 1001}, OutOfRange, "max_receive_count=1001"),
    ({"max_receive_count": 2.0}, InvalidType, "max_receive_count=2.0"),
    ({"fifo": "yes"}, InvalidType, "fifo='yes'"),
    (
        {"content_based_dedup": True},
        InvalidArgument,
        "content_based_dedup=True on a standard queue",
    ),
    ({"dead_letter": "jobs.dlq"}, InvalidType, "dead_letter='jobs.dlq'"),
    ({"dead_letter": Queue("f.dlq", fifo=True)}, DeadLetterConfigError, "same type"),
    ({"clock": 5}, InvalidType, "clock=5"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), QUEUE_ARGS)
def test_bad_queue_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        Queue("q", **kwargs)


@pytest.mark.parametrize("name", ["", 5, None])
def test_bad_queue_name(name):
    with pytest.raises(InvalidType, match="name="):
        Queue(name)


def test_every_error_tells_how_to_fix():
    for kwargs, error, _ in QUEUE_ARGS:
        with pytest.raises(error) as info:
            Queue("q", **kwargs)
        text = str(info.value)
        assert any(w in text for w in ("Pass", "Use", "use", "Leave", "Pick")), text


# --- publishing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"payload": object()}, InvalidType, "payload of type object"),
        ({"payload": {1, 2}}, InvalidType, "payload of type set"),
        ({"payload": {"x": math.nan}}, InvalidType, "payload"),
        ({"payload": 1, "key": 5}, InvalidType, "key=5"),
        ({"payload": 1, "headers": ["h"]}, InvalidType, "headers="),
        ({"payload": 1, "headers": {1: "x"}}, InvalidType, "header names are str"),
        ({"payload": 1, "headers": {"h": object()}}, InvalidType, "headers"),
        ({"payload": 1, "id": 5}, InvalidType, "id=5"),
        ({"payload": 1, "id": ""}, InvalidType, "id=''"),
        (
            {"payload": 1, "delay": 901},
            OutOfRange,
            r"delay=901 is out of range: SQS allows 0\.\.900",
        ),
        ({"payload": 1, "delay": "1"}, InvalidType, "delay='1'"),
        ({"payload": 1, "ttl": -1}, OutOfRange, "ttl=-1"),
        ({"payload": 1, "dedup_id": "d"}, FifoError, "dedup_id='d' on standard queue"),
        ({"payload": 1, "group": 5}, InvalidType, "group=5"),
    ],
)
def test_bad_publish_changes_nothing(world, kwargs, error, match):
    payload = kwargs.pop("payload")
    refused(world, error, match, lambda: world["q"].publish(payload, **kwargs))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dedup_id": "2"}, FifoError, "group=None on FIFO queue"),
        ({"group": "g"}, FifoError, "dedup_id=None on FIFO queue"),
        ({"group": "g", "dedup_id": "2", "delay": 5}, FifoError, "delay=5 on FIFO queue"),
        ({"group": "", "dedup_id": "2"}, InvalidType, "group=''"),
        ({"group": "g", "dedup_id": 7}, InvalidType, "dedup_id=7"),
    ],
)
def test_bad_fifo_publish_changes_nothing(world, kwargs, error, match):
    refused(world, error, match, lambda: world["f"].publish("y", **kwargs))


def test_bad_enqueue_changes_nothing(world):
    refused(world, InvalidType, "enqueue\\(\\) takes", lambda: world["q"].enqueue("text"))
    refused(
        world, InvalidType, "message.payload", lambda: world["q"].enqueue(Message("x", object()))
    )
    refused(world, OutOfRange, "delay=-1", lambda: world["q"].enqueue(Message("x", 1), delay=-1))
    refused(world, FifoError, "group", lambda: world["f"].enqueue(Message("x", 1, dedup_id="9")))
    refused(world, InvalidType, "receive_dead_letter", lambda: world["dlq"].receive_dead_letter(3))


@pytest.mark.parametrize(
    ("exchange", "error", "match"),
    [
        (
            None,
            InvalidType,
            r"exchange=None is a NoneType: it names the exchange .*'' for the default",
        ),
        (7, InvalidType, "exchange=7 is a int"),
        (b"orders", InvalidType, "exchange=b'orders'"),
        pytest.param(
            "x" * 256,
            OutOfRange,
            "exchange name is 256 bytes long: RabbitMQ names are at most 255",
            id="256-bytes",
        ),
    ],
)
def test_bad_exchange_changes_nothing(world, exchange, error, match):
    message = Message("x", 1)
    refused(world, error, match, lambda: world["q"].enqueue(message, exchange=exchange))
    refused(world, error, match, lambda: world["f"].enqueue(message, exchange=exchange))
    refused(
        world, error, match, lambda: world["dlq"].receive_dead_letter(message, exchange=exchange)
    )


# --- receiving and settling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"max_messages": 0},
            OutOfRange,
            r"max_messages=0 is out of range: SQS ReceiveMessage allows 1\.\.10",
        ),
        ({"max_messages": 11}, OutOfRange, "max_messages=11"),
        ({"max_messages": 1.0}, InvalidType, "max_messages=1.0"),
        ({"max_messages": True}, InvalidType, "max_messages=True"),
        ({"visibility_timeout": -1}, OutOfRange, "visibility_timeout=-1"),
        ({"visibility_timeout": 43201}, OutOfRange, "0..43200"),
    ],
)
def test_bad_receive_changes_nothing(world, kwargs, error, match):
    refused(world, error, match, lambda: world["q"].receive(**kwargs))


@pytest.mark.parametrize("method", ["ack", "delete", "nack", "reject"])
def test_bad_receipts_change_nothing(world, method):
    call = getattr(world["q"], method)
    refused(world, InvalidType, "pass the Delivery", lambda: call(1.5))
    refused(world, InvalidType, "pass the Delivery", lambda: call(None))
    refused(world, UnknownReceipt, "never issued", lambda: call(999))
    refused(world, UnknownReceipt, "not issued by queue 'jobs'", lambda: call("other:m1:1"))
    refused(world, UnknownReceipt, "not issued by queue 'jobs'", lambda: call("jobs:m1:x"))
    foreign = world["f"].receive()[0]
    refused(world, UnknownReceipt, "came from queue 'f.fifo'", lambda: call(foreign))


def test_wrong_message_id_in_handle_is_unknown(world):
    d = world["pulled"]
    refused(
        world, UnknownReceipt, "never issued", lambda: world["q"].ack(f"jobs:zzz:{d.delivery_tag}")
    )


def test_ack_twice_changes_nothing(world):
    q, d = world["q"], world["pulled"]
    q.ack(d)
    for receipt in (d, d.delivery_tag, d.receipt_handle):
        refused(world, AlreadyAcknowledged, "already", lambda r=receipt: q.ack(r))
    refused(world, AlreadyAcknowledged, "already", lambda: q.nack(d))


def test_stale_receipt_changes_nothing(world):
    q, d, clock = world["q"], world["pulled"], world["clock"]
    clock.advance(10)
    [d2] = q.receive()
    assert d2.message is d.message
    refused(world, StaleReceipt, "received again", lambda: q.ack(d.receipt_handle))
    refused(world, StaleReceipt, "Real SQS would answer success", lambda: q.ack(d))


@pytest.mark.parametrize("requeue", ["yes", 1, None])
def test_bad_requeue_changes_nothing(world, requeue):
    refused(world, InvalidType, "requeue=", lambda: world["q"].nack(world["pulled"], requeue))


def test_bad_change_visibility_changes_nothing(world):
    q = world["q"]
    refused(world, OutOfRange, "timeout=-1", lambda: q.change_visibility(world["pulled"], -1))
    refused(world, OutOfRange, "timeout=43201", lambda: q.change_visibility(world["pulled"], 43201))
    refused(world, InvalidType, "timeout='5'", lambda: q.change_visibility(world["pulled"], "5"))
    refused(
        world,
        InvalidArgument,
        "pushed to consumer 'w'",
        lambda: q.change_visibility(world["pushed"], 5),
    )
    refused(world, UnknownReceipt, "never issued", lambda: q.change_visibility(77, 5))


# --- consumers --------------------------------------------------------------------------------------


def test_bad_consume_changes_nothing(world):
    q = world["q"]
    refused(world, InvalidType, "name=5", lambda: q.consume(5))
    refused(world, InvalidType, "name=''", lambda: q.consume(""))
    refused(world, AlreadyExists, "name='w' is already a consumer", lambda: q.consume("w"))
    refused(
        world,
        OutOfRange,
        r"prefetch=-1 is out of range: AMQP basic.qos allows 0\.\.65535",
        lambda: q.consume(prefetch=-1),
    )
    refused(world, OutOfRange, "prefetch=65536", lambda: q.consume(prefetch=65536))
    refused(world, InvalidType, "prefetch=1.5", lambda: q.consume(prefetch=1.5))


def test_closed_consumer_refuses_everything(world):
    c = world["c"]
    c.close()
    for call in (c.close, c.crash, lambda: c.ack(1), lambda: c.nack(1), lambda: c.reject(1)):
        refused(world, InvalidArgument, "consumer 'w' is closed", call)


def test_consumer_refuses_anothers_delivery(world):
    refused(
        world,
        UnknownReceipt,
        "belongs to a receive\\(\\) call",
        lambda: world["c"].ack(world["pulled"]),
    )


# --- redrive ---------------------------------------------------------------------------------------


def test_bad_redrive_changes_nothing(world):
    dlq = world["dlq"]
    world["q"].nack(world["pulled"], requeue=False)
    refused(world, OutOfRange, "max_messages=0", lambda: dlq.redrive(0))
    refused(world, InvalidType, "max_messages=1.5", lambda: dlq.redrive(1.5))
    refused(world, InvalidType, "to='jobs'", lambda: dlq.redrive(to="jobs"))
    refused(world, DeadLetterConfigError, "itself", lambda: dlq.redrive(to=dlq))
    refused(world, DeadLetterConfigError, "same type", lambda: dlq.redrive(to=world["f"]))
