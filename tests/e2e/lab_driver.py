"""Driving ``brokerlab lab`` and JupyterLab from the end-to-end tests (see conftest.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need(reason: str) -> None:
    """Skip locally; fail under CI, where everything must be installed by .ci/run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running ``brokerlab lab``: its process, URL, token and workspace."""

    course: Path
    workspace: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path
    stopped: bool = field(default=False)

    def url(self, path: str = "") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{sep}token={self.token}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        """Ctrl+C, as a learner would; returns everything the command printed."""
        if not self.stopped:
            self.stopped = True
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("brokerlab lab did not stop within 60 s of Ctrl+C") from None
        return self.output()


def start_lab(course: Path, workspace: Path, home: Path, *extra: str) -> Lab:
    """``brokerlab lab`` as a learner starts it, run from the course checkout ``course``."""
    command = [sys.executable, "-m", "brokerlab.cli", "lab", *extra, f"--workspace={workspace}"]
    return launch(command, course, workspace, home)


def start_server(folder: Path, home: Path) -> Lab:
    """Plain JupyterLab serving ``folder`` (for notebooks that are not the course's), with the
    same kernel transport as ``brokerlab lab``."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        "--KernelManager.transport=ipc",
        "--allow-root",
    ]
    return launch(command, folder, folder, home)


def launch(command: list[str], cwd: Path, workspace: Path, home: Path) -> Lab:
    """Start ``command`` on a free loopback port with a token, its caches under ``home``, and
    wait until the server answers."""
    home.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for var, sub in (
        ("HOME", "home"),
        ("MPLCONFIGDIR", "mpl"),
        ("IPYTHONDIR", "ipython"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
    ):
        env[var] = str(home / sub)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    log = home / f"lab-{port}.log"
    command = [
        *command,
        f"--port={port}",
        "--ip=127.0.0.1",
        "--no-browser",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.workspaces_dir={home / 'lab-workspaces'}",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    lab = Lab(cwd, workspace, port, token, proc, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited early:\n{lab.output()}")
        try:
            with urllib.request.urlopen(lab.url("/api/status"), timeout=2):
                return lab
        except OSError:
            time.sleep(0.3)
    lab.stop()
    raise AssertionError(f"JupyterLab did not answer within 90 s:\n{lab.output()}")


# -- driving JupyterLab ---------------------------------------------------------------------------


def open_notebook(page, lab: Lab, notebook: str, *, timeout: float = 90_000) -> None:
    """Open ``notebook`` and wait until its kernel is idle (else Run All meets a kernel dialog)."""
    page.goto(lab.url(f"/lab/tree/{notebook}"))
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout)
    wait_idle(page, timeout=timeout)


def wait_idle(page, *, timeout: float = 90_000) -> None:
    """Wait until the status bar says the kernel is idle."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                   .some(e => e.textContent.trim() === 'Python 3 (ipykernel) | Idle')""",
        timeout=timeout,
    )


def run_command(page, command: str, args: dict | None = None) -> None:
    page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def run_all(page, *, timeout: float = 180_000) -> None:
    """Run every cell and wait until none is queued or running and the kernel is idle."""
    run_command(page, "notebook:run-all-cells")
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'));
        }""",
        timeout=timeout,
    )
    wait_idle(page, timeout=timeout)


def errors_shown(page) -> list[str]:
    """Texts of error and stderr outputs in the open notebook."""
    return page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
        " .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']",
        "els => els.map(e => e.innerText.slice(0, 500))",
    )


def widget_images(page) -> list[str]:
    """The ``src`` of every widget picture (``live_figure``'s ipywidgets Image)."""
    return page.eval_on_selector_all(".jp-Notebook .widget-image", "els => els.map(e => e.src)")


def press_slider(page, index: int, key: str = "ArrowRight", *, timeout: float = 10_000) -> float:
    """Press ``key`` on the ``index``-th slider; return ms from the key press until the picture
    of the same widget changed."""
    handle = page.locator(".jp-Notebook .widget-slider .noUi-handle").nth(index)
    handle.focus()
    return page.evaluate(
        """async ([index, key, timeout]) => {
            const handle = document.querySelectorAll('.jp-Notebook .widget-slider .noUi-handle')[index];
            const box = handle.closest('.widget-vbox') || document;
            const img = box.querySelector('.widget-image');
            const before = img.src;
            const t0 = performance.now();
            handle.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
            while (img.src === before) {
                if (performance.now() - t0 > timeout) return -1;
                await new Promise(r => requestAnimationFrame(r));
            }
            return performance.now() - t0;
        }""",
        [index, key, timeout],
    )
