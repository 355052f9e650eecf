"""live_figure, the one widget helper, and fair_dispatch_widget built on it.

What a learner relies on: the widget builds, a slider move shows a new picture (valid PNG bytes),
the same values always give the same bytes whatever path led there, the picture is what the
model computed, a failing draw shows its error instead of vanishing, and a wrong call says which
argument is wrong. How fast it is lives in benchmarks/bench_widgets.py, never here.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")
from PIL import Image  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType, OutOfRange  # noqa: E402
from brokerlab.prefetch import fair_dispatch  # noqa: E402
from brokerlab.widgets import LiveFigure, fair_dispatch_widget, live_figure  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking that it decodes."""
    assert data.startswith(PNG_SIGNATURE)
    Image.open(io.BytesIO(data)).verify()
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every row: a truncated or corrupt PNG fails here
    return image.size


def bars(widget: LiveFigure) -> int:
    return sum(len(c.get_paths()) for c in widget.ax.collections)


def caption(widget: LiveFigure) -> str:
    return widget.title.value


# --- fair_dispatch_widget -------------------------------------------------------------------------


def test_fair_dispatch_widget_builds_with_its_sliders_and_a_picture():
    w = fair_dispatch_widget()
    assert isinstance(w, widgets.VBox)
    assert list(w.controls) == ["prefetch", "messages"]
    prefetch, messages = w.controls.values()
    assert (prefetch.value, prefetch.min, prefetch.max) == (0, 0, 5)
    assert (messages.value, messages.min, messages.max) == (12, 1, 40)
    assert w.children == (prefetch, messages, w.title, w.image, w.error)
    assert [c.description for c in w.children[:2]] == ["prefetch", "messages"]
    assert png_size(w.png) == (700, 240)
    assert "prefetch=unlimited: all 12 jobs done at t=16s" in caption(w)
    assert w.error.value == ""
    assert repr(w) == "LiveFigure(work_share: prefetch=0, messages=12; 700x240 px PNG)"


def test_moving_a_slider_shows_the_new_picture():
    w = fair_dispatch_widget()
    before = w.png
    w.controls["prefetch"].value = 1
    assert w.png != before
    assert png_size(w.png) == (700, 240)
    assert "prefetch=1: all 12 jobs done at t=8s" in caption(w)
    assert bars(w) == 12

    w.controls["messages"].value = 20
    assert bars(w) == 20
    share = fair_dispatch(messages=20, service_times=(1, 1, 4), prefetch=1)
    assert w.ax.get_xlim() == (0, share.finished_at)
    assert [t.get_text() for t in w.ax.get_yticklabels()] == [
        "c1 (1s/job)",
        "c2 (1s/job)",
        "c3 (4s/job)",
    ]
    assert f"all 20 jobs done at t={share.finished_at:g}s" in caption(w)
    assert repr(w) == "LiveFigure(work_share: prefetch=1, messages=20; 700x240 px PNG)"


def test_redraws_reuse_one_figure_and_leave_nothing_behind():
    w = fair_dispatch_widget()
    figure, ax = w.figure, w.ax
    for value in (1, 2, 0, 3):
        w.controls["prefetch"].value = value
    assert w.figure is figure and w.ax is ax and figure.axes == [ax]
    assert len(ax.collections) == 3  # one bar artist per consumer, none left from before
    share = fair_dispatch(messages=12, service_times=(1, 1, 4), prefetch=3)
    assert len(ax.texts) <= len(share.spans)


def test_the_same_values_give_the_same_bytes():
    w = fair_dispatch_widget()
    first = w.png
    w.controls["prefetch"].value = 2
    w.controls["messages"].value = 30
    w.controls["messages"].value = 12
    w.controls["prefetch"].value = 0
    assert w.png == first  # shown again from the widget's cache
    assert w.redraw() == first  # and drawn again: the same bytes
    assert fair_dispatch_widget().png == first


