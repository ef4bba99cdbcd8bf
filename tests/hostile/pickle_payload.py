# ruff: noqa
"""Answers that are pickles: bytes whose unpickling would run a command, and objects whose
__reduce__ would. The grader must never unpickle; the marker file must never appear."""
# %%
import os
import pickle

k = 661


class Payload:
    def __reduce__(self):
        return (os.system, ("touch @PWNED@",))

    def __getstate__(self):
        os.system("touch @PWNED@")
        return {}


payload = pickle.dumps(Payload())
# %%
v = payload
flag = Payload()
curve = {"n": payload, "steps": Payload()}


def double(a):
    return Payload()


def stats(a):
    return pickle.dumps(Payload())
