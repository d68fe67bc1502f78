"""MP4 video from rendered frames (PyAV from PyPI, which bundles FFmpeg with libx264).

:func:`write_mp4` encodes PNG frames as H.264 in yuv420p (what every player and platform reads;
yuv420p needs even dimensions, so an odd width or height is refused), 30 fps by default, with the
AI disclosure as container metadata (MP4 ``udta`` tags through FFmpeg's ``use_metadata_tags``):
``comment``/``description`` say it is an AI-generated video of a digital twin, and the keys of
:data:`DISCLOSURE_KEYS` carry the twin, grant and scene ids. :func:`probe_mp4` reads a file back
(codec, pixel format, size, frame count by decoding, metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..storage import atomic_path
from ..types import PathLikeStr

#: disclosure info key -> MP4 metadata key
DISCLOSURE_KEYS = {
    "twin_id": "atelier_twin_id", "grant_id": "atelier_grant_id", "scene_hash": "atelier_scene_hash",
    "channel": "atelier_channel", "region": "atelier_region", "created": "creation_time",
}


def _av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError("writing MP4 video needs PyAV", hint="pip install av==18.1.0 (Atelier's pin)") from None
    return av


def disclosure_metadata(info: dict) -> dict[str, str]:
    """MP4 metadata tags for a disclosure ``info`` dict (as :func:`engine.rights.stamp_png` takes)."""
    from .. import __version__
    from ..rights.disclosure import DIGITAL_SOURCE_TYPE, DISCLOSURE_TEXT, disclosure_description

    meta = {
        "comment": disclosure_description(info).replace("image", "video", 1),
        "description": f"{DISCLOSURE_TEXT.replace('image', 'video')}.",
        "encoder_software": f"Atelier {__version__}",
        "ai_generated": "true",
        "digital_source_type": DIGITAL_SOURCE_TYPE,
    }
    for key, tag in DISCLOSURE_KEYS.items():
        if info.get(key) not in (None, ""):
            meta[tag] = str(info[key])
    return meta


def write_mp4(frames: list[PathLikeStr], path: PathLikeStr, fps: int = 30, metadata: dict[str, str] | None = None,
              crf: int = 20) -> Path:
    """Encode PNG ``frames`` (all one size, even width and height) as an H.264/yuv420p MP4,
    written atomically. Returns the path."""
    from PIL import Image

    av = _av()
    if not frames:
        raise InputError("no frames to encode")
    first = Image.open(frames[0])
    w, h = first.size
    if w % 2 or h % 2:
        raise InputError(f"video frames are {w}x{h}: H.264 in yuv420p needs an even width and height",
                         hint="render at an even size (e.g. 720x1280)")
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "use_metadata_tags"}) as out:
            for k, v in (metadata or {}).items():
                out.metadata[k] = v
            stream = out.add_stream("libx264", rate=int(fps))
            stream.width, stream.height = w, h
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf)), "preset": "medium"}
            for p in frames:
                img = Image.open(p)
                if img.size != (w, h):
                    raise InputError(f"{p}: {img.size[0]}x{img.size[1]}, the first frame is {w}x{h}")
                rgb = np.asarray(img.convert("RGB"))
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


@dataclass
class VideoInfo:
    """What :func:`probe_mp4` found: ``codec`` (e.g. "h264"), ``pix_fmt``, ``width``, ``height``,
    ``frames`` (decoded), ``fps``, ``metadata`` (container tags)."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    frames: int
    fps: float
    metadata: dict[str, str]


def probe_mp4(path: PathLikeStr) -> VideoInfo:
    """Open a video and count its frames by decoding them."""
    av = _av()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return VideoInfo(codec=s.codec_context.name, pix_fmt=str(s.codec_context.pix_fmt), width=s.codec_context.width,
                         height=s.codec_context.height, frames=n, fps=float(s.average_rate or 0),
                         metadata=dict(c.metadata))
