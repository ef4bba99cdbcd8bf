# ruff: noqa
"""The student's folder holds links to the reference (ref.py) and to its folder (data/):
the test makes them. Under bubblewrap their targets are not in the kernel's filesystem."""
# %%
k = 661
# %%
seen = {}
exec(open("ref.py").read(), seen)  # FileNotFoundError in the sandbox
v = seen["v"]
# %%
import os

why = repr(os.listdir("data"))  # FileNotFoundError in the sandbox
# %%
flag = os.path.exists("ref.py")  # a dangling link: False
