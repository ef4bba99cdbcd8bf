# ruff: noqa
"""Sends SIGINT, SIGTERM and SIGKILL to its parent (the sandbox's init, or the fork server)
and SIGKILL to every process it may signal (kill(-1)). Runs only
where its own pid is tiny, i.e. inside a PID namespace (the sandbox), where that reaches
nothing outside; elsewhere it refuses, so that no test run can take the machine down."""
# %%
k = 661
# %%
import os
import signal

if os.getpid() > 20:
    raise RuntimeError(f"not in a PID namespace (pid {os.getpid()}); refusing to kill")
for target, sig in ((os.getppid(), signal.SIGINT), (os.getppid(), signal.SIGTERM),
                    (os.getppid(), signal.SIGKILL), (-1, signal.SIGKILL)):
    try:
        os.kill(target, sig)
    except ProcessLookupError:
        pass
v = [1.0, 2.0, 3.0]
# %%
flag = False
