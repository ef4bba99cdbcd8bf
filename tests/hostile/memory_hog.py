# ruff: noqa
"""Takes memory a megabyte at a time until the limit (1 GB here) and keeps all of it. The
MemoryError must be reported, and the answers defined before it still graded, although the
kernel has no memory left to format a traceback or to encode answers."""
# %%
k = 661
# %%
hog = []
while True:
    hog.append(bytearray(1024 * 1024))
v = [1.0, 2.0, 3.0]
# %%
flag = False
