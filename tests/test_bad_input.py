"""Damaged and hostile input for every loader: a corpus made here, and a property-based test that
mutates valid files. Every loader either succeeds or raises one AtelierError (a message and a
hint); no other exception, no hang. docs/bad-input.md describes the corpus."""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AtelierError

ROOT = Path(__file__).resolve().parents[1]
#: a loader taking longer than this on a file of a few hundred kB is hung, not slow
HANG_S = 30


# --- valid seeds --------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _body_points(n: int = 3000, seed: int = 0) -> np.ndarray:
    """(n, 3) float32 points of the average Anny body in an A-pose (metres, +Y up, feet on y=0)."""
    import bodies
    from bodies.poses import pose_preset

    model = bodies.create("anny")
    v = model(pose=pose_preset(model, "a-pose")).vertices[0].numpy()
    return v[np.random.default_rng(seed).choice(len(v), n, replace=False)].astype(np.float32)


def _ply_binary(p: np.ndarray) -> bytes:
    head = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(p)}\nproperty float x\nproperty float y\n" \
           "property float z\nend_header\n"
    return head.encode() + p.astype("<f4").tobytes()


def _ply_ascii(p: np.ndarray) -> bytes:
    head = f"ply\nformat ascii 1.0\nelement vertex {len(p)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    return (head + "\n".join(f"{a:.5f} {b:.5f} {c:.5f}" for a, b, c in p) + "\n").encode()


def _obj(p: np.ndarray, faces: bool = True) -> bytes:
    lines = [f"v {a:.5f} {b:.5f} {c:.5f}" for a, b, c in p]
    if faces:
        lines += [f"f {i + 1} {i + 2} {i + 3}" for i in range(0, len(p) - 3, 3)]
    return ("\n".join(lines) + "\n").encode()


def _npz(p: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, points=p)
    return buf.getvalue()


def _garment_obj() -> bytes:
    """A 60 x 80 cm flat panel (a cloth piece) of 13 x 17 vertices, in centimetres, +Y up."""
    xs, ys = np.meshgrid(np.linspace(-30, 30, 13), np.linspace(60, 140, 17))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    f = []
    for r in range(16):
        for c in range(12):
            a = r * 13 + c
            f += [(a, a + 1, a + 14), (a, a + 14, a + 13)]
    return ("\n".join([f"v {x:.3f} {y:.3f} {z:.3f}" for x, y, z in v] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f])
            + "\n").encode()


@lru_cache(maxsize=None)
def _seeds() -> dict[str, tuple[str, bytes]]:
    """name -> (suffix, bytes) of valid inputs, one per format the loaders read."""
    p = _body_points()
    campaign = (ROOT / "scenes" / "examples" / "campaign.toml").read_bytes()
    pattern = (ROOT / "garments" / "library" / "t-shirt.json").read_bytes()
    return {
        "scan-ply-binary": (".ply", _ply_binary(p)),
        "scan-ply-ascii": (".ply", _ply_ascii(p[:1500])),
        "scan-obj": (".obj", _obj(p[:1500])),
        "scan-xyz": (".xyz", "\n".join(f"{a:.4f} {b:.4f} {c:.4f}" for a, b, c in p[:1500]).encode()),
        "scan-npz": (".npz", _npz(p)),
        "garment-obj": (".obj", _garment_obj()),
        "campaign-toml": (".toml", campaign),
        "pattern-json": (".json", pattern),
        "twin-json": (".json", (_twin_seed_folder() / "twin.json").read_bytes()),
        "rights-db": (".db", _db_seed()),
    }


def _loader(name: str):
    if name.startswith("scan-"):
        from bodies.scan import clean_scan, load_scan

        return lambda path: clean_scan(load_scan(path))
    if name.startswith("garment-"):
        from garments.imported import load_garment_mesh

        return load_garment_mesh
    if name.startswith("campaign-"):
        from scenes.io import load_campaign

        return load_campaign
    if name.startswith("pattern-"):
        from garments.pattern import load_pattern

        return load_pattern
    if name == "twin-json":
        return _load_twin_folder
    if name == "rights-db":
        return _run_rights_commands
    raise KeyError(name)


