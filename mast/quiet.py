"""Keep the libraries' own notices out of the terminal unless ``--verbose``.

MLflow writes warnings addressed to library developers ("Add type hints to
the ``predict`` method", the CloudPickle notice, "Creating initial MLflow
database tables") in the middle of MAST's progress bars.  A screener or a
governance lead cannot act on them, so by default they are silenced; errors
still show.  ``mast --verbose ...`` (or ``MAST_VERBOSE=1``) lets them through,
for whoever is debugging the pipeline.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

# Loggers whose INFO/WARNING lines are for library developers.
QUIET_LOGGERS = ("mlflow", "alembic", "urllib3", "httpx", "git")
# Warnings MLflow raises with the caller's stack level, so a module filter misses them.
QUIET_MESSAGES = (
    r"(?s).*type hint",
    r"(?s).*[Cc]loud[Pp]ickle",
    r"(?s).*[Ii]nput example",
    r"(?s).*[Mm][Ll]flow",
)


def quiet_libraries(verbose: bool = False) -> None:
    """Silence MLflow's (and its helpers') notices below ERROR, unless ``verbose``.

    Sets ``MLFLOW_LOGGING_LEVEL`` too, so MLflow configures itself quietly when
    it is first imported later, and worker processes started from here
    inherit the choice.
    """
    if verbose or os.environ.get("MAST_VERBOSE", "").lower() in ("1", "true", "yes"):
        return
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in QUIET_MESSAGES:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", module=r"mlflow(\..*)?$")
    # Some MLflow functions reset the filters for their own call
    # (``warnings.catch_warnings(); simplefilter("once")``), so the display is
    # filtered too: a warning raised from inside MLflow is not shown.
    if not getattr(warnings.showwarning, "_mast_quiet", False):
        warnings.showwarning = _quiet_showwarning(warnings.showwarning)


_MLFLOW_FILE = re.compile(r"[\\/]site-packages[\\/]mlflow[\\/]")


def _quiet_showwarning(show):
    def quiet(message, category, filename, lineno, file=None, line=None):
        if _MLFLOW_FILE.search(str(filename)):
            return
        show(message, category, filename, lineno, file, line)

    quiet._mast_quiet = True
    return quiet
