# ruff: noqa
"""Ignores SIGINT and swallows every exception: only the watchdog's kill stops the cell."""
# %%
import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
k = 661
# %%
while True:
    try:
        time.sleep(0.05)
    except BaseException:
        pass
v = [1.0, 2.0, 3.0]
# %%
flag = False