moves = st.lists(
    st.one_of(
        st.tuples(st.just("prefetch"), st.integers(0, 5)),
        st.tuples(st.just("messages"), st.integers(1, 40)),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=12, deadline=None)
@given(moves)
def test_the_picture_depends_only_on_the_current_values(path):
    """However the sliders got there, the bytes are those of going there directly."""
    w = fair_dispatch_widget()
    for name, value in path:
        w.controls[name].value = value
    direct = fair_dispatch_widget()
    direct.controls["prefetch"].value = w.values["prefetch"]
    direct.controls["messages"].value = w.values["messages"]
    assert w.png == direct.png
    assert caption(w) == caption(direct)
    assert w.redraw() == direct.png  # drawn now, after that path, rather than remembered


def test_fair_dispatch_widget_takes_more_messages_and_other_consumers():
    w = fair_dispatch_widget(messages=60, service_times=(2, 3))
    assert w.controls["messages"].max == 60
    assert bars(w) == 60
    assert [t.get_text() for t in w.ax.get_yticklabels()] == ["c1 (2s/job)", "c2 (3s/job)"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"messages": 0}, OutOfRange, "messages=0 is out of range"),
        ({"messages": 2.5}, InvalidType, "whole number"),
        ({"service_times": ()}, InvalidArgument, r"service_times=\(\)"),
        ({"service_times": (1, -1)}, OutOfRange, r"service_times\[1\]=-1"),
    ],
)
def test_fair_dispatch_widget_bad_arguments_name_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        fair_dispatch_widget(**kwargs)


# --- live_figure ----------------------------------------------------------------------------------


def line(ax, n: int) -> None:
    ax.plot([0, 1], [0, n])


def test_draw_gets_the_axes_and_each_controls_value_by_name():
    calls = []

    def draw(ax, colour, n, shout):
        calls.append((colour, n, shout))
        ax.plot([0, n], color=colour)

    w = live_figure(
        draw,
        colour=widgets.Dropdown(options=["blue", "orange"]),
        n=widgets.IntSlider(value=3, max=9),
        shout=widgets.Checkbox(value=False),
    )
    assert calls == [("blue", 3, False)]
    w.controls["colour"].value = "orange"
    w.controls["shout"].value = True
    assert calls[-1] == ("orange", 3, True)
    assert w.values == {"colour": "orange", "n": 3, "shout": True}
    # a control without a description is labelled with its keyword
    assert [c.description for c in w.controls.values()] == ["colour", "n", "shout"]


def test_a_control_keeps_its_own_description():
    w = live_figure(line, n=widgets.IntSlider(value=1, description="jobs"))
    assert w.controls["n"].description == "jobs"


def test_draw_may_take_keyword_arguments_or_have_defaults():
    def draw(ax, n, colour="black", **more):
        ax.plot([0, n], color=colour)

    w = live_figure(draw, n=widgets.IntSlider(value=2))
    w.controls["n"].value = 5
    assert w.ax.lines[0].get_ydata()[-1] == 5


def test_every_picture_starts_from_a_fresh_axes():
    """Whatever the last picture set (title, scale, inverted axis, grid, legend, ticks)."""

    def draw(ax, fancy):
        ax.plot([1, 2, 3], [1, 10, 100], label="growth")
        if fancy:
            ax.set_title("fancy")
            ax.set_xlabel("x")
            ax.set_yscale("log")
            ax.invert_yaxis()
            ax.grid(True)
            ax.set_xticks([1, 3], ["one", "three"])
            ax.legend()
            ax.text(2, 10, "note")
            ax.bar([1], [5])
            ax.margins(0)
            ax.set_aspect(0.01)

    plain = live_figure(draw, fancy=widgets.Checkbox(value=False))
    w = live_figure(draw, fancy=widgets.Checkbox(value=True))
    ax = w.ax
    assert ax.get_yscale() == "log" and ax.yaxis_inverted()
    assert ax.get_legend() is None and "growth" in w.title.value  # the key moved to the caption
    assert "fancy" in caption(w) and w.title.layout.display is None
    w.controls["fancy"].value = False
    assert ax.get_yscale() == "linear" and not ax.yaxis_inverted()
    assert ax.get_legend() is None and ax.get_xlabel() == "" and len(ax.texts) == 0
    assert len(ax.lines) == 1 and len(ax.patches) == 0 and ax.containers == []
    assert caption(w) == "" and w.title.layout.display == "none"
    # The margins come from each widget's first picture; with plain's margins, the picture is
    # the one a widget that was never fancy draws, pixel for pixel.
    p = plain.figure.subplotpars
    w.figure.subplots_adjust(left=p.left, right=p.right, bottom=p.bottom, top=p.top)
    assert w.redraw() == plain.png


