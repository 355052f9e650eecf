"""``brokerlab doctor``: is this machine ready for the course?

One line per requirement, ``OK``, ``FAIL`` or ``--`` (optional and missing), each failing line
with the command that fixes it. The exit status is non-zero only when something the course needs
is missing; the real-broker servers and Chromium are optional (chapter 09 and the browser tests
skip without them, except under ``CI=true``).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALL = 'pip install -e ".[dev]"'

#: (distribution, why the course needs it, required?)
PACKAGES = (
    ("jupyterlab", "the course is a set of notebooks", True),
    ("ipywidgets", "the sliders and dropdowns", True),
    ("matplotlib", "every picture", True),
    ("networkx", "the topology drawings", True),
    ("hypothesis", "graders and counterexample search", True),
    ("pytest", "the tests", False),
    ("nbval", "re-executing notebooks in the tests", False),
    ("pika", "chapter 09: RabbitMQ client", False),
    ("redis", "chapter 09: Redis client", False),
    ("playwright", "the browser tests", False),
)

#: (program, why, the command that installs it)
SERVERS = (
    ("rabbitmq-server", "chapter 09: a real RabbitMQ", "apt-get install -y rabbitmq-server"),
    ("redis-server", "chapter 09: a real Redis", "apt-get install -y redis-server"),
    ("chromium", "the browser tests (tests/e2e)", "apt-get install -y chromium"),
)


@dataclass(frozen=True)
class Finding:
    status: str  # "OK", "FAIL" or "--" (optional, missing)
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.what:<22} {self.detail}"


def find_program(name: str) -> str | None:
    """Where ``name`` is: on PATH, or in /usr/sbin and /usr/lib (Debian puts servers there)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/lib/rabbitmq/bin", "/usr/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


def python_finding() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= (3, 10):  # noqa: UP036 - doctor may run under another Python
        return Finding("OK", "python", version)
    return Finding("FAIL", "python", f"{version}: the course needs Python 3.10 or newer")


def package_findings() -> list[Finding]:
    out = []
    for dist, why, required in PACKAGES:
        try:
            out.append(Finding("OK", dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            status = "FAIL" if required else "--"
            out.append(Finding(status, dist, f"missing ({why}): {INSTALL}"))
    return out


def kernel_finding() -> Finding:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as err:  # noqa: BLE001 - any failure here means no usable kernel
        return Finding(
            "FAIL",
            "jupyter kernel",
            f"no python3 kernel ({type(err).__name__}): pip install ipykernel",
        )
    return Finding("OK", "jupyter kernel", f"python3 ({spec.argv[0]})")


def widget_extension_finding() -> Finding:
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("labextensions"):
        if (Path(folder) / "@jupyter-widgets" / "jupyterlab-manager").is_dir():
            return Finding("OK", "widget extension", "@jupyter-widgets/jupyterlab-manager")
    return Finding(
        "FAIL",
        "widget extension",
        "JupyterLab cannot show sliders: pip install --force-reinstall jupyterlab_widgets",
    )


def program_findings() -> list[Finding]:
    out = []
    for program, why, install in SERVERS:
        where = find_program(program)
        if where:
            out.append(Finding("OK", program, where))
        else:
            out.append(Finding("--", program, f"not installed ({why}): {install}"))
    return out


def diagnose() -> list[Finding]:
    """Every finding, in the order they are printed."""
    return [
        python_finding(),
        *package_findings(),
        kernel_finding(),
        widget_extension_finding(),
        *program_findings(),
    ]


def main() -> int:
    findings = diagnose()
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.status == "FAIL"]
    if failed:
        print(f"{len(failed)} thing(s) the course needs are missing: run the commands above.")
        return 1
    print("Ready: brokerlab lab opens the course.")
    return 0
