"""Disclosure: PNG text chunks and XMP written and read back, by us and by exiftool; visible label."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import engine
from engine.errors import InputError
from engine.rights import DIGITAL_SOURCE_TYPE, add_visible_label, needs_visible_label, read_disclosure, stamp_png
from engine.rights.disclosure import XMP_KEYWORD, parse_xmp, read_chunks, text_chunks, write_chunks

from .conftest import make_png

INFO = {"twin_id": "twin-test", "grant_id": 3, "scene_hash": "5ce7e1a5", "campaign": "ss30",
        "channel": "social", "region": "FR"}


def test_stamp_round_trip_keeps_pixels(tmp_path):
    p = make_png(tmp_path / "r.png")
    before = np.asarray(Image.open(p)).copy()
    stamp_png(p, INFO)
    d = read_disclosure(p)
    assert d["ai_generated"] is True
    assert d["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert (d["twin_id"], d["grant_id"], d["scene_hash"], d["engine_version"]) == ("twin-test", "3", "5ce7e1a5", engine.__version__)
    assert (d["campaign"], d["channel"], d["region"]) == ("ss30", "social", "FR") and d["created"]
    assert "AI-generated image of a digital twin" in d["description"]
    np.testing.assert_array_equal(np.asarray(Image.open(p)), before)
    assert not list(tmp_path.glob(".*part*"))  # written atomically, no temporary left
    # stamping again replaces, does not duplicate
    stamp_png(p, {**INFO, "grant_id": 4})
    keys = [k for k in _keywords(p) if k.startswith("Atelier Grant")]
    assert keys == ["Atelier Grant ID"] and read_disclosure(p)["grant_id"] == "4"


def _keywords(p):
    return [b.split(b"\x00", 1)[0].decode() for ct, b in read_chunks(p.read_bytes()) if ct == b"iTXt"]


def test_xmp_alone_carries_the_fields(tmp_path):
    p = stamp_png(make_png(tmp_path / "r.png"), INFO)
    xmp = text_chunks(read_chunks(p.read_bytes()))[XMP_KEYWORD]
    assert "Iptc4xmpExt:DigitalSourceType" in xmp and "dc:description" in xmp
    fields = parse_xmp(xmp)
    assert fields["twin_id"] == "twin-test" and fields["grant_id"] == "3" and fields["ai_generated"] is True
    assert fields["digital_source_type"] == DIGITAL_SOURCE_TYPE
    # a tool that drops every text chunk but the XMP packet leaves the disclosure readable
    only_xmp = [(ct, b) for ct, b in read_chunks(p.read_bytes())
                if ct != b"iTXt" or b.startswith(XMP_KEYWORD.encode() + b"\x00")]
    p.write_bytes(write_chunks(only_xmp))
    d = read_disclosure(p)
    assert d["twin_id"] == "twin-test" and d["scene_hash"] == "5ce7e1a5" and "digital twin" in d["description"]


def test_unstamped_and_bad_inputs(tmp_path):
    assert read_disclosure(make_png(tmp_path / "plain.png")) == {}
    (tmp_path / "x.png").write_bytes(b"not a png")
    assert read_disclosure(tmp_path / "x.png") == {}
    with pytest.raises(InputError, match="not a PNG"):
        stamp_png(tmp_path / "x.png", INFO)
    with pytest.raises(InputError, match="twin_id and a grant_id"):
        stamp_png(tmp_path / "plain.png", {"twin_id": "t"})


@pytest.mark.skipif(shutil.which("exiftool") is None,
                    reason="exiftool is not installed (Debian: apt-get install libimage-exiftool-perl)")
def test_exiftool_reads_the_disclosure(tmp_path):
    p = stamp_png(make_png(tmp_path / "r.png"), INFO)
    out = subprocess.run(["exiftool", "-j", "-G1", str(p)], capture_output=True, text=True, timeout=60, check=True)
    tags = json.loads(out.stdout)[0]
    assert tags["XMP-iptcExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert "AI-generated image of a digital twin" in tags["XMP-dc:Description"]
    assert tags["XMP-atelier:TwinID"] == "twin-test" and str(tags["XMP-atelier:GrantID"]) == "3"
    assert tags["XMP-atelier:SceneHash"] == "5ce7e1a5" and tags["XMP-atelier:EngineVersion"] == engine.__version__
    assert tags["PNG:AtelierTwinID"] == "twin-test" and tags["PNG:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert "digital twin" in tags["PNG:Description"] and tags["PNG:Software"].startswith("Atelier")


def test_visible_label_changes_only_its_corner_and_keeps_the_disclosure(tmp_path):
    p = tmp_path / "r.png"
    Image.new("RGB", (200, 120), (230, 230, 230)).save(p)
    stamp_png(p, INFO)
    add_visible_label(p, corner="bottom-right")
    im = np.asarray(Image.open(p).convert("RGB")).astype(int)
    changed = np.argwhere(np.abs(im - 230).sum(axis=2) > 0)
    assert len(changed) > 100
    assert changed[:, 0].min() > 60 and changed[:, 1].min() > 80  # bottom-right quadrant only
    assert read_disclosure(p)["twin_id"] == "twin-test"
    q = tmp_path / "q.png"
    Image.new("RGB", (200, 120), (230, 230, 230)).save(q)
    add_visible_label(q, corner="top-left")
    changed = np.argwhere(np.abs(np.asarray(Image.open(q)).astype(int) - 230).sum(axis=2) > 0)
    assert changed[:, 0].max() < 60 and changed[:, 1].max() < 120
    with pytest.raises(InputError, match="unknown corner"):
        add_visible_label(q, corner="middle")


def test_label_policy():
    assert needs_visible_label("social") and not needs_visible_label("internal-fit-check")
    assert not needs_visible_label("social", {"social": False})
