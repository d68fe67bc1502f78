"""A trivial Blender job: proves the worker starts, imports bpy and reports back (worker side)."""

import bpy


def run(spec: dict, workdir) -> dict:
    if spec.get("crash"):
        raise RuntimeError("asked to fail")
    print("PROGRESS ping 1/1", flush=True)
    return {"blender_version": bpy.app.version_string, "echo": spec.get("echo")}
