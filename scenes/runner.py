"""Run a campaign plan: drapes first (each once, cached), then cells as their drape is ready, on an
executor; retries, a progress display and an end summary.

Layout of the output folder ``OUT``::

    OUT/campaign.json          the campaign as run (resolved)
    OUT/plan.json              every cell: id, labels, drape key
    OUT/cells/<id>/            one folder per cell, content-addressed (id = hash of its inputs):
        <twin_outfit_size_pose_shot_locale_format>.png
        manifest.json          inputs, outputs (sha256), timings, attempts, worker
    OUT/drapes/<key>/          the drape cache (or --cache DIR): body.ply, layer<i>/garment.ply, drape.json
    OUT/renders.jsonl          one line per finished render, appended by the worker that made it
    OUT/runs/<run_id>.json     the summary of each run (done, skipped, failed and why, refused)
    OUT/summary.json           the latest run's summary
    OUT/index.json             label -> cell id and image, for people and scripts

A cell folder appears under its final name only when complete (built in a temporary folder,
manifest last, then renamed), so ``--resume`` skips exactly the finished cells and a killed run
loses only the cells it was drawing.

Consent hooks: ``authorise(cell)`` is called in this process before any job of the cell is
started (return False or raise :class:`Refused` to refuse it: the cell ends as ``refused``, which
is not a failure and is never retried); ``deliver(cell, images)`` is called after a cell's images
are complete (e.g. to stamp a disclosure). Both default to no-ops.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import AtelierError, InputError
from engine.storage import pid_alive, read_json, write_json

from .campaign import Cell, Plan, Refused
from .executor import Executor, JobResult
from .jobs import DRAPE_MANIFEST, MANIFEST, keep_logs


@dataclass
class CellState:
    """Where one cell stands in a run: ``pending``, ``running``, ``done``, ``skipped`` (finished
    by an earlier run), ``failed`` or ``refused``."""

    cell: Cell
    state: str = "pending"
    attempts: list = field(default_factory=list)
    reason: str | None = None
    images: list = field(default_factory=list)


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        run_id: id of this run (also in each manifest it wrote).
        total: cells in the plan.
        rendered: cells rendered by this run.
        skipped: cells already finished before this run (``--resume``).
        failed: ``[{"cell", "label", "reason", "attempts"}]``.
        refused: ``[{"cell", "label", "reason"}]``.
        drapes_made, drapes_cached: drapes computed by this run / found in the cache.
        seconds: wall time, s.
        cells_per_minute: rendered cells per minute of wall time (drapes included).
    """

    run_id: str
    total: int
    rendered: int
    skipped: int
    failed: list
    refused: list
    drapes_made: int
    drapes_cached: int
    seconds: float
    cells_per_minute: float
    executor: str
    workers: int

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"campaign run {self.run_id}: {self.rendered} rendered, {self.skipped} already done, "
               f"{len(self.failed)} failed, {len(self.refused)} refused, of {self.total} cells in {self.seconds:.0f} s "
               f"({self.cells_per_minute:.1f} cells/min, {self.workers} {self.executor} worker(s); "
               f"drapes: {self.drapes_made} made, {self.drapes_cached} cached)"]
        for f in self.failed:
            out.append(f"  FAILED  {f['label']} ({f['cell']}) after {f['attempts']} attempt(s): {f['reason']}")
        for r in self.refused:
            out.append(f"  REFUSED {r['label']} ({r['cell']}): {r['reason']}")
        return out


class CampaignProgress:
    """One status line per change: done, failed, refused, remaining, rate and ETA (stderr)."""

    def __init__(self, total: int, skipped: int, stream=None, quiet: bool = False, min_interval: float = 1.0):
        self.total, self.skipped = total, skipped
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.min_interval = min_interval
        self.start = time.monotonic()
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def text(self, done: int, failed: int, refused: int, note: str = "") -> str:
        finished = done + failed + refused
        remaining = self.total - self.skipped - finished
        elapsed = time.monotonic() - self.start
        rate = done / elapsed * 60.0 if elapsed > 0 else 0.0
        eta = (elapsed / finished * remaining) if finished else float("nan")
        eta_s = "?" if eta != eta else f"{eta:.0f}s"
        n = self.total
        frac = (self.skipped + finished) / n if n else 1.0
        bar = "#" * int(frac * 20)
        return (f"campaign [{bar:<20}] {self.skipped + done}/{n} done ({self.skipped} earlier), {failed} failed, "
                f"{refused} refused, {remaining} remaining, {rate:.1f} cells/min, eta {eta_s} {note}").rstrip()

    def update(self, done: int, failed: int, refused: int, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not force and now - self._last < self.min_interval):
            return
        self._last = now
        line = self.text(done, failed, refused, note)
        if self._tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._tty and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def finished_cells(out: Path, plan: Plan) -> set[str]:
    """Ids of the plan's cells whose folder is complete in ``out`` (manifest and images there)."""
    done = set()
    for c in plan.cells:
        m = out / "cells" / c.id / MANIFEST
        if m.exists():
            try:
                files = [o["file"] for o in read_json(m).get("outputs", [])]
            except (ValueError, KeyError, TypeError):
                continue
            if files and all((m.parent / f).exists() for f in files):
                done.add(c.id)
    return done


