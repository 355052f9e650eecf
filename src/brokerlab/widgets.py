"""Widgets: the sliders and dropdowns the notebooks show, and the one helper they are built on.

A widget in this course is a picture that follows its controls. Move a slider and the picture
changes; it should change quickly enough to feel attached to the slider, which means well under
100 ms from the slider's new value to the new picture (the course's rule; see
``benchmarks/results/widgets.md`` for the measurements behind the choices below).

Every widget is built with :func:`live_figure`::

    def draw(ax, prefetch, messages):          # draws the whole picture on ax
        plot_work_share(fair_dispatch(messages=messages, prefetch=prefetch), ax=ax)

    live_figure(
        draw,
        prefetch=widgets.IntSlider(value=0, min=0, max=5),
        messages=widgets.IntSlider(value=12, min=1, max=40),
    )

``draw`` is an ordinary ``plot_*(data, ax)``-style function: it gets one matplotlib axes and the
controls' current values as keyword arguments, and draws the whole picture, exactly as it would on
a fresh axes. The same function can be called (and tested) without any widget.

How it is fast. The obvious way (``ipywidgets.interact`` around a function that makes a new
pyplot figure) costs 100-115 ms per slider move on the course's machine: a new Figure, Axes and
artists each time (~20 ms), then the inline backend's PNG with ``bbox_inches="tight"``, which
draws the figure twice. :func:`live_figure` instead

1. makes **one** :class:`matplotlib.figure.Figure` (Agg, outside pyplot) and keeps it;
2. before each redraw, takes the previous picture's lines, bars, texts, legend, titles, labels,
   limits, scales and tick settings off the axes (:func:`fresh_axes`) rather than calling
   ``ax.clear()``, which also throws away the axes' tick objects that matplotlib must then build
   again (about 1.4x slower per event);
3. computes the margins once, from the first picture (``tight_layout``), and keeps them, so the
   picture does not jump about as values change and no redraw pays for a layout pass;
4. shows the axes title as text above the picture (an :class:`ipywidgets.HTML`, line breaks
   kept) instead of drawing it, and the legend the same way, as a line of coloured swatches and
   labels under the title (:func:`_key_html`): the browser draws text for free, matplotlib needs
   several ms for a title line and about 15 ms for a legend of three entries, a quarter of some
   widgets' redraw;
5. renders without font hinting (10-15 % quicker, and not visibly different at screen size)
   and encodes the pixels as PNG itself (:func:`_png`): rows unfiltered, zlib at level 1. Pillow,
   which matplotlib's ``print_png`` uses, tries all five PNG row filters on every row and keeps
   the best; on pictures of flat colour and thin lines that buys nothing (the file is no
   smaller) and costs 6-7 ms of an 860 x 520 picture's 11 ms. The bytes go into an
   :class:`ipywidgets.Image`;
6. remembers the pictures it has shown, by the controls' values (the last 256 by default), so
   going back to a value a learner has already seen shows that picture again without drawing.

Almost all of what is left is matplotlib drawing text, glyph by glyph: roughly 1 ms per label,
so a picture with fewer, shorter labels redraws faster. Updating the existing artists in place
(``set_verts``, ``set_text``) or copying back the parts that never change ("blitting") would save
another 20-30 % for one picture, but each needs code written for that picture; a plain ``draw``
function is what every chapter can write and test.

What ``draw`` may rely on: every call starts from an empty axes with automatic limits, margins
and ticks, linear scales, no grid, no titles or labels, and the colour cycle at its first colour.
What it must not do: add axes to the figure (a colorbar, ``twinx``); the helper refuses such a
``draw`` when it is built. Anything else it changes on the axes (spines, tick parameters, face
colour) stays changed, so set such things in every call. The axes title (``ax.set_title``) is
shown above the picture; titles placed ``loc="left"`` or ``"right"`` stay in it.

If ``draw`` raises for some values, the widget keeps the last good picture and shows the error
under it, so a learner can see what went wrong and move the slider back. The same values always
give the same PNG bytes.
"""

from __future__ import annotations

import html
import inspect
import struct
import zlib
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, NullFormatter, NullLocator, ScalarFormatter

