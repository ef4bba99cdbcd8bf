# ruff: noqa
"""A bounded fork bomb: up to 300 children that sleep. The pids cgroup (or RLIMIT_NPROC, or
the sandbox's PID namespace) must make fork fail long before that, and every child must be
gone once grading ends. Each child shows the marker as its argv[0]."""
# %%
import os

k = 661
# %%
for _ in range(300):
    if os.fork() == 0:
        try:
            os.execv("/bin/sleep", ["@MARKER@", "1000"])
        finally:
            os._exit(0)
v = [1.0, 2.0, 3.0]  # only if all 300 forks succeeded
# %%
flag = False
