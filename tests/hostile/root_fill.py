# ruff: noqa
"""Writes into the sandbox's root and /etc, in-memory places that no size bounded and that
were not wiped between students. They must be read-only."""
# %%
k = 661
flag = False
# %%
with open("/left-behind-@MARKER@", "wb") as fh:
    fh.write(b"\0" * (1 << 20))
v = [1.0, 2.0, 3.0]
