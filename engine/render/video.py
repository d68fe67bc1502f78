"""MP4 video from rendered frames (PyAV from PyPI, which bundles FFmpeg with libx264).

:func:`write_mp4` encodes PNG frames as H.264 in yuv420p (what every player and platform reads;
yuv420p needs even dimensions, so an odd width or height is refused), 30 fps by default, with the
AI disclosure as container metadata (MP4 ``udta`` tags through FFmpeg's ``use_metadata_tags``; the
tags are :func:`engine.rights.disclosure.disclosure_metadata`'s: ``comment``/``description`` say it
is an AI-generated video of a digital twin, ``atelier_*`` tags carry the twin, grant and scene ids). :func:`probe_mp4` reads a file back
(codec, pixel format, size, frame count by decoding, metadata).

A delivered video is disclosed by :func:`engine.rights.deliver.deliver` like an image: it rewrites
the container's metadata with :func:`remux_mp4` (the H.264 packets are copied, not re-encoded; a
visible label re-encodes the frames, as for JPEG), then a C2PA manifest may bind the final bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..storage import atomic_path
from ..types import PathLikeStr

#: tags the MP4 muxer writes itself (never copied by :func:`remux_mp4`)
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")


def _av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError("writing MP4 video needs PyAV", hint="pip install av==18.1.0 (Atelier's pin)") from None
    return av


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


def read_mp4_metadata(path: PathLikeStr) -> dict[str, str]:
    """The container metadata tags of a video (no frame is decoded)."""
    av = _av()
    with av.open(str(path)) as c:
        return dict(c.metadata)


def remux_mp4(src: PathLikeStr, dst: PathLikeStr, metadata: dict[str, str] | None = None, *, replace: tuple[str, ...] = (),
              frame_fn=None, crf: int = 18) -> Path:
    """Write ``src`` to ``dst`` (an MP4, not atomically: ``dst`` is the caller's temporary file)
    with its metadata tags, less those named in ``replace``, plus ``metadata``.

    Without ``frame_fn`` the H.264 packets are copied untouched (no quality lost). With it, every
    frame is decoded, passed through ``frame_fn`` ((H, W, 3) uint8 RGB -> same) and encoded again
    (H.264, yuv420p, ``crf``; for pixel changes such as a visible label)."""
    av = _av()
    dst = Path(dst)
    with av.open(str(src)) as inp:
        tags = {k: v for k, v in inp.metadata.items() if k not in _MUXER_TAGS and k not in replace}
        tags.update(metadata or {})
        ins = inp.streams.video[0]
        with av.open(str(dst), mode="w", format="mp4", options={"movflags": "use_metadata_tags"}) as out:
            for k, v in tags.items():
                out.metadata[k] = v
            if frame_fn is None:
                stream = out.add_stream_from_template(ins)
                for packet in inp.demux(ins):
                    if packet.dts is None:  # the flush packet
                        continue
                    packet.stream = stream
                    out.mux(packet)
                return dst
            stream = out.add_stream("libx264", rate=ins.average_rate or 30)
            stream.width, stream.height = ins.codec_context.width, ins.codec_context.height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf)), "preset": "medium"}
            for frame in inp.decode(ins):
                rgb = np.ascontiguousarray(frame_fn(frame.to_ndarray(format="rgb24")))
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return dst


def mp4_frame_count(path: PathLikeStr) -> int:
    """The frame count the container declares (no decoding; :func:`probe_mp4` decodes)."""
    av = _av()
    with av.open(str(path)) as c:
        return int(c.streams.video[0].frames)


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
