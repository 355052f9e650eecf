"""Run a learner's function in fresh Python interpreters, to see what survives a new process.

Some answers must give the same result in every process (a key partitioner: two producers, or
one producer restarted, must send a key to the same partition). The grader checks that by
running the function in new interpreters started with different ``PYTHONHASHSEED`` values, the
seed of Python's built-in ``hash()`` for ``str`` and ``bytes``.

A function defined in a notebook cell cannot be pickled (``pickle`` stores a function as "the
name ``partition`` in module ``__main__``", and a new interpreter's ``__main__`` has no such
name), so :func:`ship` sends its **source** instead, with what it uses from its module:

- modules it uses (``import zlib``) become imports; functions and classes imported from an
  importable module (``from zlib import crc32``) become ``from ... import``;
- other functions and classes defined in the notebook travel as their source too (recursively);
- constants (numbers, strings, bytes, ``None`` and tuples, lists, dicts, sets of them) travel
  as their ``repr``.

Anything else (an open file, a closure over a local variable, an object built in another cell,
a function whose source Python cannot find) raises :class:`Unshippable`, whose message names
the culprit and says how to fix it. In a notebook Python keeps every cell's source, so a
function defined with ``def`` at the top level of a cell ships.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import types
from typing import Any

from .sandbox import _names_used, _plain

__all__ = ["Unshippable", "run_fresh", "ship"]


class Unshippable(Exception):
    """The function cannot be sent to a new interpreter; the message says why and the fix."""


def _shape(code: types.CodeType) -> tuple:
    """What a function's code is made of, independent of how the compiler laid it out."""
    consts = tuple(c for c in code.co_consts if not isinstance(c, types.CodeType))
    return code.co_name, code.co_varnames, frozenset(code.co_names), consts


def _defines(module: types.CodeType, code: types.CodeType) -> bool:
    """True if compiling the shipped text gives a function made of the same names and values."""
    return any(
        isinstance(c, types.CodeType) and _shape(c) == _shape(code) for c in module.co_consts
    )


def _importable(value: Any) -> str | None:
    """``from module import name`` works for value: the module and the dotted name, else None."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qualname}" if found is value else None


class _Shipper:
    def __init__(self, module: str) -> None:
        self.module = module
        self.header: list[str] = []  # imports and constants
        self.bodies: list[str] = []  # functions and classes, dependencies first
        self.done: set[str] = set()

    def source(self, obj: Any, name: str) -> str:
        what = "function" if isinstance(obj, types.FunctionType) else "class"
        if getattr(obj, "__name__", "") == "<lambda>":
            raise Unshippable(
                f"{name} is a lambda: define it with def at the top level of a cell, so that "
                "its source can be sent to a new Python process."
            )
        if isinstance(obj, types.FunctionType) and obj.__closure__:
            inner = ", ".join(obj.__code__.co_freevars)
            raise Unshippable(
                f"{name} uses {inner} from the function it is defined in: define it at the top "
                "level of a cell (or pass those values as constants) so that its source can be "
                "sent to a new Python process."
            )
        try:
            return textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError):
            raise Unshippable(
                f"Python cannot find the source of the {what} {name}: define it with "
                f"{'def' if what == 'function' else 'class'} in a notebook cell or a .py file, "
                "and run that cell again."
            ) from None

    def add(self, name: str, value: Any, globals_: dict[str, Any]) -> None:
        if name in self.done:
            return
        self.done.add(name)
        if isinstance(value, types.ModuleType):
            self.header.append(f"import {value.__name__} as {name}")
        elif (
            isinstance(value, (types.FunctionType, type))
            and getattr(value, "__module__", None) == self.module
        ):
            self.definition(value, name, globals_)
        elif _plain(value):
            text = repr(value)
            if "inf" in text or "nan" in text:  # repr(math.inf) is 'inf', not Python source
                self.header.append("from math import inf, nan")
            self.header.append(f"{name} = {text}")
        elif (where := _importable(value)) is not None:
            module, qualname = where.split(":")
            head, _, rest = qualname.partition(".")
            self.header.append(f"from {module} import {head} as {name}")
            if rest:
                self.header.append(f"{name} = {name}.{rest}")
        else:
            raise Unshippable(
                f"It uses {name}, a {type(value).__name__} made in the notebook, which cannot be "
                "sent to a new Python process. Import what it needs inside the function, or "
                "build it there, so that the function stands on its own."
            )

    def definition(self, obj: Any, name: str, globals_: dict[str, Any]) -> None:
        text = self.source(obj, name)
        code = compile(text, f"<{name}>", "exec")
        if isinstance(obj, types.FunctionType) and not _defines(code, obj.__code__):
            raise Unshippable(
                f"The source Python finds for {name} is not the code that runs (was its cell or "
                "file changed after it ran?): run the cell that defines it again."
            )
        for used in sorted(_names_used(code)):
            if used in globals_ and used != obj.__name__:
                self.add(used, globals_[used], globals_)
        self.bodies.append(text)
        if obj.__name__ != name:
            self.bodies.append(f"{name} = {obj.__name__}")


def ship(fn: Any, name: str) -> str:
    """Source that defines ``name`` as ``fn`` in a fresh interpreter (raises Unshippable)."""
    if not isinstance(fn, types.FunctionType):
        where = _importable(fn)
        if where is None:
            raise Unshippable(
                f"{name} is a {type(fn).__name__}: define it with def so that its source can be "
                "sent to a new Python process."
            )
        module, qualname = where.split(":")
        return f"import {module}\n{name} = {module}.{qualname}\n"
    shipper = _Shipper(fn.__module__)
    shipper.done.add(name)
    shipper.definition(fn, name, fn.__globals__)
    return "\n".join(dict.fromkeys(shipper.header)) + "\n\n" + "\n\n".join(shipper.bodies) + "\n"


_RUNNER = """\
import io, json, sys
data = json.loads(sys.stdin.read())
out, sys.stdout = sys.stdout, io.StringIO()
try:
    namespace = {"__name__": "__shipped__"}
    exec(compile(data["source"], "<your code>", "exec"), namespace)
    fn = namespace[data["name"]]
    got = [[fn(*args) for args in calls] for calls in data["calls"]]
    got = [[r if type(r) is int else repr(r) for r in row] for row in got]
    json.dump({"ok": got}, out)
except BaseException as exc:
    json.dump({"error": f"{type(exc).__name__}: {exc}"}, out)
"""


def run_fresh(
    source: str, name: str, calls: list[list[tuple]], seeds: tuple[str, ...], timeout: float
) -> dict[str, Any]:
    """Run ``name(*args)`` for every call in new interpreters, one per ``PYTHONHASHSEED`` in
    ``seeds`` (in parallel). Returns ``{seed: {"ok": results} or {"error": text}}``; results
    that are not ints come back as their ``repr``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    payload = json.dumps({"source": source, "name": name, "calls": calls})
    running = {}
    for seed in seeds:
        env["PYTHONHASHSEED"] = seed
        running[seed] = subprocess.Popen(
            [sys.executable, "-c", _RUNNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            text=True,
        )
    results: dict[str, Any] = {}
    for seed, proc in running.items():
        try:
            out, _ = proc.communicate(payload, timeout=timeout)
            results[seed] = json.loads(out) if out.strip() else {"error": "it printed nothing"}
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results[seed] = {"error": f"it did not finish within {timeout:g} s"}
        except ValueError:
            results[seed] = {"error": "its output could not be read"}
    return results
