"""The call chain: the same order handled by synchronous calls, or handed to a queue.

An order service receives an order and needs three other services to act on it: take the
payment, reserve the stock, send the confirmation email. There are two ways to wire that up.

**Synchronous** (``mode="synchronous"``): the order service calls each service in turn and
waits for each answer before it replies to its caller. The caller waits for the *sum* of the
calls. The order service has a fixed pool of ``workers`` (threads, connections); a request
holds one from the moment it is picked up until the last call has answered, and requests that
find every worker busy wait for one, first come first served. If a service is slow, every
request holds its worker longer, the pool runs out, and callers queue up in front of the order
service although payment and inventory are fine: the slowness **cascades** up the chain. If a
service is down, each call to it fails after the client's ``timeout``, and so does the order.

**Queued** (``mode="queued"``): the order service does its own work, publishes one "order
placed" message, and replies. The message goes to a :class:`~brokerlab.pubsub.Topic` with one
subscription queue per service (the pattern of chapter 02), and each service has ``consumers``
of its own that take messages from its queue, work on them and acknowledge them. The caller
waits for the order service's own work plus one publish. A slow or dead service only makes
*its* queue grow: that **backlog** is worked off once the service is back, and the other
services never notice.

:func:`run_chain` runs either wiring on the :class:`~brokerlab.scheduler.Scheduler` (virtual
clock), with orders arriving at random (a Poisson stream, ``random.Random(seed)``) and,
optionally, one :class:`Outage`: a service that is down (``slowdown=0``) or ``slowdown`` times
slower between ``start`` and ``end``.

Simplifications, on purpose: each call or job takes exactly its service's time (no jitter), so
the picture shows the wiring and not noise; the called services themselves never run out of
capacity; a consumer whose service goes down finishes the message it holds and then takes no
more until the service is back (a real crash would leave the message to be redelivered, which
is chapter 03's subject); the outage's state at the moment a call or job *starts* decides how
long it takes.

>>> calm = run_chain("synchronous", orders=5, rate=0.1)   # one order at a time
>>> round(calm.percentile(50), 3)                           # 0.02 + 0.3 + 0.1 + 0.4
0.82
>>> round(run_chain("queued", orders=5, rate=0.1).percentile(50), 3)   # 0.02 + one publish
0.025
>>> down = run_chain("queued", orders=50, outage=Outage("email", 5, 15))
>>> down.failed, down.max_backlog()["email"] > down.max_backlog()["payment"]
(0, True)
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from .clock import VirtualClock
from .errors import InvalidArgument, InvalidType, check_choice, check_range, check_whole
from .plots import OKABE_ITO, figure_and_ax
from .pubsub import Topic
from .scheduler import Scheduler

__all__ = [
    "SERVICES",
    "ChainRun",
    "Outage",
    "plot_backlog",
    "plot_caller_latency",
    "plot_one_order",
    "run_chain",
]

# (service, seconds per call or job): the three services the order service needs.
SERVICES: tuple[tuple[str, float], ...] = (("payment", 0.3), ("inventory", 0.1), ("email", 0.4))
_HANDLE = 0.02  # the order service's own work per order (validate, store), seconds
_ENQUEUE = 0.005  # one publish to the broker, answered by the broker's confirm, seconds
_HIDE = 43_200  # consumers take messages with SQS's longest visibility timeout: no redelivery
_COLOURS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"])


class Outage(NamedTuple):
    """``service`` is down (``slowdown=0``) or ``slowdown`` times slower from ``start`` to ``end``."""

    service: str
    start: float
    end: float
    slowdown: float = 0.0

    def active(self, service: str, t: float) -> bool:
        return service == self.service and self.start <= t < self.end

    def describe(self) -> str:
        what = "down" if self.slowdown == 0 else f"{self.slowdown:g}x slower"
        return f"{self.service} {what} from t={self.start:g}s to t={self.end:g}s"


@dataclass(frozen=True)
class ChainRun:
    """One run of :func:`run_chain`. Times are virtual seconds; one entry per order.

    ``arrivals``: when each order reached the order service. ``replied``: when its caller got
    the answer. ``ok``: whether the answer was a success. ``done``: per service, when that
    service finished its part of each order (``None``: never did). ``backlog``: ``(time,
    count)`` steps of what is waiting: requests waiting for a worker of the order service
    (synchronous), or messages ready in each service's queue (queued).
    """

    mode: str
    services: tuple[tuple[str, float], ...]
    outage: Outage | None
    arrivals: tuple[float, ...]
    replied: tuple[float, ...]
    ok: tuple[bool, ...]
    done: dict[str, tuple[float | None, ...]]
    backlog: dict[str, tuple[tuple[float, int], ...]]

    @property
    def latencies(self) -> tuple[float, ...]:
        """How long each caller waited for its answer."""
        return tuple(r - a for a, r in zip(self.arrivals, self.replied))

    @property
    def failed(self) -> int:
        return self.ok.count(False)

    def percentile(self, q: float) -> float:
        """The caller latency below which ``q`` percent of the orders fall (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]

    def max_backlog(self) -> dict[str, int]:
        return {name: max(n for _, n in steps) for name, steps in self.backlog.items()}

    def half_done(self) -> dict[str, int]:
        """Per service: how many *failed* orders it nevertheless did its part of (a payment
        taken for an order whose caller was told it failed)."""
        failed = [i for i, ok in enumerate(self.ok) if not ok]
        return {
            name: sum(self.done[name][i] is not None for i in failed) for name, _ in self.services
        }

    def finished_at(self, service: str) -> float | None:
        """When ``service`` finished its last part of an order (None if it did none)."""
        times = [t for t in self.done[service] if t is not None]
        return max(times) if times else None

    def summary(self) -> str:
        """A few lines: caller latency, failures, and what each service got done."""
        lines = [
            f"{self.mode}: {len(self.arrivals)} orders, {self.failed} failed; caller latency "
            f"p50 {self.percentile(50):.3f} s, p95 {self.percentile(95):.3f} s, "
            f"max {max(self.latencies, default=0):.3f} s"
        ]
        for name, _ in self.services:
            times = self.done[name]
            n = sum(t is not None for t in times)
            end = self.finished_at(name)
            lines.append(
                f"  {name:<9} did {n:>3} of {len(times)}"
                + (f", last at t={end:.1f}s" if end is not None else "")
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        outage = f"; {self.outage.describe()}" if self.outage else ""
        return (
            f"ChainRun({self.mode}: {len(self.arrivals)} orders, {self.failed} failed, caller "
            f"p95 {self.percentile(95):.3f} s{outage})"
        )


def _check_services(services: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(services, (tuple, list)) or not services:
        raise InvalidArgument(
            f"services={services!r} must be a non-empty sequence of (name, seconds) pairs, "
            "e.g. (('payment', 0.3), ('email', 0.4))."
        )
    out = []
    for i, pair in enumerate(services):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise InvalidArgument(
                f"services[{i}]={pair!r} must be a (name, seconds) pair, e.g. ('payment', 0.3)."
            )
        check_range(f"services[{i}][1]", pair[1], 0.001, 3600, "seconds", example=0.3)
        out.append((pair[0], float(pair[1])))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"services={services!r} names a service twice: names must differ.")
    return tuple(out)


def run_chain(
    mode: str = "synchronous",
    *,
    orders: int = 120,
    rate: float = 2.0,
    services: tuple[tuple[str, float], ...] = SERVICES,
    outage: Outage | None = None,
    workers: int = 4,
    consumers: int = 2,
    timeout: float = 3.0,
    seed: int = 1,
) -> ChainRun:
    """Run ``orders`` orders (arriving ``rate`` per second on average) through the chain.

    ``mode`` is ``"synchronous"`` or ``"queued"`` (see the module docstring). ``workers`` is
    the order service's pool; ``consumers`` the number of consumers per service (queued);
    ``timeout`` the client timeout of each synchronous call, in seconds.
    """
    check_choice("mode", mode, ("synchronous", "queued"))
    services = _check_services(services)
    check_whole("orders", orders, 1, 100_000, example=120)
    check_range("rate", rate, 0.001, 10_000, "orders per second", example=2.0)
    check_whole("workers", workers, 1, 10_000, example=4)
    check_whole("consumers", consumers, 1, 10_000, example=2)
    check_range("timeout", timeout, 0.001, 3600, "seconds", example=3.0)
    check_whole("seed", seed, -(2**63), 2**63, example=1)
    if outage is not None:
        if not isinstance(outage, Outage):
            raise InvalidType(
                f"outage={outage!r} must be an Outage, e.g. Outage('email', 20, 40) (down) or "
                "Outage('email', 20, 40, slowdown=5)."
            )
        if outage.service not in dict(services):
            raise InvalidArgument(
                f"outage names service {outage.service!r}, which is not one of "
                f"{', '.join(n for n, _ in services)}."
            )
        check_range("outage.start", outage.start, 0, 10**7, "seconds", example=20)
        check_range("outage.end", outage.end, outage.start, 10**7, "seconds", example=40)
        if outage.slowdown != 0:
            check_range("outage.slowdown", outage.slowdown, 1, 10_000, "times", example=5)

    rng = random.Random(seed)
    arrivals = []
    t = 0.0
    for _ in range(orders):
        t += rng.expovariate(rate)
        arrivals.append(t)
    clock = VirtualClock()
    scheduler = Scheduler(clock)
    run = _synchronous if mode == "synchronous" else _queued
    replied, ok, done, backlog = run(
        scheduler, arrivals, services, outage, workers, consumers, timeout
    )
    return ChainRun(
        mode,
        services,
        outage,
        tuple(arrivals),
        tuple(replied),
        tuple(ok),
        {name: tuple(times) for name, times in done.items()},
        {name: tuple(steps) for name, steps in backlog.items()},
    )


def _took(outage: Outage | None, service: str, seconds: float, t: float) -> float | None:
    """How long a call or job started at ``t`` takes; None if the service is down."""
    if outage is None or not outage.active(service, t):
        return seconds
    return None if outage.slowdown == 0 else seconds * outage.slowdown


class _Pool:
    """The order service's workers. Requests wait for one first come, first served; ``start(i)``
    runs when request ``i`` gets a worker, and :meth:`release` gives the worker back.
    ``steps`` records how many requests are waiting, as ``(time, count)`` after each change."""

    def __init__(self, scheduler: Scheduler, workers: int, start: Any) -> None:
        self.clock = scheduler.clock
        self.free = workers
        self.start = start
        self.waiting: deque[int] = deque()
        self.steps: list[tuple[float, int]] = [(0.0, 0)]

    def arrive(self, i: int) -> None:
        self.waiting.append(i)
        self.pick_up()

    def release(self) -> None:
        self.free += 1
        self.pick_up()

    def pick_up(self) -> None:
        while self.free and self.waiting:
            self.free -= 1
            self.start(self.waiting.popleft())
        if len(self.waiting) != self.steps[-1][1]:
            self.steps.append((self.clock._now, len(self.waiting)))


def _outcomes(n: int, services: tuple[tuple[str, float], ...]) -> tuple[list, list, dict]:
    """Empty results for ``n`` orders: reply times, success flags, per-service done times."""
    return [0.0] * n, [False] * n, {name: [None] * n for name, _ in services}


def _synchronous(scheduler, arrivals, services, outage, workers, consumers, timeout):
    clock = scheduler.clock
    replied, ok, done = _outcomes(len(arrivals), services)
    pool = _Pool(scheduler, workers, lambda i: scheduler.after(_HANDLE, call, i, 0))

    def call(i: int, k: int) -> None:
        if k == len(services):
            reply(i, True)
            return
        name, seconds = services[k]
        took = _took(outage, name, seconds, clock._now)
        if took is None or took > timeout:
            scheduler.after(timeout, reply, i, False)  # no answer in time: the order fails
        else:
            scheduler.after(took, answered, i, k)

    def answered(i: int, k: int) -> None:
        done[services[k][0]][i] = clock._now
        call(i, k + 1)

    def reply(i: int, success: bool) -> None:
        replied[i] = clock._now
        ok[i] = success
        pool.release()

    for i, at in enumerate(arrivals):
        scheduler.at(at, pool.arrive, i)
    scheduler.run()
    return replied, ok, done, {"order service": pool.steps}


def _queued(scheduler, arrivals, services, outage, workers, consumers, timeout):
    clock = scheduler.clock
    replied, ok, done = _outcomes(len(arrivals), services)
    topic = Topic("order-placed", clock=clock)
    queues = {name: topic.subscribe(name, visibility_timeout=_HIDE) for name, _ in services}
    seconds = dict(services)
    idle = {name: consumers for name, _ in services}
    steps: dict[str, list[tuple[float, int]]] = {name: [(0.0, 0)] for name, _ in services}
    pool = _Pool(scheduler, workers, lambda i: scheduler.after(_HANDLE + _ENQUEUE, publish, i))

    def publish(i: int) -> None:
        topic.publish(i)
        replied[i] = clock._now
        ok[i] = True
        pool.release()
        for name, _ in services:
            dispatch(name)

    def dispatch(name: str) -> None:
        q = queues[name]
        while idle[name]:
            took = _took(outage, name, seconds[name], clock._now)
            if took is None:
                break  # the service is down: its messages wait
            taken = q.receive(1)
            if not taken:
                break
            idle[name] -= 1
            scheduler.after(took, finish, name, taken[0])
        depth = len(q)
        if depth != steps[name][-1][1]:
            steps[name].append((clock._now, depth))

    def finish(name: str, delivery: Any) -> None:
        queues[name].ack(delivery)
        done[name][delivery.payload] = clock._now
        idle[name] += 1
        dispatch(name)

    for i, at in enumerate(arrivals):
        scheduler.at(at, pool.arrive, i)
    if outage is not None:
        scheduler.at(outage.end, dispatch, outage.service)  # back up: start on the backlog
    scheduler.run()
    return replied, ok, done, steps


# --- pictures -------------------------------------------------------------------------------------


def plot_one_order(services: tuple[tuple[str, float], ...] = SERVICES, ax: Any = None) -> Any:
    """What one caller waits for: the sum of the calls, or its own work plus one publish.

    Two rows of bars on a time axis. The queued row also shows, lighter and to the right of
    the caller's answer, the work the services do afterwards, each on its own.
    """
    services = _check_services(services)
    fig, ax = figure_and_ax(ax, (7.0, 2.4), margins=(1.1, 0.3, 0.5, 0.6))
    grey = "#999999"
    t = 0.0
    ax.barh(0, _HANDLE, left=0, color=grey, edgecolor="white", label="order service's own work")
    t = _HANDLE
    for k, (name, seconds) in enumerate(services):
        colour = _COLOURS[k % len(_COLOURS)]
        ax.barh(
            0, seconds, left=t, color=colour, edgecolor="white", label=f"{name} ({seconds:g} s)"
        )
        t += seconds
    sync = t
    ax.barh(1, _HANDLE, left=0, color=grey, edgecolor="white")
    ax.barh(
        1, _ENQUEUE, left=_HANDLE, color=OKABE_ITO["black"], edgecolor="white", label="one publish"
    )
    queued = _HANDLE + _ENQUEUE
    for k, (_, seconds) in enumerate(services):
        ax.barh(
            1 + (k + 1) * 0.22 - 0.44,
            seconds,
            height=0.18,
            left=queued,
            color=_COLOURS[k % len(_COLOURS)],
            alpha=0.45,
        )
    ax.axvline(sync, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1)
    ax.axvline(queued, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1)
    ax.set_yticks([0, 1], ["synchronous", "queued"])
    ax.set_ylim(1.6, -0.6)
    ax.set_xlabel("time after the order arrives (s)")
    ax.legend(loc="lower right", fontsize="x-small", frameon=False, ncol=2)
    ax.set_title(
        f"The caller waits {sync:.3f} s (sum of the calls) or {queued:.3f} s (one publish)"
    )
    return fig


def plot_caller_latency(*runs: ChainRun, ax: Any = None) -> Any:
    """Each order's caller latency against its arrival time, one series per run.

    Failed orders are drawn as crosses; an outage is shaded. Log-scaled y axis, because a
    publish and a cascade differ by orders of magnitude.
    """
    if not runs or not all(isinstance(r, ChainRun) for r in runs):
        raise InvalidType("plot_caller_latency needs one or more ChainRun (from run_chain()).")
    fig, ax = figure_and_ax(ax, (7.0, 3.0))
    outage = next((r.outage for r in runs if r.outage), None)
    if outage is not None:
        ax.axvspan(
            outage.start,
            outage.end,
            color=OKABE_ITO["yellow"],
            alpha=0.35,
            linewidth=0,
            label=outage.describe(),
        )
    colours = (OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["bluish_green"])
    for k, run in enumerate(runs):
        colour = colours[k % len(colours)]
        for answered, marker, what in ((True, ".", "answered"), (False, "x", "failed")):
            points = [
                (a, lat) for a, lat, o in zip(run.arrivals, run.latencies, run.ok) if o == answered
            ]
            if points:
                ax.plot(
                    *zip(*points),
                    linestyle="none",
                    marker=marker,
                    markersize=4,
                    color=colour,
                    label=f"{run.mode}: {what}",
                )
    ax.set_yscale("log")
    ax.set_xlabel("order arrives at (virtual s)")
    ax.set_ylabel("caller waits (s, log scale)")
    ax.legend(loc="upper left", fontsize="x-small", frameon=False)
    ax.set_title("What the caller of the order service sees")
    return fig


def plot_backlog(run: ChainRun, ax: Any = None) -> Any:
    """What is waiting over time: requests for a worker, or each service's queue depth."""
    if not isinstance(run, ChainRun):
        raise InvalidType("plot_backlog needs a ChainRun (from run_chain()).")
    fig, ax = figure_and_ax(ax, (7.0, 3.0))
    if run.outage is not None:
        ax.axvspan(
            run.outage.start,
            run.outage.end,
            color=OKABE_ITO["yellow"],
            alpha=0.35,
            linewidth=0,
            label=run.outage.describe(),
        )
    end = max(t for steps in run.backlog.values() for t, _ in steps)
    for k, (name, steps) in enumerate(run.backlog.items()):
        times = [t for t, _ in steps] + [end]
        counts = [c for _, c in steps] + [steps[-1][1]]
        ax.step(
            times,
            counts,
            where="post",
            linewidth=1.6,
            color=_COLOURS[k % len(_COLOURS)],
            label=f"{name} queue" if run.mode == "queued" else "requests waiting for a worker",
        )
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("waiting (messages or requests)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="x-small", frameon=False)
    where = "each service's queue" if run.mode == "queued" else "front of the order service"
    ax.set_title(f"Backlog ({run.mode} wiring): what waits in {where}")
    return fig