def test_limits_follow_the_new_data():
    w = live_figure(line, n=widgets.IntSlider(value=1000, max=1000))
    assert w.ax.get_ylim()[1] > 900
    w.controls["n"].value = 2
    assert 2 <= w.ax.get_ylim()[1] < 3


def test_a_failing_draw_shows_its_error_and_keeps_the_last_picture():
    def draw(ax, n):
        if n == 3:
            raise ValueError("n=3 is unlucky: pick another")
        ax.plot([0, n])

    w = live_figure(draw, n=widgets.IntSlider(value=1, max=5))
    good = w.png
    w.controls["n"].value = 3
    assert w.png == good
    assert "ValueError: n=3 is unlucky: pick another" in w.error.value
    assert w.error.layout.display is None
    w.controls["n"].value = 4
    assert w.png != good
    assert w.error.value == "" and w.error.layout.display == "none"


def test_error_text_is_escaped():
    def draw(ax, n):
        if n:
            raise ValueError("<script>")

    w = live_figure(draw, n=widgets.IntSlider(value=0))
    w.controls["n"].value = 1
    assert "<script>" not in w.error.value and "&lt;script&gt;" in w.error.value


def test_a_draw_failing_on_the_first_values_raises_at_once():
    def draw(ax, n):
        raise InvalidArgument(f"n={n} is not allowed")

    with pytest.raises(InvalidArgument, match="n=0 is not allowed"):
        live_figure(draw, n=widgets.IntSlider(value=0))


def test_redraw_returns_the_bytes_it_shows():
    w = live_figure(line, n=widgets.IntSlider(value=1))
    assert w.redraw() == w.png


def test_the_png_holds_exactly_the_pixels_drawn():
    """The widget encodes its PNG itself (unfiltered rows, fast zlib): nothing may be lost."""
    import numpy as np

    w = fair_dispatch_widget()
    w.controls["prefetch"].value = 2
    shown = Image.open(io.BytesIO(w.png))
    assert shown.mode == "RGBA"
    assert np.array_equal(np.asarray(shown), np.asarray(w.figure.canvas.buffer_rgba()))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda s: live_figure("line", n=s), InvalidType, "draw='line' is a str"),
        (lambda s: live_figure(line), InvalidArgument, r"live_figure\(line\) got no controls"),
        (lambda s: live_figure(line, n=5), InvalidType, "n=5 is a int: an ipywidgets control"),
        (
            lambda s: live_figure(line, n=widgets.Button()),
            InvalidType,
            "n=Button.* an ipywidgets control with a value",
        ),
        (
            lambda s: live_figure(line, n=s, m=widgets.IntSlider()),
            InvalidArgument,
            "m= is not a parameter of draw=line",
        ),
        (
            lambda s: live_figure(lambda ax, n, size: None, n=s),
            InvalidArgument,
            "needs size= but no control sets it",
        ),
        (
            lambda s: live_figure(lambda *, n: None, n=s),
            InvalidArgument,
            "must take the axes as its first argument",
        ),
        (lambda s: live_figure(line, figsize=7, n=s), InvalidType, "figsize=7 must be"),
        (lambda s: live_figure(line, figsize=(0.5, 2), n=s), OutOfRange, r"figsize\[0\]=0.5"),
        (lambda s: live_figure(line, figsize=(7, 50), n=s), OutOfRange, r"figsize\[1\]=50"),
        (lambda s: live_figure(line, dpi=1000, n=s), OutOfRange, "dpi=1000 is out of range"),
        (lambda s: live_figure(line, dpi="high", n=s), InvalidType, "dpi='high'"),
        (lambda s: live_figure(line, cache=-1, n=s), OutOfRange, "cache=-1 is out of range"),
        (lambda s: live_figure(line, cache=1.5, n=s), InvalidType, "cache=1.5 must be a whole"),
        (
            lambda s: live_figure(lambda ax, n: ax.twinx(), n=s),
            InvalidArgument,
            "added axes to the figure",
        ),
    ],
)
def test_bad_arguments_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call(widgets.IntSlider())


def test_a_rejected_call_leaves_its_controls_alone():
    calls = []

    def draw(ax, n):
        calls.append(n)

    slider = widgets.IntSlider(value=1)
    with pytest.raises(InvalidArgument):
        live_figure(draw, n=slider, m=widgets.IntSlider())
    assert slider.description == "" and calls == []
    slider.value = 2  # nothing is listening to it
    assert calls == []


