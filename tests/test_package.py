import subprocess
import sys

import brokerlab


def test_every_exported_name_resolves():
    for name in brokerlab.__all__:
        assert getattr(brokerlab, name) is not None, name
    assert set(brokerlab.__all__) <= set(dir(brokerlab))


def test_unknown_name_is_an_attribute_error():
    try:
        brokerlab.Nope  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light():
    code = "import sys, brokerlab; print(any(m.startswith('matplotlib') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_lazy_name_is_shadowed_by_its_module():
    """Importing a submodule binds its name on the package: a lazy name equal to a module name
    (``brokerlab.replay`` from a module ``replay.py``) would turn into the module."""
    import importlib

    import brokerlab

    for name, module in brokerlab._LAZY.items():
        importlib.import_module(f"brokerlab.{module}")
        assert not isinstance(getattr(brokerlab, name), type(brokerlab)), name


def test_no_file_holds_merge_conflict_markers():
    """A merge that left ``<<<<<<<``/``>>>>>>>`` lines behind must not land (one did, in the
    handbook index, and rendered as a broken table)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files"], capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:  # not a git checkout (an sdist): look at the text files instead
        tracked = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    markers = ("<<<<<<< ", ">>>>>>> ")
    found = []
    for name in tracked:
        path = root / name
        if path.suffix not in {".py", ".md", ".ipynb", ".toml", ".cfg", ".txt", ".yml", ""}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        found += [f"{name}:{n}" for n, line in enumerate(lines, 1) if line.startswith(markers)]
    assert not found, f"merge-conflict markers left in: {found}"
