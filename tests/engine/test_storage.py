"""Atomic writes keep ordinary file modes; private folders keep personal data to their owner."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from engine.storage import atomic_path, output_mode, private_dir, write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_outputs_follow_the_umask(tmp_path, umask_022):
    # the temporary file is made 0600 by mkstemp; the output must not keep that private mode
    path = write_json(tmp_path / "out" / "report.json", {"a": 1})
    assert _mode(path) == 0o644
    with atomic_path(tmp_path / "out" / "image.npy") as tmp:
        np.save(tmp, np.zeros(3))
    assert _mode(tmp_path / "out" / "image.npy") == 0o644
    assert output_mode(tmp_path / "out") == 0o644
    assert not list((tmp_path / "out").glob(".*part*"))


def test_private_folder_keeps_files_to_the_owner(tmp_path, umask_022):
    folder = tmp_path / "twin"
    folder.mkdir()
    early = write_json(folder / "early.json", {})  # written before the folder was known private
    assert _mode(early) == 0o644
    private_dir(folder)
    assert _mode(folder) == 0o700 and _mode(early) == 0o600
    assert _mode(write_json(folder / "twin.json", {"shape": []})) == 0o600


def test_fit_of_a_real_scan_is_private_and_a_synthetic_one_is_not(tmp_path, anny_model, umask_022):
    from bodies.fit import FitSettings, fit_to_folder
    from bodies.synthetic import make_synthetic_scan
    from engine.meshio import load_ply, save_ply

    synth = tmp_path / "synthetic.ply"
    make_synthetic_scan(anny_model, synth, seed=3, n_points=3000)
    pts, _, _ = load_ply(synth)
    real = save_ply(tmp_path / "person.ply", pts)  # same points, no "synthetic" in the header
    cfg = FitSettings(scan_samples=800, body_samples=800, yaw_search=False)
    fit_to_folder(anny_model, real, tmp_path / "person", iterations=2, settings=cfg)
    assert _mode(tmp_path / "person") == 0o700
    assert {_mode(f) for f in (tmp_path / "person").iterdir()} == {0o600}
    fit_to_folder(anny_model, synth, tmp_path / "synthetic", iterations=2, settings=cfg)
    assert _mode(tmp_path / "synthetic") == 0o755
    assert {_mode(f) for f in (tmp_path / "synthetic").iterdir()} == {0o644}


def test_a_killed_writers_part_file_is_removed_by_the_next_write(tmp_path):
    import signal
    import subprocess
    import sys

    target = tmp_path / "image.png"
    code = ("import sys, time; from engine.storage import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    open(tmp, 'wb').close(); print(tmp, flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    part = writer.stdout.readline().strip()
    assert os.path.exists(part) and os.path.getsize(part) == 0
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert os.path.exists(part) and not target.exists()  # kill -9 leaves the 0-byte .part
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png" and not os.path.exists(part)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.png"]
