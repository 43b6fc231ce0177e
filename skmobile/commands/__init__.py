"""CLI command modules; each defines ``register(app)`` and is loaded by :mod:`skmobile.cli`."""