# --- twin folders and rights databases -----------------------------------------------------------
#: the twin id of the seed database (made with this id, so the commands can name her)
_FUZZ_TWIN = "twin-f0220000"


@lru_cache(maxsize=None)
def _twin_seed_folder() -> Path:
    """A valid twin folder (twin.json, body.ply) of Anny's average body in the A-pose, made once."""
    import bodies
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    model = bodies.create("anny")
    folder = Path(tempfile.mkdtemp(prefix="atelier-fuzz-twin-"))
    Twin.from_tensors(model, model.default_shape(), pose_preset(model, "a-pose"), [0.0, 0.0, 0.0], pose_name="a-pose",
                      source={"synthetic": True}).save(folder, model)
    return folder


def _load_twin_folder(path: Path):
    """What `atelier drape` / `animate` do first with a twin folder (read twin.json, build the body)
    and what `atelier twins attach --fit` does (its identity), on a folder whose twin.json is ``path``'s."""
    import bodies
    from bodies.twin import Twin
    from engine.rights.identity import params_of

    folder = path.parent / "twin"
    folder.mkdir()
    shutil.copy(_twin_seed_folder() / "body.ply", folder / "body.ply")
    path.replace(folder / "twin.json")
    twin = Twin.load(folder)
    v, _f, _j = twin.body(bodies.create(twin.model))
    assert np.all(np.isfinite(v)), "a twin file was read into a body with NaN vertices"
    params_of(folder)


@lru_cache(maxsize=None)
def _db_seed() -> bytes:
    """The bytes of a valid SQLite rights database: one twin with a grant and her fitted folder."""
    from datetime import date

    from engine.rights import Registry

    db = Path(tempfile.mkdtemp(prefix="atelier-fuzz-db-")) / "atelier.db"
    with Registry.open(db) as reg:
        reg.add_twin("Fuzz", twin_id=_FUZZ_TWIN)
        reg.add_grant(_FUZZ_TWIN, "brand", ["e-commerce"], ["EU"], date(2020, 1, 1), date(2099, 1, 1))
        reg.add_fitted_version(_FUZZ_TWIN, _twin_seed_folder())
    return db.read_bytes()


