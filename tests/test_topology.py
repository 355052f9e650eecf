"""Topology drawings: layered by kind, every node and edge drawn, deterministic, any setup."""

from __future__ import annotations

import io

import matplotlib
import networkx as nx
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType  # noqa: E402
from brokerlab.topology import (  # noqa: E402
    KIND_LAYERS,
    draw_topology,
    layered_layout,
    topology_graph,
)
from test_diagram import artists as by_gid  # noqa: E402
from test_diagram import close_figures  # noqa: E402, F401  (closes figures after each test)


def n_nodes(fig: Figure, kind: str) -> int:
    return sum(len(c.get_offsets()) for c in by_gid(fig, f"nodes:{kind}"))


def rabbit() -> nx.DiGraph:
    """producer -> exchange -> (bindings) -> 2 queues -> consumers; a dead-letter queue."""
    g = nx.DiGraph()
    g.add_node("p", kind="producer", label="checkout")
    g.add_node("x", kind="exchange", label="orders")
    g.add_node("dlx", kind="exchange", label="dlx")
    for q in ("billing", "shipping", "dead"):
        g.add_node(q, kind="queue", label=q)
    g.add_node("c1", kind="consumer", label="billing-1")
    g.add_node("c2", kind="consumer", label="billing-2")
    g.add_node("c3", kind="consumer")  # no label: the node id is used
    g.add_edge("p", "x")
    g.add_edge("x", "billing", label="order.*")
    g.add_edge("x", "shipping", label="order.paid")
    g.add_edge("billing", "c1")
    g.add_edge("billing", "c2")
    g.add_edge("shipping", "c3")
    g.add_edge("billing", "dlx", kind="dead_letter")
    g.add_edge("dlx", "dead")
    return g


def kafka() -> nx.DiGraph:
    """topic -> 3 partitions -> 2 members of one group."""
    g = nx.DiGraph()
    g.add_node("t", kind="topic", label="payments")
    g.add_node("grp", kind="group", label="fraud")
    for m in ("m1", "m2"):
        g.add_node(m, kind="member", label=m)
        g.add_edge("grp", m)
    for p in range(3):
        g.add_node(f"p{p}", kind="partition", label=f"payments-{p}")
        g.add_edge("t", f"p{p}")
        g.add_edge(f"p{p}", "m1" if p < 2 else "m2")
    return g


def test_every_node_drawn_once_in_its_kind():
    fig = draw_topology(rabbit())
    assert isinstance(fig, Figure)
    assert n_nodes(fig, "producer") == 1
    assert n_nodes(fig, "exchange") == 2
    assert n_nodes(fig, "queue") == 3
    assert n_nodes(fig, "consumer") == 3
    labels = sorted(t.get_text() for t in by_gid(fig, "node-label"))
    assert labels == sorted(
        ["checkout", "orders", "dlx", "billing", "shipping", "dead", "billing-1", "billing-2", "c3"]
    )
    assert fig.axes[0].get_title(loc="left") == (
        "Topology: 1 producer, 2 exchanges, 3 queues, 3 consumers"
    )


def test_every_edge_drawn_with_its_style_and_label():
    fig = draw_topology(rabbit())
    assert len(by_gid(fig, "edge:flow")) == 7
    (dead,) = by_gid(fig, "edge:dead_letter")
    assert dead.get_linestyle() in ("--", "dashed")
    assert sorted(t.get_text() for t in by_gid(fig, "edge-label")) == ["order.*", "order.paid"]
    assert by_gid(draw_topology(rabbit(), edge_labels=False), "edge-label") == []


def test_kafka_setup_with_membership_edges():
    fig = draw_topology(kafka())
    assert n_nodes(fig, "topic") == 1 and n_nodes(fig, "partition") == 3
    assert n_nodes(fig, "member") == 2 and n_nodes(fig, "group") == 1
    assert len(by_gid(fig, "edge:flow")) == 6  # topic -> 3 partitions -> members
    assert len(by_gid(fig, "edge:member")) == 2


