"""Executors: run job payloads (:func:`scenes.jobs.execute`) on N slots with a time limit per job.

- :class:`LocalExecutor`: a pool of long-lived worker processes on this machine. A job that runs
  past its limit gets its worker killed (and a fresh worker started); a worker that dies (a
  segfault, ``os._exit``, the OOM killer) fails its job. Either way the job reports an error and
  the other workers carry on.
- :class:`RayExecutor`: the same on a Ray cluster (``address=None`` starts a local instance).
  Ray is optional: asking for it without it installed raises
  :class:`engine.errors.MissingDependencyError` naming the extra.

Both keep at most ``workers`` jobs running and queue the rest, so a job's time limit counts from
when it starts, not from when it was submitted. Retries are the runner's business: an executor
reports each attempt's outcome once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
import types
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from engine.errors import AtelierError, JobError, MissingDependencyError


@dataclass
class JobResult:
    """Outcome of one job attempt.

    Attributes:
        job_id: the id given to :meth:`Executor.submit`.
        ok: True when the job returned.
        value: the job's return dict (ok) or an error dict ``{"type", "message", "hint"}``.
        seconds: wall time of the attempt, s.
        worker: where it ran (e.g. "local-1 pid 1234" or a Ray node id).
    """

    job_id: str
    ok: bool
    value: dict
    seconds: float
    worker: str = ""


def _keep_logs_of(payload: dict, pid: int):
    """The logs of a job killed in worker ``pid`` (scenes.jobs.keep_logs), or None."""
    from .jobs import keep_logs, tmp_dir_of

    final = payload.get("dir") if isinstance(payload, dict) else None
    if not final:
        return None
    from pathlib import Path

    return keep_logs(tmp_dir_of(Path(final), pid), Path(final))


def error_dict(exc: BaseException) -> dict:
    """A picklable description of an exception raised by a job."""
    return {
        "type": type(exc).__name__,
        "message": getattr(exc, "message", None) or str(exc) or type(exc).__name__,
        "hint": getattr(exc, "hint", None),
        "user_error": isinstance(exc, AtelierError) and not isinstance(exc, JobError),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    }


@dataclass
class _Pending:
    job_id: str
    payload: dict
    timeout: float


class Executor:
    """Base class: a queue in front of ``workers`` slots. Subclasses implement ``_start_job``,
    ``_collect`` and ``_kill``."""

    kind = "base"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise AtelierError(f"--workers must be at least 1, got {workers}")
        self.workers = int(workers)
        self._queue: deque[_Pending] = deque()

    # public ------------------------------------------------------------------------------------
    def submit(self, job_id: str, payload: dict, timeout: float) -> None:
        """Queue a job; it starts when a slot is free and is stopped after ``timeout`` seconds."""
        self._queue.append(_Pending(job_id, payload, float(timeout)))
        self._fill()

    @property
    def busy(self) -> int:
        """Jobs queued or running."""
        return len(self._queue) + self._running_count()

    def poll(self, timeout: float = 0.5) -> list[JobResult]:
        """Finished attempts since the last call (waits up to ``timeout`` s for one)."""
        results = self._collect(timeout)
        self._fill()
        return results

    def close(self) -> None:
        """Stop every worker (running jobs are abandoned)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # internals ---------------------------------------------------------------------------------
    def _fill(self) -> None:
        while self._queue and self._running_count() < self.workers:
            self._start_job(self._queue.popleft())

    def _running_count(self) -> int:
        raise NotImplementedError

    def _start_job(self, job: _Pending) -> None:
        raise NotImplementedError

    def _collect(self, timeout: float) -> list[JobResult]:
        raise NotImplementedError


# --- in this process ---------------------------------------------------------------------------
class InlineExecutor(Executor):
    """Runs each job in this process, one at a time (for scripts and debugging). There is no
    per-job time limit beyond the Blender jobs' own (they run in child processes)."""

    kind = "inline"

    def __init__(self):
        super().__init__(1)
        self._done: list[JobResult] = []

    def _running_count(self) -> int:
        return 0 if not self._done else 1

    def _start_job(self, job: _Pending) -> None:
        from .jobs import execute

        t0 = time.monotonic()
        try:
            self._done.append(JobResult(job.job_id, True, execute(job.payload), time.monotonic() - t0, "inline"))
        except Exception as exc:
            self._done.append(JobResult(job.job_id, False, error_dict(exc), time.monotonic() - t0, "inline"))

    def _collect(self, timeout: float) -> list[JobResult]:
        out, self._done = self._done, []
        return out


