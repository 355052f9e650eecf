"""The routing playground: send a routing key (or headers) into an exchange and see which queues
get the message, binding by binding, and why.

:func:`playground_broker` declares one exchange of each RabbitMQ type with a few bindings:

==========  =======  ==========================================================================
exchange    type     bindings (queue <- binding key or arguments)
==========  =======  ==========================================================================
orders      topic    eu-billing <- ``order.*.eu``; audit <- ``order.#``;
                     new-orders <- ``*.created.*``
logs        direct   errors <- ``error``; ops <- ``error``, ``warning``
news        fanout   mobile, email (the key is ignored)
docs        headers  pdf-reports <- format=pdf, type=report (x-match all);
                     pdf-or-urgent <- format=pdf, urgent (x-match any; urgent: present)
==========  =======  ==========================================================================

:func:`explain` goes through an exchange's bindings with the same matching functions the
exchange routes with (:mod:`brokerlab.routing`), and says for each binding whether it matches
and why: for a topic pattern, which words of the key each pattern word took; for headers, which
conditions held. The queues it marks are exactly the ones :meth:`Broker.publish` reaches (the
tests check this). :func:`draw_routing` draws the verdicts; :func:`routing_playground` is the
widget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .errors import InvalidArgument, InvalidType
from .plots import OKABE_ITO, figure_and_ax
from .routing import check_routing_key, headers_match, topic_matches, topic_words, x_match_mode

__all__ = [
    "Verdict",
    "draw_routing",
    "explain",
    "explain_topic",
    "parse_headers",
    "playground_broker",
    "routing_playground",
]


class Verdict(NamedTuple):
    """One binding of an exchange, judged against one message."""

    queue: str
    binding: str  # the binding key, or the arguments as text
    matched: bool
    why: str


def playground_broker() -> Any:
    """A :class:`~brokerlab.broker.Broker` with the four exchanges of the module docstring."""
    from .broker import Broker

    b = Broker()
    setup = {
        ("orders", "topic"): [
            ("eu-billing", "order.*.eu"),
            ("audit", "order.#"),
            ("new-orders", "*.created.*"),
        ],
        ("logs", "direct"): [("errors", "error"), ("ops", "error"), ("ops", "warning")],
        ("news", "fanout"): [("mobile", ""), ("email", "")],
    }
    for (exchange, kind), bindings in setup.items():
        b.declare_exchange(exchange, kind)
        for queue, key in bindings:
            b.declare_queue(queue)
            b.bind(queue, exchange, key)
    b.declare_exchange("docs", "headers")
    for queue, arguments in (
        ("pdf-reports", {"format": "pdf", "type": "report"}),
        ("pdf-or-urgent", {"x-match": "any", "format": "pdf", "urgent": None}),
    ):
        b.declare_queue(queue)
        b.bind(queue, "docs", arguments=arguments)
    return b


def _align(pattern: list[str], key: list[str]) -> list[tuple[str, list[str]]] | None:
    """Which key words each pattern word takes (``#`` the fewest that work), or None."""
    if not pattern:
        return [] if not key else None
    word, rest = pattern[0], pattern[1:]
    if word == "#":
        for take in range(len(key) + 1):
            tail = _align(rest, key[take:])
            if tail is not None:
                return [(word, key[:take]), *tail]
        return None
    if not key or (word != "*" and word != key[0]):
        return None
    tail = _align(rest, key[1:])
    return None if tail is None else [(word, [key[0]]), *tail]


def _taken(words: list[str]) -> str:
    """The key words a pattern word took, as text: an empty word shows as ''."""
    if not words:
        return "(no words)"
    return ".".join(words) or "''"


def explain_topic(pattern: str, routing_key: str) -> tuple[bool, str]:
    """Does topic ``pattern`` match ``routing_key``, and why (RabbitMQ's rules).

    >>> explain_topic("order.*.eu", "order.created.eu")
    (True, 'order=order, *=created, eu=eu')
    >>> explain_topic("order.#", "order")
    (True, 'order=order, #=(no words)')
    >>> explain_topic("order.*.eu", "order.created.us")
    (False, "word 3: 'eu' is not 'us'")
    """
    matched = topic_matches(pattern, routing_key)
    p, k = topic_words(pattern), topic_words(routing_key)
    if matched:
        steps = _align(p, k) or []
        return True, ", ".join(f"{w}={_taken(t)}" for w, t in steps) or "both empty"
    if "#" not in p and len(p) != len(k):
        return False, f"needs {len(p)} word{'s' if len(p) != 1 else ''}, the key has {len(k)}"
    for i, (w, kw) in enumerate(zip(p, k), 1):
        if w == "#":
            break
        if w != "*" and w != kw:
            return False, f"word {i}: {w!r} is not {kw!r}"
    if "#" not in p:
        return False, "no word to match"
    return False, "no way to line the words up"


def _explain_headers(arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> tuple[bool, str]:
    mode = x_match_mode(arguments)
    with_x = mode.endswith("-with-x")
    parts = []
    for name, expected in arguments.items():
        if name == "x-match" or (name.startswith("x-") and not with_x):
            continue
        if name not in headers:
            parts.append(f"{name} missing")
        elif expected is None:
            parts.append(f"{name} present")
        else:
            ok = headers_match({name: expected}, {name: headers[name]})
            parts.append(f"{name}={headers[name]}" + ("" if ok else f" (wants {expected})"))
    matched = headers_match(arguments, headers)
    return matched, f"x-match {mode}: " + (", ".join(parts) or "no conditions")


def _binding_text(exchange_type: str, binding: Any) -> str:
    if exchange_type == "headers":
        shown = [
            f"{k}={v}" if v is not None else k
            for k, v in binding.arguments.items()
            if k != "x-match"
        ]
        mode = binding.arguments.get("x-match", "all")
        return f"{', '.join(shown)} ({mode})"
    if exchange_type == "fanout":
        return "(any key)"
    return binding.key


def explain(
    broker: Any, exchange: str, routing_key: str = "", headers: Mapping[str, Any] | None = None
) -> list[Verdict]:
    """One :class:`Verdict` per binding of ``exchange`` for a message with ``routing_key`` and
    ``headers``. Nothing is published."""
    x = broker.exchange(exchange)
    check_routing_key(routing_key)
    headers = dict(headers or {})
    out = []
    for b in x.bindings:
        text = _binding_text(x.type, b)
        if x.type == "topic":
            matched, why = explain_topic(b.key, routing_key)
        elif x.type == "direct":
            matched = b.key == routing_key
            why = f"{routing_key!r} {'==' if matched else '!='} {b.key!r}"
        elif x.type == "fanout":
            matched, why = True, "a fanout exchange copies to every queue"
        else:
            matched, why = _explain_headers(b.arguments, headers)
        out.append(Verdict(b.queue, text, matched, why))
    return out


def parse_headers(text: str) -> dict[str, Any]:
    """``"format=pdf, urgent"`` -> ``{'format': 'pdf', 'urgent': ''}``: the widget's header box.

    A name without ``=`` is a header with an empty value (present, which is all a binding
    argument without a value asks for).
    """
    if not isinstance(text, str):
        raise InvalidType(
            f"headers={text!r}: type headers as text, e.g. 'format=pdf, type=report'."
        )
    out: dict[str, Any] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        if not name:
            raise InvalidArgument(
                f"headers={text!r}: {part!r} has no header name. Write name=value pairs "
                "separated by commas, e.g. 'format=pdf, type=report'."
            )
        out[name] = value.strip()
    return out


def draw_routing(
    verdicts: list[Verdict],
    exchange: str = "",
    exchange_type: str = "",
    message: str = "",
    ax: Any = None,
) -> Any:
    """The exchange on the left, one row per binding on the right: a solid green arrow and a
    filled queue where the binding matched, a dashed grey line where it did not, and the reason
    beside each queue. Returns the Figure."""
    fig, ax = figure_and_ax(ax, (7.0, 0.9 + 0.5 * max(len(verdicts), 2)))
    ax.set_axis_off()
    n = len(verdicts)
    green, grey = OKABE_ITO["bluish_green"], "#999999"
    ys = [n - 1 - i for i in range(n)]
    mid = (n - 1) / 2
    for v, y in zip(verdicts, ys):
        ink = "black" if v.matched else "#666666"
        ax.plot(
            [0.08, 0.17, 0.46],
            [mid, y, y],
            color=green if v.matched else grey,
            linestyle="-" if v.matched else "--",
            linewidth=2.2 if v.matched else 1.2,
        )
        ax.text(0.17, y + 0.08, v.binding, ha="left", va="bottom", fontsize=7, color=ink)
        _label(ax, 0.48, y, v.queue, green if v.matched else "white", green if v.matched else grey)
        mark = "✓ " if v.matched else "✗ "
        ax.text(0.7, y, mark + v.why, ha="left", va="center", fontsize=7.5, color=ink)
    _label(ax, 0.0, mid, exchange or "exchange", OKABE_ITO["orange"], OKABE_ITO["orange"], "center")
    ax.set_xlim(-0.08, 1.3)
    ax.set_ylim(-0.6, max(n - 1, 0) + 0.6)
    reached = sorted({v.queue for v in verdicts if v.matched})
    ax.set_title(
        f"{message or 'the message'} via {exchange_type} exchange {exchange!r} -> "
        + (", ".join(reached) if reached else "no queue (unroutable: dropped)")
    )
    return fig


def _label(ax: Any, x: float, y: float, text: str, face: str, edge: str, ha: str = "left") -> None:
    """A name in a rounded box (a queue, the exchange); white text on a filled box."""
    ax.text(
        x,
        y,
        text,
        ha=ha,
        va="center",
        fontsize=8,
        color="white" if face not in ("white", OKABE_ITO["orange"]) else "black",
        bbox={"boxstyle": "round,pad=0.25", "fc": face, "ec": edge},
    )


def routing_playground() -> Any:
    """The widget: pick an exchange, type a routing key and headers, see where it goes."""
    import ipywidgets as widgets

    from .widgets import live_figure

    broker = playground_broker()
    types = {name: broker.exchange(name).type for name in ("orders", "logs", "news", "docs")}
    rows = max(len(broker.exchange(name).bindings) for name in types)

    def draw(ax: Any, exchange: str, routing_key: str, headers: str) -> None:
        hdrs = parse_headers(headers) if types[exchange] == "headers" else {}
        message = f"headers {hdrs}" if types[exchange] == "headers" else repr(routing_key)
        draw_routing(
            explain(broker, exchange, routing_key, hdrs), exchange, types[exchange], message, ax=ax
        )
        verdicts = len(broker.exchange(exchange).bindings)
        pad = (rows - verdicts) / 2  # the same scale for every exchange, centred
        ax.set_ylim(-0.6 - pad, verdicts - 0.4 + pad)

    return live_figure(
        draw,
        figsize=(7.0, 0.9 + 0.5 * rows),
        exchange=widgets.Dropdown(options=list(types), value="orders", description="exchange"),
        routing_key=widgets.Text(
            value="order.created.eu", description="routing key", continuous_update=False
        ),
        headers=widgets.Text(
            value="format=pdf, type=report", description="headers", continuous_update=False
        ),
    )
