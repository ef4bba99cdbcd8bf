# ruff: noqa
"""Starts processes that try to outlive grading: one in a session of its own, and a
double-forked daemon. Each shows the marker as its argv[0]; none may survive."""
# %%
import os
import subprocess

k = 661
# %%
subprocess.Popen(["@MARKER@", "1000"], executable="/bin/sleep", start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["@MARKER@", "1001"])
    os._exit(0)
flag = False
