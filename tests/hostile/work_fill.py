# ruff: noqa
"""Fills the working folder (on the host's disk) with many files, each under the
file-size limit (20 MB here): 8 files of 19 MB, then 8 more. Only a bound on the total
stops this: the grader watches the workspace and stops the kernel past max_disk_mb
(100 MB here); the cell is left out of a fresh run."""
# %%
k = 661
# %%
import time

chunk = b"\0" * (19 * 1024 * 1024)
for i in range(16):
    with open(f"fill-{i}.bin", "wb") as fh:
        fh.write(chunk)
time.sleep(30)  # the watch must stop it, not the end of the writing
v = [1.0, 2.0, 3.0]
# %%
flag = False
