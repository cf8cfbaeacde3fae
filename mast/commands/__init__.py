"""One module per ``mast`` command; each exposes ``register(app)``."""
