# ruff: noqa
"""Replaces json.dumps and json.loads in the kernel with forgers that claim the answers are
right. Whatever they break, the wrong answers must not pass."""
# %%
import json

k = 661
v = [9.0, 9.0, 9.0]
flag = True
# %%
FORGED = {"v": {"t": "list", "v": [{"t": "float", "v": "1.0"}, {"t": "float", "v": "2.0"},
                                   {"t": "float", "v": "3.0"}]},
          "flag": {"t": "bool", "v": False}}
json.dumps = lambda *args, **kwargs: '{"v": [1.0, 2.0, 3.0], "flag": false}'
json.loads = lambda *args, **kwargs: FORGED
