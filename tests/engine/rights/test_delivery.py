"""Deliveries that hold: every format disclosed and recorded, all or nothing, exactly once after a
kill -9 at any step, a read-only database found before the first pixel, a private database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.rights import ledger_rows, live_uses, read_disclosure
from engine.rights.deliver import deliver
from engine.rights.disclosure import DIGITAL_SOURCE_TYPE, stamp_image
from engine.storage import file_sha256

from .conftest import D0, D1, cleared, db_arg, make_png

WHEN = datetime(2030, 5, 1, 9, tzinfo=timezone.utc)
REPO = Path(__file__).resolve().parents[3]


def make_image(path, fmt, seed=0, size=(48, 32)):
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px, "RGB").save(path, format=fmt, quality=90)
    return path


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("WEBP", ".webp")])
def test_jpeg_and_webp_carry_the_disclosure_without_reencoding(tmp_path, fmt, suffix):
    p = make_image(tmp_path / f"v{suffix}", fmt)
    before = np.asarray(Image.open(p).convert("RGB")).copy()
    stamp_image(p, {"twin_id": "twin-x", "grant_id": 7, "scene_hash": "abc", "channel": "social", "region": "FR"})
    info = read_disclosure(p)
    assert (info["twin_id"], info["grant_id"], info["channel"]) == ("twin-x", "7", "social")
    assert info["ai_generated"] and info["digital_source_type"] == DIGITAL_SOURCE_TYPE
    np.testing.assert_array_equal(np.asarray(Image.open(p).convert("RGB")), before)  # same pixels, same decode
    stamp_image(p, {"twin_id": "twin-x", "grant_id": 8})  # stamping again replaces, never piles up
    assert read_disclosure(p)["grant_id"] == "8" and p.read_bytes().count(b"http://ns.adobe.com/xap/1.0/") <= 2


def test_every_format_is_labelled_disclosed_and_recorded(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    imgs = [make_png(tmp_path / "c" / "a.png"), make_image(tmp_path / "c" / "b.jpg", "JPEG", 1),
            make_image(tmp_path / "c" / "c.webp", "WEBP", 2)]
    raw = [p.read_bytes() for p in imgs]
    rows = deliver(cleared(registry, twin.id, "social", "FR", tmp_path, WHEN), imgs, "h", when=WHEN)
    assert [r.image_path for r in rows] == [str(p.absolute()) for p in imgs]
    for p, r, before in zip(imgs, rows, raw):
        assert read_disclosure(p)["twin_id"] == twin.id and p.read_bytes() != before  # social: visible label
        assert r.image_sha256 == file_sha256(p)  # the row hashes the delivered bytes
    assert not list((tmp_path / "c").glob(".*"))  # no temporary file left


def test_refused_delivery_of_any_format_leaves_no_image(registry, twin_grant, tmp_path):
    from engine.rights import ConsentError

    twin, grant = twin_grant
    c = cleared(registry, twin.id, "social", "FR", tmp_path, WHEN)
    imgs = [make_image(tmp_path / "v.jpg", "JPEG"), make_png(tmp_path / "v.png")]
    registry.revoke_grant(grant.id)
    with pytest.raises(ConsentError, match="2 rendered image"):
        deliver(c, imgs, "h", when=WHEN)
    assert not any(p.exists() for p in imgs)


# --- kill -9 at each step ----------------------------------------------------------------------
DELIVER = """
import sys
from datetime import datetime, timezone
from engine.rights import Registry
from engine.rights.consent import DrawnBody, clear
from engine.rights.deliver import deliver
db, folder, body = sys.argv[1], sys.argv[2], sys.argv[3]
from pathlib import Path
imgs = sorted(Path(folder).glob("v*.png"))
when = datetime(2030, 5, 1, 9, tzinfo=timezone.utc)
with Registry.open(db) as reg:
    deliver(clear(reg, DrawnBody.mesh(body), "social", "FR", when=when), imgs, "scene", campaign="c", when=when)
