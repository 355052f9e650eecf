"""The servers module: real RabbitMQ and Redis processes, started, killed, restarted, stopped."""

from __future__ import annotations

import os
import socket

import pytest

from brokerlab.errors import BrokerError
from brokerlab.servers import (
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


def test_cluster_elects_a_new_leader_when_the_leader_is_killed():
    need("rabbitmq-server")
    pika = pytest.importorskip("pika")
    with start_rabbitmq_cluster(nodes=3) as cluster:
        assert "brokerlab3@localhost" in cluster.nodes[0].ctl("cluster_status")
        conn = pika.BlockingConnection(pika.URLParameters(cluster.nodes[0].url))
        conn.channel().queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
        conn.close()
        leader = cluster.leader("qq")
        cluster.kill(leader)
        assert cluster.running() == [i for i in range(3) if i != leader]
        new = None
        for _ in range(50):  # the election takes a moment
            try:
                new = cluster.leader("qq")
                break
            except ServerError:
                pass
        assert new is not None and new != leader
        cluster.restart(leader)
        assert cluster.running() == [0, 1, 2]
        pids = [n.pid for n in cluster.nodes]
    assert not any(_alive(p) for p in pids)