from .errors import InvalidArgument, InvalidType, check_range

__all__ = ["LiveFigure", "fair_dispatch_widget", "fresh_axes", "live_figure"]

# Rendering settings for widget pictures: unhinted glyphs are quicker to rasterise and look the
# same at screen sizes.
_RENDER_RC = {"text.hinting": "no_hinting"}


def _png(rgba: np.ndarray) -> bytes:
    """The pixels ``rgba`` (height x width x 4, 8-bit, as the Agg canvas holds them) as PNG.

    The smallest valid PNG: a header, the pixels, an end mark. Each row is stored unfiltered
    (PNG filter type 0) and the whole compressed with zlib at level 1, the fastest. A picture
    of 860 x 520 pixels takes about 4 ms here against 11 ms through Pillow, which tries every
    row filter (see the module docstring), and its file is no larger.
    """
    height, width, _ = rgba.shape
    rows = np.zeros((height, 1 + 4 * width), np.uint8)  # a 0 (no filter) before each row
    rows[:, 1:] = rgba.reshape(height, 4 * width)

    def chunk(kind: bytes, data: bytes) -> bytes:  # length, kind, data, checksum
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


#: Where matplotlib keeps the dashes of its named line styles (public settings, unlike a line's
#: own dash pattern).
_DASHES = {"--": "lines.dashed_pattern", "-.": "lines.dashdot_pattern", ":": "lines.dotted_pattern"}


def _key_html(legend: Any) -> str:
    """A matplotlib legend as one centred line of HTML: for each entry, a small SVG swatch drawn
    like its handle (a line with its dashes and marker, or a filled patch or marker), then its
    label."""
    from matplotlib.colors import to_hex
    from matplotlib.lines import Line2D

    def colour(c: Any) -> str:
        return to_hex(c, keep_alpha=True)

    entries = []
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
        label = text.get_text()
        if handle is None or not label:
            continue
        if isinstance(handle, Line2D):
            swatch = ""
            if handle.get_linestyle() not in ("None", "", " "):
                dashes = matplotlib.rcParams.get(_DASHES.get(handle.get_linestyle(), ""), ())
                dash = f' stroke-dasharray="{",".join(f"{d:g}" for d in dashes)}"' if dashes else ""
                swatch += (
                    f'<line x1="1" y1="6" x2="21" y2="6" stroke="{colour(handle.get_color())}" '
                    f'stroke-width="{min(handle.get_linewidth(), 3):g}"{dash}/>'
                )
            if handle.get_marker() not in ("None", "", " ", None):
                swatch += (
                    f'<circle cx="11" cy="6" r="3" fill="{colour(handle.get_markerfacecolor())}"/>'
                )
        else:  # a patch or a collection: its face, or its edge if it has no face
            faces = getattr(handle, "get_facecolor", lambda: [])()
            faces = [faces] if isinstance(faces, tuple) else list(faces)
            edges = getattr(handle, "get_edgecolor", lambda: [])()
            edges = [edges] if isinstance(edges, tuple) else list(edges)
            fill = colour(faces[0]) if len(faces) and faces[0][3] > 0 else "none"
            edge = colour(edges[0]) if len(edges) and edges[0][3] > 0 else "none"
            swatch = f'<rect x="6" y="1" width="10" height="10" fill="{fill}" stroke="{edge}"/>'
        entries.append(
            '<span style="white-space:nowrap; margin:0 0.6em">'
            f'<svg width="22" height="12" style="vertical-align:middle">{swatch}</svg> '
            f"{html.escape(label)}</span>"
        )
    title = legend.get_title().get_text()
    head = f"<b>{html.escape(title)}</b> " if title else ""
    return f'<div style="text-align:center; font-size:smaller">{head}{"".join(entries)}</div>'


