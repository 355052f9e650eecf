"""Prefetch and fair dispatch: how a queue shares work between competing consumers.

A queue pushes messages to its consumers round-robin. Without a prefetch limit
(``prefetch=0``, AMQP's default) it deals *every* ready message out at once, so a slow consumer
ends up holding a pile of messages that fast consumers could have done. With ``prefetch=1`` a
consumer gets its next message only after it acknowledged the last one, so work flows to whoever
is free. RabbitMQ's second tutorial calls this *fair dispatch*
(https://www.rabbitmq.com/tutorials/tutorial-two-python, "Fair dispatch").

:func:`fair_dispatch` runs that experiment on the reference :class:`~brokerlab.queue.Queue`
with a virtual clock, and :func:`plot_work_share` draws who did what, when.

>>> share = fair_dispatch(messages=6, service_times=(1, 3), prefetch=0)
>>> share.jobs
{'c1': ['job-1', 'job-3', 'job-5'], 'c2': ['job-2', 'job-4', 'job-6']}
>>> share.finished_at
9.0
>>> fair_dispatch(messages=6, service_times=(1, 3), prefetch=1).finished_at
6.0
"""

from __future__ import annotations

from dataclasses import dataclass

from .clock import VirtualClock
from .errors import InvalidArgument, InvalidType, check_range
from .queue import Queue


@dataclass(frozen=True)
class WorkShare:
    """The outcome of :func:`fair_dispatch`.

    ``jobs`` maps each consumer to the jobs it processed, in order; ``spans`` lists
    ``(consumer, job, start, end)`` in virtual seconds; ``finished_at`` is when the last job
    was acknowledged.
    """

    prefetch: int
    service_times: tuple[float, ...]
    jobs: dict[str, list[str]]
    spans: tuple[tuple[str, str, float, float], ...]
    finished_at: float

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {len(j)}" for c, j in self.jobs.items())
        limit = self.prefetch or "unlimited"
        return f"WorkShare(prefetch={limit}; {counts}; all done at t={self.finished_at:g}s)"


def fair_dispatch(
    messages: int = 12, service_times: tuple[float, ...] = (1, 1, 4), prefetch: int = 0
) -> WorkShare:
    """Publish ``messages`` jobs to a queue with one consumer per entry of ``service_times``.

    Consumer ``c<i>`` needs ``service_times[i-1]`` seconds per job, processes its deliveries one
    at a time in the order they arrived, and acks each when done. Returns who did which job
    and when everything was finished.
    """
    check_range("messages", messages, 1, 10_000, "jobs", example=12)
    if isinstance(messages, float):
        raise InvalidType(f"messages={messages!r} must be a whole number. Pass e.g. messages=12.")
    if not isinstance(service_times, (tuple, list)) or not service_times:
        raise InvalidArgument(
            f"service_times={service_times!r} must be a non-empty tuple of seconds, one per "
            "consumer. Pass e.g. service_times=(1, 1, 4)."
        )
    for i, s in enumerate(service_times):
        check_range(f"service_times[{i}]", s, 0.001, 3600, "seconds", example=1)
    clock = VirtualClock()
    queue = Queue("work", clock=clock)
    consumers = [queue.consume(f"c{i + 1}", prefetch=prefetch) for i in range(len(service_times))]
    for n in range(1, messages + 1):
        queue.publish(f"job-{n}")

    jobs: dict[str, list[str]] = {c.name: [] for c in consumers}
    spans: list[tuple[str, str, float, float]] = []
    backlog: dict[str, list] = {c.name: [] for c in consumers}
    busy: dict[str, tuple[float, object] | None] = {c.name: None for c in consumers}
    done = 0
    while done < messages:
        now = clock.now()
        for c, service in zip(consumers, service_times):
            backlog[c.name].extend(c.take())
            if busy[c.name] is None and backlog[c.name]:
                d = backlog[c.name].pop(0)
                busy[c.name] = (now + service, d)
                spans.append((c.name, d.payload, now, now + service))
        next_done = min(b[0] for b in busy.values() if b is not None)
        clock.advance_to(next_done)
        for c in consumers:  # finish every job due now, in consumer order (deterministic)
            b = busy[c.name]
            if b is not None and b[0] <= next_done:
                c.ack(b[1])
                jobs[c.name].append(b[1].payload)
                busy[c.name] = None
                done += 1
    return WorkShare(prefetch, tuple(service_times), jobs, tuple(spans), clock.now())


def plot_work_share(share: WorkShare, ax=None):
    """A Gantt chart of :func:`fair_dispatch`: one row per consumer, one bar per job.

    A row's bars show their job numbers when every number in the row fits inside its bar. With
    ``ax=None`` the chart gets a new pyplot figure of its own (shown by ``plt.show()`` in a
    notebook); given an ``ax``, it draws there and leaves the figure's layout to its owner (a
    widget, a grid of charts). Returns the Figure.
    """
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(share.jobs)), dpi=100)
        fig.subplots_adjust(left=0.2, bottom=0.25 if len(share.jobs) < 3 else 0.18)
    else:
        fig = ax.figure
    rows = {c: i for i, c in enumerate(share.jobs)}
    colours = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
    for consumer, row in rows.items():  # one artist per consumer keeps redraws fast
        bars = [(start, end - start) for c, _, start, end in share.spans if c == consumer]
        ax.broken_barh(
            bars, (row - 0.4, 0.8), facecolors=colours[row % len(colours)], edgecolor="white"
        )
    end = max(share.finished_at, 1)
    ax.set_xlim(0, end)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10], integer=True))
    # Each label costs about a millisecond to draw, and a number wider than its bar only smudges
    # its neighbours: a row's bars get their job numbers when every number in the row fits
    # (a digit of 8 pt text is about 0.6 em wide).
    pixels_per_second = ax.get_window_extent().width / end
    digit = 0.6 * 8 * fig.dpi / 72

    def fits(job: str, start: float, stop: float) -> bool:
        return (stop - start) * pixels_per_second >= digit * len(job.removeprefix("job-")) + 6

    crowded = {c for c, job, start, stop in share.spans if not fits(job, start, stop)}
    for consumer, job, start, stop in share.spans:
        if consumer not in crowded:
            ax.text(
                (start + stop) / 2,
                rows[consumer],
                job.removeprefix("job-"),
                ha="center",
                va="center",
                color="white",
                fontsize=8,
            )
    ax.set_yticks(
        range(len(rows)), [f"{c} ({s:g}s/job)" for c, s in zip(rows, share.service_times)]
    )
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("virtual time (s)")
    limit = share.prefetch or "unlimited"
    ax.set_title(
        f"prefetch={limit}: all {sum(map(len, share.jobs.values()))} jobs done at "
        f"t={share.finished_at:g}s"
    )
    return fig
