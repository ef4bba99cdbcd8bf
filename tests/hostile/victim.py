# ruff: noqa
"""A correct submission graded right after an attacker in the same worker: it must keep full
marks, and it reports in ``why`` every trace of the attacker it can find (none, rightly)."""
# %%
import ctypes
import os
import socket

import numpy as np
import sympy

found = []
HOME = os.environ.get("HOME", "/nonexistent")
for folder in ("/", "/tmp", "/dev/shm", "/etc", "/etc/ipython", "/run", "/var", "/var/tmp",
               "/root", "/work", os.getcwd(), HOME, os.path.join(HOME, ".ipython")):
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    found += [f"{folder}/{n}" for n in names if "left-behind" in n or "@MARKER@" in n]
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) not in (1, os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                found.append("process: " + fh.read().replace(b"\0", b" ").decode()[:80])
        except OSError:
            pass
for kind in ("shm", "sem", "msg"):
    try:
        with open(f"/proc/sysvipc/{kind}") as fh:
            found += [f"sysv {kind} " + line.split()[1] for line in fh.read().splitlines()[1:]]
    except OSError:
        pass
try:
    librt = ctypes.CDLL("librt.so.1", use_errno=True)
    librt.mq_open.restype = ctypes.c_int
    if librt.mq_open(b"/grader-hostile", os.O_RDONLY) >= 0:
        found.append("posix message queue")
except OSError:
    pass
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        sock.connect("\0grader-hostile")
        found.append("abstract socket")
except OSError:
    pass

x, z = sympy.symbols("x z")
k = 661
v = np.array([1.0, 2.0, 3.0])
flag = False
expr = x**2 + 2*x + 1
s = 1 / (1 + sympy.exp(-z))
grad = sympy.diff(s, z)


def double(a):
    return 2 * np.asarray(a, dtype=float)


def stats(a):
    a = np.asarray(a, dtype=float)
    return a.mean(), a.std()


curve = {"n": [1, 2, 4, 8, 16], "steps": [100, 60, 40, 30, 26]}
why = "found: " + repr(found)
