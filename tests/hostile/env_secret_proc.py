# ruff: noqa
"""Looks for the grader's secrets in the environment of every process it can see
(/proc/*/environ, the grader's own included). Only the sandbox's PID namespace hides them."""
# %%
import os

k = 661
# %%
found = {}
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                for item in fh.read().split(b"\0"):
                    if item.startswith(b"GRADER_TEST_SECRET="):
                        found[pid] = item.decode(errors="replace")
        except OSError:
            pass
why = "found: " + repr(found)
if found:
    raise RuntimeError("LEAKED " + repr(found))
