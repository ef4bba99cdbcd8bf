# ruff: noqa
"""A student's signal.py: loaded instead of the real one, it would forge every answer."""
raise SystemExit("shadowed signal imported")
