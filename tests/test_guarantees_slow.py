"""10,000 seeded runs under random faults: each delivery mode keeps its promise.

- at-least-once never loses a message;
- at-most-once never makes an effect happen twice;
- exactly-once (the effect) does neither.

Every run draws its own scenario from its seed: producers, keys, consumers, prefetch or batch
size, partitions or queues (behind any exchange type, headers included), the visibility
timeout and receive batch of an SQS queue, and a random mix of faults with random probabilities (at least one
above zero). A failure prints the scenario, so it can be replayed with ``simulate(scenario)``.

The fault mixes follow what each mode is built to survive. At-most-once runs never include
``duplicate_delivery``: a broker that stores a message twice (as an SQS standard queue may)
defeats any consumer without a dedup store, which is a lesson of its own
(``tests/test_simulation.py::test_duplicate_delivery_breaks_at_most_once_but_not_exactly_once``).
Queues stay durable here: a non-durable queue loses messages on a restart whatever the consumer
does (``test_broker_restart_durable_and_not``).
"""

from random import Random

import pytest

from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario
from brokerlab.simulation import simulate

pytestmark = pytest.mark.slow

MODES = ("at-most-once", "at-least-once", "exactly-once")
# runs per (setup, mode): 3 * (1500 + 500 + 500 + 1334) = 11,502
RUNS = {"queue": 1500, "exchange": 500, "sqs": 500, "log": 1334}
COMMON = (
    "crash_before_processing",
    "crash_after_processing",
    "lost_ack",
    "producer_retry",
    "broker_restart",
    "network_delay",
    "poison_message",
)
PROBABILITIES = (0.0, 0.05, 0.1, 0.2, 0.3)


def scenario_for(setup: str, mode: str, i: int) -> Scenario:
    r = Random(f"{setup}/{mode}/{i}")
    names = list(COMMON)
    if setup == "log":
        names.append("rebalance")
    elif mode != "at-most-once":
        names.append("duplicate_delivery")
    chosen = r.sample(names, r.randint(1, len(names)))
    faults = {name: r.choice(PROBABILITIES) for name in chosen}
    faults[chosen[0]] = r.choice(PROBABILITIES[1:])  # at least one fault can strike
    idempotent = None
    if setup in ("queue", "sqs") and "duplicate_delivery" not in faults and r.random() < 0.2:
        idempotent = True  # an SQS FIFO queue
    if setup == "log":
        broker = BrokerSetup(kind="log", partitions=r.randint(1, 3))
        messages = r.randint(2, 10)
    elif setup == "exchange":
        broker = BrokerSetup(
            kind="exchange",
            exchange_type=r.choice(("direct", "topic", "fanout", "headers")),
            queues=r.randint(1, 2),
            prefetch=r.randint(0, 3),
        )
        messages = r.randint(2, 12)
    elif setup == "sqs":
        # the batch is always handled well within the visibility timeout: a slower one
        # duplicates by design (tests/test_simulation_sqs.py)
        broker = BrokerSetup(
            kind="sqs",
            visibility_timeout=r.choice((1, 5, 30)),
            receive_batch=r.randint(1, 4),
            poll_interval=r.choice((0.05, 0.5)),
        )
        messages = r.randint(2, 15)
    else:
        broker = BrokerSetup(prefetch=r.randint(0, 3))
        messages = r.randint(2, 15)
    return Scenario(
        messages=messages,
        producers=Producers(count=r.randint(1, 2), keys=r.randint(1, 4), idempotent=idempotent),
        broker=broker,
        consumers=Consumers(count=r.randint(1, 3), mode=mode, batch=r.randint(1, 4)),
        faults=faults,
        seed=i,
    )


def test_ten_thousand_runs_in_all():
    assert sum(RUNS.values()) * len(MODES) >= 10_000


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("setup", list(RUNS))
def test_each_mode_keeps_its_promise_under_faults(setup, mode):
    faulted = 0
    for i in range(RUNS[setup]):
        scenario = scenario_for(setup, mode, i)
        run = simulate(scenario)
        report = run.report
        assert not report.problems
        if mode != "at-least-once":
            assert not report.duplicated, f"{scenario!r}\n{report.summary()}"
        if mode != "at-most-once":
            assert not report.lost, f"{scenario!r}\n{report.summary()}"
        faulted += any(e.kind in ("crash", "lost", "restart", "rebalance") for e in run.history)
    # the faults did strike: most runs saw at least a crash, a loss on the wire or a restart
    assert faulted > RUNS[setup] // 2
