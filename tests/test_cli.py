"""The ``brokerlab`` command: every wrong path or argument gets one line and exit status 2."""

import json
import re
import uuid
from pathlib import Path

import pytest

from brokerlab import cli


def test_lab_command_serves_the_workspace_opens_the_start_notebook_and_allows_root():
    ws = Path("/course/workspace")
    cmd = cli.lab_command(ws, [], is_root=True)
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={ws}" in cmd
    assert "--LabApp.default_url=/lab/tree/notebooks/00-start-here.ipynb" in cmd
    assert "--KernelManager.transport=ipc" in cmd
    assert "--allow-root" in cmd
    assert "--allow-root" not in cli.lab_command(ws, [], is_root=False)
    # not added twice when the user passes it
    assert cli.lab_command(ws, ["--allow-root"], is_root=True).count("--allow-root") == 1
    other = cli.lab_command(ws, [], is_root=False, notebook="exercises/ex01_capacity.ipynb")
    assert "--LabApp.default_url=/lab/tree/exercises/ex01_capacity.ipynb" in other


def test_find_course_root_finds_the_checkout(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00-start-here.ipynb").write_text("{}")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert cli.find_course_root(tmp_path / "deep" / "er") == tmp_path


def test_lab_print_shows_the_command_with_extra_arguments_passed_on(capsys, tmp_path):
    assert cli.main(["lab", "--print", f"--workspace={tmp_path}", "--port=9999"]) == 0
    out = capsys.readouterr().out
    assert "jupyterlab" in out and "00-start-here.ipynb" in out and "--port=9999" in out


def test_lab_help_says_extra_arguments_go_to_jupyter_lab(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["lab", "--help"])
    assert exit.value.code == 0
    assert "passed on to jupyter lab" in " ".join(capsys.readouterr().out.split())


def test_the_course_settings_open_markdown_rendered_and_keep_news_off(tmp_path):
    import json

    folder = cli.lab_settings_dir(tmp_path / "settings")
    settings = json.loads((folder / "overrides.json").read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Markdown Preview"}
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def one_line_error(capsys, argv):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, says",
    [
        ([], "choose a command"),
        (["bogus"], "invalid choice"),
        (["execute", "--bogus"], "unrecognised arguments"),
        (["execute", "--timeout", "soon"], "invalid int value"),
        (["execute", "--timeout", "0"], "at least 1 second"),
        (["execute", "no/such/notebook.ipynb"], "no such file"),
        (["execute", "handbook/queues.md"], "is not a notebook"),
        (["execute", "handbook"], "no notebooks"),
        (["lab", "no-such.ipynb"], "has no no-such.ipynb"),
        (["lab", "9999"], "is not a notebook"),
        (["lab", "--workspace", "."], "course checkout"),
        (["lab", "--workspace", "notebooks"], "course's own notebooks/"),
        (["reset", "notebooks/nope.ipynb"], "not one of the course's notebooks"),
        (["doctor", "--all"], "unrecognised arguments"),
        (["grade", "nope.ipynb"], "no such notebook"),
        (["grade", "README.md"], "is not a notebook"),
        (["progress", "/no/such/folder"], "no such folder"),
    ],
)
def test_wrong_paths_and_arguments_get_one_line_and_status_2(capsys, monkeypatch, argv, says):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert says in one_line_error(capsys, argv)


def test_execute_takes_a_folder_as_its_notebooks(tmp_path):
    (tmp_path / "b.ipynb").write_text("{}")
    (tmp_path / "a.ipynb").write_text("{}")
    assert cli.notebooks_to_execute([tmp_path], tmp_path) == [
        tmp_path / "a.ipynb",
        tmp_path / "b.ipynb",
    ]


def _widget_notebook(ids: list[str]):
    """A notebook showing a VBox (ids[0]) whose child (ids[1]) has a layout (ids[2])."""
    import nbformat

    box, child, layout = ids
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("box", id="c1")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={cli.WIDGET_VIEW: {"model_id": box, "version_major": 2, "version_minor": 0}},
        )
    ]
    nb.cells = [cell]
    nb.metadata["widgets"] = {
        cli.WIDGET_STATE: {
            "state": {
                layout: {"model_name": "LayoutModel", "state": {}},
                child: {"model_name": "HTMLModel", "state": {"layout": f"IPY_MODEL_{layout}"}},
                box: {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_{child}"]}},
            },
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nb


def test_widget_ids_are_renamed_the_same_way_whatever_the_kernel_chose():
    import nbformat

    first = [uuid.uuid4().hex for _ in range(3)]
    second = [uuid.uuid4().hex for _ in range(3)]
    a = nbformat.writes(cli.stable_widget_ids(_widget_notebook(first), salt="00-start-here"))
    b = nbformat.writes(cli.stable_widget_ids(_widget_notebook(second), salt="00-start-here"))
    assert a == b
    assert not any(old in a for old in first)
    renamed = json.loads(a)
    state = renamed["metadata"]["widgets"][cli.WIDGET_STATE]["state"]
    shown = renamed["cells"][0]["outputs"][0]["data"][cli.WIDGET_VIEW]["model_id"]
    assert shown in state  # the output still finds its model, and every reference resolves
    for model in state.values():
        for ref in re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(model)):
            assert ref in state
