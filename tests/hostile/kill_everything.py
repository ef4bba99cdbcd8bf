# ruff: noqa
"""Sends SIGKILL to its parent and to every process it may signal (kill(-1)). Runs only
where its own pid is tiny, i.e. inside a PID namespace (the sandbox), where that reaches
nothing outside; elsewhere it refuses, so that no test run can take the machine down."""
# %%
k = 661
# %%
import os
import signal

if os.getpid() > 20:
    raise RuntimeError(f"not in a PID namespace (pid {os.getpid()}); refusing to kill")
for target in (os.getppid(), -1):
    try:
        os.kill(target, signal.SIGKILL)
    except ProcessLookupError:
        pass
v = [1.0, 2.0, 3.0]
# %%
flag = False