def fresh_axes(ax: Any) -> None:
    """Make ``ax`` look new again without rebuilding it (cheaper than ``ax.clear()``).

    Removes everything the last picture added (lines, bars, patches, texts, images, tables,
    the legend) and resets what a ``plot_*`` function commonly sets: titles, axis labels,
    limits (back to automatic, not inverted), scales (back to linear), tick locations and
    labels (back to automatic), minor ticks (off), the grid (off), margins and aspect (back to
    matplotlib's defaults) and the colour cycle (back to its first colour). It keeps the axes' tick
    objects, which ``ax.clear()`` throws away and matplotlib then has to build again. Titles
    are pinned just above the axes (no automatic lift over tick labels placed on top).
    """
    for container in list(ax.containers):
        container.remove()
    for group in (ax.artists, ax.collections, ax.images, ax.lines, ax.patches, ax.tables, ax.texts):
        for artist in list(group):
            artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    for loc in ("left", "center", "right"):
        # y=1.0: titles sit just above the axes. matplotlib's automatic placement (which lifts
        # a title over tick labels drawn above the axes) costs 2-3 ms at every redraw.
        ax.set_title("", loc=loc, y=1.0)
    ax.set_xlabel("")
    ax.set_ylabel("")
    if ax.get_xscale() != "linear":
        ax.set_xscale("linear")
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(AutoLocator())
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
    ax.grid(False)
    ax.set_prop_cycle(None)  # the first line is blue again, not the next colour in the cycle
    ax.margins(x=matplotlib.rcParams["axes.xmargin"], y=matplotlib.rcParams["axes.ymargin"])
    ax.set_aspect("auto")
    ax.set_xlim(0, 1)  # forget an inverted axis (autoscaling keeps the direction it finds)
    ax.set_ylim(0, 1)
    ax.relim()  # no artists left: the data limits are empty again
    ax.set_autoscale_on(True)