"""


@pytest.mark.parametrize("point", ["before-rename", "after-stamp", "after-ledger"])
def test_a_delivery_killed_at_any_step_resumes_exactly_once(registry, twin_grant, tmp_path, point):
    folder = tmp_path / "cell"
    imgs = [make_png(folder / f"v{i}.png", seed=i) for i in range(3)]
    body = Path(cleared(registry, "twin-test", "social", "FR", tmp_path, WHEN).drawn.where)
    db = db_arg(registry)
    env = {**os.environ, "PYTHONPATH": str(REPO), "ATELIER_FAULT": point}
    r = subprocess.run([sys.executable, "-c", DELIVER, db, str(folder), str(body)], env=env, capture_output=True,
                       timeout=300)
    assert r.returncode == -9, r.stderr.decode()  # it really died there
    env.pop("ATELIER_FAULT")
    for _ in range(2):  # resume (twice: a resumed run may itself be resumed)
        r = subprocess.run([sys.executable, "-c", DELIVER, db, str(folder), str(body)], env=env, capture_output=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr.decode()
    rows = live_uses(registry)
    assert sorted(r.image_path for r in rows) == sorted(str(p.absolute()) for p in imgs)  # one row per image
    assert len(ledger_rows(registry)) == 3  # none twice, nothing voided
    for row in rows:
        assert row.image_sha256 == file_sha256(row.image_path)  # rows match the files
        assert read_disclosure(row.image_path)["twin_id"] == "twin-test"
    assert not list(folder.glob(".*"))  # no temporary copy left behind


def test_temporaries_of_a_killed_delivery_are_removed_by_the_next(registry, twin_grant, tmp_path):
    # a delivery killed while a writer (label, stamp, C2PA) replaced its copy leaves the copy and
    # that writer's own temporary of it; the next delivery of the image removes both
    twin, _grant = twin_grant
    img = make_png(tmp_path / "c" / "v.png")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid whose process is gone
    left = [tmp_path / "c" / f".v.deliver-{dead.pid}.part.png",
            tmp_path / "c" / f"..v.deliver-{dead.pid}.part.{dead.pid}.x1y2z3.part.png"]
    for p in left:
        p.write_bytes(b"half written")
    deliver(cleared(registry, twin.id, "social", "FR", tmp_path, WHEN), [img], "h", when=WHEN)
    assert read_disclosure(img)["twin_id"] == twin.id
    assert not list((tmp_path / "c").glob(".*"))


# --- a read-only database -----------------------------------------------------------------------
def _read_only(*paths):
    """Make paths read-only for us: mode bits, or for root (who writes through them) the
    immutable attribute. Returns the undo function."""
    if os.getuid() != 0:
        for p in paths:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        return lambda: [os.chmod(p, 0o755 if p.is_dir() else 0o644) for p in paths]
    for p in reversed(paths):
        r = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"cannot make {p} read-only for root here (chattr +i: {r.stderr.strip()})")
    return lambda: [subprocess.run(["chattr", "-i", str(p)]) for p in paths]


def test_a_read_only_database_is_found_before_the_first_pixel(tmp_path):
    from engine.errors import AtelierError
    from engine.rights import Registry
    from engine.rights.consent import DrawnBody, clear, mesh_sha256

    from .conftest import make_twin_folder

    registry = Registry.open(tmp_path / "db" / "atelier.db")
    twin = registry.add_twin("Test Person", twin_id="twin-test")
    registry.add_grant(twin.id, "Maison Test", "social", "FR", D0, D1)
    body = make_twin_folder(tmp_path / "drape")
    registry.register_body(mesh_sha256(body / "body.ply"), "mesh", twin.id, made_by="test")
    ro = tmp_path / "ro"
    ro.mkdir()
    dbfile = ro / "atelier.db"
    registry.close()  # checkpoints the WAL into the file
    dbfile.write_bytes(Path(registry.url.database).read_bytes())
    undo = _read_only(ro, dbfile)
    try:
        with pytest.raises(AtelierError, match="rights database .* read-only"):
            clear(Registry.open(dbfile), DrawnBody.mesh(body / "body.ply"), "social", "FR", when=date(2030, 5, 1))
        # the rights commands say it in one message: no traceback, no SQL
        r = subprocess.run([sys.executable, "-m", "atelier.cli", "twins", "grant", twin.id, "--brand", "B",
                            "--channels", "social", "--regions", "FR", "--from", "2030-01-01", "--to", "2030-02-01",
                            "--db", str(dbfile)], env={**os.environ, "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True, timeout=300)
        assert r.returncode != 0 and "Traceback" not in r.stderr and "INSERT" not in r.stderr, r.stderr
        assert "rights database" in r.stderr and len(r.stderr.strip().splitlines()) <= 3
    finally:
        undo()


def test_the_registry_database_is_private(tmp_path):
    from engine.rights import Registry

    old = os.umask(0o022)
    try:
        with Registry.open(tmp_path / "new" / "atelier.db") as reg:
            reg.add_twin("Someone", twin_id="twin-one")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "atelier.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    os.chmod(tmp_path / "new" / "atelier.db", 0o644)  # e.g. copied in by hand: set back on open
    Registry.open(tmp_path / "new" / "atelier.db").close()
    assert stat.S_IMODE((tmp_path / "new" / "atelier.db").stat().st_mode) == 0o600


# --- a video: the same delivery path, one ledger row --------------------------------------------
def test_an_mp4_is_disclosed_signed_and_recorded_once(registry, twin_grant, tmp_path):
    pytest.importorskip("av", reason="PyAV (extra: video) is not installed")
    from engine.render.video import probe_mp4, write_mp4
    from engine.rights import C2paCredentials, c2pa_available, read_c2pa
    from engine.rights.c2pa_sign import rights_assertion
    from engine.rights.disclosure import has_c2pa_manifest

    if not c2pa_available():
        pytest.skip("c2pa-python is not installed (extra: atelier[c2pa])")
    pytest.importorskip("cryptography", reason="cryptography is needed to make the test certificate")
    from .certs import make_chain

    twin, grant = twin_grant
    frames = []
    for i in range(6):  # smooth frames (noise would not survive H.264 well enough to compare pixels)
        frames.append(tmp_path / "f" / f"f{i}.png")
        frames[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), 150 + 10 * i, np.uint8)).save(frames[-1])
    mp4 = write_mp4(frames, tmp_path / "out" / "animation.mp4")
    c = cleared(registry, twin.id, "social", "FR", tmp_path, WHEN)
    creds = C2paCredentials(*make_chain())
    (row,) = deliver(c, [mp4], "scene-v", campaign="ss30", scope=str(tmp_path / "out"), when=WHEN, c2pa=creds)
    info = probe_mp4(mp4)
    assert (info.codec, info.pix_fmt, info.frames, info.width, info.height) == ("h264", "yuv420p", 6, 64, 48)
    assert info.metadata["ai_generated"] == "true" and info.metadata["atelier_twin_id"] == twin.id
    d = read_disclosure(mp4)
    assert (d["twin_id"], d["grant_id"], d["campaign"], d["channel"]) == (twin.id, str(grant.id), "ss30", "social")
    assert d["digital_source_type"] == DIGITAL_SOURCE_TYPE
    store = read_c2pa(mp4)  # a manifest for video/mp4, bound to the final bytes
    assert store["validation_codes"] == ["signingCredential.untrusted"]
    assert rights_assertion(store)["twin_id"] == twin.id and rights_assertion(store)["scene_hash"] == "scene-v"
    assert row.image_sha256 == file_sha256(mp4) and row.note == "video, 6 frames"
    # social: the visible label is drawn into the frames (bottom-right dark box), not the top-left
    import av

    with av.open(str(mp4)) as cont:
        first = next(cont.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    src = np.asarray(Image.open(frames[0]).convert("RGB"), float)
    assert (src - first)[-24:, -32:].max() > 60  # the dark box in the corner (alpha 160: ~90 darker)
    assert np.abs(first[:8, :20] - src[:8, :20]).max() < 8  # elsewhere: H.264's loss only
    # delivered again (a resumed run): nothing changes, no second row
    before = mp4.read_bytes()
    assert deliver(c, [mp4], "scene-v", campaign="ss30", scope=str(tmp_path / "out"), when=WHEN, c2pa=creds) == [row]
    assert mp4.read_bytes() == before and has_c2pa_manifest(mp4)
    assert len(ledger_rows(registry, twin.id)) == 1
    assert not list((tmp_path / "out").glob(".*"))  # no temporary copy left
