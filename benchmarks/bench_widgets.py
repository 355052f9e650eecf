"""Benchmark: how long a notebook widget takes from a slider move to its new picture.

The course's rule is that a widget responds in well under 100 ms. The script has two parts.

**Every widget** (the registry ``benchmarks/widget_cases.py``). Each widget is built by its
factory with its picture cache off (``cache=0``), so every event draws. For two settings, the
default and the ``largest`` values the registry gives, one control is moved away by one step
and back, ``--events`` times; each move *back* is one timed update (from setting the slider's
value until the widget's image holds the new PNG). Reported: update p50 and p95, the model's
recompute alone (the registry's ``model`` function called with the same values) and the redraw
(update minus recompute, at the median); where the registry names no model, the update's two
halves, ``draw(ax, ...)`` (model plus artists) and the render, bound it instead. Targets: update
p95 under 100 ms; recompute no more than redraw, so that the picture, not the model, sets the
pace.

**The fair-dispatch study** (below, unchanged). It measures one slider event
of ``fair_dispatch_widget()`` (built on ``brokerlab.widgets.live_figure``): from setting the
slider's value until the widget's ``ipywidgets.Image`` holds the new PNG bytes (an observer on
the image notes the time). Not included: the trip through JupyterLab (the slider's message to
the kernel, the image's message back, the browser showing it), which is the same for every
contender; the results file's notes give one end-to-end measurement in a browser.

Contenders, in one process, taking turns on the same sequence of slider moves (a seeded random
walk: each move shifts the prefetch or the message-count slider by 1 to 3 steps):

- **live_figure, every event drawn (cache=0)**: the new widget with its picture cache off, so
  every event draws and renders a picture: the number the targets are judged on.
- **live_figure as shipped**: the same with its cache on (the default): an event that goes back
  to values already shown costs well under a millisecond. How often that happens depends on the
  walk; the script prints the share.
- **live_figure with ax.clear()**: the same, but clearing the axes the usual way instead of
  ``fresh_axes``: shows what keeping the axes' tick objects saves.
- **in-place artist update**: the same figure, but the bars' rectangles and the labels are
  updated on existing artists (``set_verts``, ``set_text``) instead of being drawn anew.
- **blitting**: the same, but the parts that never change (frame, y-axis labels) are drawn once
  and copied back before the changing ones are drawn (``copy_from_bbox``/``restore_region``).
  The last two are tried-and-not-adopted designs: they are specific to one picture.
- **old approach** (baseline): what ``ipywidgets.interactive`` plus the inline backend did before:
  a new pyplot figure per event from ``plot_work_share(share)``, rendered the way IPython's inline
  backend renders it (``print_figure(fig, "png")``, i.e. ``bbox_inches="tight"``), then closed.
  It uses today's ``plot_work_share``, which draws fewer labels than the old one did, so if
  anything this baseline is a little quicker than the old widget was.
- **bare one-line figure** (baseline): ``plt.subplots()`` at matplotlib's default size and dpi,
  one line, rendered and closed the same way: the floor of the old approach.

Per event: wall time (``time.perf_counter``, what a learner feels) and CPU time of the process.
The machine is shared, so the table gives the median and the 90th percentile over all events,
and ratios to the new widget measured in the same rounds.

Run:  python benchmarks/bench_widgets.py [--events 30] [--moves 50] [--repeat 3] [--write]
``--write`` also writes benchmarks/results/widgets.md, keeping its hand-written notes section.
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from IPython.core.pylabtools import print_figure  # noqa: E402
from machine import machine, write_results  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from widget_cases import CASES, WidgetCase  # noqa: E402

from brokerlab.prefetch import fair_dispatch, plot_work_share  # noqa: E402
from brokerlab.widgets import _RENDER_RC, _png, fair_dispatch_widget  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "widgets.md"
SERVICE_TIMES = (1, 1, 4)
START = {"prefetch": 0, "messages": 12}
RANGES = {"prefetch": (0, 5), "messages": (1, 40)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def slider_walk(moves: int, seed: int) -> list[tuple[str, int]]:
    """``moves`` slider events: (control, new value), each 1-3 steps from the last value."""
    rng = random.Random(seed)
    state = dict(START)
    walk = []
    for _ in range(moves):
        name = rng.choice(sorted(RANGES))
        low, high = RANGES[name]
        value = state[name]
        while value == state[name]:
            value = min(high, max(low, state[name] + rng.choice((-3, -2, -1, 1, 2, 3))))
        state[name] = value
        walk.append((name, value))
    return walk


# --- every widget in the registry ------------------------------------------------------------------

TARGET_P95_MS = 100.0


def load(spec: str):
    """``"module:function"`` -> the function."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def neighbour(control) -> object:
    """A value one step away from the control's current value (within its range)."""
    value = control.value
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return next(v for v in values if v != value)
    if isinstance(value, bool):
        return not value
    step = getattr(control, "step", 1) or 1
    return value - step if value - step >= control.min else value + step


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def time_case(case: WidgetCase, events: int) -> list[dict]:
    """Rows for ``case``: one per setting (default, largest) with update and recompute times."""
    widget = load(case.factory)()
    widget.cache = 0
    widget._pictures.clear()  # the first picture was remembered before the cache was turned off
    model = load(case.model) if case.model else None
    done = [0.0]

    def noted(change: dict) -> None:
        done[0] = time.perf_counter()

    widget.image.observe(noted, names="value")
    rows = []
    settings = [("default", dict(widget.values))]
    if case.largest:
        settings.append(("largest", {**widget.values, **case.largest}))
    for setting, values in settings:
        for name, value in values.items():  # get there (not timed)
            widget.controls[name].value = value
        moved = next(iter(case.largest or values))
        control = widget.controls[moved]
        away = neighbour(control)
        updates: list[float] = []
        cpu: list[float] = []
        recomputes: list[float] = []
        draws: list[float] = []  # draw(ax, **values): the model plus making the artists
        renders: list[float] = []  # rasterising the figure and encoding the PNG
        for _ in range(events):
            control.value = away
            done[0] = 0.0
            cpu0, start = time.process_time(), time.perf_counter()
            control.value = values[moved]
            returned, cpu1 = time.perf_counter(), time.process_time()
            assert not widget.error.value, f"{case.name}: {widget.error.value}"
            updates.append(((done[0] or returned) - start) * 1e3)
            cpu.append((cpu1 - cpu0) * 1e3)
            if model is not None:
                start = time.perf_counter()
                model(**widget.values)
                recomputes.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()  # the same picture again, in its two halves
            widget._draw()
            middle = time.perf_counter()
            widget._render()
            draws.append((middle - start) * 1e3)
            renders.append((time.perf_counter() - middle) * 1e3)
        rows.append(
            {
                "case": case,
                "setting": setting,
                "values": dict(widget.values),
                "updates": updates,
                "cpu": cpu,
                "recomputes": recomputes,
                "draws": draws,
                "renders": renders,
            }
        )
    widget.close()
    return rows


