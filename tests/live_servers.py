"""What the live tests share: skip (or, under CI, fail) when a server is not installed.

Import it in a test module (``from live_servers import need, rabbitmq_fixture``) and keep each
module's servers in module-scoped fixtures, so a server boots once per test module.
"""

from __future__ import annotations

import os

import pytest

from brokerlab.servers import missing


def need(program: str) -> None:
    """Skip the test when ``program`` is not installed, naming the install command; under
    ``CI=true`` a missing server is a failure instead (CI installs them: see ``.ci/run``)."""
    install = missing(program)
    if install is None:
        return
    reason = f"{program} is not installed: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)
