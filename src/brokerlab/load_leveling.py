"""Load leveling: a queue absorbs a traffic spike, and Little's law describes the backlog.

Work arrives in bursts; consumers work at a steady pace. Put a queue between them and a burst
does not overload anyone: the surplus waits in the queue (its **depth** grows), and the
consumers work it off once the burst has passed. The price is **waiting time**: a message that
arrives behind a deep queue waits until everything in front of it has been taken. Microsoft's
cloud design patterns call this *queue-based load leveling*.

:func:`simulate_spike` runs one such afternoon on the reference :class:`~brokerlab.queue.Queue`,
driven by the :class:`~brokerlab.scheduler.Scheduler` on a virtual clock:

- messages arrive at random (a Poisson stream of ``base_rate`` per second for ``duration``
  seconds) and, on top of that, ``spike`` extra messages arrive spread evenly at random over
  ``spike_length`` seconds from ``spike_start``;
- ``consumers`` identical consumers each take one message at a time (``receive``), work on it
  for a random time with mean ``service_time`` (exponential), and acknowledge it;
- every random draw comes from ``random.Random(seed)``: the same arguments give the same run.

The result (:class:`SpikeRun`) holds every message's arrival, start and end, and the depth of
the queue (messages ready, not yet taken) after every change.

**Little's law.** Over any stretch of time that starts and ends with an empty queue, the
average number of messages waiting (``L``), the rate at which they arrive (``lambda``) and the
average time each one waits (``W``) obey ``L = lambda * W`` exactly. The reason is bookkeeping:
the area under the depth curve counts each message once for every second it waited, so it is
both ``L * T`` and the sum of all waits, ``lambda * T * W``. :meth:`SpikeRun.littles_law` measures
all three over the run (from t=0 until the last message was taken) so the notebook can show the
equality on the run's own numbers. Over a window that cuts through a backlog it holds only
approximately (messages still waiting at the end are counted in ``L`` but not yet in ``W``).

Consumers receive with a visibility timeout of 12 hours (SQS's maximum), so no message comes
back while it is being worked on: this model is about waiting, not about redelivery.

>>> run = simulate_spike(spike=20, consumers=2, service_time=1.0, seed=7)
>>> law = run.littles_law()
>>> abs(law.mean_depth - law.lambda_w) < 1e-9
True
>>> run == simulate_spike(spike=20, consumers=2, service_time=1.0, seed=7)
True

Sources: J. D. C. Little, "A Proof for the Queuing Formula: L = lambda W", *Operations
Research* 9(3), 1961; Microsoft Azure Architecture Center, *Queue-Based Load Leveling pattern*;
Amazon SQS Developer Guide, *Visibility timeout* (0 to 12 hours).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, NamedTuple

from .clock import VirtualClock
from .errors import InvalidType, check_range, check_whole
from .plots import OKABE_ITO, figure_and_ax
from .queue import Queue
from .scheduler import Scheduler

__all__ = ["LittlesLaw", "SpikeRun", "plot_spike", "simulate_spike", "spike_widget"]

# Messages are taken with SQS's longest visibility timeout: a slow job never reappears.
_HIDE = 43_200


class LittlesLaw(NamedTuple):
    """``L``, ``lambda`` and ``W`` measured over ``horizon`` seconds (see the module docstring)."""

    mean_depth: float  # L: time-average number of messages waiting in the queue
    arrival_rate: float  # lambda: messages per second over the horizon
    mean_wait: float  # W: seconds from arrival to being taken, averaged over messages
    horizon: float  # seconds, from t=0 to the moment the last message was taken
    messages: int

    @property
    def lambda_w(self) -> float:
        """``lambda * W``: what Little's law says ``L`` is."""
        return self.arrival_rate * self.mean_wait

    def __repr__(self) -> str:
        return (
            f"LittlesLaw(L={self.mean_depth:.3f} messages, lambda={self.arrival_rate:.3f}/s, "
            f"W={self.mean_wait:.3f} s, lambda*W={self.lambda_w:.3f}; over {self.horizon:.1f} s, "
            f"{self.messages} messages)"
        )