def _run_rights_commands(path: Path):
    """The commands that read the rights database, in this process, on the database ``path``: each
    either works or prints one `error:` line (raised here as an AtelierError); anything else escapes."""
    from atelier.cli import main

    for cmd in (["twins", "list"], ["twins", "show", _FUZZ_TWIN], ["twins", "check", _FUZZ_TWIN, "--channel", "e-commerce",
                                                                    "--region", "FR"],
                ["ledger", "verify"], ["twins", "attach", _FUZZ_TWIN, "--fit", str(_twin_seed_folder())]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main([*cmd, "--db", str(path)])
        text = err.getvalue()
        assert "Traceback" not in text, text
        if rc not in (0, 1):  # 1: `twins check` says no grant covers the use
            lines = [ln for ln in text.splitlines() if "error:" in ln]
            assert len(lines) == 1, f"{cmd}: {text!r}"
            raise AtelierError(lines[0])


class _Hung(Exception):
    pass


def _load_cleanly(name: str, data: bytes, suffix: str) -> str:
    """Write ``data`` and load it; 'ok' or 'refused', or the test fails naming what escaped."""
    folder = Path(tempfile.mkdtemp(prefix="atelier-fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)

    def hung(*_):
        raise _Hung(f"{name}: the loader ran past {HANG_S} s on {len(data)} bytes")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    try:
        _loader(name)(path)
        return "ok"
    except AtelierError as exc:
        assert str(exc).strip(), f"{name}: an empty error message"
        return "refused"
    except _Hung:
        raise
    except Exception as exc:  # what a user would see as a traceback
        pytest.fail(f"{name}: {type(exc).__name__} escaped the loader: {exc!r}"[:2000])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        shutil.rmtree(folder, ignore_errors=True)


# --- the corpus: damage people actually cause ---------------------------------------------------
def _corpus() -> list[tuple[str, str, str, bytes]]:
    """(case, loader, suffix, bytes) for damaged and hostile files, made here."""
    s = _seeds()
    ply = s["scan-ply-binary"][1]
    head_end = ply.index(b"end_header\n") + len(b"end_header\n")
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\x00" * 17
    glb = b"glTF" + struct.pack("<II", 2, 40) + b"\x00" * 28
    zip_bomb = io.BytesIO()
    with zipfile.ZipFile(zip_bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("points.npy", b"\x00" * 5_000_000)  # not an .npy: a header-less zero block
    camp = s["campaign-toml"][1].decode()
    return [
        ("truncated binary PLY", "scan-ply-binary", ".ply", ply[: head_end + 1001]),
        ("PLY header promising 10^12 vertices", "scan-ply-binary", ".ply",
         ply[:head_end].replace(b"element vertex 3000", b"element vertex 1000000000000") + ply[head_end:]),
        ("PLY with a negative vertex count", "scan-ply-ascii", ".ply",
         s["scan-ply-ascii"][1].replace(b"element vertex 1500", b"element vertex -5")),
        ("PLY header only", "scan-ply-binary", ".ply", ply[:head_end]),
        ("PNG named .ply", "scan-ply-binary", ".ply", png),
        ("random bytes named .glb", "scan-ply-binary", ".glb", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8))),
        ("GLB header with no chunks", "scan-ply-binary", ".glb", glb),
        ("NaN coordinates in ASCII PLY", "scan-ply-ascii", ".ply",
         s["scan-ply-ascii"][1].replace(b"\n0.", b"\nnan ", 400)),
        ("OBJ with face indices past the end", "scan-obj", ".obj", s["scan-obj"][1] + b"f 1 2 999999\nf -7 0 3\n"),
        ("XYZ with words in it", "scan-xyz", ".xyz", s["scan-xyz"][1] + b"\nDROP TABLE twins;\n"),
        ("NPZ holding pickled objects", "scan-npz", ".npz", _pickled_npz()),
        ("NPZ that is a 5 MB zero block", "scan-npz", ".npz", zip_bomb.getvalue()),
        ("garment OBJ of one degenerate triangle", "garment-obj", ".obj", b"v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n"),
        ("garment OBJ as a triangle soup of NaNs", "garment-obj", ".obj", b"v nan 0 0\nv 0 nan 0\nv 0 0 1\nf 1 2 3\n"),
        ("campaign TOML with a python tag in YAML clothing", "campaign-toml", ".yaml",
         b"name: !!python/object/apply:os.system ['echo owned']\n"),
        ("campaign TOML cut mid-table", "campaign-toml", ".toml", camp[: len(camp) // 2].encode()),
        ("campaign with a million-pixel format", "campaign-toml", ".toml",
         camp.replace('name = "summer-preview"', 'name = "summer-preview"\nformats = ["1:1@1000000"]', 1).encode()),
        ("campaign naming a path outside its folder", "campaign-toml", ".toml",
         camp.replace('name = "summer-preview"', 'name = "../../etc/passwd"', 1).encode()),
        ("pattern JSON that is a list", "pattern-json", ".json", b"[1, 2, 3]"),
        ("pattern JSON nested a thousand deep", "pattern-json", ".json", b"[" * 1000 + b"]" * 1000),
        ("pattern JSON with NaN points", "pattern-json", ".json", s["pattern-json"][1].replace(b"0.0", b"NaN", 5)),
        ("binary zeros", "pattern-json", ".json", b"\x00" * 1000),
        *_twin_cases(),
        *_db_cases(),
    ]


def _twin_cases() -> list[tuple[str, str, str, bytes]]:
    """Damaged twin.json files (the folder's body.ply is the seed's)."""
    import json

    good = json.loads(_seeds()["twin-json"][1])
    raw = _seeds()["twin-json"][1]

    def edited(**kw):
        return json.dumps({**good, **kw}).encode()

    return [(case, "twin-json", ".json", data) for case, data in (
        ("twin.json cut in half", raw[: len(raw) // 2]),
        ("twin.json that is a list", b"[1, 2, 3]"),
        ("twin.json without a shape", json.dumps({k: v for k, v in good.items() if k != "shape"}).encode()),
        ("twin.json with three shape numbers", edited(shape=good["shape"][:3])),
        ("twin.json with NaN shape", raw.replace(b'"shape": [', b'"shape": [NaN, ', 1)),
        ("twin.json with a 1e308 shape", edited(shape=[1e308] * len(good["shape"]))),
        ("twin.json with a pose of words", edited(pose=["left"] * 12)),
        ("twin.json with a short pose", edited(pose=good["pose"][:5])),
        ("twin.json naming a model path", edited(model="../../etc/passwd")),
        ("twin.json with a text translation", edited(translation="up")),
    )]


def _db_cases() -> list[tuple[str, str, str, bytes]]:
    """Damaged rights databases: garbage, cut, another schema, edited by hand."""
    import sqlite3

    good = _db_seed()
    work = Path(tempfile.mkdtemp(prefix="atelier-fuzz-dbcase-"))

    def made(name, *sql, base=good):
        p = work / f"{name}.db"
        p.write_bytes(base)
        con = sqlite3.connect(p)
        for q in sql:
            con.execute(q)
        con.commit()
        con.close()
        return p.read_bytes()

    cases = [
        ("garbage file as the registry database", bytes(np.random.default_rng(5).integers(0, 256, 8192, dtype=np.uint8))),
        ("SQLite database cut at a third", good[: len(good) // 3]),
        ("SQLite header only", good[:100]),
        ("database of another program", made("other", "CREATE TABLE twins (x INTEGER)", base=b"")),
        ("database at an unknown schema revision",
         made("alien", "CREATE TABLE alembic_version (version_num VARCHAR(32))",
              "INSERT INTO alembic_version VALUES ('zzz999')", base=b"")),
        ("database with its ledger table dropped", made("dropped", "DROP TABLE ledger")),
        ("database with a word for a date", made("dates", "UPDATE twins SET created_at = 'yesterday'",
                                                  "UPDATE grants SET ends_on = 'never'")),
    ]
    shutil.rmtree(work)
    return [(case, "rights-db", ".db", data) for case, data in cases]


def _pickled_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, points=np.array([{"x": 1}, None], dtype=object))
    return buf.getvalue()


@pytest.mark.parametrize("case", _corpus(), ids=lambda c: c[0])
def test_corpus_is_refused_or_read_cleanly(case):
    _name, loader, suffix, data = case
    _load_cleanly(loader, data, suffix)


@pytest.mark.parametrize("name", list(_seeds()))
def test_seeds_load(name):
    suffix, data = _seeds()[name]
    assert _load_cleanly(name, data, suffix) == "ok"


# --- mutation: flips, cuts, insertions and repeats of valid files ----------------------------------
_edit = st.tuples(st.sampled_from(["flip", "cut", "insert", "delete", "repeat", "digit"]),
                  st.floats(0.0, 1.0), st.integers(0, 255), st.integers(1, 64))


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for kind, where, byte, n in edits:
        i = min(int(where * len(b)), max(len(b) - 1, 0))
        if kind == "flip" and b:
            b[i] ^= 1 << (byte % 8)
        elif kind == "cut":
            del b[i:]
        elif kind == "insert":
            b[i:i] = bytes([byte]) * n
        elif kind == "delete":
            del b[i:i + n]
        elif kind == "repeat":
            b[i:i] = b[i:i + n] * 8
        elif kind == "digit" and b:  # a number's digit changed: counts and sizes in headers
            b[i] = ord("0") + byte % 10 if chr(b[i]).isdigit() else b[i]
    return bytes(b)


@pytest.mark.parametrize("name", list(_seeds()))
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(_edit, min_size=1, max_size=4))
def test_mutated_files_are_refused_or_read_cleanly(name, edits):
    suffix, data = _seeds()[name]
    _load_cleanly(name, _mutate(data, edits), suffix)


def test_a_database_damaged_mid_delivery_is_one_message(tmp_path):
    """The database is fine when opened and damaged before the next query (another process, a
    disk): the consent check of a render or delivery says so in one AtelierError, no SQL."""
    from engine.rights import Registry
    from engine.rights.db import DatabaseError
    from engine.rights.deliver import authorise

    db = tmp_path / "atelier.db"
    db.write_bytes(_db_seed())
    reg = Registry.open(db)
    try:
        assert authorise(reg, _FUZZ_TWIN, "e-commerce", "FR").twin_id == _FUZZ_TWIN
        reg.engine.dispose()  # the next query opens the file again
        db.write_bytes(b"\x00" * 4096 + b"not a database any more" * 100)
        with pytest.raises(DatabaseError) as info:
            authorise(reg, _FUZZ_TWIN, "e-commerce", "FR")
        assert str(db) in str(info.value) and "SELECT" not in str(info.value)
    finally:
        reg.close()


def test_twin_folders_without_their_twin_json_are_one_message(tmp_path):
    from atelier.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "odd" / "twin.json").mkdir(parents=True)  # a folder where the file goes
    db = tmp_path / "atelier.db"
    db.write_bytes(_db_seed())
    for folder in (tmp_path / "empty", tmp_path / "odd", tmp_path / "missing"):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["twins", "attach", _FUZZ_TWIN, "--fit", str(folder), "--db", str(db)])
        assert rc == 2 and "Traceback" not in err.getvalue() and err.getvalue().count("error:") == 1, err.getvalue()


# --- the command line's own plumbing --------------------------------------------------------------
def _atelier(*args, **kw):
    return subprocess.run([sys.executable, "-m", "atelier", *args], capture_output=True, text=True, timeout=300, **kw)


_UNFITTABLE = ("truncated binary PLY", "PLY header promising 10^12 vertices", "PNG named .ply", "NPZ holding pickled objects")


@pytest.mark.parametrize("case", [c for c in _corpus() if c[0] in _UNFITTABLE], ids=lambda c: c[0])
def test_fit_command_says_one_thing_for_a_damaged_scan(tmp_path, case):
    _name, _loader_name, suffix, data = case
    scan = tmp_path / f"scan{suffix}"
    scan.write_bytes(data)
    r = _atelier("fit", str(scan), "--out", str(tmp_path / "twin"))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "error:" in r.stderr and not (tmp_path / "twin" / "twin.json").exists()


def test_output_into_a_closed_pipe_is_not_a_traceback():
    # `atelier garment list | head -1`: the reader goes away; the command ends quietly
    proc = subprocess.Popen([sys.executable, "-m", "atelier", "garment", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err, err


def test_ctrl_c_during_a_fit_says_what_is_kept(tmp_path):
    from engine.meshio import save_ply

    scan = save_ply(tmp_path / "body.ply", _body_points(12000))
    import os

    env = dict(os.environ, PYTHONUNBUFFERED="1")  # each line as it is printed, so the signal lands mid-fit
    proc = subprocess.Popen([sys.executable, "-m", "atelier", "fit", str(scan), "--out", str(tmp_path / "twin")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in proc.stderr:  # progress goes to stderr; wait until the fit has started
        seen.append(line)
        if "fitting" in line:
            break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted" in err


def test_corpus_is_documented():
    doc = (ROOT / "docs" / "bad-input.md").read_text()
    for case, *_ in _corpus():
        assert case in doc, f"docs/bad-input.md does not list the corpus case {case!r}"
