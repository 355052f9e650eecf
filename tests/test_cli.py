from pathlib import Path

import pytest

from brokerlab import cli


def test_lab_command_opens_the_start_notebook_and_allows_root():
    root = Path("/course")
    cmd = cli.lab_command(root, [], is_root=True)
    assert cmd[1:3] == ["-m", "jupyterlab"]
    assert str(root / "notebooks/00-start-here.ipynb") in cmd
    assert "--allow-root" in cmd
    assert "--allow-root" not in cli.lab_command(root, [], is_root=False)
    # not added twice when the user passes it
    assert cli.lab_command(root, ["--allow-root"], is_root=True).count("--allow-root") == 1


def test_find_course_root_finds_the_checkout(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00-start-here.ipynb").write_text("{}")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert cli.find_course_root(tmp_path / "deep" / "er") == tmp_path


def test_lab_print_shows_the_command(capsys):
    assert cli.main(["lab", "--print", "--port=9999"]) == 0
    out = capsys.readouterr().out
    assert "jupyterlab" in out and "00-start-here.ipynb" in out and "--port=9999" in out


def test_execute_rejects_unknown_options():
    with pytest.raises(SystemExit):
        cli.main(["execute", "--bogus"])
