"""The ``brokerlab`` command.

- ``brokerlab lab [NOTEBOOK]`` opens the course in JupyterLab, in your workspace (see
  :mod:`brokerlab.workspace`), on ``notebooks/00-start-here.ipynb`` or the notebook given. Other
  options are passed on to ``jupyter lab``. Ctrl+C stops the server and its kernels.
- ``brokerlab reset PATH`` gives you the course's version of one notebook again and keeps your
  copy in ``workspace/old/``.
- ``brokerlab doctor`` checks that this machine has what the course needs.
- ``brokerlab execute [PATH ...]`` (for maintainers) re-executes the course's notebooks in place,
  so the outputs committed with them are the ones nbval compares. With no arguments it runs every
  notebook in ``notebooks/``, ``solutions/`` and ``exercises/``. Run it after every change to the
  package.
- ``brokerlab grade PATH.ipynb`` executes an exercise notebook in a fresh kernel and prints its
  report (:mod:`brokerlab.grading`); it exits 0 only when the exercise passes.
- ``brokerlab progress [FOLDER]`` shows every exercise's status in a learner's exercises folder
  (default: ``exercises/`` in your workspace) as a table; ``--grade`` grades each one afresh.

A wrong path or argument gets one line on stderr that says what is wrong and what to do, and exit
status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

START = "notebooks/00-start-here.ipynb"

#: JupyterLab settings the course supplies (on top of the installation's own overrides, never
#: in the learner's user settings): Markdown opens rendered, and no news or update notices.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class UsageError(Exception):
    """A wrong path or argument: its message is the one line the learner sees."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. See '{self.prog} --help'.")


def find_course_root(start: Path | None = None) -> Path:
    """The folder that holds ``notebooks/``: the checkout this package was installed from."""
    candidates = [Path.cwd() if start is None else start, Path(__file__).resolve().parents[2]]
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / START).exists():
                return folder
    raise UsageError(
        f"cannot find {START}. Run brokerlab from inside the brokerlab checkout "
        "(the folder that holds notebooks/)."
    )


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


# -- brokerlab lab ------------------------------------------------------------------------------


def lab_settings_dir(folder: Path) -> Path:
    """Write the course's JupyterLab settings into ``folder`` and return it.

    JupyterLab reads ``overrides.json`` from one "app settings" folder. The installation's own
    (if it has one) is copied first, so that the course adds to it rather than replacing it.
    """
    from jupyterlab.commands import get_app_dir

    folder.mkdir(parents=True, exist_ok=True)
    own = Path(get_app_dir()) / "settings" / "overrides.json"
    settings = json.loads(own.read_text(encoding="utf-8")) if own.exists() else {}
    for plugin, values in LAB_SETTINGS.items():
        settings.setdefault(plugin, {}).update(values)
    (folder / "overrides.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return folder


def lab_command(
    workspace: Path,
    extra: list[str],
    *,
    is_root: bool,
    notebook: str = START,
    settings: Path | None = None,
) -> list[str]:
    """The JupyterLab command line: serves ``workspace``, and its printed URL opens ``notebook``.

    Kernels talk to the server over IPC sockets rather than loopback TCP (the same machine,
    without ipykernel's "running over TCP without encryption" warning). ``--allow-root`` is
    added when run as root.
    """
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={workspace}",
        f"--LabApp.default_url=/lab/tree/{notebook}",
        "--KernelManager.transport=ipc",
    ]
    if settings is not None:
        cmd.append(f"--LabApp.app_settings_dir={settings}")
    if is_root and "--allow-root" not in extra:
        cmd.append("--allow-root")
    return cmd + extra


