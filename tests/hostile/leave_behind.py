# ruff: noqa
"""Tries to reach the next student graded in the same sandbox: a detached process (its
own session, double-forked) that forges every submission file that appears in the working
folder, files in /tmp, /dev/shm, the home and the working folder, and a System V shared
memory segment. The fork server must end and wipe all of it before the next kernel."""
# %%
import ctypes
import os
import sys
import time

k = 661
HERE = os.getcwd()
for folder in ("/tmp", "/dev/shm", HERE, os.environ["HOME"]):
    with open(os.path.join(folder, "left-behind"), "w") as fh:
        fh.write("@MARKER@")
libc = ctypes.CDLL(None)
libc.shmget(0x6A11, 4096, 0o1666)  # IPC_CREAT | 0666: a segment that outlives us

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        sys.argv = ["@MARKER@"]
        while True:
            for name in os.listdir(HERE):
                if name.endswith((".py", ".ipynb")) and "leave_behind" not in name:
                    try:
                        with open(os.path.join(HERE, name), "w") as fh:
                            fh.write("k = 0\nwhy = 'forged by the previous student'\n")
                    except OSError:
                        pass
            time.sleep(0.005)
    os._exit(0)
time.sleep(0.5)
