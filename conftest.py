"""Keep $HOME clean: Jupyter, IPython and matplotlib write their caches to a temp folder.

Set before any test (and before nbval starts kernels, which inherit the environment).
"""

import os
import tempfile

_tmp = tempfile.mkdtemp(prefix="brokerlab-test-home-")
for var, sub in (
    ("MPLCONFIGDIR", "mpl"),
    ("IPYTHONDIR", "ipython"),
    ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
    ("JUPYTER_DATA_DIR", "jupyter-data"),
    ("JUPYTER_CONFIG_DIR", "jupyter-config"),
):
    os.environ.setdefault(var, os.path.join(_tmp, sub))
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
