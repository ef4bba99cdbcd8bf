# ruff: noqa
"""A student's json.py: loaded instead of the real one, it would forge every answer."""
raise SystemExit("shadowed json imported")
