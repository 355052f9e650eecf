"""A 3-node RabbitMQ cluster: leader election after a SIGKILL, and the failover experiment
(brokerlab.replication) with and without publisher confirms. One cluster for the module."""

from __future__ import annotations

import pytest

from brokerlab.replication import plot_failover, publish_through_failover
from brokerlab.servers import ServerError, start_rabbitmq_cluster
from live_servers import need


@pytest.fixture(scope="module")
def cluster():
    need("rabbitmq-server")
    pytest.importorskip("pika")
    with start_rabbitmq_cluster(nodes=3) as c:
        yield c


def _leader(cluster, queue):
    for _ in range(30):  # an election takes a moment
        try:
            return cluster.leader(queue)
        except ServerError:
            pass
    return None


def test_the_cluster_has_three_members(cluster):
    status = cluster.nodes[0].ctl("cluster_status")
    assert all(f"brokerlab{i}@localhost" in status for i in (1, 2, 3))


def test_confirmed_messages_survive_the_leaders_death(cluster):
    run = publish_through_failover(cluster, messages=200, confirms=True, leader=1)
    assert run.lost_confirmed == ()
    assert run.report.ok("at-least-once")
    assert run.confirmed == run.published == 200
    assert not cluster.nodes[1].running and run.killed_at == 100
    new = _leader(cluster, "orders")
    assert new in (0, 2)
    cluster.restart(1)
    assert cluster.running() == [0, 1, 2]


def test_without_confirms_the_checker_counts_what_is_missing(cluster):
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(cluster.nodes[2].url))
    conn.channel().queue_declare(
        "placed", durable=True,
        arguments={"x-queue-type": "quorum", "x-queue-leader-locator": "client-local"},
    )  # fmt: skip
    conn.close()
    assert _leader(cluster, "placed") == 2  # client-local puts the leader where we declared it
    run = publish_through_failover(
        cluster, queue="orders2", messages=2000, confirms=False, leader=2
    )
    assert run.confirmed == 0 and run.lost_confirmed == ()
    lost = {a.msg for a in run.report.lost}
    assert lost == set(run.lost_unconfirmed)
    assert run.drained + len(run.lost_unconfirmed) == run.published
    assert plot_failover([run]).axes[0].get_title()
    cluster.restart(2)
