# ruff: noqa
"""Replaces the agent's harvest with its own (the agent is a module in the kernel, and the
harvest cell hands it the run's nonce): 900,000 small sympy texts as the answer `expr`,
each distinct, packed by hand, well inside the size a message may take. Decoding them
cost the grader 97 s of CPU for a run of 0.6 s, linear in their number; the grader's
budget for decoding one submission stops it, and the answers from there on are too large
to grade."""
# %%
import json
import sys

from IPython import get_ipython

k = 661
agent = sys.modules["grader_kernel_agent"]


def forged(namespace, nonce, names, *args):
    texts = b", ".join(b'{"t": "sympy", "srepr": "Add(Symbol(\'x\'), Integer(%d))"}' % i
                       for i in range(900_000))
    head = json.dumps({"nonce": nonce, "payload": {"k": {"t": "int", "v": "661"}}})
    body = head[:-2].encode() + b', "expr": {"t": "list", "v": [' + texts + b"]}}}"
    content = b'{"data": {"%s": %s}, "metadata": {}, "transient": {}}' % (
        agent.RESULT_MIME.encode(), body)
    kernel = get_ipython().kernel
    kernel.session.send(kernel.iopub_socket, "display_data", content=content,
                        parent=kernel.get_parent())


agent._grader_harvest = forged
