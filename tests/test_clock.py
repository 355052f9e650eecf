import math

import pytest

from brokerlab.clock import RealClock, VirtualClock
from brokerlab.errors import BrokerError, InvalidArgument, InvalidType


def test_virtual_clock_starts_at_zero_and_moves_only_when_told():
    clock = VirtualClock()
    assert clock.now() == 0.0
    assert clock.now() == 0.0
    assert clock.advance(30) == 30.0
    assert clock.now() == 30.0
    assert clock.now_ms() == 30_000
    assert clock.advance_to(45.5) == 45.5
    assert clock.now_ms() == 45_500
    assert repr(clock) == "VirtualClock(t=45.5s)"


@pytest.mark.parametrize("bad", [-1, -0.001])
def test_virtual_clock_refuses_to_go_backwards(bad):
    clock = VirtualClock(10)
    with pytest.raises(InvalidArgument, match="cannot go backwards"):
        clock.advance(bad)
    with pytest.raises(InvalidArgument, match="in the past"):
        clock.advance_to(10 + bad)
    assert clock.now() == 10


@pytest.mark.parametrize("bad", ["5", None, True, [1]])
def test_virtual_clock_refuses_non_numbers(bad):
    clock = VirtualClock()
    with pytest.raises(InvalidType, match="seconds"):
        clock.advance(bad)
    assert clock.now() == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_virtual_clock_refuses_non_finite(bad):
    clock = VirtualClock()
    with pytest.raises(InvalidArgument, match="finite"):
        clock.advance(bad)
    assert clock.now() == 0


def test_negative_start_is_refused():
    with pytest.raises(InvalidArgument, match="start=-1"):
        VirtualClock(-1)


def test_errors_are_one_hierarchy_and_python_habits():
    assert issubclass(InvalidArgument, BrokerError) and issubclass(InvalidArgument, ValueError)
    assert issubclass(InvalidType, BrokerError) and issubclass(InvalidType, TypeError)


def test_real_clock_moves_forward():
    clock = RealClock()
    t0 = clock.now()
    t1 = clock.advance(0.001)
    assert t1 >= t0 + 0.001
    assert repr(clock).startswith("RealClock(t=")
