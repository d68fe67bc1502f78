"""Launch a Blender job in a worker process and collect its result (main-process side; no bpy)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
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


def _pump(stream, log, progress) -> None:
    """Copy the worker's output to the log, feeding ``PROGRESS`` lines to ``progress``."""
    for raw in stream:
        log.write(raw)
        log.flush()
        if progress is not None and raw.startswith(b"PROGRESS "):
            progress(raw[9:].decode(errors="replace").strip())


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group (it runs in a session of its own) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_blender_job(
    kind: str,
    spec,
    workdir: PathLikeStr,
    timeout: float = 600.0,
    progress=None,
) -> dict:
    """Run one Blender job in its own process.

    Args:
        kind: a key of :data:`JOBS`.
        spec: the job's typed spec (:mod:`engine.blender.specs`, e.g. a ``DrapeJobSpec``) or a
            JSON-serialisable dict; paths in it should be absolute.
        workdir: folder for the spec, the log (``blender.log``) and the result (``result.json``).
        timeout: seconds before the worker is killed and the job fails.
        progress: optional callable ``(line: str) -> None`` fed with the worker's ``PROGRESS`` lines.

    Returns:
        The worker's result dict (from ``result.json``).

    Raises:
        JobError: the worker crashed, timed out or reported an error; the message names the log.

    The worker never outlives the caller: a time-out or Ctrl-C kills its process group, and the
    worker itself exits when the calling process dies (even by SIGKILL).
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
    if hasattr(spec, "to_dict"):  # a typed spec (engine.blender.specs)
        spec = spec.to_dict()
    write_json(spec_path, {"kind": kind, "module": JOBS[kind], "result": str(result_path), "spec": spec})

    env = dict(os.environ)
    # The worker must import this same checkout of Atelier.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["ATELIER_PARENT_PID"] = str(os.getpid())  # the worker dies with this process (worker._die_with_parent)
    cmd = [sys.executable, "-u", "-m", "engine.blender.worker", str(spec_path)]
    start = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"\n=== {kind} job {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        # The worker's output is read on a thread, so the time limit holds however the worker
        # behaves: silent, busy in C, or ignoring signals (it is killed with its process group).
        reader = threading.Thread(target=_pump, args=(proc.stdout, log, progress), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    proc.wait(timeout=min(1.0, max(0.05, timeout - (time.monotonic() - start))))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - start > timeout:
                        raise
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            reader.join(timeout=5)
            raise JobError(
                f"Blender {kind} job timed out after {timeout:.0f} s; its output is kept in {log_path}",
                hint="raise the time limit (--timeout) or lower the resolution",
                log_path=log_path,
            ) from None
        except BaseException:
            # Ctrl-C (or any other exit of the caller): forward the interrupt to Blender, then stop
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            _kill_group(proc)
            raise
        reader.join(timeout=10)

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
