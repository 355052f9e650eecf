"""The ``brokerlab`` command: ``brokerlab lab`` opens the course in JupyterLab."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

START = "notebooks/00-start-here.ipynb"


def find_course_root(start: Path | None = None) -> Path:
    """The folder that holds ``notebooks/``: the checkout this package was installed from."""
    candidates = [Path.cwd() if start is None else start, Path(__file__).resolve().parents[2]]
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / START).exists():
                return folder
    raise SystemExit(
        f"Cannot find {START}. Run 'brokerlab lab' from inside the brokerlab checkout "
        "(the folder that holds notebooks/)."
    )


def lab_command(root: Path, extra: list[str], *, is_root: bool) -> list[str]:
    """The JupyterLab command line: opens the start notebook; adds --allow-root for root."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", str(root / START)]
    if is_root and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return cmd + extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brokerlab", description="The brokerlab course.")
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="open the course in JupyterLab (extra args go to jupyter lab)")
    lab.add_argument("--print", action="store_true", help="print the command instead of running it")
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        root = find_course_root()
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        cmd = lab_command(root, extra, is_root=is_root)
        if args.print:
            print(" ".join(cmd))
            return 0
        if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():  # pragma: no cover
            raise SystemExit("Python not found to start JupyterLab.")
        return subprocess.call(cmd, cwd=root)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
