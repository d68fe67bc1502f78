"""MP4 writing: H.264 yuv420p with the AI disclosure in the container, frames counted by decoding."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av", reason="PyAV (extra: video) is not installed")

from engine.errors import InputError  # noqa: E402
from engine.render.video import probe_mp4, write_mp4  # noqa: E402
from engine.rights.disclosure import disclosure_metadata  # noqa: E402


def frames(tmp_path, n, w=32, h=24):
    out = []
    for i in range(n):
        p = tmp_path / f"f{i:03d}.png"
        Image.fromarray(np.full((h, w, 3), 20 * i % 255, np.uint8)).save(p)
        out.append(p)
    return out


def test_mp4_has_every_frame_and_the_disclosure(tmp_path):
    meta = disclosure_metadata({"twin_id": "synthetic", "grant_id": "none", "scene_hash": "abc"})
    path = write_mp4(frames(tmp_path, 10), tmp_path / "v.mp4", fps=30, metadata=meta)
    info = probe_mp4(path)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.frames) == ("h264", "yuv420p", 32, 24, 10)
    assert info.fps == pytest.approx(30.0)
    assert info.metadata["ai_generated"] == "true"
    assert info.metadata["atelier_twin_id"] == "synthetic"
    assert "AI-generated video" in info.metadata["comment"]


def test_odd_dimensions_are_refused(tmp_path):
    with pytest.raises(InputError, match="even"):
        write_mp4(frames(tmp_path, 2, w=33), tmp_path / "v.mp4")
    assert not (tmp_path / "v.mp4").exists()
