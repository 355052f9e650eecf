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
