# ruff: noqa
"""Writes a 100 MB file: the file-size limit (20 MB here) stops the write."""
# %%
k = 661
# %%
with open("fill.bin", "wb") as fh:
    for _ in range(100):
        fh.write(b"\0" * (1024 * 1024))
v = [1.0, 2.0, 3.0]
# %%
flag = False
