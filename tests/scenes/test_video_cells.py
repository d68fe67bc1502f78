"""Video format cells: the one output format with a ``video`` spec, in campaign and scene files and
the ``scenes`` API; an invalid spec is found at plan; a video cell animates its drape and is
delivered and recorded like an image (one ledger row, the disclosure in the MP4)."""

from __future__ import annotations

import datetime as dt

import pytest

import scenes as sc
from engine.errors import InputError
from scenes.campaign import expand
from scenes.io import load_campaign, load_model
from scenes.model import Scene

CAMPAIGN = """\
name = "walks"
channel = "e-commerce"
rights_db = "{db}"
[[twins]]
name = "mia"
registry_id = "{twin}"
shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
[[outfits]]
name = "navy"
garments = [{{template = "tube-dress", colour = "#1d2b4f"}}]
[[shots]]
name = "front"
[[locales]]
name = "france"
region = "FR"
[[formats]]
name = "thumb"
width = 64
height = 64
[[formats]]
name = "walk"
width = 64
height = 96
video = {{ {video} }}
[drape]
resolution = 300
max_frames = 3
min_frames = 2
"""


def _write(tmp_path, video='motion = "catwalk", frames = 4, preroll = 2', db="rights.db", twin="twin-x"):
    path = tmp_path / "c.toml"
    path.write_text(CAMPAIGN.format(db=tmp_path / db, twin=twin, video=video))
    return path


def test_a_video_format_is_the_one_format_model_with_a_video_spec(tmp_path):
    plan = expand(load_campaign(_write(tmp_path)))
    still, video = sorted(plan.cells, key=lambda c: c.labels["format"] == "walk")
    assert "video" not in still.inputs["format"]  # a still's inputs (and its id) are what they were
    v = video.inputs["format"]
    assert v["type"] == "mp4" and v["video"]["motion"] == "catwalk" and v["video"]["frames"] == 4
    # the video's drape is made in the A-pose (the motion starts there); the still's in the twin's pose
    assert plan.drapes[video.drape_key].inputs["pose"] == "a-pose"
    # the API builds the same model, and it survives a file round trip
    f = sc.video("walk", 64, 96, motion="turntable", frames=24, pose="contrapposto", camera="turntable")
    assert isinstance(f, sc.OutputFormat) and f.type == "mp4" and f.video.frames == 24
    scene = sc.scene("spin", twins=[sc.twin("ava", shape=[0.5] * 6)], formats=[f])
    sc.save(scene, tmp_path / "s.toml")
    assert load_model(tmp_path / "s.toml", Scene).formats[0] == f


@pytest.mark.parametrize("video, match", [
    ('motion = "moonwalk"', "unknown motion 'moonwalk'"),
    ('motion = "keys:contrapposto"', "NAME@SECONDS"),
    ('motion = "turntable", pose = "nope"', "unknown pose 'nope'"),
    ('motion = "catwalk", seconds = 0', "greater than 0"),
])
def test_an_invalid_video_spec_is_found_at_plan(tmp_path, video, match):
    with pytest.raises(InputError, match=match) as info:
        expand(load_campaign(_write(tmp_path, video)))
    assert "c.toml:" in info.value.message  # names the file and line


def test_odd_sizes_and_missing_clips_are_found_at_plan(tmp_path):
    path = _write(tmp_path)
    path.write_text(path.read_text().replace("height = 96", "height = 95"))
    with pytest.raises(InputError, match="even width and height"):
        expand(load_campaign(path))
    with pytest.raises(InputError, match="walk.bvh does not exist"):
        expand(load_campaign(_write(tmp_path, 'motion = "clips/walk.bvh"')))
    with pytest.raises(ValueError, match="type mp4 is a video format"):  # the API: pydantic's error
        sc.fmt("x", type="mp4")


@pytest.mark.blender
def test_a_video_cell_is_rendered_delivered_and_recorded_like_an_image(tmp_path):
    pytest.importorskip("av", reason="PyAV is not installed")
    from engine.render.video import probe_mp4
    from engine.rights import Registry, ledger_rows
    from engine.rights.consent import params_sha256
    from engine.rights.disclosure import read_disclosure
    from scenes.runner import run_plan

    reg = Registry.open(str(tmp_path / "rights.db"))
    twin = reg.add_twin("Mia (test person)")
    shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]
    reg.register_body(params_sha256("anny", shape), "params", twin.id, model="anny", shape=shape, made_by="test")
    today = dt.date.today()
    grant = reg.add_grant(twin.id, "Maison", ["e-commerce"], ["FR"], today - dt.timedelta(days=1),
                          today + dt.timedelta(days=10))
    campaign = load_campaign(_write(tmp_path, twin=twin.id))
    campaign.include = [sc.Rule(format="walk")]
    plan = expand(campaign)
    assert [c.labels["format"] for c in plan.cells] == ["walk"]
    summary = run_plan(plan, tmp_path / "out", workers=1, executor="inline", cache=tmp_path / "cache", quiet=True)
    assert summary.rendered == 1 and not summary.failed and not summary.refused, summary
    (row,) = ledger_rows(reg, twin.id)  # one use of the twin: the video
    assert row.grant_id == grant.id and row.region == "FR" and row.campaign == "walks" and row.note == "video, 4 frames"
    info = probe_mp4(row.image_path)
    assert (info.codec, info.pix_fmt, info.frames, info.width, info.height) == ("h264", "yuv420p", 4, 64, 96)
    d = read_disclosure(row.image_path)
    assert d["twin_id"] == twin.id and d["campaign"] == "walks" and d["channel"] == "e-commerce"
    # resumed: nothing is rendered or recorded again
    again = run_plan(plan, tmp_path / "out", workers=1, executor="inline", cache=tmp_path / "cache", quiet=True,
                     resume=True)
    assert not again.failed and len(ledger_rows(reg, twin.id)) == 1
