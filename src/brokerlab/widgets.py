"""Widgets: the sliders and dropdowns the notebooks show.

Each widget is a thin shell around a pure function of the package: moving a slider calls that
function with the new values and redraws its picture. The function can be called (and tested)
without any widget, so a notebook cell that shows a widget is always paired with a cell that
calls the function directly.
"""

from __future__ import annotations


def fair_dispatch_widget(messages: int = 12, service_times: tuple[float, ...] = (1, 1, 4)):
    """Prefetch against fair dispatch: a slider for the prefetch limit and one for the job count.

    Calls :func:`brokerlab.prefetch.fair_dispatch` and draws it with
    :func:`brokerlab.prefetch.plot_work_share`.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from .prefetch import fair_dispatch, plot_work_share

    def show(prefetch: int, messages: int) -> None:
        share = fair_dispatch(messages=messages, service_times=service_times, prefetch=prefetch)
        plot_work_share(share)
        plt.show()

    return w.interactive(
        show,
        prefetch=w.IntSlider(value=0, min=0, max=5, description="prefetch"),
        messages=w.IntSlider(value=messages, min=1, max=40, description="messages"),
    )