def measure_cases(events: int) -> list[dict]:
    rows = []
    with matplotlib.rc_context(matplotlib.rcParamsDefault):
        for case in CASES:
            rows += time_case(case, events)
    return rows


def summarise(row: dict) -> dict:
    """Medians and the two verdicts. Recompute vs redraw: with a registered model, its time
    against the rest of the update; without one, a bound: if ``draw(ax, ...)`` (the model plus
    making the artists) costs no more than rendering the picture, the model certainly costs no
    more than the redraw (``cheap`` is then ``"bound"``)."""
    p50 = statistics.median(row["updates"])
    model = statistics.median(row["recomputes"]) if row["recomputes"] else None
    draw = statistics.median(row["draws"])
    render = statistics.median(row["renders"])
    if model is not None:
        cheap = "yes" if model <= p50 - model else "no"
    else:
        cheap = "bound" if draw <= render else "unknown"
    return {
        "p50": p50,
        "p95": percentile(row["updates"], 95),
        "cpu": statistics.median(row["cpu"]),
        "model": model,
        "draw": draw,
        "render": render,
        "fast": percentile(row["updates"], 95) < TARGET_P95_MS,
        "cheap": cheap,
    }


def cases_table(rows: list[dict]) -> list[str]:
    out = [
        "| widget | chapter | setting | update p50 ms | update p95 ms | CPU p50 ms "
        "| model p50 ms | draw() p50 ms | render p50 ms | p95 < 100 ms | recompute <= redraw |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        s = summarise(row)
        values = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["values"].items()
        )
        model = "n/a" if s["model"] is None else f"{s['model']:.1f}"
        cheap = {"yes": "yes", "no": "**no**", "bound": "yes (bound)", "unknown": "not shown"}
        out.append(
            f"| {row['case'].name} | {row['case'].chapter} | {row['setting']} ({values}) | "
            f"{s['p50']:.1f} | {s['p95']:.1f} | {s['cpu']:.1f} | {model} | {s['draw']:.1f} | "
            f"{s['render']:.1f} | {'yes' if s['fast'] else '**no**'} | {cheap[s['cheap']]} |"
        )
    return out


