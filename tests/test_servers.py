"""The servers module: real RabbitMQ and Redis processes, started, killed, restarted, stopped."""

from __future__ import annotations

import os
import socket

import pytest

from brokerlab.errors import BrokerError
from brokerlab.servers import (
    RabbitMQCluster,
    RabbitMQServer,
    ServerError,
    free_port,
    missing,
    start_rabbitmq,
    start_rabbitmq_cluster,
    start_redis,
)
from live_servers import need


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_missing_names_the_install_command():
    assert missing("no-such-server") == "apt-get install -y no-such-server"
    for program in ("rabbitmq-server", "redis-server"):
        answer = missing(program)
        assert answer is None or answer == f"apt-get install -y {program}"


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_server_error_is_a_broker_error():
    assert issubclass(ServerError, BrokerError)


def test_a_cluster_needs_one_to_seven_nodes():
    with pytest.raises(ServerError, match="nodes=0"):
        start_rabbitmq_cluster(nodes=0)


def test_redis_starts_answers_and_stops(tmp_path):
    need("redis-server")
    redis = pytest.importorskip("redis")
    with start_redis() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.xadd("s", {"n": 1})
        pid, folder = server.pid, server.dir
        server.kill()
        assert not server.running and not _alive(pid)
        server.restart()
        assert redis.Redis.from_url(server.url).xlen("s") == 0  # no persistence: gone
    assert not _alive(pid) and not folder.exists() and not _listening(server.port)


def test_rabbitmq_survives_sigkill_with_a_durable_queue():
    need("rabbitmq-server")
    pika = pytest.importorskip("pika")
    with start_rabbitmq() as server:
        assert isinstance(server, RabbitMQServer) and server.host == "127.0.0.1"
        status = server.ctl("status")
        assert f"127.0.0.1, port: {server.port}" in status  # loopback only
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        ch = conn.channel()
        ch.queue_declare("durable", durable=True)
        ch.queue_declare("transient", durable=False)
        ch.confirm_delivery()
        persistent = pika.BasicProperties(delivery_mode=2)
        ch.basic_publish("", "durable", b"x", properties=persistent)
        ch.basic_publish("", "transient", b"x", properties=persistent)
        conn.close()
        pid = server.pid
        server.kill()
        assert not _alive(pid)
        server.restart()
        conn = pika.BlockingConnection(pika.URLParameters(server.url))
        ch = conn.channel()
        assert ch.queue_declare("durable", durable=True, passive=True).method.message_count == 1
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            ch.queue_declare("transient", passive=True)  # the transient queue is gone
        conn.close()
        pid, epmd = server.pid, server.epmd_port
    assert not _alive(pid) and not _listening(server.port) and not _listening(epmd)


def test_try_start_says_in_one_line_what_is_missing(monkeypatch, capsys):
    import brokerlab.servers as servers

    monkeypatch.setattr(servers, "missing", lambda program: f"apt-get install -y {program}")
    assert servers.try_start("redis") is None
    assert capsys.readouterr().out == (
        "redis: not started, redis-server is not installed here (apt-get install -y redis-server).\n"
    )
    with pytest.raises(ServerError, match="'rabbitmq', 'redis' or 'cluster'"):
        servers.try_start("kafka")
    servers.stop(None, None)  # nothing to stop


class _FakeNode:
    """Stands in for a node: records rabbitmqctl calls, and fails start_app ``failures`` times."""

    def __init__(self, node: str, failures: int = 0) -> None:
        self.node, self.failures, self.calls = node, failures, []

    def ctl(self, *args: str) -> str:
        self.calls.append(args)
        if args == ("start_app",) and self.failures:
            self.failures -= 1
            raise ServerError("rabbitmqctl start_app failed (exit 69): {mnesia_app, start}")
        return ""


def _cluster_of(*nodes: _FakeNode) -> RabbitMQCluster:
    cluster = object.__new__(RabbitMQCluster)  # no processes: only the joining logic
    cluster.nodes = list(nodes)
    return cluster


def test_a_failed_join_is_tried_once_more_from_a_reset_node():
    first, second = _FakeNode("brokerlab1@localhost"), _FakeNode("b2@localhost", failures=1)
    _cluster_of(first, second)._join(second)
    join = ("join_cluster", "brokerlab1@localhost")
    assert second.calls == [
        ("stop_app",), join, ("start_app",),
        ("stop_app",), ("reset",), join, ("start_app",),
    ]  # fmt: skip


def test_a_join_that_fails_twice_is_reported():
    first, second = _FakeNode("brokerlab1@localhost"), _FakeNode("b2@localhost", failures=2)
    with pytest.raises(ServerError, match="start_app"):
        _cluster_of(first, second)._join(second)
