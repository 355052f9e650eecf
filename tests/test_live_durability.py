"""Durable and persistent, across a SIGKILL of a real RabbitMQ node (brokerlab.durability)."""

from __future__ import annotations

import pytest

from brokerlab.durability import COMBINATIONS, plot_survival, survives_restart
from brokerlab.servers import start_rabbitmq
from live_servers import need


def test_only_persistent_messages_in_durable_queues_survive():
    need("rabbitmq-server")
    pytest.importorskip("pika")
    with start_rabbitmq() as server:
        result = survives_restart(server, messages=5)
    assert result.confirmed == {c.queue: 5 for c in COMBINATIONS}
    assert result.survived == {
        "durable queue, persistent messages": 5,
        "durable queue, transient messages": 0,
        "transient queue, persistent messages": 0,
        "transient queue, transient messages": 0,
    }
    assert result.queue_exists == {c.queue: c.durable for c in COMBINATIONS}
    assert len(result.report.lost) == 15 and not result.report.ok("at-least-once")
    assert "queue gone" in result.table()
    assert plot_survival(result).axes[0].get_xlabel() == "messages"
