"""The learner's workspace: copies made once, updates that never overwrite the learner's work."""

import json
from pathlib import Path

import pytest

from brokerlab.errors import BrokerError
from brokerlab.workspace import Workspace


@pytest.fixture
def course(tmp_path) -> Path:
    root = tmp_path / "course"
    for rel, text in {
        "notebooks/00-start-here.ipynb": "00 v1",
        "notebooks/01-why.ipynb": "01 v1",
        "exercises/ex01_capacity.ipynb": "ex01 v1",
        "handbook/README.md": "# handbook",
        "src/brokerlab/__init__.py": "",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_first_start_copies_every_notebook_and_links_the_rest(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    report = ws.sync()
    assert report.added == [
        "exercises/ex01_capacity.ipynb",
        "notebooks/00-start-here.ipynb",
        "notebooks/01-why.ipynb",
    ]
    assert (tmp_path / "ws/notebooks/01-why.ipynb").read_text() == "01 v1"
    assert (tmp_path / "ws/handbook/README.md").read_text() == "# handbook"
    assert (tmp_path / "ws/src/brokerlab").is_dir()
    assert ws.sync().lines() == []  # nothing new the second time


def test_new_chapters_arrive_and_changed_notebooks_are_never_overwritten(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    ws.sync()
    mine = tmp_path / "ws/notebooks/00-start-here.ipynb"
    mine.write_text("00 with my answers")
    (course / "notebooks/00-start-here.ipynb").write_text("00 v2")
    (course / "notebooks/01-why.ipynb").write_text("01 v2")
    (course / "notebooks/02-new.ipynb").write_text("02 v1")
    report = ws.sync()
    assert report.added == ["notebooks/02-new.ipynb"]
    assert report.updated == ["notebooks/01-why.ipynb"]  # untouched by the learner: follows
    assert report.kept == ["notebooks/00-start-here.ipynb"]
    assert mine.read_text() == "00 with my answers"
    assert (tmp_path / "ws/notebooks/01-why.ipynb").read_text() == "01 v2"
    assert any("brokerlab reset notebooks/00-start-here.ipynb" in line for line in report.lines())
    # Told once per start while it lasts; the learner's file is still never touched.
    assert ws.sync().kept == ["notebooks/00-start-here.ipynb"]
    assert mine.read_text() == "00 with my answers"


def test_a_deleted_notebook_stays_deleted_until_reset(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    ws.sync()
    (tmp_path / "ws/notebooks/01-why.ipynb").unlink()
    assert ws.sync().lines() == []
    assert not (tmp_path / "ws/notebooks/01-why.ipynb").exists()
    assert ws.reset("notebooks/01-why.ipynb") is None
    assert (tmp_path / "ws/notebooks/01-why.ipynb").read_text() == "01 v1"


def test_reset_keeps_the_old_copy_aside(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    ws.sync()
    mine = tmp_path / "ws/notebooks/00-start-here.ipynb"
    mine.write_text("attempt 1")
    kept = ws.reset("notebooks/00-start-here.ipynb")
    assert kept == tmp_path / "ws/old/notebooks/00-start-here.ipynb"
    assert kept.read_text() == "attempt 1"
    assert mine.read_text() == "00 v1"
    mine.write_text("attempt 2")
    assert ws.reset(mine).name == "00-start-here.1.ipynb"  # an absolute path works too
    (course / "notebooks/00-start-here.ipynb").write_text("00 v2")
    assert ws.sync().updated == ["notebooks/00-start-here.ipynb"]  # a reset copy follows again


def test_the_manifest_records_the_version_copied(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    ws.sync()
    manifest = json.loads((tmp_path / "ws/.brokerlab/manifest.json").read_text())
    assert set(manifest) == {
        "exercises/ex01_capacity.ipynb",
        "notebooks/00-start-here.ipynb",
        "notebooks/01-why.ipynb",
    }


@pytest.mark.parametrize("where", [".", "..", "notebooks", "handbook"])
def test_a_workspace_cannot_be_the_course_itself(course, where):
    with pytest.raises(BrokerError, match="workspace="):
        Workspace(course, course / where)


def test_reset_refuses_what_is_not_a_course_notebook(course, tmp_path):
    ws = Workspace(course, tmp_path / "ws")
    with pytest.raises(BrokerError, match="not one of the course's notebooks"):
        ws.reset("notebooks/99-nope.ipynb")
