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
