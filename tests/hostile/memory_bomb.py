# ruff: noqa
"""Asks for 8 GB at once: the address-space limit (1 GB here) turns it into MemoryError,
and the kernel lives on (memory_hog.py keeps what it gets)."""
# %%
k = 661
# %%
bomb = bytearray(8 * 1024**3)
v = [1.0, 2.0, 3.0]
# %%
flag = False
