# ruff: noqa
"""Sends one 20 MB message, over the 9.0 MB a message may take here (max_answers_mb = 8,
and 1 MB for the envelope). libzmq refuses the frame before the grader allocates it and
cuts the connection; the grader notices the cut, stops the kernel, and the cell is left
out of a fresh run."""
# %%
k = 661
# %%
import time

from IPython import get_ipython

kernel = get_ipython().kernel
raw = b'{"name": "stdout", "text": "' + b"x" * 20_000_000 + b'"}'
kernel.session.send(kernel.iopub_socket, "stream", content=raw, parent=kernel.get_parent())
time.sleep(30)  # the grader must stop it, not the cell's timeout
v = [1.0, 2.0, 3.0]
# %%
flag = False
