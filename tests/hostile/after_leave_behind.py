# ruff: noqa
"""Graded right after leave_behind.py in the same sandbox: reports what it finds of it."""
# %%
import os

found = []
for folder in ("/tmp", "/dev/shm", os.getcwd(), os.environ["HOME"]):
    if os.path.exists(os.path.join(folder, "left-behind")):
        found.append(folder)
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in (1, os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                found.append(fh.read().replace(b"\0", b" ").decode()[:80])
        except OSError:
            pass
try:
    with open("/proc/sysvipc/shm") as fh:
        found += [line.split()[0] for line in fh.read().splitlines()[1:]]
except OSError:
    pass
k = 661
why = "found: " + repr(found)
