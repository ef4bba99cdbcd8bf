# ruff: noqa
"""Looks for the grader's secrets in its own environment: the test puts
GRADER_TEST_SECRET into the grader's environment. The kernel's environment is scrubbed, with
or without the sandbox; the text answer carries whatever it found."""
# %%
import os

k = 661
# %%
found = {key: value for key, value in os.environ.items()
         if "SECRET" in key or "TOKEN" in key or "KEY" in key or "PASSWORD" in key}
why = "found: " + repr(found)
if found:
    raise RuntimeError("LEAKED " + repr(found))
