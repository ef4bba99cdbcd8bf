# ruff: noqa
"""A student's base64.py: loaded instead of the real one, it would forge every answer."""
raise SystemExit("shadowed base64 imported")
