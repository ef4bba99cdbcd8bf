# ruff: noqa
"""Fills the sandbox's in-memory /tmp (the host's memory) with many files, each under the
file-size limit (20 MB here): 8 files of 19 MB. The limit is per file; the size the
sandbox gives its /tmp (max_disk_mb, 100 MB here) is what stops this."""
# %%
import os

k = 661
# %%
chunk = b"\0" * (19 * 1024 * 1024)
for i in range(8):
    with open(os.path.join("/tmp", f"fill-{i}.bin"), "wb") as fh:
        fh.write(chunk)
v = [1.0, 2.0, 3.0]
# %%
flag = False
