"""Entry point of the Blender worker process: ``python -m engine.blender.worker JOB.json``.

Runs inside the child process only. It imports bpy, resets Blender to an empty scene, runs the
job module's ``run(spec, workdir)`` and writes its result dict (or the error) to the result path
named in the job file. The exit code is 0 when the job succeeded, 1 when it reported an error.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path


def _die_with_parent() -> None:
    """Exit when the process that started this worker dies, even by SIGKILL: the kernel sends
    SIGKILL on the parent's death (Linux prctl PR_SET_PDEATHSIG); elsewhere a thread watches
    the parent id. The worker runs in a session of its own, so nothing else would stop it."""
    expected = int(os.environ.get("ATELIER_PARENT_PID", "0") or 0)
    if not expected:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == expected:
            time.sleep(1.0)
        os._exit(3)

    if os.getppid() != expected:  # the parent died before the signal was armed
        os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    _die_with_parent()
    job_path = Path(argv[0])
    job = json.loads(job_path.read_text())
    result_path = Path(job["result"])
    import bpy  # noqa: F401  (worker process only)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        module = importlib.import_module(job["module"])
        result = module.run(job["spec"], job_path.parent)
        code = 0
    except Exception as exc:  # reported to the parent as a result, with the traceback in the log
        traceback.print_exc()
        result = {
            "error": str(exc),
            "error_kind": getattr(exc, "error_kind", type(exc).__name__),
            "hint": getattr(exc, "hint", None),
        }
        code = 1
    tmp = result_path.with_suffix(".part")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(result_path)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