@dataclass(frozen=True)
class SpikeRun:
    """One run of :func:`simulate_spike`. Times are virtual seconds.

    ``arrivals``, ``starts`` and ``ends`` have one entry per message, in arrival order: when it
    was published, when a consumer took it, when it was acknowledged. ``depth`` is the queue's
    depth as ``(time, ready messages)`` after every change, starting at ``(0.0, 0)``.
    """

    base_rate: float
    spike: int
    spike_start: float
    spike_length: float
    consumers: int
    service_time: float
    duration: float
    seed: int
    arrivals: tuple[float, ...]
    starts: tuple[float, ...]
    ends: tuple[float, ...]
    depth: tuple[tuple[float, int], ...]

    @property
    def waits(self) -> tuple[float, ...]:
        """Seconds each message spent waiting in the queue (taken minus arrived)."""
        return tuple(s - a for a, s in zip(self.arrivals, self.starts))

    @property
    def max_depth(self) -> int:
        return max(d for _, d in self.depth)

    @property
    def max_wait(self) -> float:
        return max(self.waits, default=0.0)

    @property
    def drained_at(self) -> float:
        """When the last message was acknowledged (0 if nothing arrived)."""
        return max(self.ends, default=0.0)

    @property
    def capacity(self) -> float:
        """Messages per second the consumers can finish when all are busy."""
        return self.consumers / self.service_time

    def littles_law(self) -> LittlesLaw:
        """Measure ``L``, ``lambda`` and ``W`` from t=0 until the last message was taken."""
        n = len(self.arrivals)
        horizon = max(self.starts, default=0.0)
        if n == 0 or horizon == 0:
            return LittlesLaw(0.0, 0.0, 0.0, horizon, n)
        area = 0.0
        for (t0, d), (t1, _) in zip(self.depth, self.depth[1:]):
            if t0 >= horizon:
                break
            area += d * (min(t1, horizon) - t0)
        return LittlesLaw(area / horizon, n / horizon, sum(self.waits) / n, horizon, n)

    def __repr__(self) -> str:
        return (
            f"SpikeRun({len(self.arrivals)} messages ({self.spike} in the spike), "
            f"{self.consumers} consumers x {self.service_time:g} s; deepest {self.max_depth}, "
            f"longest wait {self.max_wait:.1f} s, all done at t={self.drained_at:.1f}s)"
        )


def simulate_spike(
    spike: int = 60,
    consumers: int = 3,
    service_time: float = 1.5,
    *,
    base_rate: float = 1.0,
    duration: float = 120.0,
    spike_start: float = 30.0,
    spike_length: float = 10.0,
    seed: int = 1,
) -> SpikeRun:
    """Run a steady stream plus one spike through a queue with competing consumers.

    See the module docstring for the model. With the defaults the consumers can finish two
    messages a second (3 / 1.5 s), twice the steady rate, and the spike brings 60 messages in
    10 seconds on top.
    """
    check_whole("spike", spike, 0, 10_000, "messages", example=60)
    check_whole("consumers", consumers, 1, 1_000, "consumers", example=3)
    check_range("service_time", service_time, 0.001, 3_600, "seconds", example=1.5)
    check_range("base_rate", base_rate, 0, 1_000, "messages per second", example=1.0)
    check_range("duration", duration, 0, 86_400, "seconds", example=120)
    check_range("spike_start", spike_start, 0, 86_400, "seconds", example=30)
    check_range("spike_length", spike_length, 0, 86_400, "seconds", example=10)
    check_whole("seed", seed, -(2**63), 2**63, example=1)

    rng = random.Random(seed)
    arrivals: list[float] = []
    t = 0.0
    while base_rate > 0:
        t += rng.expovariate(base_rate)
        if t >= duration:
            break
        arrivals.append(t)
    arrivals += [spike_start + rng.random() * spike_length for _ in range(spike)]
    arrivals.sort()
    work = [rng.expovariate(1 / service_time) for _ in arrivals]

    clock = VirtualClock()
    scheduler = Scheduler(clock)
    queue = Queue("work", clock=clock, visibility_timeout=_HIDE)
    n = len(arrivals)
    starts = [0.0] * n
    ends = [0.0] * n
    depth: list[tuple[float, int]] = [(0.0, 0)]
    idle = [f"c{i + 1}" for i in range(consumers)]

    def note_depth() -> None:
        d = len(queue)
        if d != depth[-1][1]:
            depth.append((clock._now, d))

    def dispatch() -> None:
        while idle:
            taken = queue.receive(1)
            if not taken:
                break
            consumer = idle.pop(0)
            delivery = taken[0]
            i = delivery.payload
            starts[i] = clock._now
            scheduler.after(work[i], finish, consumer, delivery)
        note_depth()

    def arrive(i: int) -> None:
        queue.publish(i)
        dispatch()

    def finish(consumer: str, delivery: Any) -> None:
        queue.ack(delivery)
        ends[delivery.payload] = clock._now
        idle.append(consumer)
        dispatch()

    for i, at in enumerate(arrivals):
        scheduler.at(at, arrive, i)
    scheduler.run()
    depth.append((clock._now, depth[-1][1]))  # carry the last step to the end of the run
    return SpikeRun(
        float(base_rate),
        spike,
        float(spike_start),
        float(spike_length),
        consumers,
        float(service_time),
        float(duration),
        seed,
        tuple(arrivals),
        tuple(starts),
        tuple(ends),
        tuple(depth),
    )


