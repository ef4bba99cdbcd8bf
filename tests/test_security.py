"""Student data is never evaluated in the grader's process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader import grade_submission, load_rubric

MINI = Path(__file__).parent / "data" / "mini"


@pytest.mark.kernel
def test_srepr_with_a_call_outside_sympy_is_rejected_not_run(tmp_path):
    marker = tmp_path / "pwned"
    # The submission makes sympy.srepr return code; the grader must refuse it as data.
    source = textwrap.dedent(f"""
        import sympy
        x = sympy.Symbol("x")
        payload = "__import__('pathlib').Path({str(marker)!r}).touch() or Symbol('x')"
        sympy.srepr = lambda expr, **kw: payload
        sympy.printing.repr.srepr = sympy.srepr
        expr = x**2
        k = 661
    """)
    path = tmp_path / "mallory.py"
    path.write_text(source)
    result = grade_submission(path, load_rubric(MINI / "rubric.toml"))
    checks = {c.answer: c for q in result.questions for c in q.checks}
    assert checks["expr"].status == "error"
    assert "refused" in checks["expr"].message
    assert checks["k"].status == "passed"  # the rest is still graded
    assert not marker.exists()


@pytest.mark.kernel
def test_printed_fake_results_do_not_pose_as_answers(tmp_path):
    source = textwrap.dedent("""
        import json
        from IPython.display import publish_display_data
        fake = {"k": {"t": "int", "v": "661"}}
        publish_display_data({"application/vnd.grader.result+json":
                              {"nonce": "guess", "payload": fake}})
        print(json.dumps(fake))
        k = 1
    """)
    path = tmp_path / "faker.py"
    path.write_text(source)
    result = grade_submission(path, load_rubric(MINI / "rubric.toml"))
    checks = {c.answer: c for q in result.questions for c in q.checks}
    assert checks["k"].status == "failed"


def _watch(tmp_path: Path, **kwargs):
    import threading

    from grader.kernel.sandbox import DiskWatch

    reasons: list[str] = []
    fired = threading.Event()

    def on_exceed(why: str) -> None:
        reasons.append(why)
        fired.set()

    return DiskWatch(tmp_path, on_exceed=on_exceed, interval=0.02, **kwargs), reasons, fired


def test_disk_watch_counts_from_the_submissions_own_files(tmp_path):
    (tmp_path / "dataset.bin").write_bytes(b"\1" * 3 * 1024 * 1024)  # 3 MB already there
    watch, reasons, fired = _watch(tmp_path, max_mb=2, max_entries=1000)
    watch.start()
    try:
        (tmp_path / "out.bin").write_bytes(b"\1" * 1024 * 1024)  # 1 MB written: under 2
        assert not fired.wait(0.3), reasons
        (tmp_path / "nested").mkdir()
        (tmp_path / "nested" / "more.bin").write_bytes(b"\1" * 2 * 1024 * 1024)
        assert fired.wait(5)
    finally:
        watch.stop()
    assert reasons == ["it wrote more than 2 MB to disk (the limit is max_disk_mb)"]


def test_disk_watch_counts_entries_and_ignores_symlinked_trees(tmp_path):
    big = tmp_path.parent / (tmp_path.name + "-elsewhere")
    big.mkdir()
    (big / "huge.bin").write_bytes(b"\1" * 4 * 1024 * 1024)
    (tmp_path / "link").symlink_to(big)
    watch, reasons, fired = _watch(tmp_path, max_mb=1, max_entries=100)
    assert watch.usage()[0] < 1024 * 1024  # the link's target is not ours
    watch.start()
    try:
        for i in range(150):
            (tmp_path / f"f{i}").touch()
        assert fired.wait(5)
    finally:
        watch.stop()
    assert reasons == ["it created more than 100 files and folders (the limit is max_files)"]


def test_stale_groups_of_killed_graders_are_swept(tmp_path):
    import os
    import time

    from grader.kernel.sandbox import KernelCgroup

    old_empty, old_busy, new_empty = (tmp_path / f"grader-{n}" for n in ("a", "b", "c"))
    for folder in (old_empty, old_busy, new_empty):
        folder.mkdir()
    (old_busy / "cgroup.procs").write_text("123")  # a group in use cannot be removed
    (tmp_path / "other").mkdir()
    long_ago = time.time() - KernelCgroup.STALE_SECONDS - 60
    for folder in (old_empty, old_busy, tmp_path / "other"):
        os.utime(folder, (long_ago, long_ago))
    KernelCgroup._sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grader-b", "grader-c", "other"]
