"""The ``mast`` command.

Each command lives in its own module under :mod:`mast.commands` and is a thin
shell over a capability package.  To add one, write ``mast/commands/<name>.py``
with a ``register(app)`` function and list it in ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="mast",
    help=(
        "MAST: Multi-Agency Screening Tool. Advisory decision support for the children's "
        "social care front door. MAST never decides: a person always does."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

COMMANDS = [
    "load",
    "simulate",
    "link",
    "features",
    "train",
    "promote",
    "models",
    "audit",
    "serve",
    "audit_log",
    "tokens",
    "demo",
]

for _name in COMMANDS:
    importlib.import_module(f"mast.commands.{_name}").register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
