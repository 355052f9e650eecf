"""The log's modules import in one direction (issue 9), so each can be read and tested alone::

    partition  <-  consumer_group  <-  transactions  <-  log
    partition  <-  producer        <-  transactions

Checked twice: by reading the modules' import statements (``ast``), and by importing each
module in a fresh interpreter and looking at which brokerlab modules came with it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import brokerlab

PACKAGE = Path(brokerlab.__file__).parent

#: module -> the log modules it may import (directly)
ALLOWED = {
    "partition": set(),
    "consumer_group": {"partition"},
    "producer": {"partition"},
    "transactions": {"partition", "consumer_group", "producer"},
    "log": {"partition", "consumer_group", "producer", "transactions"},
}
LOG_MODULES = set(ALLOWED)
#: module -> log modules it names only in type hints (``if TYPE_CHECKING:``, never run): the
#: Log that makes producers, consumers and the coordinator and passes itself in to them.
HINTS_ONLY = {
    "consumer_group": {"log"},
    "producer": {"log", "consumer_group"},
    "transactions": {"log"},
}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in (
        "TYPE_CHECKING",
        "typing.TYPE_CHECKING",
    )


def _brokerlab_module(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The brokerlab modules an import statement loads (their short names)."""
    if isinstance(node, ast.ImportFrom):
        if node.level == 1:
            return [(node.module or "").split(".")[0]]
        if (node.module or "").startswith("brokerlab."):
            return [node.module.split(".")[1]]
        return []
    return [a.name.split(".")[1] for a in node.names if a.name.startswith("brokerlab.")]


def _imports(module: str) -> tuple[set[str], set[str], list[str]]:
    """(module-level imports, type-hint-only imports, imports inside functions or classes)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    runtime: set[str] = set()
    hints: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            runtime.update(_brokerlab_module(node))
        elif _is_type_checking_block(node):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    hints.update(_brokerlab_module(inner))
    nested: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    nested += [f"{node.name}: {m}" for m in _brokerlab_module(inner)]
    return runtime, hints, nested


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_each_log_module_imports_only_the_ones_below_it(module):
    runtime, hints, nested = _imports(module)
    assert runtime & LOG_MODULES <= ALLOWED[module], (
        f"{module} imports {sorted(runtime & LOG_MODULES - ALLOWED[module])} at run time"
    )
    assert nested == [], f"{module} imports brokerlab modules inside functions: {nested}"
    assert hints & LOG_MODULES <= ALLOWED[module] | HINTS_ONLY.get(module, set())


def test_the_allowed_imports_have_no_cycle():
    order = []
    todo = dict(ALLOWED)
    while todo:
        ready = sorted(m for m, deps in todo.items() if deps <= set(order))
        assert ready, f"a cycle among {sorted(todo)}"
        order += ready
        for m in ready:
            del todo[m]
    assert order[0] == "partition" and order[-1] == "log"


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_log_module_imports_alone_in_a_fresh_interpreter(module):
    code = (
        f"import sys, brokerlab.{module}; "
        "print(' '.join(m.split('.')[1] for m in sys.modules if m.startswith('brokerlab.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    loaded = set(out) & LOG_MODULES - {module}
    below = set()
    stack = [module]
    while stack:
        for dep in ALLOWED[stack.pop()]:
            if dep not in below:
                below.add(dep)
                stack.append(dep)
    assert loaded <= below, f"importing {module} also loaded {sorted(loaded - below)}"
