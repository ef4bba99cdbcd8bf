"""The seccomp filter and the privilege drop every kernel runs under (grader/kernel/seccomp.py)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from grader.kernel import seccomp
from grader.kernel.confine import __file__ as CONFINE

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the filter has a table for x86-64 only")

# Run in a child process: load the filter, then try each call; print what each returned.
PROBE = """
import ctypes, errno, json, os, sys, threading
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from confine import drop_capabilities, install_seccomp
install_seccomp(bytes.fromhex(sys.argv[2]))
libc = ctypes.CDLL(None, use_errno=True)
out = {}
for name, nr, args in json.loads(sys.argv[3]):
    r = libc.syscall(nr, *args)
    if r == 0 and name == "clone_namespace":
        os._exit(0)
    out[name] = r if r >= 0 else -ctypes.get_errno()
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["thread"] = 0
try:
    os.memfd_create("x"); out["memfd"] = 0
except OSError as exc:
    out["memfd"] = -exc.errno
with open("/proc/self/status") as fh:
    wanted = ("Seccomp:", "NoNewPrivs")
    out["status"] = {l.split(":")[0]: l.split()[1] for l in fh if l.startswith(wanted)}
print(json.dumps(out))
"""

# (name, x86-64 number, arguments): each must be refused with EPERM.
REFUSED = [
    ("unshare", 272, [0x10000000]), ("setns", 308, [0, 0]), ("mount", 165, [0, 0, 0, 0, 0]),
    ("umount2", 166, [0, 0]), ("pivot_root", 155, [0, 0]), ("ptrace", 101, [16, 1, 0, 0]),
    ("process_vm_readv", 310, [1, 0, 0, 0, 0, 0]), ("process_vm_writev", 311, [1, 0, 0, 0, 0, 0]),
    ("keyctl", 250, [0, 0]), ("bpf", 321, [0, 0, 0]), ("perf_event_open", 298, [0, 0, -1, -1, 0]),
    ("userfaultfd", 323, [0]), ("kexec_load", 246, [0, 0, 0, 0]),
    ("kexec_file_load", 320, [0, 0, 0, 0, 0]), ("init_module", 175, [0, 0, 0]),
    ("finit_module", 313, [-1, 0, 0]), ("delete_module", 176, [0, 0]),
    ("io_uring_setup", 425, [1, 0]), ("open_tree", 428, [0, 0, 0]),
    ("clone_namespace", 56, [0x00020000 | 17, 0, 0, 0, 0]),
    ("clone_user_namespace", 56, [0x10000000 | 17, 0, 0, 0, 0]),
]


def _probe(code: bytes, calls: list) -> dict:
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, CONFINE, code.hex(),
                           json.dumps(calls)], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def test_the_table_refuses_what_the_issue_names() -> None:
    assert set(seccomp.REQUIRED) <= set(seccomp.X86_64)


@pytest.mark.parametrize("deny_memfd", [False, True])
def test_every_forbidden_call_is_refused_and_ordinary_work_goes_on(deny_memfd: bool) -> None:
    code = seccomp.program(deny_memfd=deny_memfd)
    assert code is not None and len(code) % 8 == 0
    out = _probe(code, REFUSED)
    for name, _, _ in REFUSED:
        assert out[name] == -1, (name, out[name])  # -EPERM
    assert out["fork"] == 7 and out["thread"] == 0  # clone without namespace flags, clone3
    assert out["memfd"] == (-1 if deny_memfd else 0)
    assert out["status"] == {"Seccomp": "2", "NoNewPrivs": "1"}


def test_the_other_abi_is_refused_whole() -> None:
    # The program's first test: a call whose arch is not x86-64 returns EPERM.
    code = seccomp.program()
    assert code is not None
    first = [code[i:i + 8] for i in range(0, 24, 8)]
    assert first[1][4:] == (0xC000003E).to_bytes(4, "little")
    assert first[2] == (0x06).to_bytes(2, "little") + b"\0\0" + (0x00050001).to_bytes(4, "little")
