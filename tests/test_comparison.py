"""The comparison table: each probe finds what the real system's documentation says, and a
change to a model changes the table.

Documentation each expectation comes from:

- Kafka: *Introduction* and *Design* in the Apache Kafka documentation
  (https://kafka.apache.org/documentation/#intro_concepts_and_terms: "Kafka only provides a
  total order over records within a partition"; consumer groups: "each record published to a
  topic is delivered to one consumer instance within each subscribing consumer group");
  *Topic Configs* ``retention.ms`` (604800000, 7 days) and ``retention.bytes``; ``seek`` in the
  KafkaConsumer javadoc; at-least-once by default (*Design*, "Message Delivery Semantics").
  Kafka has no broker-side deduplication of an application's second send: the idempotent
  producer (KIP-98, KIP-679) only drops a retried *batch* of one producer session.
- RabbitMQ: https://www.rabbitmq.com/docs/queues ("Queues in RabbitMQ are ordered collections of
  messages ... FIFO"; messages are kept until consumed and acknowledged),
  https://www.rabbitmq.com/docs/exchanges (topic and headers exchanges, fanout),
  https://www.rabbitmq.com/docs/confirms (unacknowledged deliveries are requeued when a channel
  closes: at-least-once), https://www.rabbitmq.com/docs/ttl (no TTL: no expiry). RabbitMQ has no
  deduplication of publishes (it needs a plugin).
- SQS: Amazon SQS Developer Guide, *Amazon SQS standard queues* ("at-least-once delivery",
  "best-effort ordering"), *Amazon SQS FIFO queues* (order within a message group, 5-minute
  deduplication interval), *Amazon SQS message quotas* (retention 60 s to 14 days, 4 days by
  default); a consumed (deleted) message cannot be received again; one message is received by
  one consumer (fan-out needs SNS).
"""

from __future__ import annotations

import pytest

from brokerlab.comparison import (
    FIDELITY,
    SYSTEMS,
    ComparisonTable,
    Profile,
    comparison_table,
    probe,
    profiles,
)
from brokerlab.errors import BrokerError

# ordering, replay, keeps_after_consume, retention, content_routing, fan_out, delivery,
# deduplication: what each system's documentation (module docstring) says.
_DOCUMENTED = {
    "Kafka": ("per partition", True, True, "by time or size (7 days by default)",
              False, True, "at-least-once", False),
    "RabbitMQ": ("per queue", False, False, "until consumed",
                 True, True, "at-least-once", False),
    "SQS standard": ("best effort", False, False, "up to 14 days (4 by default)",
                     False, False, "at-least-once", False),
    "SQS FIFO": ("per message group", False, False, "up to 14 days (4 by default)",
                 False, False, "at-least-once", True),
}  # fmt: skip
DOCS = {system: Profile(system, *values) for system, values in _DOCUMENTED.items()}


@pytest.fixture(scope="module")
def measured() -> dict[str, Profile]:
    return profiles()


def test_profiles_are_keyed_by_system(measured):
    assert list(measured) == list(SYSTEMS)
    assert all(p.system == name for name, p in measured.items())


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("field", [f for f in Profile.__dataclass_fields__ if f != "system"])
def test_each_probe_finds_what_the_docs_say(measured, system, field):
    assert getattr(measured[system], field) == getattr(DOCS[system], field)


def test_probes_are_deterministic():
    assert profiles() == profiles()
    assert repr(comparison_table()) == repr(comparison_table())


def test_the_table_shows_every_field_and_system():
    table = comparison_table()
    text = repr(table)
    for system in SYSTEMS:
        assert system in text
    assert "per message group" in text and "until consumed" in text
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + 8
    assert table.as_dict()["SQS FIFO"]["deduplication"] is True


def test_why_gives_the_evidence_per_field():
    table = comparison_table(["SQS standard"])
    why = table.why("SQS standard")
    assert "best effort" in why and "m1" in why
    assert len(why.splitlines()) == 8
    with pytest.raises(BrokerError, match="Kafka"):
        table.why("Kafka")


def test_an_unknown_system_is_refused_by_name():
    with pytest.raises(BrokerError, match="SQS FIFO"):
        probe("ActiveMQ")


def test_fidelity_notes_cover_every_system():
    assert set(FIDELITY) == set(SYSTEMS)
    assert all(follows and differs for follows, differs in FIDELITY.values())


# --- a model change changes the table ------------------------------------------------------------


def test_a_log_that_forgets_consumed_records_loses_replay(monkeypatch):
    from brokerlab.consumer_group import Consumer

    monkeypatch.setattr(Consumer, "seek_to_beginning", lambda self, partitions=None: None)
    kafka = probe("Kafka")[0]
    assert kafka.replay is False
    assert comparison_table(["Kafka"]).profiles["Kafka"] != DOCS["Kafka"]


def test_a_queue_without_fifo_deduplication_changes_the_fifo_column(monkeypatch):
    from brokerlab.fifo import Deduplicator

    monkeypatch.setattr(Deduplicator, "original", lambda self, key, now: None)
    assert probe("SQS FIFO")[0].deduplication is False


def test_a_longer_default_retention_shows_in_the_table(monkeypatch):
    from brokerlab import log

    monkeypatch.setattr(log, "DEFAULT_RETENTION_MS", 3 * 24 * 3600 * 1000)
    monkeypatch.setattr(
        log.Log.create_topic,
        "__kwdefaults__",
        {**log.Log.create_topic.__kwdefaults__, "retention_ms": 3 * 24 * 3600 * 1000},
    )
    assert probe("Kafka")[0].retention == "by time or size (3 days by default)"


def test_requeue_at_the_back_breaks_rabbitmq_ordering(monkeypatch):
    from brokerlab.queue import Consumer

    def crash_and_lose(self):  # a broken broker: the crashed consumer's messages vanish
        for d in list(self.unacked):
            self.ack(d)
        self.close()

    monkeypatch.setattr(Consumer, "crash", crash_and_lose)
    p = probe("RabbitMQ")[0]
    assert p.delivery == "at-most-once"
    assert p.ordering == "best effort"


def test_a_queue_whose_delete_does_nothing_keeps_messages(monkeypatch):
    from brokerlab.queue import Queue

    monkeypatch.setattr(Queue, "ack", lambda self, delivery: None)
    assert probe("SQS standard")[0].keeps_after_consume is True


def test_a_comparison_table_is_a_frozen_value():
    table = comparison_table(["RabbitMQ"])
    assert isinstance(table, ComparisonTable)
    with pytest.raises(AttributeError):
        table.profiles = {}  # type: ignore[misc]


def test_a_declared_queue_keeps_messages_until_consumed_as_rabbitmq_does():
    # https://www.rabbitmq.com/docs/ttl: without a TTL a message stays until it is consumed.
    from brokerlab.broker import Broker
    from brokerlab.queue import Queue

    b = Broker()
    q = b.declare_queue("jobs")
    b.publish("", "jobs", "keep me")
    b.clock.advance(365 * 24 * 3600)
    assert [m.payload for m in b.queue("jobs").peek()] == ["keep me"]
    assert q.retention == float("inf")
    assert Queue("sqs").retention == 345600  # a queue made directly keeps SQS's 4 days
    with pytest.raises(BrokerError, match="None to keep messages until consumed"):
        Queue("sqs", retention=15 * 24 * 3600)
