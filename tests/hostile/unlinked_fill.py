# ruff: noqa
"""Fills the disk with files it deletes but keeps open: no walk of the workspace sees them.
The disk watch must count them and stop the kernel."""
# %%
import os
import time

k = 661
flag = False
# %%
held = []
for i in range(15):
    fh = open(f"hidden-{i}", "wb")
    os.unlink(f"hidden-{i}")
    fh.write(os.urandom(15 << 20))
    fh.flush()
    held.append(fh)
time.sleep(5)
v = [1.0, 2.0, 3.0]