def keep_kernel_sockets_short() -> None:
    """Kernels talk over IPC sockets, which live in Jupyter's runtime folder; a socket's path
    may be at most 107 bytes on Linux. If the runtime folder's path is long, use a short
    temporary one instead (it holds only the server's and kernels' connection files)."""
    import tempfile

    from jupyter_core.paths import jupyter_runtime_dir

    if len(jupyter_runtime_dir()) > 50:  # + "/kernel-<uuid>-ipc-4" must stay under 107
        os.environ["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="brokerlab-rt-")


def run_until_interrupted(cmd: list[str], cwd: Path) -> int:
    """Run the server, echoing its output, until it ends or Ctrl+C stops it.

    The server runs in a session of its own, so Ctrl+C reaches this process only, not Jupyter's
    own "Shutdown this Jupyter server (y/[n])?" question. This process then stops the server with
    SIGTERM (Jupyter shuts its kernels down on it), stops echoing its shutdown log, and says so
    in one line.
    """
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    echo = threading.Event()
    echo.set()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if echo.is_set():
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        return proc.wait()
    except KeyboardInterrupt:
        echo.clear()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        print("\nStopped the course server and its kernels.", flush=True)
        return 0


def cmd_lab(args: argparse.Namespace, extra: list[str]) -> int:
    from .workspace import Workspace

    root = find_course_root()
    notebook = args.notebook or START
    if not notebook.endswith(".ipynb"):
        raise UsageError(
            f"{notebook!r} is not a notebook (.ipynb). Name one such as "
            "notebooks/03-delivery-guarantees.ipynb, and pass options to jupyter lab as "
            "--name=value (e.g. --port=9999)."
        )
    if not (root / notebook).exists():
        raise UsageError(
            f"the course has no {notebook}. Pick one from notebooks/ or exercises/, e.g. {START}."
        )
    workspace = Workspace(root, args.workspace)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    settings = workspace.folder / ".brokerlab" / "lab-settings"
    cmd = lab_command(
        workspace.folder, extra, is_root=is_root, notebook=notebook, settings=settings
    )
    if args.print:
        print(" ".join(cmd))
        return 0
    report = workspace.sync()
    lab_settings_dir(settings)
    print(f"Your workspace: {workspace.folder}")
    for line in report.lines():
        print(f"  {line}")
    keep_home_clean()
    keep_kernel_sockets_short()
    return run_until_interrupted(cmd, workspace.folder)


# -- brokerlab reset ----------------------------------------------------------------------------


def cmd_reset(args: argparse.Namespace, extra: list[str]) -> int:
    from .workspace import Workspace

    refuse_extra(extra)
    workspace = Workspace(find_course_root(), args.workspace)
    kept = workspace.reset(args.path)
    if kept is None:
        print(f"copied the course's {args.path} into {workspace.folder}")
    else:
        print(f"reset {args.path}; your copy is now {kept.relative_to(workspace.folder)}")
    return 0


# -- brokerlab doctor ---------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace, extra: list[str]) -> int:
    from .doctor import main as doctor

    refuse_extra(extra)
    return doctor()


# -- brokerlab execute --------------------------------------------------------------------------


def execute_notebook(path: Path, *, timeout: int = 300) -> None:
    """Run every cell of ``path`` in a fresh kernel of this environment and save the outputs.

    Execution counts are renumbered from 1 and the kernel runs with the notebook's folder as its
    working directory, exactly as nbval runs it, so the saved outputs are what nbval expects.
    A cell added without an id gets one (nbformat 4.5 requires them).

    Running it twice on the same code saves the same bytes, so that a re-executed notebook's
    diff shows only what really changed: no execution timestamps are recorded
    (``record_timing=False``), and the widgets' random model ids are renamed by
    :func:`stable_widget_ids`.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbformat.corpus.words import generate_corpus_id

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.setdefault("id", generate_corpus_id())
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    for cell in nb.cells:  # timestamps saved by an earlier run
        cell.get("metadata", {}).pop("execution", None)
    nb = stable_widget_ids(nb, salt=path.stem)
    nbformat.write(nb, path)


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stable_widget_ids(nb: Any, salt: str) -> Any:
    """``nb`` with its widgets' model ids renamed to ids that depend only on the notebook.

    A kernel names each widget model with a random id, saved in the outputs that show a widget
    and in the notebook's saved widget state, where models also refer to each other
    (``"IPY_MODEL_<id>"``). The models are numbered in a fixed order (those shown by the
    cells, in cell order, each followed by the models it refers to; then any others, by
    their content) and model number ``n`` gets the id ``sha256(f"{salt}:{n}")[:32]``. Every
    occurrence of an old id is replaced, so the saved state still renders in JupyterLab.
    """
    import hashlib
    import re

    import nbformat

    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if not state:
        return nb
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in order or model_id not in state:
            return
        order.append(model_id)
        refs = json.dumps(state[model_id], sort_keys=True)
        for ref in re.findall(r"IPY_MODEL_([0-9a-f]+)", refs):
            visit(ref)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view:
                visit(view.get("model_id", ""))
    for model_id in sorted(state, key=lambda m: json.dumps(state[m], sort_keys=True)):
        visit(model_id)
    text = nbformat.writes(nb)
    for n, old in enumerate(order):
        new = hashlib.sha256(f"{salt}:{n}".encode()).hexdigest()[:32]
        text = text.replace(old, new)
    return nbformat.reads(text, as_version=4)


def notebooks_to_execute(paths: list[Path], root: Path) -> list[Path]:
    """The notebooks named (a folder stands for the notebooks in it), or every course notebook."""
    if not paths:
        return sorted(
            p
            for folder in ("notebooks", "solutions", "exercises")
            for p in (root / folder).glob("*.ipynb")
        )
    found = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.ipynb"))
            if not inside:
                raise UsageError(f"{path} is a folder with no notebooks (.ipynb) in it.")
            found += inside
        elif not path.exists():
            raise UsageError(f"no such file: {path}. Pass a notebook, e.g. {START}.")
        elif path.suffix != ".ipynb":
            raise UsageError(
                f"{path} is not a notebook (.ipynb): brokerlab execute runs notebooks. "
                f"Pass one such as {START}."
            )
        else:
            found.append(path)
    return found


def cmd_execute(args: argparse.Namespace, extra: list[str]) -> int:
    refuse_extra(extra)
    if args.timeout < 1:
        raise UsageError(f"--timeout {args.timeout} must be at least 1 second per cell.")
    root = find_course_root()
    paths = notebooks_to_execute(args.notebooks, root)
    keep_home_clean()
    for path in paths:
        print(f"executing {path}", flush=True)
        execute_notebook(path, timeout=args.timeout)
    return 0


# -- the parser ---------------------------------------------------------------------------------


# -- brokerlab grade, brokerlab progress ------------------------------------------------------


def cmd_grade(args: argparse.Namespace, extra: list[str]) -> int:
    from .grading import runner

    refuse_extra(extra)
    example = "e.g. exercises/ex01_capacity.ipynb"
    if not args.notebook.exists():
        raise UsageError(
            f"no such notebook: {args.notebook}. Pass an exercise notebook, {example}."
        )
    if args.notebook.suffix != ".ipynb":
        raise UsageError(
            f"{args.notebook} is not a notebook (.ipynb). Pass an exercise notebook, {example}."
        )
    keep_home_clean()
    text, passed, _, _ = runner.grade_notebook(args.notebook, timeout=args.timeout)
    print(text)
    return 0 if passed else 1


def cmd_progress(args: argparse.Namespace, extra: list[str]) -> int:
    from .grading import runner
    from .workspace import Workspace

    refuse_extra(extra)
    root = find_course_root()
    folder = args.folder
    if folder is None:
        folder = Workspace(root, args.workspace).folder / "exercises"
        if not folder.is_dir():
            folder = root / "exercises"
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}. Pass the folder that holds your exercises.")
    if args.grade:
        keep_home_clean()
    rows = runner.progress(folder, grade=args.grade, solutions=root / "solutions")
    print(f"Exercises in {folder}:")
    print(runner.format_progress(rows))
    return 0


def refuse_extra(extra: list[str]) -> None:
    if extra:
        raise UsageError(f"unrecognised arguments: {' '.join(extra)}. See 'brokerlab --help'.")


def build_parser() -> Parser:
    parser = Parser(prog="brokerlab", description="The brokerlab course.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")
    workspace_help = "your workspace folder (default: workspace/ in the course checkout)"

    lab = sub.add_parser(
        "lab",
        help="open the course in JupyterLab, in your workspace",
        description="Open the course in JupyterLab, in your workspace (your own copies of the "
        "notebooks; the course's files are never changed). Any option not listed here is passed "
        "on to jupyter lab, as --name=value: e.g. brokerlab lab --port=9999 --no-browser.",
    )
    lab.add_argument("notebook", nargs="?", help=f"the notebook to open (default: {START})")
    lab.add_argument("--workspace", type=Path, help=workspace_help)
    lab.add_argument("--print", action="store_true", help="print the command instead of running it")
    lab.set_defaults(run=cmd_lab)

    reset = sub.add_parser(
        "reset",
        help="get the course's version of a notebook back (yours is kept in old/)",
    )
    reset.add_argument("path", help="e.g. notebooks/01-why-asynchronous-messaging.ipynb")
    reset.add_argument("--workspace", type=Path, help=workspace_help)
    reset.set_defaults(run=cmd_reset)

    doctor = sub.add_parser("doctor", help="check that this machine has what the course needs")
    doctor.set_defaults(run=cmd_doctor)

    execute = sub.add_parser(
        "execute",
        help="(maintainers) re-execute the course's notebooks in place (all if none given)",
    )
    execute.add_argument("notebooks", nargs="*", type=Path, metavar="PATH")
    execute.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    execute.set_defaults(run=cmd_execute)

    grade = sub.add_parser(
        "grade", help="grade an exercise notebook in a fresh kernel (exit 0 if it passes)"
    )
    grade.add_argument("notebook", type=Path, metavar="PATH")
    grade.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    grade.set_defaults(run=cmd_grade)

    progress = sub.add_parser("progress", help="every exercise's status, as a table")
    progress.add_argument("folder", nargs="?", type=Path, default=None, metavar="FOLDER")
    progress.add_argument("--workspace", type=Path, help=workspace_help)
    progress.add_argument("--grade", action="store_true", help="execute and grade each notebook")
    progress.set_defaults(run=cmd_progress)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import BrokerError  # a refused argument (a workspace path...) is a usage error

    parser = build_parser()
    command = "brokerlab"
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            raise UsageError(
                "choose a command: lab, reset, doctor, execute, grade or progress. See "
                "'brokerlab --help'."
            )
        command = f"brokerlab {args.command}"
        return args.run(args, extra)
    except (UsageError, BrokerError) as err:
        print(f"{command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
