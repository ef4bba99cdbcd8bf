# ruff: noqa
"""Replaces json.dumps and json.loads in the kernel with forgers that claim the answers are
right, after making the kernel serialise its own messages with the json module (as it does
where orjson is not installed). The kernel can no longer answer at all: it is stopped as
soon as its reply cannot be read, the cell is left out of a fresh run, and the wrong answers
must not pass."""
# %%
import json

from IPython import get_ipython

k = 661
v = [9.0, 9.0, 9.0]
flag = True
# %%
session = get_ipython().kernel.session
session.packer = session.unpacker = "json"
FORGED = {"v": {"t": "list", "v": [{"t": "float", "v": "1.0"}, {"t": "float", "v": "2.0"},
                                   {"t": "float", "v": "3.0"}]},
          "flag": {"t": "bool", "v": False}}
json.dumps = lambda *args, **kwargs: '{"v": [1.0, 2.0, 3.0], "flag": false}'
json.loads = lambda *args, **kwargs: FORGED
