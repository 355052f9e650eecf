"""Every widget of the course, for ``bench_widgets.py`` (and its smoke test).

One :class:`WidgetCase` per widget on main. ``factory`` names a function that takes no argument
and returns the :class:`brokerlab.widgets.LiveFigure` a chapter shows; ``largest`` sets the
controls to the values that make the widget's model work hardest (the biggest run, the most
consumers...). ``model`` (optional) names the function the widget's picture is computed from,
called with the controls' values as keywords, so that the benchmark can time the model's
recompute apart from the drawing. The benchmark turns the widget's picture cache off, then times one update for a
move from the default setting, and one for a move to the largest setting, so that both the
everyday and the worst case are measured.

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
]
