"""``brokerlab doctor``: one line per requirement; non-zero only when something needed is missing."""

import importlib.metadata

from brokerlab import doctor


def test_every_line_says_ok_fail_or_optional(capsys):
    code = doctor.main()
    lines = capsys.readouterr().out.splitlines()
    findings = lines[:-1]
    assert {line.split()[0] for line in findings} <= {"OK", "FAIL", "--"}
    names = " ".join(findings)
    for what in (
        "python",
        "jupyterlab",
        "ipywidgets",
        "jupyter kernel",
        "widget extension",
        "rabbitmq-server",
        "redis-server",
        "chromium",
    ):
        assert what in names
    assert code == (1 if any(line.startswith("FAIL") for line in findings) else 0)


def test_a_missing_required_package_fails_with_the_fix(monkeypatch, capsys):
    real = importlib.metadata.version

    def version(dist):
        if dist == "ipywidgets":
            raise importlib.metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert any(
        line.startswith("FAIL") and "ipywidgets" in line and 'pip install -e ".[dev]"' in line
        for line in out.splitlines()
    )


def test_missing_optional_servers_do_not_fail(monkeypatch):
    monkeypatch.setattr(doctor, "find_program", lambda name: None)
    findings = doctor.program_findings()
    assert all(f.status == "--" and "apt-get install -y" in f.detail for f in findings)
