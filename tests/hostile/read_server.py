# ruff: noqa
"""Reads what it can of every other process it sees, the fork server's above all (pid 1 of
the sandbox): memory maps, environment, what its descriptors are, memory. Nothing may be readable."""
# %%
import os

k = 661
found = {}
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for item in ("maps", "environ", "mem", "cmdline"):
        try:
            with open(f"/proc/{pid}/{item}", "rb") as fh:
                data = fh.read(4096)
            if data and item != "cmdline":
                found[f"{pid}/{item}"] = len(data)
        except OSError:
            pass
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        fds = []
    for fd in fds:
        try:
            found[f"{pid}/fd/{fd}"] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
why = "found: " + repr(found)
