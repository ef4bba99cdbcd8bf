# ruff: noqa
"""Tries what root in a user namespace could do: remount the read-only binds writable (the
grader's agent, the Python installation, /usr) and rewrite them, make namespaces, trace
and read other processes, load kernel code. ``why`` lists what it got; the test wants
every attempt refused, no capability, no_new_privs and a seccomp filter."""
# %%
import ctypes
import os
import sys

k = 661
libc = ctypes.CDLL(None, use_errno=True)
got = {}
with open("/proc/self/status") as fh:
    for line in fh:
        key, _, value = line.partition(":")
        if key in ("Uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"):
            got[key] = value.split()[0]
agent = os.path.join(os.path.dirname(os.getcwd()), "agent")
MS_REMOUNT, MS_BIND = 32, 4096
for target in (agent, sys.prefix, os.path.dirname(os.__file__), "/usr", "/"):
    if libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND, None) == 0:
        got["remounted " + target] = True
# Only in the sandbox's uid: a test run without a sandbox must not damage its own machine.
for path in (os.path.join(agent, "grader_kernel_agent.py"), os.__file__, "/usr/bin/env") \
        if os.getuid() == 1000 else ():
    try:
        with open(path, "a") as fh:
            fh.write("\n# @MARKER@\n")
        got["wrote " + path] = True
    except OSError:
        pass
calls = {  # x86-64 numbers; each must fail
    "unshare": (272, 0x10000000), "setns": (308, 0, 0), "mount": (165, 0, 0, 0, 0, 0),
    "umount2": (166, 0, 0), "pivot_root": (155, 0, 0), "ptrace": (101, 16, 1, 0, 0),
    "process_vm_readv": (310, 1, 0, 0, 0, 0, 0), "keyctl": (250, 0, 0),
    "bpf": (321, 0, 0, 0), "perf_event_open": (298, 0, 0, -1, -1, 0),
    "userfaultfd": (323, 0), "kexec_load": (246, 0, 0, 0, 0), "init_module": (175, 0, 0, 0),
    "finit_module": (313, -1, 0, 0), "clone_newns": (56, 0x00020000 | 17, 0, 0, 0, 0),
}
for name, (nr, *args) in calls.items():
    result = libc.syscall(nr, *args)
    if result == 0 and name == "clone_newns":
        os._exit(0)  # the child of a clone that should not have worked
    if result >= 0:
        got["allowed " + name] = result
why = "found: " + repr(got)
