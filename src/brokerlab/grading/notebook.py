"""Read an answer out of a notebook or a piece of source, for the gate tests and the CLI.

:func:`answer_from_source` runs Python source in a fresh namespace and returns it (so it can be
passed to :func:`brokerlab.grading.check` like ``globals()``); :func:`answer_from_notebook`
does the same with a notebook's code cells, leaving out the cells that call ``check(`` and
IPython magics.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import linecache
from pathlib import Path
from typing import Any

__all__ = ["answer_from_notebook", "answer_from_source", "code_cells"]


def answer_from_source(source: str, name: str = "__answer__") -> dict[str, Any]:
    """Execute ``source`` in a new namespace (module name ``name``) and return the namespace.

    The source is kept in ``linecache`` under a name of its own (from a hash of the source), as
    IPython does for each cell, so that ``inspect.getsource`` finds each answer's own lines even
    when several answers are loaded at once.
    """
    namespace: dict[str, Any] = {"__name__": name}
    filename = f"<{name}-{hashlib.sha1(source.encode('utf-8')).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - it is the point
    return namespace


def code_cells(path: str | Path) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def answer_from_notebook(path: str | Path) -> dict[str, Any]:
    """The namespace left by a notebook's code cells, except those that call ``check(``."""
    cells = [
        c for c in code_cells(path) if "check(" not in c and not c.lstrip().startswith(("%", "!"))
    ]
    return answer_from_source("\n\n".join(cells))
