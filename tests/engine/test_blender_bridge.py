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
