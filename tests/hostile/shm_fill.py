# ruff: noqa
"""Fills /dev/shm, and tries /dev itself: in the sandbox both are in-memory filesystems
that bwrap leaves unsized unless told. /dev/shm has a size (64 MB at most) and /dev is
read-only, so this fails with "No space left" long before the host runs short."""
# %%
import os

k = 661
# %%
try:
    open("/dev/grader-fill", "wb").close()
except OSError:
    pass
else:
    raise AssertionError("/dev is writable")
chunk = b"\0" * (19 * 1024 * 1024)
for i in range(8):
    with open(f"/dev/shm/fill-{i}.bin", "wb") as fh:
        fh.write(chunk)
v = [1.0, 2.0, 3.0]
# %%
flag = False
