"""The topology of a broker setup, drawn with networkx: who sends to whom.

Any setup is a directed graph whose nodes have a ``kind`` and a ``label``:

==============  =====  =========================================================================
kind            layer  what it is
==============  =====  =========================================================================
producer        0      an application that publishes
exchange        1      RabbitMQ: routes each message to the queues bound to it
topic           1      a named stream: pub/sub topic, or a Kafka topic
queue           2      holds messages until a consumer takes them
subscription    2      a topic's copy of the stream for one subscriber
partition       2      one ordered, append-only part of a Kafka topic
consumer        3      takes messages from a queue or subscription
member          3      a consumer in a Kafka consumer group, with its assigned partitions
group           4      a Kafka consumer group (its members point back to it)
==============  =====  =========================================================================

So a RabbitMQ setup reads left to right: producers -> exchange -> bindings (edge labels: the
binding keys) -> queues -> consumers, and a Kafka setup: topic -> partitions -> group members.
Edges may carry a ``label`` (drawn) and a ``kind``; ``kind="dead_letter"`` edges are dashed.

:func:`draw_topology` accepts such a ``networkx.DiGraph``, or any object with a ``.graph()``
method that returns one (:class:`brokerlab.broker.Broker` and :class:`brokerlab.log.Log` have
one). The layout is layered by kind, like ``networkx.multipartite_layout``
(:func:`layered_layout`), with the nodes of each layer ordered by where their predecessors are
(fewer crossings), ties broken by the graph's own order: the same setup gives the same picture
every time. Membership edges (a group and its members) are drawn as dotted lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgument, InvalidType
from .plots import OKABE_ITO, figure_and_ax

__all__ = ["KIND_LAYERS", "draw_topology", "layered_layout", "topology_graph"]

KIND_LAYERS = {
    "producer": 0,
    "exchange": 1,
    "topic": 1,
    "queue": 2,
    "subscription": 2,
    "partition": 2,
    "consumer": 3,
    "member": 3,
    "group": 4,
}
_C = OKABE_ITO
# kind -> (marker, face colour, edge colour)
_NODE_STYLE = {
    "producer": ("o", _C["blue"], _C["blue"]),
    "exchange": ("D", _C["orange"], _C["orange"]),
    "topic": ("h", _C["orange"], _C["orange"]),
    "queue": ("s", _C["bluish_green"], _C["bluish_green"]),
    "subscription": ("s", "white", _C["bluish_green"]),
    "partition": ("s", _C["sky_blue"], _C["sky_blue"]),
    "consumer": ("o", _C["reddish_purple"], _C["reddish_purple"]),
    "member": ("o", _C["reddish_purple"], _C["reddish_purple"]),
    "group": ("p", _C["yellow"], _C["black"]),
}


def topology_graph(obj: Any, producers: Mapping[str, Any] | None = None) -> Any:
    """The setup as a checked ``networkx.DiGraph`` (a copy), with ``producers`` added.

    ``obj`` is a DiGraph or has a ``.graph()`` method returning one. ``producers`` maps a
    producer's name to the node(s) it publishes to, given by node id or by label (for example
    ``{"checkout": "orders"}`` for the exchange labelled ``orders``).
    """
    import networkx as nx

    graph = obj.graph() if hasattr(obj, "graph") and callable(obj.graph) else obj
    if not isinstance(graph, nx.DiGraph):
        raise InvalidType(
            f"draw_topology needs a networkx.DiGraph or an object with a .graph() method "
            f"(a Broker, a Log); got {type(obj).__name__}."
        )
    g = nx.DiGraph()
    for node, data in graph.nodes(data=True):
        kind = data.get("kind")
        if kind not in KIND_LAYERS:
            raise InvalidArgument(
                f"node {node!r} has kind={kind!r}: every node needs a kind, one of "
                f"{', '.join(KIND_LAYERS)}. Set it with graph.add_node({node!r}, kind='queue', ...)."
            )
        g.add_node(node, **{**data, "label": str(data.get("label", node))})
    for u, v, data in graph.edges(data=True):
        g.add_edge(u, v, **data)
    if producers:
        if not isinstance(producers, Mapping):
            raise InvalidType(
                f"producers is a {type(producers).__name__}: pass a dict such as "
                "{'checkout': 'orders'} (producer name -> exchange, topic or queue)."
            )
        for name, targets in producers.items():
            targets = [targets] if isinstance(targets, str) else list(targets)
            pnode = f"producer:{name}"
            g.add_node(pnode, kind="producer", label=str(name))
            for target in targets:
                g.add_edge(pnode, _find(g, target), kind="publish", label="")
    return g


def _find(g: Any, target: Any) -> Any:
    if target in g and g.nodes[target]["kind"] != "producer":
        return target
    hits = [
        n
        for n, d in g.nodes(data=True)
        if d["label"] == str(target) and d["kind"] in ("exchange", "topic", "queue", "partition")
    ]
    if len(hits) == 1:
        return hits[0]
    known = sorted(
        d["label"] for _, d in g.nodes(data=True) if d["kind"] in ("exchange", "topic", "queue")
    )
    why = "matches several nodes" if hits else "is not an exchange, topic or queue of this setup"
    raise InvalidArgument(
        f"producers target {target!r} {why}: use a node id, or one of {', '.join(known) or '(none)'}."
    )


def _layered_order(g: Any) -> list[Any]:
    """Nodes by layer; within a layer, by the mean position of their predecessors."""
    layers: dict[int, list[Any]] = {}
    for n, d in g.nodes(data=True):
        layers.setdefault(KIND_LAYERS[d["kind"]], []).append(n)
    position: dict[Any, float] = {}
    order: list[Any] = []
    for layer in sorted(layers):
        nodes = layers[layer]

        def weight(n: Any, i: int) -> tuple[float, int]:
            before = [position[p] for p in g.predecessors(n) if p in position]
            if not before:  # groups: place them by their members (successors)
                before = [position[s] for s in g.successors(n) if s in position]
            return (sum(before) / len(before) if before else float(i), i)

        ranked = sorted(nodes, key=lambda n: weight(n, nodes.index(n)))
        for i, n in enumerate(ranked):
            position[n] = float(i)
        order += ranked
    return order


def draw_topology(
    obj: Any,
    ax: Any = None,
    *,
    producers: Mapping[str, Any] | None = None,
    edge_labels: bool = True,
) -> Any:
    """Draw a broker setup left to right by layer (see the module docstring). Returns the Figure.

    ``obj``: a ``networkx.DiGraph`` whose nodes have ``kind`` and ``label``, or an object with
    a ``.graph()`` method (a Broker, a Log). ``producers``: producers to add, e.g.
    ``{"checkout": "orders"}``. ``edge_labels``: draw the edges' ``label`` (binding keys...).
    """
    import networkx as nx

    g = topology_graph(obj, producers)
    ordered = nx.DiGraph()
    for n in _layered_order(g):
        ordered.add_node(n, **g.nodes[n], layer=KIND_LAYERS[g.nodes[n]["kind"]])
    ordered.add_edges_from(g.edges(data=True))

    layers = sorted({d["layer"] for _, d in ordered.nodes(data=True)}) or [0]
    tallest = max(
        [sum(1 for _, d in ordered.nodes(data=True) if d["layer"] == la) for la in layers] or [1]
    )
    width = min(max(4.0, 2.3 * len(layers) + 1.0), 14.0)
    height = min(max(2.5, 0.75 * tallest + 1.2), 12.0)
    fig, ax = figure_and_ax(ax, (width, height), margins=(0.5, 0.5, 0.45, 0.2))
    ax.set_axis_off()
    if not len(ordered):
        ax.text(0.5, 0.5, "an empty setup", ha="center", va="center", transform=ax.transAxes)
        return fig

    pos = layered_layout(ordered)
    xs = sorted({p[0] for p in pos.values()})

    for kind, (marker, face, edge) in _NODE_STYLE.items():
        nodes = [n for n, d in ordered.nodes(data=True) if d["kind"] == kind]
        if not nodes:
            continue
        pc = nx.draw_networkx_nodes(
            ordered,
            pos,
            nodelist=nodes,
            node_shape=marker,
            node_color=face,
            edgecolors=edge,
            linewidths=1.5,
            node_size=520,
            ax=ax,
            label=kind,
        )
        pc.set_gid(f"nodes:{kind}")
        pc.set_zorder(3)

    def style_of(u: Any, v: Any) -> str:
        if "group" in (ordered.nodes[u]["kind"], ordered.nodes[v]["kind"]):
            return "member"
        return "dead_letter" if ordered.edges[u, v].get("kind") == "dead_letter" else "flow"

    looks = {  # style -> (colour, line style, arrow)
        "flow": ("#555555", "solid", "-|>"),
        "dead_letter": (_C["reddish_purple"], "dashed", "-|>"),
        "member": ("#888888", "dotted", "-"),
    }
    for u, v in list(ordered.edges):
        ordered.edges[u, v]["_style"] = style_of(u, v)
    for name, (colour, line, arrow) in looks.items():
        for bend in ("arc3", "arc3,rad=0.3"):
            edges = [
                (u, v)
                for u, v, d in ordered.edges(data=True)
                if d["_style"] == name
                and (bend == "arc3") == (_straight(ordered, u, v) or name == "member")
            ]
            if not edges:
                continue
            patches = nx.draw_networkx_edges(
                ordered,
                pos,
                edgelist=edges,
                ax=ax,
                arrows=True,
                arrowstyle=arrow,
                arrowsize=14,
                edge_color=colour,
                width=1.3,
                style=line,
                connectionstyle=bend,
                node_size=520,
            )
            for patch in patches:
                patch.set_gid(f"edge:{name}")
    if edge_labels:
        labels = {(u, v): d["label"] for u, v, d in ordered.edges(data=True) if d.get("label")}
        if labels:
            texts = nx.draw_networkx_edge_labels(
                ordered,
                pos,
                edge_labels=labels,
                font_size=7,
                ax=ax,
                rotate=False,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
            for t in texts.values():
                t.set_gid("edge-label")
    for n, (px, py) in pos.items():
        t = ax.text(px, py - 0.32, ordered.nodes[n]["label"], ha="center", va="top", fontsize=8)
        t.set_gid("node-label")
    ax.set_xlim(-0.6, len(xs) - 0.4)
    ax.set_ylim(-0.8, max(tallest - 1, 0) + 0.5)
    ax.set_title(_title(ordered), fontsize=10, loc="left")
    return fig


def layered_layout(g: Any) -> dict[Any, tuple[float, float]]:
    """Positions: x = the layer's rank (0, 1, 2...), y = the node's rank in its layer, top down,
    each layer centred on the tallest. What ``networkx.multipartite_layout`` does, but with the
    order within a layer guaranteed to be the graph's node order (it is :func:`_layered_order`).
    """
    layers: dict[int, list[Any]] = {}
    for n, d in g.nodes(data=True):
        layers.setdefault(d["layer"], []).append(n)
    tallest = max((len(v) for v in layers.values()), default=1)
    pos = {}
    for x, layer in enumerate(sorted(layers)):
        nodes = layers[layer]
        top = (tallest - 1) / 2 + (len(nodes) - 1) / 2
        for i, n in enumerate(nodes):
            pos[n] = (float(x), top - i)
    return pos


def _straight(g: Any, u: Any, v: Any) -> bool:
    """Edges that go one or more layers to the right are straight; the others curve."""
    return g.nodes[v]["layer"] > g.nodes[u]["layer"]


def _title(g: Any) -> str:
    """ "Topology: 1 exchange, 2 queues, 3 consumers" (in layer order)."""
    counts: dict[str, int] = {}
    for _, d in g.nodes(data=True):
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    kinds = sorted(counts, key=lambda k: (KIND_LAYERS[k], k))
    return "Topology: " + ", ".join(
        f"{counts[k]} {k}{'s' if counts[k] != 1 else ''}" for k in kinds
    )
