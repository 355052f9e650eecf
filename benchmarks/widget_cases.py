"""Every widget of the course, for ``bench_widgets.py`` (and its smoke test).

One :class:`WidgetCase` per widget on main. ``factory`` names a function that takes no argument
and returns the :class:`brokerlab.widgets.LiveFigure` a chapter shows; ``largest`` sets the
controls to the values that make the widget's model work hardest (the biggest run, the most
consumers...). The benchmark turns the widget's picture cache off, then times one update for a
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


CASES: list[WidgetCase] = [
    WidgetCase(
        "fair dispatch",
        "00",
        "brokerlab.widgets:fair_dispatch_widget",
        {"prefetch": 5, "messages": 40},
    ),
    WidgetCase(
        "guarantees",
        "03",
        "brokerlab.guarantees:guarantee_widget",
        {"crash_probability": 0.5, "seed": 30},
    ),
    WidgetCase("replay", "03", "brokerlab.replay:replay_demo", {"step": 227}),
]