def sweep_stale(folder: Path) -> int:
    """Remove temporary cell/drape folders (``.tmp-<name>-<host>-<pid>``) left by processes of
    this host that are gone (a killed run), keeping their logs in ``failed-logs/``
    (:func:`scenes.jobs.keep_logs`). Returns how many were removed."""
    import shutil

    host = socket.gethostname()
    removed = 0
    if not folder.exists():
        return 0
    for p in folder.glob(".tmp-*"):
        head, _, pid = p.name.rpartition("-")
        if not pid.isdigit() or not head.endswith("-" + host):
            continue
        if not pid_alive(int(pid)):
            # a killed job's logs (a time-out's Blender log) are kept, the rest goes
            keep_logs(p, folder / head[len(".tmp-"):-len("-" + host)])
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


def cached_drapes(cache: Path, plan: Plan) -> set[str]:
    return {k for k in plan.drapes if (cache / k / DRAPE_MANIFEST).exists()}


def _no_authorise(cell: Cell) -> bool:
    return True


def _no_deliver(cell: Cell, images: list[Path]) -> None:
    return None


class CampaignRunner:
    """Runs a :class:`Plan` into an output folder with an executor.

    Args:
        plan: from :func:`scenes.campaign.expand`.
        out: output folder.
        executor: a :class:`scenes.executor.Executor` (the runner does not close it).
        resume: skip cells already finished in ``out``; without it a folder with finished cells
            is refused (so nothing is overwritten by accident).
        cache: drape cache folder (default ``out/drapes``); may be shared by campaigns.
        retries: extra attempts per failed job (default: the campaign's ``run.retries``).
        authorise: ``(cell) -> bool`` called before a cell is started; False or :class:`Refused`
            refuses it.
        deliver: ``(cell, images: list[Path]) -> None`` called once a cell is complete.
        quiet: no progress display.
    """

    def __init__(self, plan: Plan, out, executor: Executor, resume: bool = False, cache=None,
                 retries: int | None = None, authorise: Callable[[Cell], bool] | None = None,
                 deliver: Callable[[Cell, list], None] | None = None, quiet: bool = False, stream=None):
        self.plan = plan
        self.out = Path(out).resolve()
        self.executor = executor
        self.resume = resume
        self.cache = Path(cache).resolve() if cache else self.out / "drapes"
        run = plan.campaign.run
        self.retries = run.retries if retries is None else int(retries)
        self.cell_timeout = run.cell_timeout_s
        self.drape_timeout = plan.campaign.drape.timeout_s
        self.authorise = authorise or _no_authorise
        self.deliver = deliver or _no_deliver
        self.quiet = quiet
        self.stream = stream
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    # --- helpers ---------------------------------------------------------------------------------
    def _write_plan(self) -> None:
        write_json(self.out / "campaign.json", self.plan.campaign.model_dump(mode="json"))
        write_json(self.out / "plan.json", {
            "campaign": self.plan.campaign.name,
            "cells": [{"id": c.id, "label": c.label, "labels": c.labels, "drape": c.drape_key} for c in self.plan.cells],
            "drapes": {k: d.cells for k, d in self.plan.drapes.items()},
        })

    def _cell_payload(self, st: CellState) -> dict:
        c = st.cell
        return {"kind": "cell", "id": c.id, "labels": c.labels, "slug": c.slug, "inputs": c.inputs,
                "dir": str(self.out / "cells" / c.id), "drape_dir": str(self.cache / c.drape_key),
                "timeout": self._cell_timeout(c), "attempt": len(st.attempts) + 1,
                "previous_attempts": list(st.attempts), "run_id": self.run_id,
                "events": str(self.out / "renders.jsonl")}

    def _cell_timeout(self, cell) -> float:
        """``run.cell_timeout_s``; a video cell gets at least four times its estimated cost (a
        still's limit would stop an 8 s catwalk's cloth simulation half way)."""
        from .campaign import _cell_cost

        if not cell.inputs["format"].get("video"):
            return self.cell_timeout
        return max(self.cell_timeout, 4.0 * _cell_cost(cell.inputs))

    def _drape_payload(self, key: str) -> dict:
        return {"kind": "drape", "key": key, "inputs": self.plan.drapes[key].inputs,
                "dir": str(self.cache / key), "timeout": self.drape_timeout}

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Render every unfinished cell. Returns the summary (also written to ``out``)."""
        t0 = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "cells").mkdir(exist_ok=True)
        self.cache.mkdir(parents=True, exist_ok=True)
        sweep_stale(self.out / "cells")
        sweep_stale(self.cache)
        done_before = finished_cells(self.out, self.plan)
        if done_before and not self.resume:
            raise InputError(
                f"{self.out}: {len(done_before)} of {len(self.plan.cells)} cells are already finished here",
                hint="add --resume to skip them (and render the rest), or choose a new --out folder")
        self._write_plan()
        states = {c.id: CellState(c) for c in self.plan.cells}
        for cid in done_before:
            states[cid].state = "skipped"
            # A run killed between writing a cell and delivering it: deliver now (idempotent).
            folder = self.out / "cells" / cid
            files = [folder / o["file"] for o in read_json(folder / MANIFEST).get("outputs", [])]
            try:
                self.deliver(states[cid].cell, files)
            except Refused as exc:
                states[cid].state, states[cid].reason = "refused", str(exc)
        progress = CampaignProgress(len(states), len(done_before), stream=self.stream, quiet=self.quiet)

        # consent first: nothing of a refused cell is computed or drawn
        for st in states.values():
            if st.state != "pending":
                continue
            try:
                ok = self.authorise(st.cell)
                reason = "not authorised"
            except Refused as exc:
                ok, reason = False, str(exc) or "not authorised"
            if ok is False:
                st.state, st.reason = "refused", reason

        pending = [s for s in states.values() if s.state == "pending"]
        waiting: dict[str, list[CellState]] = {}
        for st in pending:
            waiting.setdefault(st.cell.drape_key, []).append(st)
        cached = cached_drapes(self.cache, self.plan)
        drape_attempts: dict[str, list] = {}
        drapes_made = 0
        counts = {"done": 0, "failed": 0, "refused": sum(1 for s in states.values() if s.state == "refused")}
        self._counts = counts

        for key in waiting:
            if key in cached:
                for st in waiting[key]:
                    self._submit_cell(st)
            else:
                self.executor.submit(f"drape:{key}", self._drape_payload(key), self.drape_timeout)
        progress.update(0, 0, counts["refused"], note=f"{len(waiting) - len(cached & set(waiting))} drape(s) to make",
                        force=True)
        try:
            while self.executor.busy:
                for res in self.executor.poll(0.5):
                    kind, _, ident = res.job_id.partition(":")
                    if kind == "drape":
                        drapes_made += self._on_drape(ident, res, waiting[ident], drape_attempts, counts)
                    else:
                        self._on_cell(states[ident], res, counts)
                    progress.update(counts["done"], counts["failed"], counts["refused"])
        except BaseException:
            progress.finish()
            raise
        progress.update(counts["done"], counts["failed"], counts["refused"], force=True)
        progress.finish()

        seconds = time.monotonic() - t0
        summary = RunSummary(
            run_id=self.run_id, total=len(states), rendered=counts["done"], skipped=len(done_before),
            failed=[{"cell": s.cell.id, "label": s.cell.label, "reason": s.reason, "attempts": len(s.attempts)}
                    for s in states.values() if s.state == "failed"],
            refused=[{"cell": s.cell.id, "label": s.cell.label, "reason": s.reason}
                     for s in states.values() if s.state == "refused"],
            drapes_made=drapes_made, drapes_cached=len(cached & set(waiting)), seconds=round(seconds, 2),
            cells_per_minute=round(counts["done"] / seconds * 60.0, 2) if seconds > 0 else 0.0,
            executor=self.executor.kind, workers=self.executor.workers,
        )
        data = {**asdict(summary), "host": socket.gethostname(), "pid": os.getpid()}
        write_json(self.out / "runs" / f"{self.run_id}.json", data)
        write_json(self.out / "summary.json", data)
        self._write_index(states)
        return summary

    def _submit_cell(self, st: CellState) -> None:
        # Consent is checked again right before the cell starts: a grant revoked during the run
        # stops every cell not yet started.
        try:
            ok, reason = self.authorise(st.cell), "not authorised"
        except Refused as exc:
            ok, reason = False, str(exc) or "not authorised"
        if ok is False:
            st.state, st.reason = "refused", reason
            self._counts["refused"] += 1
            return
        st.state = "running"
        self.executor.submit(f"cell:{st.cell.id}", self._cell_payload(st), self._cell_timeout(st.cell))

    def _on_drape(self, key: str, res: JobResult, cells: list[CellState], attempts: dict, counts: dict) -> int:
        if res.ok:
            for st in cells:
                self._submit_cell(st)
            return 0 if res.value.get("cached") else 1
        attempts.setdefault(key, []).append(_attempt(res))
        if _retryable(res) and len(attempts[key]) <= self.retries:
            self.executor.submit(f"drape:{key}", self._drape_payload(key), self.drape_timeout)
            return 0
        reason = f"drape {key} failed: {res.value.get('message')}"
        for st in cells:
            st.state, st.reason = "failed", reason
            st.attempts = list(attempts[key])
            counts["failed"] += 1
        return 0

    def _on_cell(self, st: CellState, res: JobResult, counts: dict) -> None:
        if res.ok:
            folder = self.out / "cells" / st.cell.id
            st.images = [folder / o["file"] for o in res.value.get("outputs", [])]
            st.state = "done" if not res.value.get("skipped") else "skipped"
            try:
                self.deliver(st.cell, st.images)
            except Refused as exc:  # the grant went away while the cell rendered
                st.state, st.reason = "refused", str(exc)
                counts["refused"] += 1
                return
            if st.state == "done":
                counts["done"] += 1
            return
        st.attempts.append(_attempt(res))
        if _retryable(res) and len(st.attempts) <= self.retries:
            self._submit_cell(st)
            return
        st.state, st.reason = "failed", f"{res.value.get('type')}: {res.value.get('message')}"
        counts["failed"] += 1

    def _write_index(self, states: dict[str, CellState]) -> None:
        index = {}
        for st in states.values():
            folder = self.out / "cells" / st.cell.id
            entry = {"id": st.cell.id, "state": st.state}
            if (folder / MANIFEST).exists():
                entry["images"] = [str(Path("cells") / st.cell.id / o["file"])
                                   for o in read_json(folder / MANIFEST).get("outputs", [])]
            if st.reason:
                entry["reason"] = st.reason
            index[st.cell.label] = entry
        write_json(self.out / "index.json", index)


def _attempt(res: JobResult) -> dict:
    return {"error": res.value.get("type"), "message": res.value.get("message"), "seconds": round(res.seconds, 2),
            "worker": res.worker, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _retryable(res: JobResult) -> bool:
    """Crashes, time limits and job errors are retried; a user input error is not (it would fail
    the same way again)."""
    return not res.value.get("user_error", False)


def run_plan(plan: Plan, out, workers: int = 1, executor: str = "local", address: str | None = None,
             resume: bool = False, cache=None, retries: int | None = None, authorise=None, deliver=None,
             quiet: bool = False) -> RunSummary:
    """Run a plan with a new executor (closed at the end). See :class:`CampaignRunner`."""
    from .executor import make_executor

    env = {}
    if any(c.inputs["render"]["renderer"] == "pyrender" for c in plan.cells):
        # choose the OpenGL platform once here, so every worker inherits it instead of probing
        from engine.render.pyrender_backend import select_platform

        env["PYOPENGL_PLATFORM"] = select_platform()
    if executor != "inline" and workers > 1:
        # split the cores between the workers: Mesa's llvmpipe and torch would each take them all
        share = str(max(1, (os.cpu_count() or 1) // workers))
        for var in ("LP_NUM_THREADS", "OMP_NUM_THREADS", "ATELIER_BLENDER_THREADS"):
            env.setdefault(var, os.environ.get(var, share))
    if authorise is None and deliver is None:
        from .rights import consent_hooks

        authorise, deliver = consent_hooks(plan, base=getattr(plan, "base", None))
    ex = make_executor(executor, workers, address=address, env=env)
    try:
        return CampaignRunner(plan, out, ex, resume=resume, cache=cache, retries=retries, authorise=authorise,
                              deliver=deliver, quiet=quiet).run()
    finally:
        ex.close()


__all__ = ["CampaignProgress", "CampaignRunner", "CellState", "Refused", "RunSummary", "cached_drapes",
           "finished_cells", "run_plan"]
