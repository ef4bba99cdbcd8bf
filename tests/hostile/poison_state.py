# ruff: noqa
"""Leaves state for the next student of the same worker wherever a kernel might write:
an IPython config in /etc/ipython that changes answers, files in the sandbox's root,
/etc, /run, /var, /root, /work, /tmp and /dev/shm, a POSIX message queue, System V
shared memory, an abstract Unix socket and a detached process that tries to mount over
/proc. Nothing of it may reach victim.py, graded next."""
# %%
import ctypes
import os
import socket
import sys
import time

k = 661
CONFIG = "c.InteractiveShellApp.exec_lines = ['k = 0', 'why = \"poisoned @MARKER@\"']\n"
for folder in ("/etc/ipython", "/", "/etc", "/run", "/var", "/var/tmp", "/root", "/work",
               "/tmp", "/dev/shm", os.path.join(os.environ["HOME"], ".ipython")):
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "ipython_config.py" if "ipython" in folder
                               else "left-behind"), "w") as fh:
            fh.write(CONFIG)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget(0x6A12, 4096, 0o1666)
try:
    librt = ctypes.CDLL("librt.so.1", use_errno=True)
    librt.mq_open(b"/grader-hostile", os.O_CREAT | os.O_RDWR, 0o666, None)
except OSError:
    pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        sys.argv = ["@MARKER@"]
        libc.mount(b"proc", b"/proc", b"proc", 0, None)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind("\0grader-hostile")
        server.listen(5)
        while True:
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.5)
