# ruff: noqa
"""Creates empty files without end: no byte bound is reached, but each file costs the
host an inode. The grader's watch stops the kernel past max_files (2000 here) new entries;
the cell is left out of a fresh run."""
# %%
import os

k = 661
# %%
os.makedirs("many", exist_ok=True)
i = 0
while True:
    open(f"many/{i}", "wb").close()
    i += 1
v = [1.0, 2.0, 3.0]
# %%
flag = False
