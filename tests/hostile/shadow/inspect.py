# ruff: noqa
"""A student's inspect.py: loaded instead of the real one, it would forge every answer."""
raise SystemExit("shadowed inspect imported")
