# ruff: noqa
"""A student's numpy.py: if the agent imported it, every value would cross as bool."""
bool_ = object
integer = object
floating = object
ndarray = object