def test_layers_run_left_to_right_by_kind():
    g = topology_graph(rabbit())
    for n in g:
        g.nodes[n]["layer"] = KIND_LAYERS[g.nodes[n]["kind"]]
    pos = layered_layout(g)
    x = {n: pos[n][0] for n in g}
    assert x["p"] < x["x"] < x["billing"] < x["c1"]
    assert x["x"] == x["dlx"] and x["billing"] == x["dead"]
    # within a layer: top to bottom, one unit apart
    ys = sorted((pos[q][1] for q in ("billing", "shipping", "dead")), reverse=True)
    assert ys[0] - ys[1] == ys[1] - ys[2] == 1


def test_producers_can_be_added_by_label():
    g = rabbit()
    g.remove_node("p")
    fig = draw_topology(g, producers={"web": "orders", "batch": ["orders", "dead"]})
    assert n_nodes(fig, "producer") == 2
    tg = topology_graph(g, producers={"web": "orders"})
    assert list(tg.successors("producer:web")) == ["x"]
    with pytest.raises(InvalidArgument, match="'nowhere' is not an exchange, topic or queue"):
        draw_topology(g, producers={"web": "nowhere"})
    with pytest.raises(InvalidType, match="pass a dict"):
        draw_topology(g, producers=["web"])  # type: ignore[arg-type]


def test_bad_graphs_are_refused():
    g = nx.DiGraph()
    g.add_node("q")
    with pytest.raises(InvalidArgument, match="node 'q' has kind=None: every node needs a kind"):
        draw_topology(g)
    g.nodes["q"]["kind"] = "mailbox"
    with pytest.raises(InvalidArgument, match="one of producer, exchange"):
        draw_topology(g)
    with pytest.raises(InvalidType, match="networkx.DiGraph or an object with a .graph"):
        draw_topology([("a", "b")])


def test_input_graph_is_not_changed():
    g = rabbit()
    before = (list(g.nodes(data=True)), list(g.edges(data=True)))
    draw_topology(g, producers={"web": "orders"})
    assert (list(g.nodes(data=True)), list(g.edges(data=True))) == before


def test_objects_with_a_graph_method():
    class Setup:
        def graph(self):
            return kafka()

    assert n_nodes(draw_topology(Setup()), "partition") == 3


def test_broker_and_log_draw():
    from brokerlab.broker import Broker
    from brokerlab.log import Log

    b = Broker()
    b.declare_exchange("orders", "topic")
    b.declare_queue("billing")
    b.declare_queue("audit")
    b.bind("billing", "orders", "order.*")
    b.bind("audit", "orders", "#")
    b.queue("billing").consume("billing-1")
    fig = draw_topology(b, producers={"checkout": "orders"})
    assert n_nodes(fig, "exchange") == 1 and n_nodes(fig, "queue") == 2
    assert n_nodes(fig, "consumer") == 1 and n_nodes(fig, "producer") == 1
    assert sorted(t.get_text() for t in by_gid(fig, "edge-label")) == ["#", "order.*"]

    log = Log()
    log.create_topic("payments", partitions=3)
    consumers = [log.consumer(group="fraud", name=n) for n in ("f1", "f2")]
    for c in consumers:
        c.subscribe("payments")
    for c in consumers + consumers:
        c.poll()
    fig = draw_topology(log)
    assert n_nodes(fig, "partition") == 3 and n_nodes(fig, "member") == 2
    assert n_nodes(fig, "group") == 1
    assert len(by_gid(fig, "edge:member")) == 2


def test_deterministic_svg_and_given_ax():
    def svg() -> bytes:
        buf = io.BytesIO()
        draw_topology(rabbit()).savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    with matplotlib.rc_context({"svg.hashsalt": "brokerlab"}):
        assert svg() == svg()
    fig = Figure()
    ax = fig.add_subplot()
    assert draw_topology(kafka(), ax=ax) is fig


def test_empty_setup():
    fig = draw_topology(nx.DiGraph())
    assert any("an empty setup" in t.get_text() for t in fig.axes[0].texts)
