"""The ``mast`` command.

Each command lives in its own module under :mod:`mast.commands` and is a thin
shell over a capability package.  To add one, write ``mast/commands/<name>.py``
with a ``register(app)`` function and list it in ``COMMANDS``.
"""

from __future__ import annotations

import importlib

import typer

from mast.errors import PlainGroup

app = typer.Typer(
    name="mast",
    cls=PlainGroup,  # option errors in words; no traceback for an unexpected error
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
    "monitor",
    "audit_log",
    "tokens",
    "demo",
]


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Show the libraries' own warnings and notices (MLflow's), for debugging.",
    ),
) -> None:
    """MAST: advisory decision support; MAST never decides, a person does."""
    from mast.quiet import quiet_libraries

    quiet_libraries(verbose)


for _name in COMMANDS:
    importlib.import_module(f"mast.commands.{_name}").register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