def cases_verdict(rows: list[dict], events: int) -> str:
    summaries = [summarise(r) for r in rows]
    fast = sum(s["fast"] for s in summaries)
    shown = sum(s["cheap"] in ("yes", "bound") for s in summaries)
    refuted = sum(s["cheap"] == "no" for s in summaries)
    worst = max(rows, key=lambda r: summarise(r)["p95"])
    cpu = max(s["cpu"] for s in summaries)
    return (
        f"Every widget ({len(CASES)} in widget_cases.py, cache off, {events} updates per "
        f"setting): {fast} of {len(rows)} settings have an update p95 under "
        f"{TARGET_P95_MS:.0f} ms; the slowest is {worst['case'].name} at its "
        f"{worst['setting']} setting (p95 {summarise(worst)['p95']:.1f} ms); the largest CPU "
        f"median is {cpu:.1f} ms. The model's recompute costs no more than the redraw in "
        f"{shown} of {len(rows)} settings (measured where the registry names the model, "
        f"bounded by draw() <= render elsewhere), more in {refuted}."
    )


# --- the fair-dispatch study: contenders, each keeps its own state and turns one slider event into PNG bytes ---------------


class NewWidget:
    name = "live_figure, every event drawn (cache=0)"
    cache = 0

    def __init__(self) -> None:
        self.widget = fair_dispatch_widget(messages=START["messages"], service_times=SERVICE_TIMES)
        self.widget.cache = self.cache
        if not self.cache:  # forget the first picture, remembered while the cache was on
            self.widget._pictures.clear()
        self.done_at = 0.0
        self.widget.image.observe(self._noted, names="value")

    def _noted(self, change: dict) -> None:
        self.done_at = time.perf_counter()

    def event(self, name: str, value: int) -> bytes:
        self.done_at = 0.0
        self.widget.controls[name].value = value
        returned = time.perf_counter()
        assert not self.widget.error.value, self.widget.error.value
        # Two values can give the same picture (prefetch 4 and 5 on a few jobs): then the
        # image keeps its bytes, nothing is sent, and the event ends when the redraw returns.
        self.done_at = self.done_at or returned
        return self.widget.png


class Shipped(NewWidget):
    name = "live_figure as shipped (remembers 256 pictures)"
    cache = 256
    events = drawn = 0  # over all rounds: how many events needed a drawing
    remembered_ms: list[float] = []  # wall time of the events that needed none

    def __init__(self) -> None:
        super().__init__()
        redraw = self.widget.redraw

        def counted() -> bytes:
            Shipped.drawn += 1
            return redraw()

        self.widget.redraw = counted

    def event(self, name: str, value: int) -> bytes:
        Shipped.events += 1
        drawn = Shipped.drawn
        png = super().event(name, value)
        self.remembered = Shipped.drawn == drawn
        return png


class ClearWidget(NewWidget):
    name = "live_figure with ax.clear()"

    def __init__(self) -> None:
        super().__init__()
        w = self.widget

        def draw_after_clear() -> None:  # LiveFigure._draw with ax.clear() for fresh_axes
            w.ax.clear()
            w.draw(w.ax, **w.values)
            w._move_title()

        w._draw = draw_after_clear


def encode(fig) -> bytes:
    """The RGBA buffer the canvas holds now, as PNG bytes (the widget's encoder)."""
    return _png(np.asarray(fig.canvas.buffer_rgba()))


