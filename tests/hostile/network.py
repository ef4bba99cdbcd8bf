# ruff: noqa
"""Connects to a port the test listens on at 127.0.0.1 (loopback only). The sandbox has
its own network namespace, so the connection fails there."""
# %%
k = 661
# %%
import socket

conn = socket.create_connection(("127.0.0.1", int("@PORT@")), timeout=2)
conn.sendall(b"stolen answers")
v = [1.0, 2.0, 3.0]
# %%
flag = False