class LiveFigure(widgets.VBox):
    """The widget :func:`live_figure` returns: the controls, the title, the picture, an error line.

    Attributes a notebook or a test may use: ``controls`` (name -> control widget), ``title``
    (an HTML widget with the axes title), ``image`` (the :class:`ipywidgets.Image` showing the
    PNG), ``figure`` and ``ax`` (the one matplotlib Figure and Axes that every redraw reuses;
    they hold the last picture *drawn*, which is not the one shown when it came from the cache),
    ``error`` (an HTML widget, empty unless the last redraw failed), ``values`` (the controls'
    current values) and ``png`` (the current PNG bytes). :meth:`redraw` always draws.
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: dict[str, widgets.ValueWidget],
        figsize: tuple[float, float],
        dpi: float,
        cache: int = 0,
    ) -> None:
        self.draw = draw
        self.controls = dict(controls)
        self.cache = cache
        self._pictures: dict[tuple, tuple[bytes, str]] = {}  # values -> (PNG, title); oldest first
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot()
        # Pixel for pixel: a box of widgets would otherwise stretch the image to its own width
        # (blurry), and the title would no longer be centred over it.
        width, height = self.figure.canvas.get_width_height()
        self.title = widgets.HTML("", layout=widgets.Layout(width=f"{width}px", display="none"))
        self.image = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{width}px", height=f"{height}px")
        )
        self.error = widgets.HTML("", layout=widgets.Layout(display="none"))
        super().__init__(children=[*self.controls.values(), self.title, self.image, self.error])
        self._draw()
        if len(self.figure.axes) != 1:
            raise InvalidArgument(
                f"draw={_name(draw)} added axes to the figure (it now has "
                f"{len(self.figure.axes)}): a live figure redraws one axes, so a colorbar or "
                "twinx() would pile up a new axes at every slider move. Draw on the ax you are "
                "given only (a legend or ax.text instead of a colorbar)."
            )
        with matplotlib.rc_context(_RENDER_RC):
            self.figure.tight_layout()  # margins from the first picture, kept from now on
        self._show(self._render())
        for control in self.controls.values():
            control.observe(self._on_change, names="value")

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values, by the name ``draw`` receives them under."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def png(self) -> bytes:
        """The PNG bytes the widget shows now."""
        return bytes(self.image.value)

    def redraw(self) -> bytes:
        """Draw the picture for the current values and show it; returns the new PNG bytes.

        Errors from ``draw`` propagate (a slider move catches them and shows them instead).
        """
        self._draw()
        png = self._render()
        self._show(png)
        return png

    def _show(self, png: bytes) -> None:
        """Show ``png`` and remember it (with its title) for the current values."""
        self.image.value = png
        key = self._key()
        if self.cache and key is not None:
            self._pictures.pop(key, None)
            self._pictures[key] = (png, self.title.value)
            while len(self._pictures) > self.cache:
                del self._pictures[next(iter(self._pictures))]  # the least recently shown

    def _key(self) -> tuple | None:
        key = tuple(self.values.items())
        try:
            hash(key)
        except TypeError:  # a control whose value is a list or a dict: not remembered
            return None
        return key

    def _draw(self) -> None:
        """Run ``draw`` on a fresh axes; move the axes title to the title widget."""
        fresh_axes(self.ax)
        self.draw(self.ax, **self.values)
        self._move_title()

    def _move_title(self) -> None:
        """Move the axes title, and the legend if ``draw`` made one, into the title widget."""
        title = self.ax.get_title()
        self.ax.set_title("")
        caption = (
            f'<div style="text-align:center; white-space:pre-line">{html.escape(title)}</div>'
            if title
            else ""
        )
        legend = self.ax.get_legend()
        if legend is not None:
            caption += _key_html(legend)
            legend.remove()
        self._set_title(caption)

    def _set_title(self, caption: str) -> None:
        if caption != self.title.value:
            self.title.value = caption
            self.title.layout.display = None if caption else "none"

    def _render(self) -> bytes:
        with matplotlib.rc_context(_RENDER_RC):
            self.figure.canvas.draw()
        return _png(np.asarray(self.figure.canvas.buffer_rgba()))

    def _on_change(self, change: dict[str, Any]) -> None:
        remembered = self._pictures.get(self._key())
        try:
            if remembered is None:
                self.redraw()
            else:
                png, caption = remembered
                self._set_title(caption)
                self._show(png)
        except Exception as err:  # shown to the learner; the last good picture stays
            self.error.value = (
                f'<span style="color:#D55E00">{html.escape(type(err).__name__)}: '
                f"{html.escape(str(err))}</span>"
            )
            self.error.layout.display = None
        else:
            if self.error.value:
                self.error.value = ""
                self.error.layout.display = "none"

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        w, h = self.figure.canvas.get_width_height()
        return f"LiveFigure({_name(self.draw)}: {values}; {w}x{h} px PNG)"


def _name(draw: Any) -> str:
    return getattr(draw, "__name__", type(draw).__name__)


def live_figure(
    draw: Callable[..., Any],
    /,
    *,
    figsize: tuple[float, float] = (7.0, 2.5),
    dpi: float = 100,
    cache: int = 256,
    **controls: widgets.ValueWidget,
) -> LiveFigure:
    """A picture that redraws itself when one of its ``controls`` changes.

    ``draw(ax, **values)`` draws the whole picture on ``ax``; ``values`` has one entry per
    control, under the control's keyword name. Each control is an ipywidgets control with a
    value (``IntSlider``, ``FloatSlider``, ``Dropdown``, ``Checkbox``, ...); one without a
    ``description`` gets its keyword name. ``figsize`` (inches) and ``dpi`` set the picture's
    size: the defaults give 700 x 250 pixels, the size of the course's other pictures (a lower
    dpi saves only a few percent; see the module docstring).

    The widget remembers the last ``cache`` pictures it showed, by the controls' values, and
    shows a remembered one again without drawing it: moving a slider back to where it was costs
    about a millisecond. That is right because ``draw`` is a function of the values; for a
    ``draw`` that reads anything else (an object another cell changes), pass ``cache=0``.
    Names ``figsize``, ``dpi`` and ``cache`` are therefore not available for controls.

    The first picture is drawn here, so a ``draw`` that fails for the initial values raises now.
    """
    if not callable(draw):
        raise InvalidType(
            f"draw={draw!r} is a {type(draw).__name__}: a function draw(ax, **values) is "
            "needed. Pass e.g. live_figure(my_plot, x=widgets.IntSlider()) with "
            "def my_plot(ax, x): ..."
        )
    if (
        not isinstance(figsize, (tuple, list))
        or len(figsize) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in figsize)
    ):
        raise InvalidType(
            f"figsize={figsize!r} must be (width, height) in inches. Pass e.g. figsize=(7, 2.5)."
        )
    check_range("figsize[0]", figsize[0], 1, 20, "inches", example=7)
    check_range("figsize[1]", figsize[1], 1, 20, "inches", example=2.5)
    check_range("dpi", dpi, 30, 300, "dots per inch", example=100)
    check_range("cache", cache, 0, 100_000, "pictures", example=256)
    if isinstance(cache, float):
        raise InvalidType(f"cache={cache!r} must be a whole number of pictures, e.g. cache=256.")
    if not controls:
        raise InvalidArgument(
            f"live_figure({_name(draw)}) got no controls: pass at least one, as a keyword "
            "argument named after draw's parameter, e.g. prefetch=widgets.IntSlider(min=0, "
            "max=5)."
        )
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise InvalidType(
                f"{name}={control!r} is a {type(control).__name__}: an ipywidgets control with "
                f"a value is needed. Pass e.g. {name}=widgets.IntSlider(value=1, min=0, max=10) "
                "or widgets.Dropdown(options=[...])."
            )
    _check_parameters(draw, controls)
    live = LiveFigure(draw, controls, tuple(figsize), dpi, cache)  # raises if the first draw does
    for name, control in controls.items():
        if not getattr(control, "description", name):
            control.description = name
    return live


def _check_parameters(draw: Callable[..., Any], controls: dict[str, Any]) -> None:
    """Every control names a parameter of ``draw``; every parameter after ``ax`` has a value."""
    try:
        params = list(inspect.signature(draw).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature: nothing to check
        return
    if not params or params[0].kind not in (
        params[0].POSITIONAL_ONLY,
        params[0].POSITIONAL_OR_KEYWORD,
    ):
        raise InvalidArgument(
            f"draw={_name(draw)} must take the axes as its first argument, then the controls' "
            f"values as keywords: def {_name(draw)}(ax, {', '.join(controls)}): ..."
        )
    rest = params[1:]
    if any(p.kind is p.VAR_KEYWORD for p in rest):
        return
    names = {p.name for p in rest if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = [n for n in controls if n not in names]
    if unknown:
        raise InvalidArgument(
            f"{unknown[0]}= is not a parameter of draw={_name(draw)} (it takes "
            f"{', '.join(sorted(names)) or 'only ax'}). Name each control after the parameter "
            "it sets."
        )
    missing = [
        p.name
        for p in rest
        if p.name not in controls and p.default is p.empty and p.kind is not p.VAR_POSITIONAL
    ]
    if missing:
        raise InvalidArgument(
            f"draw={_name(draw)} needs {missing[0]}= but no control sets it. Add a control, "
            f"e.g. {missing[0]}=widgets.IntSlider(), or give the parameter a default."
        )


def fair_dispatch_widget(
    messages: int = 12, service_times: tuple[float, ...] = (1, 1, 4)
) -> LiveFigure:
    """Prefetch against fair dispatch: a slider for the prefetch limit and one for the job count.

    Each move calls :func:`brokerlab.prefetch.fair_dispatch` and draws the result with
    :func:`brokerlab.prefetch.plot_work_share`, which a notebook can also call directly.
    """
    from .prefetch import fair_dispatch, plot_work_share

    fair_dispatch(messages=messages, service_times=service_times)  # clear errors, before widgets
    service_times = tuple(service_times)

    def work_share(ax: Any, prefetch: int, messages: int) -> None:
        share = fair_dispatch(messages=messages, service_times=service_times, prefetch=prefetch)
        plot_work_share(share, ax=ax)

    return live_figure(
        work_share,
        figsize=(7.0, min(20.0, 0.9 + 0.5 * len(service_times))),
        prefetch=widgets.IntSlider(value=0, min=0, max=5, description="prefetch"),
        messages=widgets.IntSlider(
            value=messages, min=1, max=max(40, messages), description="messages"
        ),
    )
