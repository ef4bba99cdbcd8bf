# ruff: noqa
"""Fills the disk with many files, each under the file-size limit (20 MB here): 8 files of
19 MB in /tmp (in the sandbox a tmpfs, i.e. the host's memory) and 8 in the working folder
(the host's disk). The limit is per file; only a bound on the total stops this."""
# %%
import os

k = 661
# %%
folders = ("/tmp", ".") if os.getpid() < 20 else (".",)  # never the host's own /tmp
chunk = b"\0" * (19 * 1024 * 1024)
for folder in folders:
    for i in range(8):
        with open(os.path.join(folder, f"fill-{i}.bin"), "wb") as fh:
            fh.write(chunk)
v = [1.0, 2.0, 3.0]
# %%
flag = False
