# ruff: noqa
"""Reads the reference solution and the rubric from their absolute paths and copies the
answers. Under bubblewrap neither file exists in the kernel's filesystem."""
# %%
k = 661
# %%
seen = {}
exec(open("@REFERENCE@").read(), seen)  # FileNotFoundError in the sandbox
v = seen["v"]
expr = seen["expr"]
# %%
rubric_text = open("@RUBRIC@").read()  # FileNotFoundError in the sandbox
why = rubric_text
# %%
import os

flag = os.path.exists("@REFERENCE@") or os.path.exists("@RUBRIC@")  # must be False