def test_a_first_picture_that_fails_leaves_its_controls_alone():
    calls = []

    def draw(ax, n):
        calls.append(n)
        ax.twinx()

    slider = widgets.IntSlider(value=1)
    with pytest.raises(InvalidArgument, match="added axes"):
        live_figure(draw, n=slider)
    assert slider.description == "" and calls == [1]
    slider.value = 2
    assert calls == [1]


# --- the picture cache ------------------------------------------------------------------------------


def counting_line():
    calls = []

    def draw(ax, n):
        calls.append(n)
        ax.plot([0, 1], [0, n])
        ax.set_title(f"n={n}")

    return draw, calls


def test_a_picture_already_shown_comes_back_without_drawing():
    draw, calls = counting_line()
    w = live_figure(draw, n=widgets.IntSlider(value=1))
    first = w.png
    w.controls["n"].value = 2
    second = w.png
    w.controls["n"].value = 1
    assert calls == [1, 2]  # 1 came from the cache
    assert w.png == first and "n=1" in caption(w)
    w.controls["n"].value = 2
    assert calls == [1, 2] and w.png == second and "n=2" in caption(w)


def test_cache_zero_draws_every_time():
    draw, calls = counting_line()
    w = live_figure(draw, cache=0, n=widgets.IntSlider(value=1))
    for n in (2, 1, 2):
        w.controls["n"].value = n
    assert calls == [1, 2, 1, 2]


def test_the_cache_keeps_the_most_recently_shown_pictures():
    draw, calls = counting_line()
    w = live_figure(draw, cache=2, n=widgets.IntSlider(value=1))
    w.controls["n"].value = 2
    w.controls["n"].value = 1  # remembered; now the most recent
    w.controls["n"].value = 3  # forgets 2, the least recently shown
    assert len(w._pictures) == 2
    w.controls["n"].value = 1
    w.controls["n"].value = 2
    assert calls == [1, 2, 3, 2]


def test_values_that_cannot_be_remembered_are_drawn_each_time():
    calls = []

    def draw(ax, ys):
        calls.append(ys)
        ax.plot(ys)

    w = live_figure(draw, ys=widgets.Dropdown(options=[("up", [0, 1]), ("down", [1, 0])]))
    w.controls["ys"].value = [1, 0]
    w.controls["ys"].value = [0, 1]
    assert calls == [[0, 1], [1, 0], [0, 1]]
    assert w._pictures == {}


def test_the_legend_is_shown_as_html_under_the_title():
    """A legend costs matplotlib about 15 ms of glyphs at every move; the browser draws the same
    key for free. Each entry keeps its label and is drawn like its handle."""

    def draw(ax, n):
        ax.plot([0, 1], [0, n], color="#0072B2", linestyle="--", label="dashed <line>")
        ax.plot([0, 1], [n, 0], linestyle="none", marker=".", color="#D55E00", label="dots")
        ax.scatter([0.5], [0.5], marker="s", color="#009E73", label="squares")
        ax.axvspan(0.2, 0.3, color="#F0E442", alpha=0.4, label="a span")
        ax.bar([0.8], [1], color="#CC79A7", label="bars")
        ax.set_title("t")
        ax.legend(title="key")

    w = live_figure(draw, n=widgets.IntSlider(value=1, min=1, max=3))
    key = w.title.value.split("</div>", 1)[1]
    assert w.ax.get_legend() is None
    for label in ("dashed &lt;line&gt;", "dots", "squares", "a span", "bars", "<b>key</b>"):
        assert label in key, label
    assert 'stroke="#0072b2ff"' in key and "stroke-dasharray" in key  # the dashed line
    assert '<circle cx="11" cy="6" r="3" fill="#d55e00ff"/>' in key  # a marker, no line
    assert 'fill="#009e73ff"' in key and 'fill="#cc79a7ff"' in key
    assert 'fill="#f0e44266"' in key  # the span keeps its alpha
    before = w.title.value
    w.controls["n"].value = 2
    assert w.ax.get_legend() is None and w.title.value.split("</div>", 1)[1] == key
    assert w.title.value == before  # same title, same key
