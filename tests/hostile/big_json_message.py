# ruff: noqa
"""Sends 30 MB of JSON it packed itself, ``[[], [], ...]``, as a stream message: ten
million values, which jupyter_client's json.loads turned into about 25 times the bytes
sent (937 MB). The grader's pre-scan counts the values and refuses the message unparsed;
the kernel is stopped and the cell left out of a fresh run."""
# %%
k = 661
# %%
import time

from IPython import get_ipython

kernel = get_ipython().kernel
raw = b'{"name": "stdout", "text": [' + b"[], " * 10_000_000 + b"[]]}"
kernel.session.send(kernel.iopub_socket, "stream", content=raw, parent=kernel.get_parent())
time.sleep(30)  # the grader must stop it, not the cell's timeout
v = [1.0, 2.0, 3.0]
# %%
flag = False
