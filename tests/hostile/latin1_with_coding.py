# -*- coding: latin-1 -*-
# ruff: noqa
# The test saves this file in Latin-1 (é as the single byte 0xE9). The coding line above
# makes it valid Python source (PEP 263), so it should run like any module.
"""Café: a module in Latin-1 that says so."""
k = 661
name = "café"
