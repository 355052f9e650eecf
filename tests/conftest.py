"""Shared test settings: hypothesis profiles, and a ``clock`` fixture (a fresh VirtualClock).

``ci`` (used when CI=true, and by default) runs enough examples for the broker invariants;
``dev`` is quicker for local iteration: ``HYPOTHESIS_PROFILE=dev pytest``.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from brokerlab.clock import VirtualClock

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def clock() -> VirtualClock:
    """A fresh virtual clock at t=0 (test files may define their own)."""
    return VirtualClock()
