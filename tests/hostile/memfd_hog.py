# ruff: noqa
"""Holds memory the address-space limit does not count: pages of a memfd, written, never
mapped. The memory cgroup must stop the kernel at max_memory_mb (or, where there is no
cgroup, memfd_create must be refused)."""
# %%
import os

k = 661
flag = False
# %%
# Many of them: RLIMIT_FSIZE bounds each one (as it bounds a file), not their sum.
chunk = b"\1" * (1 << 20)
held = []
for _ in range(80):
    held.append(os.memfd_create("hog"))
    for _ in range(16):
        os.write(held[-1], chunk)
v = [1.0, 2.0, 3.0]
