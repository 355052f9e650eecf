"""Every chapter notebook meets the parts of the chapter standard that a program can check.

For each ``notebooks/NN-slug.ipynb`` (see ``shared/chapter-standard.md``):

- it is committed executed (nbval compares nothing in a cell that has no outputs);
- it shows at least one picture (an ``image/png`` output);
- it has a widget where the curriculum names one (chapters 01 to 08);
- its handbook page ``handbook/NN-slug.md`` exists;
- every relative link in it points at a file that exists.

And every relative link in every handbook page points at a file that exists.
Every committed notebook (chapters, solutions, exercises) is saved as ``brokerlab execute`` saves
it: no execution timestamps, and widget ids that depend only on the notebook.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from brokerlab.cli import WIDGET_STATE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
HANDBOOK = sorted((ROOT / "handbook").glob("*.md"))

# Chapters whose curriculum row names a widget.
WIDGET_CHAPTERS = {"01", "02", "03", "04", "05", "06", "07", "08"}

# Exercises that chapters may link to before the exercise itself is on main. Remove a name as
# soon as its notebooks land: from then on, a link to it must point at a real file.
PLANNED_EXERCISES: set[str] = set()  # ex01-ex09 are built: links to them must resolve

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def relative_links(markdown: str) -> list[str]:
    """The link targets in ``markdown`` that point into the repository (not code, not URLs)."""
    text = CODE.sub("", markdown)
    targets = [a or b for a, b in LINK.findall(text)]
    return [
        t
        for t in targets
        if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")
    ]


def broken_links(markdown: str, folder: Path) -> list[str]:
    broken = []
    for target in relative_links(markdown):
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not path:
            continue
        if (folder / path).exists():
            continue
        if Path(path).stem in PLANNED_EXERCISES and Path(path).parent.name in (
            "exercises",
            "solutions",
        ):
            continue
        broken.append(target)
    return broken


def cells(nb_path: Path) -> list[dict]:
    return json.loads(nb_path.read_text(encoding="utf-8"))["cells"]


def outputs(nb_path: Path) -> list[dict]:
    return [o for c in cells(nb_path) if c["cell_type"] == "code" for o in c.get("outputs", [])]


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_there_are_chapters():
    assert NOTEBOOKS, "no chapter notebook found in notebooks/"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_committed_executed(nb):
    unrun = [
        i
        for i, c in enumerate(cells(nb))
        if c["cell_type"] == "code"
        and "".join(c["source"]).strip()
        and c["execution_count"] is None
    ]
    assert not unrun, (
        f"{nb.name}: code cells {unrun} have no outputs; run `brokerlab execute {nb.relative_to(ROOT)}`"
    )


COMMITTED = sorted(
    p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb")
)


@pytest.mark.parametrize("nb", COMMITTED, ids=[f"{p.parent.name}/{p.name}" for p in COMMITTED])
def test_saved_as_brokerlab_execute_saves_it(nb):
    """No execution timestamps, widget ids renamed: re-executing gives a diff of real changes."""
    data = json.loads(nb.read_text())
    timed = [i for i, c in enumerate(data["cells"]) if "execution" in c.get("metadata", {})]
    assert not timed, f"{nb.name}: cells {timed} keep timestamps; run `brokerlab execute {nb.name}`"
    state = data["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    stem = nb.stem
    stable = {hashlib.sha256(f"{stem}:{n}".encode()).hexdigest()[:32] for n in range(len(state))}
    assert set(state) == stable, f"{nb.name}: widget ids are the kernel's random ones"
    for model in state.values():
        for ref in re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(model)):
            assert ref in state, f"{nb.name}: a widget refers to a model that is not saved"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_has_a_picture(nb):
    assert any("image/png" in o.get("data", {}) for o in outputs(nb)), (
        f"{nb.name} shows no picture (no image/png output)"
    )


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_has_a_widget_where_the_curriculum_names_one(nb):
    if nb.name[:2] not in WIDGET_CHAPTERS:
        pytest.skip("the curriculum names no widget for this chapter")
    widget = "application/vnd.jupyter.widget-view+json"
    assert any(widget in o.get("data", {}) for o in outputs(nb)), f"{nb.name} has no widget output"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_has_its_handbook_page(nb):
    page = ROOT / "handbook" / f"{nb.stem}.md"
    assert page.exists(), f"{nb.name} has no handbook page {page.relative_to(ROOT)}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_links_resolve(nb):
    text = "\n".join("".join(c["source"]) for c in cells(nb) if c["cell_type"] == "markdown")
    assert broken_links(text, nb.parent) == []


@pytest.mark.parametrize("page", HANDBOOK, ids=ids(HANDBOOK))
def test_handbook_links_resolve(page):
    assert broken_links(page.read_text(encoding="utf-8"), page.parent) == []


def test_the_link_finder_finds_links():
    md = 'See [a](a.md), [b](../b.ipynb#top), <a href="c.md">c</a>, [web](https://x.org), `[no](n.md)`'
    assert relative_links(md) == ["a.md", "../b.ipynb#top", "c.md"]
