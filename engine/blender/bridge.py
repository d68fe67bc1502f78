"""Launch a Blender job in a worker process and collect its result (main-process side; no bpy)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import JobError
from ..storage import write_json
from ..types import PathLikeStr

#: Jobs the worker knows: kind -> module under engine.blender that defines ``run(spec, workdir)``.
JOBS = {
    "ping": "engine.blender.ping_job",
    "drape": "engine.blender.drape_job",
    "render": "engine.blender.render_job",
    "export": "engine.blender.export_job",
    "animate": "engine.blender.animate_job",
}


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def run_blender_job(
    kind: str,
    spec: dict,
    workdir: PathLikeStr,
    timeout: float = 600.0,
    progress=None,
) -> dict:
    """Run one Blender job in its own process.

    Args:
        kind: a key of :data:`JOBS`.
        spec: JSON-serialisable job description; paths in it should be absolute.
        workdir: folder for the spec, the log (``blender.log``) and the result (``result.json``).
        timeout: seconds before the worker is killed and the job fails.
        progress: optional callable ``(line: str) -> None`` fed with the worker's ``PROGRESS`` lines.

    Returns:
        The worker's result dict (from ``result.json``).

    Raises:
        JobError: the worker crashed, timed out or reported an error; the message names the log.
    """
    if kind not in JOBS:
        raise ValueError(f"unknown Blender job kind {kind!r}; known: {sorted(JOBS)}")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{kind}_job.json"
    result_path = workdir / f"{kind}_result.json"
    log_path = workdir / "blender.log"
    if result_path.exists():
        result_path.unlink()
    write_json(spec_path, {"kind": kind, "module": JOBS[kind], "result": str(result_path), "spec": spec})

    env = dict(os.environ)
    # The worker must import this same checkout of Atelier.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-u", "-m", "engine.blender.worker", str(spec_path)]
    start = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"\n=== {kind} job {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                log.write(raw)
                if progress is not None and raw.startswith(b"PROGRESS "):
                    progress(raw[9:].decode(errors="replace").strip())
                if time.monotonic() - start > timeout:
                    raise subprocess.TimeoutExpired(cmd, timeout)
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise JobError(
                f"Blender {kind} job timed out after {timeout:.0f} s",
                hint=f"see {log_path}; raise the time limit or lower the resolution",
                log_path=log_path,
            ) from None
        except KeyboardInterrupt:
            # Forward the interrupt to Blender, then let the caller stop.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise

    result = None
    if result_path.exists():
        result = json.loads(result_path.read_text())
    if result is not None and result.get("error"):
        err_kind = result.get("error_kind", "JobError")
        from .. import errors

        cls = getattr(errors, err_kind, JobError)
        if not (isinstance(cls, type) and issubclass(cls, JobError)):
            cls = JobError
        raise cls(
            f"Blender {kind} job failed: {result['error']}",
            hint=result.get("hint") or f"Blender's output is kept in {log_path}",
            log_path=log_path,
        )
    if proc.returncode != 0 or result is None:
        raise JobError(
            f"Blender {kind} job crashed (exit code {proc.returncode}). Last lines:\n{_log_tail(log_path)}",
            hint=f"Blender's full output is in {log_path}",
            log_path=log_path,
        )
    result["seconds"] = time.monotonic() - start
    result["log"] = str(log_path)
    return result
