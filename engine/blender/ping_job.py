"""A trivial Blender job: proves the worker starts, imports bpy and reports back (worker side)."""

import os
import signal
import time
from pathlib import Path

import bpy


def run(spec: dict, workdir) -> dict:
    """``echo`` is returned; ``crash`` raises; for the bridge's tests, ``pid_file`` gets the
    worker's pid, ``ignore_signals`` ignores SIGINT/SIGTERM and ``sleep`` (s) waits silently."""
    if spec.get("pid_file"):
        Path(spec["pid_file"]).write_text(str(os.getpid()))
    if spec.get("ignore_signals"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if spec.get("sleep"):
        time.sleep(float(spec["sleep"]))
    if spec.get("crash"):
        raise RuntimeError("asked to fail")
    print("PROGRESS ping 1/1", flush=True)
    return {"blender_version": bpy.app.version_string, "echo": spec.get("echo")}
