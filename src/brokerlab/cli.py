"""The ``brokerlab`` command.

- ``brokerlab lab`` opens the course in JupyterLab on ``notebooks/00-start-here.ipynb``
  (adding ``--allow-root`` when run as root).
- ``brokerlab execute [NOTEBOOK ...]`` re-executes notebooks in place, so the outputs committed
  with them are the ones nbval compares. With no arguments it runs every notebook in
  ``notebooks/``, ``solutions/`` and ``exercises/``. Run it after every change to the package.
- ``brokerlab grade PATH.ipynb`` executes a learner's exercise notebook in a fresh kernel and
  prints its report; it exits 0 only when the exercise passes.
- ``brokerlab progress [FOLDER]`` shows every exercise's status in a learner's exercises folder
  (default: the course's ``exercises/``) as a table; ``--grade`` grades each notebook afresh.
"""

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


def keep_home_clean() -> None:
    """Point Jupyter's, IPython's and matplotlib's caches at a temp folder (not ``$HOME``).

    Only variables that are not set already are changed; kernels started afterwards inherit them.
    """
    import tempfile

    tmp = tempfile.mkdtemp(prefix="brokerlab-home-")
    for var, sub in (
        ("MPLCONFIGDIR", "mpl"),
        ("IPYTHONDIR", "ipython"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
    ):
        os.environ.setdefault(var, os.path.join(tmp, sub))


def execute_notebook(path: Path, *, timeout: int = 300) -> None:
    """Run every cell of ``path`` in a fresh kernel of this environment and save the outputs.

    Execution counts are renumbered from 1 and the kernel runs with the notebook's folder as its
    working directory, exactly as nbval runs it, so the saved outputs are what nbval expects.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brokerlab", description="The brokerlab course.")
    sub = parser.add_subparsers(dest="command", required=True)
    lab = sub.add_parser("lab", help="open the course in JupyterLab (extra args go to jupyter lab)")
    lab.add_argument("--print", action="store_true", help="print the command instead of running it")
    execute = sub.add_parser("execute", help="re-execute notebooks in place (all if none given)")
    execute.add_argument("notebooks", nargs="*", type=Path)
    execute.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    grade = sub.add_parser("grade", help="grade an exercise notebook (exit 0 if it passes)")
    grade.add_argument("notebook", type=Path)
    grade.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    prog = sub.add_parser("progress", help="every exercise's status in an exercises folder")
    prog.add_argument("folder", nargs="?", type=Path, default=None)
    prog.add_argument("--grade", action="store_true", help="execute and grade every notebook")
    args, extra = parser.parse_known_args(argv)
    if args.command in ("grade", "progress"):
        if extra:
            parser.error(f"unrecognised arguments: {' '.join(extra)}")
        return _grading(args)
    if args.command == "execute":
        if extra:
            parser.error(f"unrecognised arguments: {' '.join(extra)}")
        keep_home_clean()
        root = find_course_root()
        paths = args.notebooks or sorted(
            p
            for folder in ("notebooks", "solutions", "exercises")
            for p in (root / folder).glob("*.ipynb")
        )
        for path in paths:
            print(f"executing {path}", flush=True)
            execute_notebook(path, timeout=args.timeout)
        return 0
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


def _grading(args: argparse.Namespace) -> int:
    """``brokerlab grade`` and ``brokerlab progress``."""
    from .grading import runner

    keep_home_clean()
    if args.command == "grade":
        if not args.notebook.exists():
            raise SystemExit(f"{args.notebook}: no such notebook.")
        text, passed, _, _ = runner.grade_notebook(args.notebook, timeout=args.timeout)
        print(text)
        return 0 if passed else 1
    root = None
    try:
        root = find_course_root()
    except SystemExit:
        pass
    folder = args.folder or (root / "exercises" if root else Path("."))
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder.")
    solutions = root / "solutions" if root else None
    print(runner.format_progress(runner.progress(folder, grade=args.grade, solutions=solutions)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
