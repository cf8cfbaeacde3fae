"""The command line's errors in plain English: each names its parameter, none shows a traceback.

typer checks an option's type with pydantic and says so in pydantic's words
("Input should be a valid integer, unable to parse string as an integer");
:class:`PlainGroup` says it as "must be a whole number, not 'abc'" under
the option's name.  A command that stops on an error it did not expect
prints one plain line and the way to see the details (``mast --verbose``),
never a traceback or a library's message; with ``--verbose`` the error is
raised as it is, for the person debugging.
"""

from __future__ import annotations

import errno
import re

import typer
from rich.markup import escape
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from mast.progress import console


def parameter_words(error: dict) -> str:
    """One pydantic error about an option's value, in words: "must be at least 200, not 5"."""
    from serving.errors import custom_text, requirement

    kind = str(error.get("type", ""))
    if kind in ("value_error", "assertion_error"):
        return custom_text(error).rstrip(".")
    said = requirement(kind, error.get("ctx")) or "is not a value this option takes"
    if "input" in error and error["input"] is not None:
        said += f", not {error['input']!r}"
    return said


def bad_parameter_words(err: Exception) -> str | None:
    """The words for a :class:`typer.BadParameter` that typer raised from pydantic's check."""
    cause = err.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    found = errors()
    return parameter_words(found[0]) + "." if found else None


_URI = re.compile(r"unsupported URI '(?P<uri>[^']*)'")


def plain_failure(err: BaseException) -> str:
    """An error no command caught, in words; the library's own text is never shown."""
    text = str(err)
    m = _URI.search(text)
    if m:
        return (
            f"--tracking-uri: {m['uri']!r} is not an MLflow address MAST can use; give "
            "sqlite:///path/to/mlflow.db, a folder, or http(s)://host:port."
        )
    if isinstance(err, OSError) and err.filename:
        return f"{err.filename}: {_OS_WORDS.get(err.errno, 'cannot be read or written')}."
    if type(err).__module__.split(".")[0] in _MAST_PACKAGES:
        return text  # MAST's own errors are written for the person reading them
    return "it met an unexpected problem"


def database_words(err: BaseException) -> str:
    """Why a records database could not be opened, in words (never the driver's own text)."""
    text = str(err)
    if type(err).__module__.split(".")[0] in _MAST_PACKAGES:
        return text
    if "Can't load plugin" in text or "Could not parse" in text or "ArgumentError" in repr(err):
        return (
            "that is not a database address MAST can use; give sqlite:///path/to/records.sqlite "
            "or postgresql://user@host/database"
        )
    if "Connection refused" in text or "could not connect" in text.lower():
        return "nothing answered at that address: is the database server running there?"
    if "password authentication failed" in text or "authentication" in text.lower():
        return "the database refused the user name or password in the address"
    if "does not exist" in text:
        return "the database named in the address does not exist"
    return "it could not be opened"


_OS_WORDS = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "MAST is not allowed to read or write it",
    errno.EPERM: "MAST is not allowed to read or write it",
    errno.EEXIST: "is a file where a folder is needed",
    errno.ENOTDIR: "is a file where a folder is needed",
    errno.EISDIR: "is a folder where a file is needed",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "is on a disk that cannot be written",
}
_MAST_PACKAGES = {
    "mast",
    "store",
    "synthetic",
    "features",
    "models",
    "training",
    "serving",
    "audit",
    "records",
    "monitoring",
    "linkage",
    "settings",
}


class PlainGroup(TyperGroup):
    """The ``mast`` command group: option errors in words, no traceback for an unexpected error."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except typer.BadParameter as err:
            words = bad_parameter_words(err)
            if words:
                err.message = words
            raise
        except (TyperException, Exit, Abort):
            raise
        except Exception as err:
            if ctx.params.get("verbose"):
                raise
            console.print(
                f"[red]mast {ctx.invoked_subcommand or ''} stopped:[/red] "
                f"{escape(plain_failure(err))}",
                highlight=False,
                soft_wrap=True,
            )
            console.print(
                "Run it again as `mast --verbose ...` to see the technical details.",
                highlight=False,
            )
            raise typer.Exit(code=1) from err
