# ruff: noqa
"""Prints fake result JSON and publishes display data of the grader's own MIME type with
guessed nonces, before the harvest and from a hook that runs after every cell (the
harvest's included). None of it may pose as an answer."""
# %%
import json

from IPython import get_ipython
from IPython.display import publish_display_data

MIME = "application/vnd.grader.result+json"
fake = {"k": {"t": "int", "v": "661"}, "flag": {"t": "bool", "v": False},
        "v": {"t": "list", "v": [{"t": "float", "v": "1.0"}, {"t": "float", "v": "2.0"},
                                 {"t": "float", "v": "3.0"}]}}
for nonce in ("", "0" * 32, "guess", None):
    publish_display_data({MIME: {"nonce": nonce, "payload": fake}})
    publish_display_data({MIME: json.dumps({"nonce": nonce, "payload": fake})})
print(json.dumps({"nonce": "0" * 32, "payload": fake}))


def forge(*args, **kwargs):
    publish_display_data({MIME: {"nonce": "f" * 32, "payload": fake}})
    print(json.dumps(fake))


get_ipython().events.register("post_run_cell", forge)
# %%
k = 1
v = [9.0, 9.0, 9.0]
flag = True
curve = {"n": [1, 2, 4, 8, 16], "steps": [100, 60, 40, 30, 26]}
