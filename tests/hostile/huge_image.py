# ruff: noqa
"""Displays three 6 MB PNG images: output and figures stay bounded."""
# %%
import os
import struct
import zlib

from IPython.display import Image, display

k = 661


def png(size):
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    side = int((size // 3) ** 0.5)
    raw = b"".join(b"\0" + os.urandom(side * 3) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))
# %%
big = png(6_000_000)
for _ in range(3):
    display(Image(data=big, format="png"))
v = [1.0, 2.0, 3.0]
# %%
flag = False
