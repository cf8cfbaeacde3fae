"""MAST: the command line and settings.

The capabilities live in their own top-level packages (``store``,
``synthetic``, ``features``, ``models``, ``training``, ``audit``,
``serving``); this package only wires them to the ``mast`` command.
"""

__version__ = "0.1.0"