def plot_spike(run: SpikeRun, ax: Any = None) -> Any:
    """Queue depth over time (a step line) and each message's wait (a dot at its arrival).

    Both share one y axis: depth in messages, wait in seconds; the title gives Little's law
    measured on this run. Returns the Figure (a new one of 7 x 3 inches if ``ax`` is None).
    """
    if not isinstance(run, SpikeRun):
        raise InvalidType(
            f"run is a {type(run).__name__}: pass the SpikeRun that simulate_spike() returns."
        )
    fig, ax = figure_and_ax(ax, (7.0, 3.0))
    if run.spike:
        ax.axvspan(
            run.spike_start,
            run.spike_start + run.spike_length,
            color=OKABE_ITO["yellow"],
            alpha=0.35,
            linewidth=0,
            label="spike arrives",
        )
    times = [t for t, _ in run.depth]
    ax.step(
        times,
        [d for _, d in run.depth],
        where="post",
        color=OKABE_ITO["blue"],
        linewidth=1.6,
        label=f"queue depth (messages); {run.consumers} consumers x {run.service_time:g} s",
    )
    ax.plot(
        run.arrivals,
        run.waits,
        linestyle="none",
        marker=".",
        markersize=3,
        color=OKABE_ITO["vermillion"],
        label="wait of the message arriving then (s)",
    )
    law = run.littles_law()
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("messages  /  seconds")
    ax.set_xlim(0, max(times[-1], run.duration, 1.0))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    ax.set_title(
        f"Little's law on this run: L = {law.mean_depth:.2f}, "
        f"\u03bbW = {law.arrival_rate:.2f}/s \u00d7 {law.mean_wait:.2f} s = {law.lambda_w:.2f}"
    )
    return fig


def spike_widget(spike: int = 60, consumers: int = 3, service_time: float = 1.5) -> Any:
    """Sliders for the spike size, the consumer count and the service time, driving
    :func:`plot_spike` of :func:`simulate_spike` (the other settings at their defaults)."""
    import ipywidgets as widgets

    from .widgets import live_figure

    simulate_spike(spike, consumers, service_time)  # clear errors before any widget exists

    def depth_and_wait(ax: Any, spike: int, consumers: int, service_time: float) -> None:
        plot_spike(simulate_spike(spike, consumers, service_time), ax=ax)

    return live_figure(
        depth_and_wait,
        figsize=(7.0, 3.0),
        spike=widgets.IntSlider(value=spike, min=0, max=300, step=10, description="spike"),
        consumers=widgets.IntSlider(value=consumers, min=1, max=10, description="consumers"),
        service_time=widgets.FloatSlider(
            value=service_time, min=0.5, max=5.0, step=0.5, description="service (s)"
        ),
    )
