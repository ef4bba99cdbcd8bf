# ruff: noqa
"""Starts many busy processes and keeps them busy while the other students of the batch are
graded: its kernel's cpu cgroup (one share, however many processes) keeps them fair."""
# %%
import os
import sys
import time

k = 661
for _ in range(40):
    if os.fork() == 0:
        sys.argv = ["@MARKER@"]
        while True:
            pass
time.sleep(8)
