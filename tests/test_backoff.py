import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokerlab.backoff import JITTERS, backoff_delay, backoff_schedule
from brokerlab.errors import InvalidArgument, InvalidType


@settings(derandomize=True)
@given(
    attempt=st.integers(1, 10_000),
    base=st.floats(0.001, 100),
    extra=st.floats(0, 43_000),
    jitter=st.sampled_from(JITTERS),
    seed=st.integers(0, 10_000),
    previous=st.one_of(st.none(), st.floats(0, 43_200)),
)
def test_backoff_never_exceeds_the_cap_and_is_never_negative(
    attempt, base, extra, jitter, seed, previous
):
    cap = min(base + extra, 43_200)
    wait = backoff_delay(
        attempt, base=base, cap=cap, jitter=jitter, rng=random.Random(seed), previous=previous
    )
    assert 0 <= wait <= cap


def test_without_jitter_the_wait_doubles_until_the_cap():
    assert backoff_schedule(7, base=1, cap=30, jitter="none") == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_schedule(3, base=0.5, cap=30, jitter="none") == [0.5, 1, 2]


@settings(derandomize=True)
@given(st.integers(1, 40), st.integers(0, 1000))
def test_full_and_equal_jitter_stay_under_the_exponential_and_equal_keeps_half(attempt, seed):
    ceiling = min(30, 2 ** (attempt - 1))
    full = backoff_delay(attempt, cap=30, jitter="full", rng=random.Random(seed))
    equal = backoff_delay(attempt, cap=30, jitter="equal", rng=random.Random(seed))
    assert 0 <= full <= ceiling
    assert ceiling / 2 <= equal <= ceiling


def test_jitter_spreads_clients_that_failed_together():
    plain = {round(backoff_schedule(3, jitter="none", seed=s)[-1], 6) for s in range(20)}
    spread = {round(backoff_schedule(3, jitter="full", seed=s)[-1], 6) for s in range(20)}
    assert len(plain) == 1 and len(spread) == 20


def test_decorrelated_jitter_is_at_least_base():
    waits = backoff_schedule(50, base=2, cap=60, jitter="decorrelated", seed=3)
    assert all(2 <= w <= 60 for w in waits)


def test_same_seed_same_schedule():
    assert backoff_schedule(8, seed=5) == backoff_schedule(8, seed=5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"attempt": 0}, InvalidArgument, "attempt=0"),
        ({"attempt": 1.5}, InvalidType, "attempt=1.5"),
        ({"attempt": 1, "cap": 50_000}, InvalidArgument, "cap=50000"),
        ({"attempt": 1, "base": 10, "cap": 5}, InvalidArgument, "base=10 is larger than cap=5"),
        ({"attempt": 1, "jitter": "random"}, InvalidArgument, "jitter='random'"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        backoff_delay(**kwargs)
