import pytest

from engine.blender import run_blender_job
from engine.errors import JobError


def test_ping_job_runs_in_worker(tmp_path):
    seen = []
    result = run_blender_job("ping", {"echo": 7}, tmp_path, progress=seen.append)
    assert result["echo"] == 7
    assert result["blender_version"].startswith("5.")
    assert seen == ["ping 1/1"]
    assert (tmp_path / "blender.log").exists()


def test_failed_job_raises_with_log(tmp_path):
    with pytest.raises(JobError) as info:
        run_blender_job("ping", {"crash": True}, tmp_path)
    assert "asked to fail" in str(info.value)
    assert info.value.log_path.exists()


def test_main_process_never_imports_bpy():
    import subprocess
    import sys

    code = "import engine, bodies, engine.blender, atelier.cli, sys; print('bpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its reaper is gone for our purposes
        return "State:\tZ" not in open(f"/proc/{pid}/status").read()
    except OSError:
        return False


def _wait_for(predicate, seconds: float) -> bool:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.blender
def test_timeout_holds_for_a_silent_worker_that_ignores_signals(tmp_path):
    import time

    pid_file = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(JobError) as info:
        run_blender_job("ping", {"sleep": 120, "ignore_signals": True, "pid_file": str(pid_file)}, tmp_path, timeout=8)
    assert time.monotonic() - start < 40  # not the 120 s the worker wanted
    assert "timed out after 8 s" in str(info.value) and str(tmp_path / "blender.log") in str(info.value)
    assert info.value.log_path.exists()
    assert not _alive(int(pid_file.read_text()))


@pytest.mark.blender
def test_worker_does_not_outlive_a_killed_caller(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    pid_file = tmp_path / "pid"
    code = ("from engine.blender import run_blender_job; "
            f"run_blender_job('ping', {{'sleep': 120, 'pid_file': {str(pid_file)!r}}}, {str(tmp_path)!r}, timeout=300)")
    caller = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert _wait_for(pid_file.exists, 60), "the worker did not start"
        worker = int(pid_file.read_text())
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait()
        assert _wait_for(lambda: not _alive(worker), 10), "the worker outlived its caller"
    finally:
        if caller.poll() is None:
            caller.kill()
