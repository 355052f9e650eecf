import itertools

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from brokerlab.errors import InvalidArgument, InvalidType  # noqa: E402
from brokerlab.selection import (  # noqa: E402
    COSTS,
    FACTS,
    REQUIREMENTS,
    SYSTEMS,
    plot_recommendation,
    recommend,
    selection_widget,
)

ALL = [c for n in range(len(REQUIREMENTS) + 1) for c in itertools.combinations(REQUIREMENTS, n)]


@pytest.mark.parametrize("asked", ALL, ids=lambda a: "+".join(a) or "nothing")
def test_every_combination_gets_an_answer_that_follows_from_its_reasons(asked):
    rec = recommend(*asked)
    assert rec.systems and set(rec.systems) <= set(SYSTEMS)
    assert {r.system for r in rec.reasons} <= set(rec.systems)
    for r in rec.reasons:  # each reason's claims hold in this module's copy of the table
        assert all(FACTS[r.system].get(field) == value for field, value in r.claims)
    covered = {r.requirement for r in rec.reasons} | {n.split(":")[0] for n in rec.notes}
    assert set(asked) <= covered  # every requirement is answered, by a reason or a note
    assert set(rec.costs) == set(rec.systems)


def test_the_rules():
    assert recommend().systems == ("SQS standard",)
    assert recommend("replay").systems == ("Kafka",)
    assert recommend("complex routing").systems == ("RabbitMQ",)
    assert recommend("managed and simple").systems == ("SQS standard",)
    assert recommend("managed and simple", "strict ordering").systems == ("SQS FIFO",)
    assert recommend("managed and simple", "exactly-once effect").systems == ("SQS FIFO",)
    assert recommend("replay", "complex routing").systems == ("Kafka", "RabbitMQ")
    assert recommend("strict ordering").systems == ("RabbitMQ",)
    assert recommend("throughput", "strict ordering").systems == ("Kafka",)
    managed_kafka = recommend("managed and simple", "replay")
    assert managed_kafka.systems == ("Kafka",)
    assert any("managed service" in n for n in managed_kafka.notes)


def test_replay_and_routing_never_name_a_system_without_the_property():
    for asked in ALL:
        for r in recommend(*asked).reasons:
            if r.requirement in ("replay", "real-time stream processing"):
                assert FACTS[r.system]["replay"] is True
            if r.requirement == "complex routing":
                assert FACTS[r.system]["content_routing"] is True
            if r.requirement == "strict ordering":
                assert FACTS[r.system]["ordering"] != "best effort"


def test_flags_and_names_agree():
    assert recommend(replay=True, strict_ordering=True) == recommend("replay", "strict ordering")
    assert recommend(replay=False) == recommend()


def test_explain_shows_requirement_choice_and_cost():
    text = recommend("replay", "complex routing").explain()
    assert "replay -> Kafka" in text and "complex routing -> RabbitMQ" in text
    assert all(c in text for c in COSTS["Kafka"] + COSTS["RabbitMQ"])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: recommend("fast"), InvalidArgument, "'fast'"),
        (lambda: recommend(3), InvalidType, "3"),
        (lambda: recommend(cheap=True), InvalidArgument, "cheap="),
        (lambda: recommend(replay="yes"), InvalidType, "replay='yes'"),
    ],
)
def test_bad_input_names_the_requirement(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_picture_and_widget():
    fig = plot_recommendation(recommend("replay"))
    assert "Kafka" in fig.axes[0].get_title()
    w = selection_widget()
    for box in w.controls.values():
        box.value = True
    assert w.error.value == ""


def test_claims_agree_with_the_chapter_04_comparison_table():
    """Every property the helper relies on is what the models measure (chapter 04's table)."""
    from brokerlab import comparison

    profiles = comparison.profiles()
    assert set(SYSTEMS) <= set(profiles)
    for system, facts in FACTS.items():
        for field, value in facts.items():
            assert getattr(profiles[system], field) == value, (system, field)
    for asked in ALL:
        for r in recommend(*asked).reasons:
            for field, value in r.claims:
                assert getattr(profiles[r.system], field) == value, (r, field)
            profile = profiles[r.system]
            if r.requirement in ("replay", "real-time stream processing"):
                assert profile.replay and profile.keeps_after_consume, r
            if r.requirement == "complex routing":
                assert profile.content_routing, r
            if r.requirement == "strict ordering":
                assert profile.ordering != "best effort", r
            if r.requirement == "exactly-once effect" and r.system.startswith("SQS"):
                assert profile.deduplication, r