class InPlace:
    """Draw once; afterwards move the existing bars and labels instead of drawing new ones."""

    name = "in-place artist update"

    def __init__(self) -> None:
        self.state = dict(START)
        self.fig = Figure(figsize=(7.0, 0.9 + 0.5 * len(SERVICE_TIMES)), dpi=100)  # the widget's
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        share = self.share()
        plot_work_share(share, ax=self.ax)
        self.ax.set_title("")  # shown as text above the picture, as the widget does
        with matplotlib.rc_context(_RENDER_RC):
            self.fig.tight_layout()
        self.bars = list(self.ax.collections)  # one PolyCollection per consumer
        self.labels = list(self.ax.texts)

    def share(self):
        return fair_dispatch(service_times=SERVICE_TIMES, **self.state)

    def event(self, name: str, value: int) -> bytes:
        self.state[name] = value
        share = self.share()
        ax = self.ax
        for row, (consumer, bars) in enumerate(zip(share.jobs, self.bars)):
            bars.set_verts(
                [
                    [(s, row - 0.4), (s, row + 0.4), (e, row + 0.4), (e, row - 0.4)]
                    for c, _, s, e in share.spans
                    if c == consumer
                ]
            )
        end = max(share.finished_at, 1)
        ax.set_xlim(0, end)
        pixels_per_second = ax.get_window_extent().width / end
        digit = 0.6 * 8 * self.fig.dpi / 72
        rows = {c: i for i, c in enumerate(share.jobs)}
        wanted = [
            ((s + e) / 2, rows[c], job.removeprefix("job-"))
            for c, job, s, e in share.spans
            if (e - s) * pixels_per_second >= digit * len(job.removeprefix("job-")) + 4
        ]
        while len(self.labels) < len(wanted):
            self.labels.append(
                ax.text(0, 0, "", ha="center", va="center", color="white", fontsize=8)
            )
        for label, spec in zip(self.labels, wanted + [None] * (len(self.labels) - len(wanted))):
            label.set_visible(spec is not None)
            if spec is not None:
                label.set_position(spec[:2])
                label.set_text(spec[2])
        limit = share.prefetch or "unlimited"
        self.caption = (
            f"prefetch={limit}: all {len(share.spans)} jobs done at t={share.finished_at:g}s"
        )
        with matplotlib.rc_context(_RENDER_RC):
            self.fig.canvas.draw()
        return encode(self.fig)


class Blit(InPlace):
    """In-place updates, and the unchanging frame and y-axis drawn once and copied back."""

    name = "blitting (static parts drawn once)"

    def __init__(self) -> None:
        super().__init__()
        self.ax.xaxis.set_animated(True)
        for artist in (*self.bars, *self.labels):
            artist.set_animated(True)
        with matplotlib.rc_context(_RENDER_RC):
            self.fig.canvas.draw()
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def event(self, name: str, value: int) -> bytes:
        canvas, draw = self.fig.canvas, self.fig.canvas.draw
        self.fig.canvas.draw = lambda: None  # InPlace.event's full draw is replaced below
        try:
            super().event(name, value)
        finally:
            self.fig.canvas.draw = draw
        with matplotlib.rc_context(_RENDER_RC):
            canvas.restore_region(self.background)
            for artist in (*self.bars, *self.labels, self.ax.xaxis):
                artist.set_animated(True)
                self.fig.draw_artist(artist)
        return encode(self.fig)


class Old:
    """Before: a new pyplot figure per event, rendered as the inline backend does, closed."""

    name = "old approach (new pyplot figure + inline PNG)"

    def __init__(self) -> None:
        self.state = dict(START)

    def event(self, name: str, value: int) -> bytes:
        self.state[name] = value
        fig = plot_work_share(fair_dispatch(service_times=SERVICE_TIMES, **self.state))
        png = print_figure(fig, "png")  # IPython's inline default: bbox_inches="tight"
        plt.close(fig)
        return png


class Bare:
    name = "bare one-line figure (inline defaults)"

    def event(self, name: str, value: int) -> bytes:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, value])
        png = print_figure(fig, "png")
        plt.close(fig)
        return png


CONTENDERS = (NewWidget, Shipped, ClearWidget, InPlace, Blit, Old, Bare)


