"""The replay: the state it shows at step k is what the history says at step k, on every setup."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.errors import BrokerError
from brokerlab.faults import Fault
from brokerlab.history import KINDS, History
from brokerlab.history_replay import (
    CONSUMER_STATES,
    ReplayState,
    draw_replay,
    replay,
    replay_states,
    state_at,
)
from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario
from brokerlab.simulation import simulate

SETUPS = {
    "queue": BrokerSetup(kind="queue"),
    "queue, prefetch 3": BrokerSetup(kind="queue", prefetch=3),
    "fanout": BrokerSetup(kind="exchange", exchange_type="fanout", queues=2),
    "direct": BrokerSetup(kind="exchange", exchange_type="direct", queues=2),
    "sqs": BrokerSetup(kind="sqs", visibility_timeout=2, receive_batch=2),
    "log": BrokerSetup(kind="log", partitions=2),
    "queue, not durable": BrokerSetup(kind="queue", durable=False),
    "sqs fifo": BrokerSetup(kind="sqs", visibility_timeout=2),
}
FIFO = {"sqs fifo"}  # producers.idempotent=True: the queue drops retried publishes
QUEUE_FAULTS = ("crash_before_processing", "crash_after_processing", "lost_ack", "producer_retry")


def faults_for(setup: BrokerSetup, p: float, fifo: bool = False) -> dict[str, float]:
    faults = dict.fromkeys(QUEUE_FAULTS, p)
    if setup.kind == "log":
        faults["rebalance"] = p / 4
    elif not fifo:  # a FIFO queue never stores a message twice
        faults["duplicate_delivery"] = p / 2
    faults["broker_restart"] = p / 4
    return faults


def run_of(name: str, seed: int, p: float, mode: str = "at-least-once", messages: int = 8):
    setup = SETUPS[name]
    fifo = name in FIFO
    return simulate(
        Scenario(
            messages=messages,
            seed=seed,
            broker=setup,
            producers=Producers(keys=2, idempotent=True if fifo else None),
            consumers=Consumers(count=2, mode=mode, batch=2),
            faults=faults_for(setup, p, fifo),
        )
    )


def conserved(state: ReplayState) -> bool:
    return all(
        len(q.ready) + len(q.in_flight) + q.settled + q.dead_lettered + q.dropped == q.arrived
        for q in state.queues
    )


def holding(state: ReplayState, consumer: str, msg: str) -> int:
    return sum(1 for q in state.queues for m, c in q.in_flight if m == msg and c == consumer)


# --- one history, read by hand ------------------------------------------------------------------


def handmade() -> History:
    h = History()
    h.record(0.0, "producer", "publish", "m1", attempt=1)
    h.record(0.0, "producer", "publish", "m2", attempt=1)
    h.record(0.1, "consumer", "deliver", "m1")
    h.record(0.2, "consumer", "process", "m1")
    h.record(0.2, "consumer", "crash", "m1", when="after processing")
    h.record(0.2, "broker", "redeliver", "m1", reason="channel closed")
    h.record(0.7, "consumer", "restart")
    h.record(0.8, "consumer", "deliver", "m1", redelivered=True)
    h.record(0.9, "consumer", "process", "m1")
    h.record(0.9, "consumer", "ack", "m1")
    h.record(1.0, "consumer", "deliver", "m2")
    h.record(1.0, "consumer", "ack", "m2")  # ack first...
    h.record(1.1, "consumer", "crash", "m2", when="before processing")  # ...then die: m2 lost
    return h


def test_each_step_of_a_handmade_history():
    states = replay_states(handmade())
    q = [s.queue("queue") for s in states]
    c = [s.consumer("consumer") for s in states]
    assert q[1].ready == ("m1", "m2") and q[1].in_flight == ()
    assert q[2].ready == ("m2",) and q[2].in_flight == (("m1", "consumer"),)
    assert c[2].state == "working" and c[2].holding == ("m1",)
    assert states[3].effect_count("m1") == 1
    assert c[4].state == "crashed" and c[4].holding == ("m1",)  # the broker has not noticed yet
    assert q[5].ready == ("m1", "m2") and c[5].state == "restarting"
    assert c[6].state == "idle"
    assert states[8].effect_count("m1") == 2 and states[8].duplicated == ("m1",)
    assert q[9].settled == 1 and q[9].in_flight == ()
    assert q[11].settled == 2 and q[11].ready == () and c[11].state == "idle"
    assert c[12].state == "crashed" and states[12].effect_count("m2") == 0
    assert all(conserved(s) for s in states)


def test_summary_reads_like_the_state():
    text = state_at(handmade(), 4).summary()
    assert text.splitlines() == [
        "step 4 of 12: <#4 t=0.2 consumer crash m1 when=after processing>",
        "queue: 1 ready [m2], 1 in flight [m1 -> consumer], 0 settled",
        "consumer: crashed, still holding [m1]",
        "effects: m1 x1",
    ]


def test_a_delivery_recorded_at_the_broker_goes_to_its_consumer():
    h = History()
    h.record(0, "producer", "publish", "m1")
    h.record(1, "broker", "deliver", "m1", to="worker")
    s = state_at(h, 1)
    assert s.consumer("worker").holding == ("m1",)


def test_an_exchange_places_each_copy_in_the_queues_the_history_shows():
    h = History()
    h.record(0, "producer", "publish", "m1")
    h.record(0, "producer", "publish", "m2")
    h.record(1, "a", "deliver", "m1", group="q1")
    h.record(1, "b", "deliver", "m1", group="q2")
    h.record(2, "b", "deliver", "m2", group="q2")
    s = state_at(h, 2)
    assert [q.name for q in s.queues] == ["q1", "q2"]
    assert s.queue("q1").in_flight == (("m1", "a"),) and s.queue("q2").ready == ("m1", "m2")
    assert s.unrouted == ()


def test_a_stale_sqs_delete_settles_nothing():
    h = History()
    h.record(0, "producer", "publish", "m1")
    h.record(1, "c1", "deliver", "m1")
    h.record(31, "broker", "redeliver", "m1", reason="visibility timeout")
    h.record(32, "c2", "deliver", "m1", redelivered=True)
    h.record(33, "c1", "ack", "m1", stale=True)
    s = state_at(h, 4)
    assert s.queue("queue").in_flight == (("m1", "c2"),) and s.queue("queue").settled == 0


def test_a_log_settles_below_the_commit_and_a_rebalance_gives_records_back():
    h = History()
    h.record(0, "g", "rebalance", assignment={"c1": ["t-0"]})
    h.record(0, "p", "publish", "m1")
    h.record(0, "p", "publish", "m2")
    h.record(0, "p", "confirm", "m1", partition=0, offset=0)
    h.record(0, "p", "confirm", "m2", partition=0, offset=1)
    h.record(1, "c1", "deliver", "m1", partition=0, offset=0)
    h.record(1, "c1", "deliver", "m2", partition=0, offset=1)
    h.record(2, "c1", "commit", partition=0, offset=1)
    h.record(3, "c1", "crash", "m2")
    h.record(13, "g", "rebalance", assignment={"c2": ["t-0"], "c1.1": []})
    states = replay_states(h)
    # every member is a consumer, a restarted one ("c1.1") under its process's name
    assert [c.name for c in states[0].consumers] == ["c1", "c2"]
    assert states[4].kind == "log" and states[4].queue("p0").ready == ("m1", "m2")
    assert states[6].queue("p0").in_flight == (("m1", "c1"), ("m2", "c1"))
    assert states[7].queue("p0").settled == 1 and states[7].queue("p0").in_flight == (("m2", "c1"),)
    assert states[8].consumer("c1").state == "crashed"
    assert states[9].queue("p0").ready == ("m2",)  # the new owner starts from the commit
    assert all(conserved(s) for s in states)


# --- every setup, many runs -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SETUPS))
@settings(deadline=None, max_examples=15, derandomize=True)
@given(seed=st.integers(0, 10_000), p=st.sampled_from([0.0, 0.1, 0.3]))
def test_the_state_follows_each_event(name, seed, p):
    run = run_of(name, seed, p)
    h = run.history
    states = replay_states(h)
    assert len(states) == len(h)
    previous = None
    for e, s in zip(h, states):
        assert s.step == e.index and s.event is e
        assert conserved(s), s.summary()
        assert {c.state for c in s.consumers} <= set(CONSUMER_STATES)
        for c in s.consumers:
            if c.state in ("idle", "working"):  # up: working exactly when it holds something
                assert (c.state == "working") == bool(c.holding)
        if e.kind == "deliver":
            assert holding(s, e.actor, e.msg) >= 1
            assert s.consumer(e.actor).state == "working"
        if e.kind == "crash" and e.actor != "broker":
            assert s.consumer(e.actor).state == "crashed"
        if e.kind == "restart" and e.actor != "broker":
            assert s.consumer(e.actor).state in ("idle", "working")
        if previous is not None:
            if e.kind == "process":
                assert s.effect_count(_label(s, e)) == previous.effect_count(_label(s, e)) + 1
            if e.kind == "ack" and not e.get("stale") and h.events[0].partition is None:
                settled = sum(q.settled for q in s.queues)
                assert settled == sum(q.settled for q in previous.queues) + 1
            if e.kind in ("publish", "confirm", "process", "lost") and e.get("what") not in (
                "ack",
                "commit",
                "message",
            ):  # nothing a producer does moves a message already at the broker
                for q0, q1 in zip(previous.queues, s.queues):
                    assert q1.in_flight == q0.in_flight
        previous = s


def _label(state: ReplayState, e) -> str:
    group = e.get("group")
    return f"{group}:{e.msg}" if group is not None else e.msg


@pytest.mark.parametrize("name", list(SETUPS))
@pytest.mark.parametrize("mode", ["at-most-once", "at-least-once", "exactly-once"])
@settings(deadline=None, max_examples=8, derandomize=True)
@given(seed=st.integers(0, 10_000), p=st.sampled_from([0.0, 0.15, 0.3]))
def test_a_settled_run_ends_with_nothing_held(name, mode, seed, p):
    """Cross-check with the broker: a run the simulation let settle ends with every queue empty,
    every message the checker calls unfinished still ready or in flight, and the effects the
    checker counted."""
    run = run_of(name, seed, p, mode)
    last = replay_states(run.history)[-1]
    report = run.report
    silent = name in FIFO and not any(e.get("deduplicated") for e in run.history)
    if run.stopped == "settled" and not report.unfinished and not silent:
        assert all(not q.ready and not q.in_flight for q in last.queues), last.summary()
    assert sum(n for _, n in last.effects) == len(run.history.of_kind("process"))
    assert bool(last.duplicated) == bool(report.duplicated)


@pytest.mark.parametrize("name", list(SETUPS))
@settings(deadline=None, max_examples=5, derandomize=True)
@given(seed=st.integers(0, 10_000), k=st.integers(0, 10_000))
def test_state_at_is_the_one_pass_state_and_a_pure_function(name, seed, k):
    run = run_of(name, seed, 0.2)
    h = run.history
    before = h.to_jsonl()
    step = k % len(h)
    assert state_at(h, step) == replay_states(h)[step]
    assert state_at(h, step) == state_at(h, step)
    assert h.to_jsonl() == before


# --- the picture and the widget ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SETUPS))
def test_the_widget_steps_through_every_setup(name):
    run = run_of(name, 1, 0.2)
    w = replay(run)
    assert w.controls["step"].max == len(run.history) - 1
    assert len(w.figure.axes) == 1
    first = w.png
    w.controls["step"].value = len(run.history) - 1
    assert w.png != first and not w.error.value
    assert f"step {len(run.history) - 1} of" in w.title.value


def test_draw_replay_draws_the_state_with_the_diagram():
    fig = draw_replay(handmade(), 4)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts if t.get_bbox_patch()] == ["crashed\nm1"]
    assert ax.get_title().splitlines() == [
        "Replay, step 4 of 12: <#4 t=0.2 consumer crash m1 when=after processing>",
        "queue: 1 ready [m2], 1 in flight [m1 -> consumer], 0 settled",
        "effects so far: 1 (m1)",
    ]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: state_at(handmade(), 13), "step=13 is out of range"),
        (lambda: state_at(handmade(), -1), "0..12"),
        (lambda: state_at(handmade(), 1.0), "whole number"),
        (lambda: state_at([], 0), "needs a brokerlab.history.History"),
        (lambda: state_at(History(), 0), "the history is empty"),
        (lambda: draw_replay(handmade(), 1, window=0), "window=0"),
        (lambda: draw_replay(handmade(), 1, states=[]), "states has 0 steps"),
        (lambda: state_at(handmade(), 1).queue("jobs"), "its queues are queue"),
    ],
)
def test_errors_name_the_parameter_and_the_fix(call, words):
    with pytest.raises(BrokerError, match=words):
        call()


def test_a_scheduled_fault_is_visible_at_its_step():
    run = simulate(Scenario(messages=2, faults=[Fault("crash_after_processing", msg="m1")], seed=0))
    crash = run.history.of_kind("crash")[0]
    s = state_at(run.history, crash.index)
    assert s.consumer("consumer-1").state == "crashed"
    assert s.effect_count("m1") == 1


def test_the_widgets_are_registered_for_the_benchmark():
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from widget_cases import CASES
    finally:
        sys.path.pop(0)
    mine = [c for c in CASES if c.chapter == "03"]
    assert {c.name for c in mine} == {"guarantees", "replay"}
    for case in mine:
        module, name = case.factory.split(":")
        w = getattr(importlib.import_module(module), name)()
        for control, value in case.largest.items():
            w.controls[control].value = value
            assert w.controls[control].value == value  # within the control's range
        assert not w.error.value


def test_draw_sequence_keeps_the_lanes_it_is_given():
    from brokerlab.diagram import draw_sequence

    part = handmade().select(range(2, 5))  # no producer event in this part
    ax = draw_sequence(part, lanes=["producer", "broker", "consumer"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["producer", "broker", "consumer"]
    with pytest.raises(BrokerError, match="lanes='broker' must be a list"):
        draw_sequence(part, lanes="broker")


def test_a_deduplicating_queue_drops_a_retry_even_when_its_confirm_is_lost():
    h = History()
    h.record(0, "p", "publish", "m1", attempt=1)
    h.record(0, "p", "lost", "m1", attempt=1, what="confirm")
    h.record(0, "p", "publish", "m2", attempt=1)
    h.record(0, "p", "lost", "m2", attempt=1, what="confirm")
    h.record(1, "p", "publish", "m1", attempt=2)
    h.record(1, "p", "lost", "m1", attempt=2, what="confirm")  # silent about m1's retry
    h.record(1, "p", "publish", "m2", attempt=2)
    h.record(1, "p", "confirm", "m2", attempt=2, deduplicated=True)  # but this one says FIFO
    assert state_at(h, 7).queue("queue").ready == ("m1", "m2")
    # the same history on a standard queue (no deduplicated confirm): every retry is a copy
    standard = History(e.copy() for e in h.events[:7])
    assert state_at(standard, 6).queue("queue").ready == ("m1", "m2", "m1", "m2")


def test_after_a_restart_the_crashed_process_still_holds_what_sqs_hides():
    h = History()
    h.record(0, "producer", "publish", "m1")
    h.record(1, "c1", "deliver", "m1")
    h.record(1, "c1", "crash", "m1", when="before processing")
    h.record(1.5, "c1", "restart")
    h.record(31, "broker", "redeliver", "m1", reason="visibility timeout")
    states = replay_states(h)
    assert states[2].consumer("c1").holding == ("m1",)  # crashed, still counted as its
    assert states[3].consumer("c1").state == "idle"  # the new process holds nothing...
    assert states[3].queue("queue").in_flight == (("m1", "c1 (crashed)"),)  # ...m1 stays hidden
    assert states[4].queue("queue").ready == ("m1",)


_ACTORS = ["producer", "broker", "c1", "c2"]
_EVENT = st.tuples(
    st.sampled_from(_ACTORS),
    st.sampled_from(KINDS),
    st.sampled_from([None, "m1", "m2", "m3"]),
    st.sampled_from([None, 0, 1]),  # partition (and offset) or none
    st.sampled_from(
        [
            {},
            {"what": "ack"},
            {"what": "message"},
            {"what": "publish"},
            {"group": "q1"},
            {"stale": True},
            {"assignment": {"c1": ["t-0"]}},
        ]
    ),
)


@settings(deadline=None, max_examples=100, derandomize=True)
@given(st.lists(_EVENT, min_size=1, max_size=25))
def test_any_history_replays_without_error_and_conserves_copies(raw):
    """'Any recorded history': hand-typed ones too, in any order, on a queue or a log."""
    h = History()
    for i, (actor, kind, msg, part, info) in enumerate(raw):
        where = {} if part is None else {"partition": part, "offset": i % 3}
        h.record(float(i), actor, kind, msg, **where, **info)
    states = replay_states(h)
    assert all(conserved(s) for s in states)
    assert states[-1] == state_at(h, len(h) - 1)
    if len(h) % 4 == 0:  # the picture too (a quarter of the examples: drawing is the slow part)
        draw_replay(h, len(h) - 1, states=states)