# --- local process pool ------------------------------------------------------------------------
def _worker_main(conn, parent_pid: int) -> None:
    """Loop of one local worker process: receive (job_id, payload), send (job_id, ok, value, s)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from .jobs import execute

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None or os.getppid() != parent_pid:
            return
        job_id, payload = msg
        t0 = time.monotonic()
        try:
            value = execute(payload)
            out = (job_id, True, value, time.monotonic() - t0)
        except BaseException as exc:  # reported to the parent; the worker lives on
            out = (job_id, False, error_dict(exc), time.monotonic() - t0)
        try:
            conn.send(out)
        except (EOFError, OSError, BrokenPipeError):
            return


@dataclass
class _Slot:
    index: int
    proc: mp.Process
    conn: object
    job: _Pending | None = None
    started: float = 0.0
    jobs_done: int = 0
    history: list = field(default_factory=list)


class LocalExecutor(Executor):
    """``workers`` long-lived worker processes (spawned, so no state leaks from the parent).

    Args:
        workers: number of processes (jobs run at once).
        env: extra environment variables for the workers (e.g. ``PYOPENGL_PLATFORM``).
    """

    kind = "local"

    def __init__(self, workers: int = 1, env: dict | None = None):
        super().__init__(workers)
        self._ctx = mp.get_context("spawn")
        self._env = dict(env or {})
        self._slots: list[_Slot] = []
        self._closed = False
        for i in range(self.workers):
            self._slots.append(self._spawn(i))

    def _spawn(self, index: int) -> _Slot:
        old = {k: os.environ.get(k) for k in self._env}
        os.environ.update(self._env)
        try:
            parent, child = self._ctx.Pipe(duplex=True)
            proc = self._ctx.Process(target=_worker_main, args=(child, os.getpid()), daemon=True,
                                     name=f"atelier-worker-{index}")
            # The worker's entry point is importable by name, so hide the caller's __main__ from
            # spawn: an artist's script run by `atelier run` must not be re-run in every worker.
            main = sys.modules.get("__main__")
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                proc.start()
            finally:
                if main is not None:
                    sys.modules["__main__"] = main
            child.close()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return _Slot(index, proc, parent)

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [s.proc.pid for s in self._slots]

    def _running_count(self) -> int:
        return sum(1 for s in self._slots if s.job is not None)

    def _start_job(self, job: _Pending) -> None:
        slot = next(s for s in self._slots if s.job is None)
        if not slot.proc.is_alive():
            self._replace(slot)
            slot = self._slots[slot.index]
        slot.job, slot.started = job, time.monotonic()
        try:
            slot.conn.send((job.job_id, job.payload))
        except (BrokenPipeError, OSError):
            pass  # noticed as a dead worker in _collect

    def _replace(self, slot: _Slot) -> None:
        try:
            slot.conn.close()
        except OSError:
            pass
        if slot.proc.is_alive():
            slot.proc.kill()
        slot.proc.join(timeout=5)
        self._slots[slot.index] = self._spawn(slot.index)

    def _collect(self, timeout: float) -> list[JobResult]:
        results: list[JobResult] = []
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            time.sleep(min(timeout, 0.05))
            return results
        now = time.monotonic()
        wait_for = min([timeout] + [max(0.0, s.started + s.job.timeout - now) for s in busy])
        ready = mp_wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=wait_for)
        for slot in busy:
            job = slot.job
            who = f"local-{slot.index} pid {slot.proc.pid}"
            if slot.conn in ready:
                try:
                    job_id, ok, value, secs = slot.conn.recv()
                except (EOFError, OSError):
                    pass  # died while sending: handled below as a crash
                else:
                    results.append(JobResult(job_id, ok, value, secs, who))
                    slot.job = None
                    slot.jobs_done += 1
                    continue
            elapsed = time.monotonic() - slot.started
            if not slot.proc.is_alive() or slot.proc.sentinel in ready:
                slot.proc.join(timeout=1)
                code = slot.proc.exitcode
                results.append(JobResult(job.job_id, False, {
                    "type": "WorkerCrash", "message": f"the worker process died (exit code {code}) during the job",
                    "hint": "a crash in a renderer or in Blender; the job is retried if retries are left",
                    "user_error": False}, elapsed, who))
                slot.job = None
                self._replace(slot)
            elif elapsed > job.timeout:
                pid = slot.proc.pid
                slot.job = None
                self._kill_tree(slot)
                kept = _keep_logs_of(job.payload, pid)
                results.append(JobResult(job.job_id, False, {
                    "type": "Timeout", "message": f"stopped after {job.timeout:.0f} s (time limit)",
                    "hint": "raise run.cell_timeout_s / drape.timeout_s or lower the resolution"
                            + (f"; the job's logs are kept in {kept}" if kept else ""),
                    "user_error": False}, elapsed, who))
                self._replace(slot)
        return results

    @staticmethod
    def _kill_tree(slot: _Slot) -> None:
        """Kill a worker and the Blender children it started (they run in their own sessions,
        so they are found through /proc by parent id)."""
        pid = slot.proc.pid
        for child in _children(pid):
            try:
                os.killpg(child, signal.SIGKILL)
            except OSError:
                try:
                    os.kill(child, signal.SIGKILL)
                except OSError:
                    pass
        try:
            slot.proc.kill()
        except OSError:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in self._slots:
            if slot.job is not None:
                self._kill_tree(slot)
            else:
                try:
                    slot.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
        for slot in self._slots:
            slot.proc.join(timeout=5)
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join(timeout=5)
            try:
                slot.conn.close()
            except OSError:
                pass


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(p.name))
    return out


# --- Ray ---------------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "the Ray executor needs the 'ray' package, which is not installed",
            hint="install the extra: pip install 'atelier[ray]' (or pip install 'ray>=2.60'), or use --executor local",
        ) from None
    return ray


def _ray_job(payload: dict) -> tuple[bool, dict, float, str]:
    """Body of the Ray task: never raises (errors come back as a dict)."""
    import socket

    from .jobs import execute

    t0 = time.monotonic()
    where = f"ray {socket.gethostname()} pid {os.getpid()}"
    try:
        return True, execute(payload), time.monotonic() - t0, where
    except BaseException as exc:
        return False, error_dict(exc), time.monotonic() - t0, where


class RayExecutor(Executor):
    """Jobs as Ray tasks (one CPU each), at most ``workers`` at once.

    Args:
        workers: jobs run at once (for a local instance also its ``num_cpus``).
        address: a cluster address (``ray://host:10001`` or ``host:6379``); None starts a local
            instance. On a cluster, every node needs Atelier installed and the output folder on
            a shared file system.
        env: environment variables for the workers (``runtime_env``).
    """

    kind = "ray"

    def __init__(self, workers: int = 1, address: str | None = None, env: dict | None = None):
        super().__init__(workers)
        ray = _import_ray()
        self._ray = ray
        root = str(Path(__file__).resolve().parents[1])
        env_vars = {"PYTHONPATH": root + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
        env_vars.update({k: str(v) for k, v in (env or {}).items()})
        self._owns = not ray.is_initialized()
        if self._owns:
            kw = dict(include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                      runtime_env={"env_vars": env_vars})
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=self.workers, **kw)
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_job)
        self._running: dict = {}  # ObjectRef -> (_Pending, started)

    def _running_count(self) -> int:
        return len(self._running)

    def _start_job(self, job: _Pending) -> None:
        ref = self._task.remote(job.payload)
        self._running[ref] = (job, time.monotonic())

    def _collect(self, timeout: float) -> list[JobResult]:
        results: list[JobResult] = []
        if not self._running:
            time.sleep(min(timeout, 0.05))
            return results
        now = time.monotonic()
        wait_for = min([timeout] + [max(0.0, st + j.timeout - now) for j, st in self._running.values()])
        refs = list(self._running)
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=wait_for)
        for ref in ready:
            job, started = self._running.pop(ref)
            try:
                ok, value, secs, where = self._ray.get(ref)
            except Exception as exc:  # the Ray worker died
                ok, value, secs, where = False, {
                    "type": "WorkerCrash", "message": f"the Ray worker died during the job: {exc}"[:2000],
                    "hint": "the job is retried if retries are left", "user_error": False,
                }, time.monotonic() - started, "ray"
            results.append(JobResult(job.job_id, ok, value, secs, where))
        now = time.monotonic()
        for ref, (job, started) in list(self._running.items()):
            if now - started > job.timeout:
                self._ray.cancel(ref, force=True)
                del self._running[ref]
                results.append(JobResult(job.job_id, False, {
                    "type": "Timeout", "message": f"stopped after {job.timeout:.0f} s (time limit)",
                    "hint": "raise run.cell_timeout_s / drape.timeout_s or lower the resolution",
                    "user_error": False}, now - started, "ray"))
        return results

    def close(self) -> None:
        for ref in list(self._running):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:
                pass
        self._running.clear()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str = "local", workers: int = 1, address: str | None = None, env: dict | None = None) -> Executor:
    """An executor by name: ``local`` or ``ray``."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        if address:
            raise AtelierError("--address is for --executor ray", hint="drop --address or add --executor ray")
        return LocalExecutor(workers, env=env)
    if kind == "ray":
        return RayExecutor(workers, address=address, env=env)
    raise AtelierError(f"unknown executor {kind!r}", hint="choose local or ray")


__all__ = ["Executor", "InlineExecutor", "JobResult", "LocalExecutor", "RayExecutor", "error_dict", "make_executor"]
