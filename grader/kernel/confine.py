"""Drop a process's privileges: no capabilities, no_new_privs, the seccomp filter.

Standard library only, and no import of the grader: this file also runs as text where
the grader cannot be imported, in the kernel launcher (``grader.kernel.sandbox``) and beside
the kernel fork server (``grader.kernel.zygote``), so every kernel is confined by one code.
"""

from __future__ import annotations

import ctypes

_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522
_SYS_SECCOMP_X86_64 = 317
_SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 1, 1


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def drop_capabilities() -> None:
    """Empty every capability set of this process, the bounding and ambient sets too."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):  # past the last capability the call fails; nothing to drop
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def install_seccomp(code: bytes) -> None:
    """Set no_new_privs and load the BPF program ``code`` for every thread, if any."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if not code:
        return
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # seccomp(2) with TSYNC: every thread of the process gets the filter, or none does.
    if libc.syscall(_SYS_SECCOMP_X86_64, _SECCOMP_SET_MODE_FILTER,
                    _SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(prog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp")
