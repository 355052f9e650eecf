"""Every Python code block in the handbook runs, and shows what it says it shows.

A learner pastes the handbook's examples into a notebook; an example that fails when pasted
teaches the wrong thing. So each ``handbook/*.md`` page's ```python blocks run here, in order,
in one namespace per page (a later block may use what an earlier one made), as they would in a
notebook. The conventions, also stated in ``handbook/README.md``:

- ``expression  # => value`` (or ``# => value`` alone on the next line) shows a result: the
  test checks that ``repr(expression)`` is exactly ``value``. A note may follow the value after a dash: ``# => 3 — one per key``.
  Any other comment is prose and is not checked.
- ``<!-- raises: NameOfError -->`` on the line before a block says that the block is meant to
  fail, with that exception (or a subclass): it must raise it.
- ``<!-- not-run: reason -->`` on the line before a block says why it cannot run here (a live
  RabbitMQ, say); it is skipped, with the reason.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

HANDBOOK = Path(__file__).resolve().parent.parent / "handbook"
PAGES = sorted(HANDBOOK.glob("*.md"))
FENCE = re.compile(r"(?:<!--\s*(raises|not-run):\s*(.*?)\s*-->\s*\n)?```python\n(.*?)```", re.S)
SHOWN = re.compile(r"#\s*=>\s*(.*?)(?:\s+—\s.*)?\s*$")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")


@dataclass
class Block:
    page: str
    line: int  # where the block's code starts in the page, 1-based
    code: str
    marker: str | None  # "raises" or "not-run"
    argument: str


def blocks(page: Path, text: str | None = None) -> list[Block]:
    """The page's Python blocks, with the marker before each (``text`` instead of the file's)."""
    text = page.read_text(encoding="utf-8") if text is None else text
    found = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start(3)) + 1
        code = textwrap.dedent(m.group(3))  # a block inside a list item is indented
        found.append(Block(page.name, line, code, m.group(1), m.group(2) or ""))
    return found


def shown_value(source_line: str) -> str | None:
    """The value a ``# => value`` comment shows on this line, if it has one."""
    hashes = [i for i, ch in enumerate(source_line) if ch == "#"]
    for i in hashes:
        m = SHOWN.match(source_line[i:])
        if m:
            return m.group(1)
    return None


def run_block(block: Block, namespace: dict) -> None:
    """Run the block statement by statement, checking every ``# => value``."""
    tree = ast.parse(block.code, filename=f"{block.page}:{block.line}")
    lines = block.code.splitlines()
    for node in tree.body:
        where = f"{block.page}, line {block.line + node.lineno - 1}"
        code = compile(ast.Module([node], []), where, "exec")
        if isinstance(node, ast.Expr):
            value = eval(compile(ast.Expression(node.value), where, "eval"), namespace)
            expected = shown_value(lines[node.end_lineno - 1])
            after = lines[node.end_lineno] if node.end_lineno < len(lines) else ""
            if expected is None and after.lstrip().startswith("#"):
                expected = shown_value(after)  # the value shown on a line of its own
            if expected is not None:
                got = ADDRESS.sub("0xADDRESS", repr(value))
                assert got == expected, f"{where}: the page shows {expected}, the code gives {got}"
        else:
            exec(code, namespace)


def page_ids() -> list[str]:
    return [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=page_ids())
def test_the_pages_code_runs_and_shows_what_it_says(page, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # a block that writes a file writes it here
    namespace: dict = {"__name__": "__handbook__"}
    skipped = []
    for block in blocks(page):
        if block.marker == "not-run":
            assert block.argument, f"{page.name}:{block.line}: not-run needs a reason"
            skipped.append(block)
            continue
        if block.marker == "raises":
            with pytest.raises(BaseException) as caught:
                run_block(block, namespace)
            names = {cls.__name__ for cls in type(caught.value).__mro__}
            assert block.argument in names, (
                f"{page.name}:{block.line} should raise {block.argument}, "
                f"raised {type(caught.value).__name__}: {caught.value}"
            )
            continue
        try:
            run_block(block, namespace)
        except AssertionError:
            raise
        except Exception as err:
            raise AssertionError(
                f"{page.name}, the block at line {block.line} fails when pasted: "
                f"{type(err).__name__}: {err}. Fix it, or mark it <!-- raises: "
                f"{type(err).__name__} --> if it is meant to fail."
            ) from err
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_conventions_are_read():
    page = HANDBOOK / "x.md"
    text = (
        "```python\nx = 1\nx + 1   # => 2\n```\n"
        "<!-- raises: ValueError -->\n```python\nint('a')\n```\n"
        "<!-- not-run: needs RabbitMQ -->\n```python\nimport nothing\n```\n"
    )
    found = [(b.marker, b.argument, b.line) for b in blocks(page, text)]
    assert found == [(None, "", 2), ("raises", "ValueError", 7), ("not-run", "needs RabbitMQ", 11)]
    assert shown_value("b.publish('X', 'k')   # => ['Q1']") == "['Q1']"
    assert shown_value("x = '#'  # prose, not a value") is None
    assert shown_value("len(q)  # => 3 — one per key") == "3"
    with pytest.raises(AssertionError, match="the page shows 3"):
        run_block(Block("x.md", 1, "1 + 1  # => 3\n", None, ""), {})
