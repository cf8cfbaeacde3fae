"""The demo calls other commands' functions from Python, where typer's defaults are not values.

A command function called directly gets ``typer.Option(...)`` objects for any
parameter it is not given (the demo once passed no ``engine`` to
``features_command`` and stopped at step 2).  So every parameter of a command
the demo calls must be passed by the demo.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import mast.commands.demo as demo
from mast.commands.features import features_command
from mast.commands.simulate import simulate

CALLED = {"features_command": features_command, "simulate": simulate}


def _calls() -> dict[str, set[str]]:
    tree = ast.parse(Path(demo.__file__).read_text())
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in CALLED:
                found[node.func.id] = {k.arg for k in node.keywords}
    return found


@pytest.mark.parametrize("name", sorted(CALLED))
def test_the_demo_passes_every_option_of_the_commands_it_calls(name):
    calls = _calls()
    assert name in calls, f"the demo no longer calls {name}"
    params = inspect.signature(CALLED[name]).parameters
    missing = sorted(p for p in params if p not in calls[name])
    assert not missing, f"the demo calls {name} without {missing}: typer's defaults are not values"
