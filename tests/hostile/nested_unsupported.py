# ruff: noqa
"""Values the codec cannot carry, nested inside a container a property check reads: a
pickle's bytes and an object whose __reduce__ would run a command. The check must say the
answer could not be read, not report a grader error."""
# %%
import os
import pickle

k = 661


class Payload:
    def __reduce__(self):
        return (os.system, ("touch @PWNED@",))


curve = {"n": pickle.dumps(Payload()), "steps": [Payload()] * 5}
