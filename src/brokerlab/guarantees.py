"""Delivery guarantees side by side: the same faults, three consumers, what each loses or repeats.

A guarantee is a choice of *where the commit point sits*: the consumer tells the broker "done"
before the effect (at-most-once), after it (at-least-once), or after it with a dedup store that
makes a repeat harmless (exactly-once effect). This module runs the three built-in consumers of
:mod:`brokerlab.simulation` under the same injected faults and counts what the checker finds:

>>> table = fault_table(faults=("crash_before_processing",))
>>> print(table)
fault                     at-most-once   at-least-once  exactly-once
crash_before_processing   1 lost         ok             ok

- :func:`fault_table`: one fault, scheduled on the first message, under each guarantee: the
  table of the handbook, made by the broker rather than written by hand;
- :func:`guarantee_counts`: one seeded *mix* of faults (crashes before and after processing at
  ``crash_probability``, plus lost acks and lost confirms at :data:`OTHER_FAULTS`), the counts
  of lost and duplicated messages per guarantee; :func:`plot_guarantee_counts` draws them;
- :func:`guarantee_run` and :func:`draw_guarantee`: one small run of one guarantee, as a
  sequence diagram with its anomalies marked; :func:`guarantee_widget` puts a dropdown and two
  sliders on it.

Everything is deterministic: the same arguments give the same runs, the same counts and the same
pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, InvalidType, check_range
from .faults import Fault
from .plots import OKABE_ITO, figure_and_ax
from .scenario import MODES, BrokerSetup, Scenario
from .simulation import Run, compare, simulate

__all__ = [
    "FAULTS_SHOWN",
    "OTHER_FAULTS",
    "GuaranteeCounts",
    "FaultTable",
    "draw_guarantee",
    "fault_table",
    "guarantee_counts",
    "guarantee_run",
    "guarantee_widget",
    "plot_guarantee_counts",
]

#: The faults chapter 03 injects, one at a time, in :func:`fault_table`.
FAULTS_SHOWN = ("crash_before_processing", "crash_after_processing", "lost_ack", "producer_retry")
#: The rest of the seeded fault mix: a lost ack and a lost confirm (so a producer retry), each
#: with this probability at each of its chances.
OTHER_FAULTS = {"lost_ack": 0.05, "producer_retry": 0.05}


def _check_guarantee(guarantee: Any) -> str:
    if guarantee not in MODES:
        raise InvalidArgument(
            f"guarantee={guarantee!r} is not a guarantee: use one of {', '.join(MODES)}."
        )
    return guarantee


def _check_setup(setup: Any) -> str:
    if setup not in ("queue", "sqs", "log"):
        raise InvalidArgument(
            f"setup={setup!r} is not allowed here: use 'queue' (RabbitMQ-style), 'sqs' or 'log' "
            "(Kafka-style)."
        )
    return setup


def _check_int(name: str, value: Any, low: int, high: int, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(f"{name}={value!r} is not a whole number: pass e.g. {name}={example}.")
    check_range(name, value, low, high, "", example=example)
    return value


def fault_mix(crash_probability: float = 0.1) -> dict[str, float]:
    """The seeded fault mix: both crashes at ``crash_probability``, plus :data:`OTHER_FAULTS`."""
    if isinstance(crash_probability, bool) or not isinstance(crash_probability, (int, float)):
        raise InvalidType(
            f"crash_probability={crash_probability!r} is not a number: pass a probability, "
            "e.g. 0.1."
        )
    check_range("crash_probability", crash_probability, 0, 1, "", example=0.1)
    p = float(crash_probability)
    return {"crash_before_processing": p, "crash_after_processing": p, **OTHER_FAULTS}


# --- one fault at a time -------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultTable:
    """What each guarantee did under each single fault: ``cells[fault][guarantee]`` is a Run."""

    faults: tuple[str, ...]
    runs: dict[str, dict[str, Run]]

    def outcome(self, fault: str, guarantee: str) -> str:
        """``"ok"``, ``"1 lost"``, ``"1 duplicated"``... for one cell."""
        c = self.runs[fault][guarantee].counts
        parts = [f"{c[k]} {k.replace('_', '-')}" for k in ("lost", "duplicated") if c[k]]
        return ", ".join(parts) or "ok"

    def __str__(self) -> str:
        width = max(len(f) for f in self.faults) + 3
        lines = [f"{'fault':<{width}}" + "".join(f"{g:<15}" for g in MODES).rstrip()]
        for f in self.faults:
            cells = "".join(f"{self.outcome(f, g):<15}" for g in MODES)
            lines.append(f"{f:<{width}}{cells}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def fault_table(
    faults: tuple[str, ...] = FAULTS_SHOWN, messages: int = 3, setup: str = "queue"
) -> FaultTable:
    """Run each fault of ``faults``, once, on the first delivery (or publish) of ``m1``, under
    each guarantee, on ``messages`` messages; return the table of outcomes."""
    _check_setup(setup)
    _check_int("messages", messages, 1, 50, 3)
    if isinstance(faults, str):
        faults = (faults,)
    runs: dict[str, dict[str, Run]] = {}
    for f in faults:
        base = Scenario(
            messages=messages, broker=BrokerSetup(kind=setup), faults=[Fault(f, msg="m1")]
        )
        runs[f] = compare(base)
    return FaultTable(tuple(faults), runs)


# --- a seeded fault mix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuaranteeCounts:
    """The counts of one seeded fault mix, per guarantee (``runs[guarantee]`` is the Run)."""

    crash_probability: float
    seed: int
    messages: int
    setup: str
    runs: dict[str, Run]

    def count(self, guarantee: str, what: str) -> int:
        """``count("at-least-once", "duplicated")``: one number of the table."""
        return self.runs[guarantee].counts[what]

    def __str__(self) -> str:
        head = (
            f"{self.messages} messages on a {self.setup}, seed {self.seed}: crashes before and "
            f"after processing at {self.crash_probability:g} each, lost acks and lost confirms "
            f"at {OTHER_FAULTS['lost_ack']:g} each"
        )
        cols = ("lost", "duplicated", "dead_lettered", "processed")
        lines = [head, f"{'guarantee':<15}" + "".join(f"{c.replace('_', '-'):>15}" for c in cols)]
        for g, run in self.runs.items():
            c = run.counts
            lines.append(f"{g:<15}" + "".join(f"{c[k]:>15}" for k in cols))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def guarantee_counts(
    crash_probability: float = 0.1, seed: int = 1, messages: int = 40, setup: str = "queue"
) -> GuaranteeCounts:
    """Run the same seeded fault mix (:func:`fault_mix`) under each guarantee; count."""
    faults = fault_mix(crash_probability)
    _check_int("seed", seed, 0, 2**31, 1)
    _check_int("messages", messages, 1, 10_000, 40)
    _check_setup(setup)
    base = Scenario(messages=messages, seed=seed, broker=BrokerSetup(kind=setup), faults=faults)
    return GuaranteeCounts(float(crash_probability), seed, messages, setup, compare(base))


def plot_guarantee_counts(counts: GuaranteeCounts, ax: Any = None) -> Any:
    """Bars: lost and duplicated messages per guarantee, for one fault mix. Returns the Figure."""
    if not isinstance(counts, GuaranteeCounts):
        raise InvalidType(
            f"counts is a {type(counts).__name__}: pass what guarantee_counts(...) returns."
        )
    fig, ax = figure_and_ax(ax, (7.0, 3.0), margins=(0.8, 0.2, 0.5, 0.6))
    names = list(counts.runs)
    xs = range(len(names))
    lost = [counts.count(g, "lost") for g in names]
    dup = [counts.count(g, "duplicated") for g in names]
    bars_lost = ax.bar(
        [x - 0.2 for x in xs], lost, 0.4, color=OKABE_ITO["vermillion"], label="lost"
    )
    bars_dup = ax.bar(
        [x + 0.2 for x in xs],
        dup,
        0.4,
        color=OKABE_ITO["blue"],
        hatch="//",
        edgecolor="white",
        label="duplicated",
    )
    for bars in (bars_lost, bars_dup):
        for b in bars:
            ax.text(
                b.get_x() + b.get_width() / 2,
                b.get_height(),
                f"{int(b.get_height())}",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("messages")
    ax.set_xlabel("guarantee (the consumer's commit point)")
    top = max([*lost, *dup, 1])
    ax.set_ylim(0, top * 1.25 + 0.5)
    ax.set_title(
        f"Lost and duplicated per guarantee ({counts.messages} messages, crash "
        f"p={counts.crash_probability:g}, seed {counts.seed})",
        fontsize=11,
    )
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    return fig


# --- one small run, drawn ----------------------------------------------------------------------------


def guarantee_run(
    guarantee: str = "at-least-once",
    crash_probability: float = 0.2,
    seed: int = 3,
    messages: int = 3,
    setup: str = "queue",
) -> Run:
    """One run of ``guarantee``'s built-in consumer under the seeded fault mix."""
    _check_guarantee(guarantee)
    faults = fault_mix(crash_probability)
    _check_int("seed", seed, 0, 2**31, 1)
    _check_int("messages", messages, 1, 50, 3)
    _check_setup(setup)
    scenario = Scenario(
        messages=messages, seed=seed, broker=BrokerSetup(kind=setup), faults=faults
    ).with_mode(guarantee)
    return simulate(scenario)