def measure(moves: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    """{contender: {"wall": [ms per event], "cpu": [...]}} over ``repeat`` walks of ``moves``."""
    times = {c.name: {"wall": [], "cpu": []} for c in CONTENDERS}
    Shipped.events = Shipped.drawn = 0
    Shipped.remembered_ms = []
    with matplotlib.rc_context(matplotlib.rcParamsDefault):
        for r in range(repeat):
            runners = [c() for c in CONTENDERS]
            for i, (name, value) in enumerate(slider_walk(moves, seed=r)):
                k = i % len(runners)  # take turns at going first
                for runner in runners[k:] + runners[:k]:
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    png = runner.event(name, value)
                    wall1, cpu1 = time.perf_counter(), time.process_time()
                    assert png.startswith(PNG_SIGNATURE), runner.name
                    if isinstance(runner, NewWidget):
                        wall1 = runner.done_at  # when the image widget got its new bytes
                    times[runner.name]["wall"].append((wall1 - wall0) * 1e3)
                    times[runner.name]["cpu"].append((cpu1 - cpu0) * 1e3)
                    if isinstance(runner, Shipped) and runner.remembered:
                        Shipped.remembered_ms.append((wall1 - wall0) * 1e3)
            for runner in runners:
                if hasattr(runner, "widget"):
                    runner.widget.close()
            plt.close("all")
    return times


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def table(times: dict[str, dict[str, list[float]]]) -> list[str]:
    new = statistics.median(times[NewWidget.name]["wall"])
    rows = [
        "| contender | wall median ms | wall p90 ms | CPU median ms | contender / new (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in times.items():
        median = statistics.median(t["wall"])
        rows.append(
            f"| {name} | {median:.1f} | {p90(t['wall']):.1f} | "
            f"{statistics.median(t['cpu']):.1f} | {median / new:.2f}x |"
        )
    return rows


def verdict(times: dict[str, dict[str, list[float]]]) -> str:
    new = times[NewWidget.name]["wall"]
    old = statistics.median(times[Old.name]["wall"])
    bare = statistics.median(times[Bare.name]["wall"])
    median = statistics.median(new)
    shipped = statistics.median(times[Shipped.name]["wall"])
    remembered = 1 - Shipped.drawn / max(Shipped.events, 1)
    hit = statistics.median(Shipped.remembered_ms) if Shipped.remembered_ms else float("nan")
    return (
        f"One slider event of the new widget, drawing a new picture every time: median "
        f"{median:.1f} ms, p90 {p90(new):.1f} ms over {len(new)} events (target: well under "
        f"100 ms, ideally <= 40 ms: {'met' if median <= 40 else 'median above 40 ms'}). "
        f"The old approach took {old / median:.1f}x as long, a bare one-line figure "
        f"rendered the inline way {bare / median:.1f}x as long. As shipped, the widget "
        f"remembers the pictures it has shown: on this walk {remembered:.0%} of the events "
        f"went back to a picture already drawn (median {hit:.1f} ms for those), and the "
        f"median event took {shipped:.1f} ms."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=30, help="timed updates per widget setting")
    ap.add_argument("--moves", type=int, default=50, help="slider events per round (study)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds, each a new walk (study)")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/widgets.md")
    args = ap.parse_args()

    rows = measure_cases(args.events)
    every = cases_table(rows)
    print("\n".join(every))
    print()
    print(cases_verdict(rows, args.events))
    print()

    times = measure(args.moves, args.repeat)
    out = table(times)
    print("\n".join(out))
    print()
    print(verdict(times))

    if args.write:
        m = machine()
        text = [
            "# Widget benchmark: one slider event, from the new value to the new picture",
            "",
            f"- date: {m['date']}",
            f"- machine: {m['cpu']}, nproc={m['nproc']}, Python {m['python']}, matplotlib "
            f"{matplotlib.__version__}; load average {m['load']} after the run (the machine is "
            "shared)",
            f"- command: `python benchmarks/bench_widgets.py --events {args.events} --moves "
            f"{args.moves} --repeat {args.repeat} --write`",
            "",
            "## Every widget",
            "",
            "Each widget of `benchmarks/widget_cases.py`, cache off. Per setting, one control "
            "is moved one step away and back; each move back is a timed update (slider value "
            "set -> new PNG in the widget's image). Model: the registry's model function alone, "
            "with the same values (n/a where none is registered). draw(): the widget's draw "
            "function on its axes (model plus artists); render: rasterising and encoding the "
            "PNG. Recompute <= redraw: model p50 <= update p50 - model p50 where a model is "
            "registered; otherwise shown as a bound when draw() <= render.",
            "",
            cases_verdict(rows, args.events),
            "",
            *every,
            "",
            "## The fair-dispatch study",
            "",
            "- widget: `fair_dispatch_widget()` (3 consumers, 1/1/4 s per job), 700 x 240 px "
            "PNG. Events: a seeded random walk of the two sliders (prefetch 0..5, messages "
            "1..40, 1-3 steps a move); every contender runs the same walk, taking turns on "
            "each event. Wall time ends when the widget's Image holds the new bytes; the "
            "baselines end when their PNG bytes exist. See the script's docstring for what "
            "each row does.",
            "",
            verdict(times),
            "",
            *out,
        ]
        write_results(RESULTS, text)


if __name__ == "__main__":
    main()
