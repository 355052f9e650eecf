"""The examples in the package's docstrings are part of its documentation: they must run."""

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import brokerlab

matplotlib.use("Agg")

MODULES = sorted(m.name for m in pkgutil.iter_modules(brokerlab.__path__, "brokerlab."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
