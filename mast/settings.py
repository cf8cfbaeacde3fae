"""The CLI's view of :mod:`settings`, the one settings tree of MAST.

Kept so that ``from mast.settings import get_settings`` in the commands reads
as before; the definitions (and every default) live in :mod:`settings`, below
the CLI, where the service and the records store read them too.
"""

from settings import (  # noqa: F401  (re-exported for the commands)
    DEFAULT_HOME,
    DEFAULT_RANDOM_STATE,
    DEFAULT_TRACKING_URI,
    MODEL_NAME,
    Settings,
    get_settings,
)
