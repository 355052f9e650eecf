"""Scenario validation: impossible values are refused before anything runs, with a message that
names the field, says what is allowed and how to fix it."""

import dataclasses

import pytest

from brokerlab.errors import ScenarioError
from brokerlab.faults import FAULT_NAMES, Fault, Faults
from brokerlab.scenario import BrokerSetup, Consumers, Producers, Scenario


def test_defaults_are_a_valid_readable_scenario():
    s = Scenario()
    assert (
        repr(s) == "Scenario(20 msgs, 1 producer at 10/s, queue, 1 consumer at-least-once, seed=0)"
    )
    assert s.producers.keys == ("k1",)
    assert s.faults == Faults()
    assert not s.faults


def test_scenarios_are_frozen_and_hashable():
    s = Scenario(faults={"lost_ack": 0.1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        s.faults.probabilities["lost_ack"] = 0.5  # type: ignore[index]
    assert hash(s) == hash(Scenario(faults={"lost_ack": 0.1}))
    assert s.replace(seed=2).seed == 2 and s.seed == 0


def test_faults_accept_a_dict_a_list_or_faults():
    by_dict = Scenario(faults={"lost_ack": 0.25})
    assert by_dict.faults.probabilities == {"lost_ack": 0.25}
    by_list = Scenario(faults=[Fault("crash_before_processing", msg="m1")])
    assert by_list.faults.schedule == (Fault("crash_before_processing", msg="m1"),)
    assert "crash_before_processing" in by_list.faults.kinds
    assert repr(by_list.faults) == "Faults(Fault('crash_before_processing', msg='m1'))"


def test_keys_from_a_number_or_names():
    assert Producers(keys=3).keys == ("k1", "k2", "k3")
    assert Producers(keys=["alice", "bob"]).keys == ("alice", "bob")


def test_retries_follow_the_mode_unless_given():
    assert Producers().retries_for("at-most-once") == 0
    assert Producers().retries_for("at-least-once") == 5
    assert Producers(retries=2).retries_for("at-most-once") == 2


def test_with_mode_and_broker_shortcut():
    s = Scenario(broker="log").with_mode("exactly-once")
    assert s.broker.kind == "log" and s.consumers.mode == "exactly-once"


@pytest.mark.parametrize(
    "make, field, allowed",
    [
        (lambda: Producers(rate=-5), "producers.rate=-5", "more than 0"),
        (lambda: Producers(rate=0), "producers.rate=0", "more than 0"),
        (lambda: Producers(count=0), "producers.count=0", "1..100"),
        (lambda: Producers(keys=0), "producers.keys=0", "1..10000"),
        (lambda: Producers(keys=[]), "producers.keys=[]", "list of strings"),
        (lambda: Producers(retries=-1), "producers.retries=-1", "0..100"),
        (lambda: Producers(idempotent="yes"), "producers.idempotent='yes'", "True or False"),
        (lambda: Consumers(count=0), "consumers.count=0", "1..100"),
        (lambda: Consumers(processing_time=-1), "consumers.processing_time=-1", "0..3600"),
        (
            lambda: Consumers(mode="exactly-twice"),
            "consumers.mode='exactly-twice'",
            "'at-most-once'",
        ),
        (lambda: Consumers(handler=42), "consumers.handler=42", "handle(delivery, ctx)"),
        (lambda: Consumers(handler=lambda d: None), "consumers.handler=", "two parameters"),
        (lambda: Consumers(batch=0), "consumers.batch=0", "1..500"),
        (
            lambda: BrokerSetup(kind="topic"),
            "broker.kind='topic'",
            "'queue', 'exchange', 'sqs', 'log'",
        ),
        (lambda: BrokerSetup(max_receive_count=0), "broker.max_receive_count=0", "1..1000"),
        (lambda: BrokerSetup(partitions=3), "broker.partitions=3", "kind='log'"),
        (lambda: BrokerSetup(queues=2), "broker.queues=2", "kind='exchange'"),
        (lambda: BrokerSetup(latency=-0.1), "broker.latency=-0.1", "0..60"),
        (lambda: Scenario(messages=0), "messages=0", "1..100000"),
        (lambda: Scenario(seed=-1), "seed=-1", "0.."),
        (lambda: Scenario(seed=1.5), "seed=1.5", "whole number"),
        (lambda: Scenario(duration=0), "duration=0", "more than 0"),
        (lambda: Scenario(consumers="three"), "consumers='three'", "Consumers("),
        (lambda: Faults({"lost_ack": 1.5}), "faults['lost_ack']=1.5", "0..1"),
        (lambda: Faults({"lost_ack": -0.1}), "faults['lost_ack']=-0.1", "0..1"),
        (lambda: Faults({"lost_ack": "often"}), "faults['lost_ack']='often'", "number"),
        (lambda: Faults({"lost_akc": 0.1}), "faults name='lost_akc'", "Did you mean 'lost_ack'?"),
        (lambda: Scenario(faults={"meteor": 0.1}), "faults name='meteor'", "the faults are"),
        (lambda: Faults(schedule=["crash"]), "faults.schedule[0]='crash'", "Fault("),
        (lambda: Fault("crash_before_processing"), "needs msg=", "msg='m1'"),
        (lambda: Fault("broker_restart"), "neither where nor when", "at=2.0"),
        (lambda: Fault("lost_ack", msg="m1", delivery=0), "Fault.delivery=0", ">= 1"),
        (lambda: Fault("reboot", msg="m1"), "Fault.kind='reboot'", "the faults are"),
        (
            lambda: Scenario(faults={"rebalance": 0.1}),
            "'rebalance' cannot happen with broker.kind='queue'",
            "log only",
        ),
        (
            lambda: Scenario(broker="log", faults={"duplicate_delivery": 0.1}),
            "'duplicate_delivery' cannot happen with broker.kind='log'",
            "queue, exchange, sqs only",
        ),
        (
            lambda: Scenario(messages=3, faults=[Fault("lost_ack", msg="m4")]),
            "msg='m4'",
            "m1..m3",
        ),
        (
            lambda: Scenario(
                broker=BrokerSetup(kind="exchange"), producers=Producers(idempotent=True)
            ),
            "producers.idempotent=True",
            "kind='log'",
        ),
    ],
)
def test_impossible_values_are_refused_with_field_allowed_and_fix(make, field, allowed):
    with pytest.raises(ScenarioError) as info:
        make()
    message = str(info.value)
    assert field in message
    assert allowed in message
    assert isinstance(info.value, ValueError)  # ScenarioError is an InvalidArgument


def test_every_fault_name_is_accepted_with_a_probability():
    for name in FAULT_NAMES:
        kind = "log" if name == "rebalance" else "queue"
        s = Scenario(broker=kind, faults={name: 0.5})
        assert s.faults.kinds == {name}
