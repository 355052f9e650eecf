"""Shared test settings: hypothesis profiles, and a ``clock`` fixture (a fresh VirtualClock).

``ci`` (used when CI=true, and by default) runs enough examples for the broker invariants, the
same examples on every run (derandomized), so a landing never depends on the luck of the draw;
``explore`` draws new examples each run, to hunt for bugs the fixed draw misses
(``HYPOTHESIS_PROFILE=explore pytest``); ``dev`` is quicker for local iteration.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from brokerlab.clock import VirtualClock

settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    derandomize=True,
    database=None,
)
settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def clock() -> VirtualClock:
    """A fresh virtual clock at t=0 (test files may define their own)."""
    return VirtualClock()
