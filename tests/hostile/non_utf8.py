# ruff: noqa
# The test saves this file in Latin-1 (é as the single byte 0xE9), without a coding line.
"""Café: a module that is not UTF-8."""
k = 661
name = "café"
