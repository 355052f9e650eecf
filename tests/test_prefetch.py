import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType  # noqa: E402
from brokerlab.prefetch import fair_dispatch, plot_work_share  # noqa: E402


def test_without_prefetch_work_is_dealt_round_robin_up_front():
    share = fair_dispatch(messages=12, service_times=(1, 1, 4), prefetch=0)
    assert share.jobs == {
        "c1": ["job-1", "job-4", "job-7", "job-10"],
        "c2": ["job-2", "job-5", "job-8", "job-11"],
        "c3": ["job-3", "job-6", "job-9", "job-12"],
    }
    assert share.finished_at == 16  # the slow consumer does 4 jobs of 4 s


def test_prefetch_one_sends_work_to_whoever_is_free():
    share = fair_dispatch(messages=12, service_times=(1, 1, 4), prefetch=1)
    assert [len(j) for j in share.jobs.values()] == [5, 5, 2]
    assert share.finished_at == 8
    assert repr(share) == "WorkShare(prefetch=1; c1: 5, c2: 5, c3: 2; all done at t=8s)"


@pytest.mark.parametrize("prefetch", [0, 1, 2, 5])
def test_every_job_is_done_exactly_once_and_consumers_never_overlap(prefetch):
    share = fair_dispatch(messages=17, service_times=(1, 2.5, 3), prefetch=prefetch)
    done = sorted(j for jobs in share.jobs.values() for j in jobs)
    assert done == sorted(f"job-{n}" for n in range(1, 18))
    for consumer in share.jobs:
        spans = sorted((s, e) for c, _, s, e in share.spans if c == consumer)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"messages": 0}, InvalidArgument, "messages=0 is out of range"),
        ({"messages": 2.5}, InvalidType, "whole number"),
        ({"service_times": ()}, InvalidArgument, "service_times=()"),
        ({"service_times": (1, -1)}, InvalidArgument, r"service_times\[1\]=-1"),
        ({"prefetch": -1}, InvalidArgument, "prefetch=-1"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        fair_dispatch(**kwargs)


def test_plot_has_one_row_per_consumer_and_a_bar_per_job():
    fig = plot_work_share(fair_dispatch(messages=6, service_times=(1, 3), prefetch=1))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c1 (1s/job)", "c2 (3s/job)"]
    bars = sum(len(c.get_paths()) for c in ax.collections)
    assert bars == 6
    assert "all 6 jobs done at t=6s" in ax.get_title()
    plt.close(fig)


def test_widget_wraps_the_function():
    from brokerlab.widgets import fair_dispatch_widget

    w = fair_dispatch_widget()
    assert [c.description for c in w.children[:2]] == ["prefetch", "messages"]
    plt.close("all")


def test_a_bar_is_labelled_only_where_its_number_fits():
    share = fair_dispatch(messages=40, service_times=(1, 1, 4), prefetch=0)
    fig = plot_work_share(share)
    # the 1-second bars are too narrow for their numbers on a 52-second axis; 4-second ones fit
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == [job.removeprefix("job-") for job in share.jobs["c3"]]
    plt.close(fig)
    fig = plot_work_share(fair_dispatch(messages=12, service_times=(1, 1, 4), prefetch=1))
    assert sorted(int(t.get_text()) for t in fig.axes[0].texts) == list(range(1, 13))
    plt.close(fig)


def test_given_an_ax_the_chart_leaves_the_figure_layout_alone():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.4))
    ax = fig.add_subplot()
    before = vars(fig.subplotpars).copy()
    assert plot_work_share(fair_dispatch(messages=6, service_times=(1, 3)), ax=ax) is fig
    assert vars(fig.subplotpars) == before
