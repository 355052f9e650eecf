"""End-to-end tests: the course as a learner uses it, in JupyterLab, in a real browser.

Each test starts ``brokerlab lab`` the way a learner does (in a temporary workspace, on a free
loopback port, with a token, no browser of its own), drives Debian's Chromium with Playwright,
and stops the server with SIGINT, as Ctrl+C would, checking that it stopped cleanly.

Without Chromium (or Playwright) these tests skip with the install command in the reason; under
``CI=true`` that is a failure instead. Screenshots of every step go to a temporary folder
(``BROKERLAB_E2E_ARTIFACTS`` to choose it), never into the repository.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from lab_driver import CHROMIUM, CHROMIUM_FLAGS, ROOT, need, start_lab


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(
        os.environ.get("BROKERLAB_E2E_ARTIFACTS") or tempfile.mkdtemp(prefix="brokerlab-e2e-")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        need("Chromium is not installed: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need('Playwright is not installed: pip install -e ".[dev]"')
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def lab(home, tmp_path, browser):
    """``brokerlab lab`` on the real course, in a temporary workspace."""
    server = start_lab(ROOT, tmp_path / "workspace", home)
    yield server
    out = server.stop()
    assert "Traceback" not in out, out