def draw_guarantee(
    ax: Any = None,
    guarantee: str = "at-least-once",
    crash_probability: float = 0.2,
    seed: int = 3,
    messages: int = 3,
    *,
    compact: bool = False,
) -> Any:
    """The sequence diagram of :func:`guarantee_run`, anomalies marked, counts in the title.

    ``compact=True`` leaves out the diagram's key and every other time label (the widget does:
    the key is the same at every setting, and laying it out took a sixth of a redraw; it is not
    made at all, rather than made and removed).
    """
    from .diagram import draw_sequence

    run = guarantee_run(guarantee, crash_probability, seed, messages)
    fig = draw_sequence(
        run.history, run.report, ax=ax, max_events=60, labels=True, legend=not compact
    )
    ax = fig.axes[0] if ax is None else ax
    c = run.counts
    ax.set_title("", loc="left")
    if compact:
        ticks, labels = ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]
        if len(ticks) > 8:
            ax.set_yticks(ticks[::2], labels[::2])
    ax.set_title(
        f"{guarantee}, crash p={crash_probability:g}, seed {seed}: {c['published']} messages, "
        f"{c['lost']} lost, {c['duplicated']} duplicated, {c['dead_lettered']} dead-lettered",
        fontsize=10,
        pad=22,  # above the lane names
    )
    return fig


def guarantee_widget() -> Any:
    """Guarantee, crash probability and seed -> one small run's counts and sequence diagram.

    The picture is :func:`draw_guarantee` without its key (the notebook shows the key on the
    plain cell before the widget).
    """
    import ipywidgets as widgets

    from .widgets import live_figure

    def run_diagram(ax: Any, guarantee: str, crash_probability: float, seed: int) -> None:
        draw_guarantee(ax, guarantee, crash_probability, seed, compact=True)

    return live_figure(
        run_diagram,
        figsize=(8.6, 5.2),
        guarantee=widgets.Dropdown(
            options=list(MODES), value="at-least-once", description="guarantee"
        ),
        crash_probability=widgets.FloatSlider(
            value=0.2, min=0.0, max=0.5, step=0.05, description="crash p"
        ),
        seed=widgets.IntSlider(value=3, min=0, max=30, description="seed"),
    )
