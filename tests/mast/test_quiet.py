"""MLflow's notices stay out of the terminal unless --verbose."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from mast.quiet import quiet_libraries
quiet_libraries(verbose=sys.argv[1] == "verbose")
import models.pyfunc  # MLflow warns "Add type hints to the `predict` method" here
import warnings
warnings.warn("a warning of MAST's own")
"""


def _stderr(mode: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run(
        [sys.executable, "-c", CODE, mode], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_mlflow_notices_are_silenced_but_not_ours():
    err = _stderr("quiet")
    assert "type hints" not in err
    assert "a warning of MAST's own" in err


def test_verbose_lets_them_through():
    assert "type hints" in _stderr("verbose")
