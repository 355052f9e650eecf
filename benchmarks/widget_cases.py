"""Every widget of the course, for ``bench_widgets.py`` (and its smoke test).

One :class:`WidgetCase` per widget on main. ``factory`` names a function that takes no argument
and returns the :class:`brokerlab.widgets.LiveFigure` a chapter shows; ``largest`` sets the
controls to the values that make the widget's model work hardest (the biggest run, the most
consumers...). ``model`` (optional) names the function the widget's picture is computed from,
called with the controls' values as keywords, so that the benchmark can time the model's
recompute apart from the drawing. The benchmark turns the widget's picture cache off, then
times one update for a move from the default setting, and one for a move to the largest
setting, so that both the everyday and the worst case are measured.

A chapter that adds a widget adds one line here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class WidgetCase:
    name: str  # what the benchmark table calls it
    chapter: str  # "00", "01", ...
    factory: str  # "module:function", e.g. "brokerlab.widgets:fair_dispatch_widget"
    largest: dict[str, Any] = field(default_factory=dict)  # control name -> its heaviest value
    model: str | None = None  # "module:function" taking the controls' values, or None


CASES: list[WidgetCase] = [
    WidgetCase(
        "fair dispatch",
        "00",
        "brokerlab.widgets:fair_dispatch_widget",
        {"prefetch": 5, "messages": 40},
        "brokerlab.prefetch:fair_dispatch",
    ),
    WidgetCase(
        "spike: depth and wait",
        "01",
        "brokerlab.load_leveling:spike_widget",
        {"spike": 300, "consumers": 10, "service_time": 5.0},
        "brokerlab.load_leveling:simulate_spike",
    ),
    WidgetCase(
        "who got what: queue and topic",
        "02",
        "brokerlab.messaging_patterns:who_got_what_widget",
        {"producers": 4, "consumers": 6, "subscribers": 6},
        "brokerlab.messaging_patterns:queue_and_topic",
    ),
    WidgetCase(
        "consumer-group rebalance",
        "04",
        "brokerlab.rebalance:rebalance_widget",
        {"partitions": 12, "members": 7, "change": "crash", "assignor": "cooperative-sticky"},
    ),
    WidgetCase(
        "routing playground",
        "04",
        "brokerlab.routing_playground:routing_playground",
        {"exchange": "orders", "routing_key": "order.created.eu.extra.words", "headers": ""},
    ),
    WidgetCase(
        "window size, grace and disorder",
        "05",
        "brokerlab.lateness:lateness_widget",
        {"size": 2, "grace": 20, "disorder": 20},
    ),
    WidgetCase(
        "ordering: partitions, key skew, consumers",
        "06",
        "brokerlab.ordering:ordering_widget",
        {"partitions": 12, "skew": 2.0, "consumers": 12, "keys": "no key"},
    ),
    WidgetCase(
        "retries: failure rate, max attempts, backoff",
        "07",
        "brokerlab.retry:retry_widget",
        {"failure_rate": 0.9, "max_attempts": 10, "base": 10.0, "cap": 300.0},
    ),
    WidgetCase(
        "technology selection: requirements",
        "08",
        "brokerlab.selection:selection_widget",
        {
            "replay": True,
            "throughput": True,
            "complex_routing": True,
            "managed_and_simple": True,
            "real_time_stream_processing": True,
            "strict_ordering": True,
            "exactly_once_effect": True,
        },
    ),
    WidgetCase(
        "guarantees",
        "03",
        "brokerlab.guarantees:guarantee_widget",
        {"crash_probability": 0.5, "seed": 30},
    ),
    WidgetCase("replay", "03", "brokerlab.history_replay:replay_demo", {"step": 227}),
]
