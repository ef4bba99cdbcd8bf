"""The seccomp filter every kernel runs under: the system calls a sandbox escape needs.

A classic BPF program (``struct sock_filter`` records) built here, in the grader, from a
table, and handed as bytes to whatever installs it: bubblewrap (``--seccomp FD``) for a
kernel started as a new process, the kernel fork server (``grader.kernel.zygote``) for a forked
one, or the launcher when there is no sandbox. The filter refuses, with ``EPERM``:

- namespaces and mounts: ``mount``, ``umount2``, ``pivot_root``, ``unshare``, ``setns``,
  the new mount API, and ``clone`` with any namespace flag (``clone3`` answers ``ENOSYS``,
  so the C library falls back to ``clone``, whose flags a filter can read);
- reading or writing other processes: ``ptrace``, ``process_vm_readv``/``writev``,
  ``kcmp``, ``pidfd_getfd``, ``process_madvise``;
- the kernel's attack surface a notebook never needs: ``keyctl`` and the key calls,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, module loading, ``kexec``,
  ``reboot``, swap, accounting, quotas, clocks, ``syslog``, file handles;
- ``memfd_create``, only when asked (no memory cgroup bounds its pages).

Calls made through another ABI (x86's 32-bit ``int 0x80``, x32) are refused whole: their
numbers differ and would slip past the table. Only x86-64 has a table; elsewhere
:func:`program` returns None and the result's bounds say there was no filter.
"""

from __future__ import annotations

import errno
import functools
import platform
import struct

# linux/filter.h and linux/seccomp.h
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little-endian args)
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | \
    0x20000000 | 0x40000000 | 0x00000080

# x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
X86_64: dict[str, int] = {
    "mount": 165, "umount2": 166, "pivot_root": 155, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "chroot": 161,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "pidfd_getfd": 438, "process_madvise": 440,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "quotactl": 179, "quotactl_fd": 443, "settimeofday": 164, "clock_settime": 227,
    "clock_adjtime": 305, "adjtimex": 159, "syslog": 103, "vhangup": 153,
    "lookup_dcookie": 212, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "iopl": 172, "ioperm": 173, "uselib": 134, "_sysctl": 156, "nfsservctl": 180,
    "memfd_secret": 447,
}
_X86_64_CLONE, _X86_64_CLONE3, _X86_64_MEMFD_CREATE = 56, 435, 319

# What the issue of the sandbox names as the least the filter must refuse; a test holds
# the table to it.
REQUIRED = ("mount", "umount2", "pivot_root", "unshare", "setns", "ptrace",
            "process_vm_readv", "process_vm_writev", "keyctl", "bpf", "perf_event_open",
            "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
            "delete_module")


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


@functools.cache
def program(*, deny_memfd: bool = False) -> bytes | None:
    """The filter as the bytes of a ``sock_filter`` array, or None on an untabled machine."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    deny = _RET_ERRNO | errno.EPERM
    out = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, _AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, deny),  # another ABI
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, _X32_BIT, jf=1),
        _insn(_RET_K, deny),  # the x32 ABI
    ]
    numbers = sorted(set(X86_64.values()) | ({_X86_64_MEMFD_CREATE} if deny_memfd else set()))
    for nr in numbers:
        out += [_insn(_JEQ_K, nr, jf=1), _insn(_RET_K, deny)]
    out += [_insn(_JEQ_K, _X86_64_CLONE3, jf=1), _insn(_RET_K, _RET_ERRNO | errno.ENOSYS)]
    # clone: refused when its flags ask for a namespace (the flags are the first argument).
    out += [_insn(_JEQ_K, _X86_64_CLONE, jf=3),
            _insn(_LD_W_ABS, _ARG0_LOW),
            _insn(_JSET_K, NAMESPACE_FLAGS, jf=1),
            _insn(_RET_K, deny)]
    out.append(_insn(_RET_K, _RET_ALLOW))
    return b"".join(out)
