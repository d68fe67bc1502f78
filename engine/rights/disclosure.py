"""AI disclosure on every image: PNG text chunks, an XMP packet with the IPTC digital source type,
and an optional visible label.

:func:`stamp_png` adds ``iTXt`` chunks saying that the image is an AI-generated image of a digital
twin (with the twin id, grant id, engine version and scene hash), plus an XMP packet (``iTXt``
keyword ``XML:com.adobe.xmp``) that exiftool, Adobe tools and platforms read. The chunks are
inserted before the image data without re-encoding the pixels, and the file is replaced
atomically. :func:`read_disclosure` reads them back. An MP4 video carries the same fields as
container metadata (:func:`stamp_mp4`, packets copied, not re-encoded).

Order when delivering an image: visible label (changes pixels) -> :func:`stamp_png` ->
optional C2PA signature (:mod:`engine.rights.c2pa_sign`, binds the final bytes) -> ledger record.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from ..errors import InputError
from ..storage import atomic_path
from ..types import PathLikeStr

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = "XML:com.adobe.xmp"

# IPTC NewsCodes "Digital Source Type". A render of a twin is a synthetic likeness of a real
# person made by software from a body model that was fitted to her scan (and, for SMPL-X, learned
# from thousands of scans): media created by a model derived from sampled content, which is the
# definition of trainedAlgorithmicMedia. It is not "algorithmicMedia" (that is for media made
# purely by an algorithm without sampled data), not "digitalCapture"/"compositeCapture" (no
# photograph is involved) and not "digitalCreation" (no artist drew it). It is also the value
# that platforms and the EU AI Act transparency labels key their "AI-generated" notices on,
# which is the point of the disclosure.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

ATELIER_XMP_NS = "http://ns.atelier-engine.org/rights/1.0/"
"""Namespace of the Atelier fields in the XMP packet (prefix ``atelier``)."""

DISCLOSURE_TEXT = "AI-generated image of a digital twin"

# info key -> (PNG iTXt keyword, XMP property in the Atelier namespace)
FIELDS: dict[str, tuple[str, str]] = {
    "twin_id": ("Atelier Twin ID", "TwinID"),
    "grant_id": ("Atelier Grant ID", "GrantID"),
    "engine_version": ("Atelier Engine Version", "EngineVersion"),
    "scene_hash": ("Atelier Scene Hash", "SceneHash"),
    "campaign": ("Atelier Campaign", "Campaign"),
    "channel": ("Atelier Channel", "Channel"),
    "region": ("Atelier Region", "Region"),
    "created": ("Atelier Created", "Created"),
    "body_sha256": ("Atelier Body SHA256", "BodySHA256"),
}
_AI_KEYWORD = "AI Generated"
_SOURCE_KEYWORD = "Digital Source Type"
_STANDARD = ("Description", "Software", "Disclaimer", "Creation Time")
_OUR_KEYWORDS = {k for k, _ in FIELDS.values()} | {_AI_KEYWORD, _SOURCE_KEYWORD, XMP_KEYWORD, *_STANDARD}

LABEL_POLICY: dict[str, bool] = {
    "social": True,
    "e-commerce": True,
    "print": True,
    "out-of-home": True,
    "internal-fit-check": False,
}
"""Which channels get a visible "AI-generated" label by default: every public channel; internal
fit checks do not. A brand may pass its own policy (same keys) to the render helper."""


def needs_visible_label(channel: str, policy: dict[str, bool] | None = None) -> bool:
    """Whether ``channel`` gets a visible label under ``policy`` (default :data:`LABEL_POLICY`).
    Unknown channels get one: disclosure is the safe default."""
    return bool((policy or LABEL_POLICY).get(channel, True))


# ------------------------------------------------------------ PNG chunks
def read_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split PNG bytes into (type, data) chunks. Raises InputError if it is not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise InputError("not a PNG file (bad signature)", hint="disclosure metadata is written to PNG images")
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        if pos + 12 + n > len(data):
            raise InputError("truncated PNG file", hint="the image was not written completely; render it again")
        out.append((ctype, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
        if ctype == b"IEND":
            break
    return out


def write_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Join (type, data) chunks into PNG bytes (CRCs computed)."""
    parts = [PNG_SIGNATURE]
    for ctype, body in chunks:
        parts.append(struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF))
    return b"".join(parts)


def itxt_chunk(keyword: str, text: str, compress: bool = False) -> tuple[bytes, bytes]:
    """An iTXt chunk: Latin-1 keyword (1-79 chars), UTF-8 text, optionally zlib-compressed."""
    kw = keyword.encode("latin-1")
    if not 1 <= len(kw) <= 79:
        raise ValueError(f"PNG keyword must have 1-79 characters: {keyword!r}")
    payload = text.encode("utf-8")
    if compress:
        payload = zlib.compress(payload)
    return b"iTXt", kw + b"\x00" + bytes([1 if compress else 0, 0]) + b"\x00" + b"\x00" + payload


def text_chunks(chunks: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Keyword -> text of every tEXt, zTXt and iTXt chunk (the last one wins)."""
    out: dict[str, str] = {}
    for ctype, body in chunks:
        try:
            if ctype == b"tEXt":
                k, v = body.split(b"\x00", 1)
                out[k.decode("latin-1")] = v.decode("latin-1")
            elif ctype == b"zTXt":
                k, rest = body.split(b"\x00", 1)
                out[k.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif ctype == b"iTXt":
                k, rest = body.split(b"\x00", 1)
                flag = rest[0]
                _lang, rest = rest[2:].split(b"\x00", 1)
                _tkey, text = rest.split(b"\x00", 1)
                out[k.decode("latin-1")] = (zlib.decompress(text) if flag else text).decode("utf-8")
        except (ValueError, IndexError, zlib.error):
            continue  # a malformed text chunk is not ours; skip it
    return out


def _keyword(ctype: bytes, body: bytes) -> str | None:
    if ctype in (b"tEXt", b"zTXt", b"iTXt"):
        return body.split(b"\x00", 1)[0].decode("latin-1", "replace")
    return None


# ------------------------------------------------------------- stamping
def disclosure_description(info: dict) -> str:
    """The human sentence written to Description, Disclaimer and dc:description."""
    if info.get("twin_id") == "synthetic":
        return (f"{DISCLOSURE_TEXT}: a body generated from a parametric body model, depicting no real "
                "person, rendered by Atelier. Not a photograph.")
    s = (f"{DISCLOSURE_TEXT}: a synthetic likeness of a real person, rendered by Atelier and used "
         f"under consent grant {info.get('grant_id', '?')} (twin {info.get('twin_id', '?')}). Not a photograph.")
    return s


def build_xmp(info: dict) -> str:
    """The XMP packet: dc:description, Iptc4xmpExt:DigitalSourceType, xmp:CreatorTool/CreateDate,
    and the Atelier fields in the ``atelier`` namespace."""
    attrs = [
        f"Iptc4xmpExt:DigitalSourceType={quoteattr(DIGITAL_SOURCE_TYPE)}",
        f"xmp:CreatorTool={quoteattr('Atelier ' + str(info.get('engine_version', '')))}",
        f"atelier:AIGenerated=\"True\"",
    ]
    if info.get("created"):
        attrs.append(f"xmp:CreateDate={quoteattr(str(info['created']))}")
    for key, (_kw, prop) in FIELDS.items():
        if info.get(key) not in (None, ""):
            attrs.append(f"atelier:{prop}={quoteattr(str(info[key]))}")
    desc = escape(disclosure_description(info))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        f'    xmlns:atelier="{ATELIER_XMP_NS}"\n'
        + "".join(f"    {a}\n" for a in attrs)
        + '   >\n'
        f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{desc}</rdf:li></rdf:Alt></dc:description>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    )


def stamp_png(path: PathLikeStr, info: dict) -> Path:
    """Write the AI disclosure into the PNG at ``path`` (in place, atomically).

    Args:
        info: ``twin_id`` and ``grant_id`` (required), ``scene_hash``, and optionally ``campaign``,
            ``channel``, ``region``, ``created`` (ISO 8601; default now, UTC) and
            ``engine_version`` (default ``engine.__version__``). ``channel`` and ``region`` let
            :func:`engine.rights.ledger.reconcile` rebuild a lost ledger record.

    Earlier Atelier disclosure chunks are replaced, other chunks and the pixels are kept byte for
    byte. Raises InputError for a non-PNG, a missing twin or grant id, or a PNG that already
    carries a C2PA manifest (stamping would break its signature: stamp first, then sign).
    """
    from .. import __version__

    path = Path(path)
    if not info.get("twin_id") or info.get("grant_id") in (None, ""):
        raise InputError("the disclosure needs a twin_id and a grant_id", hint="pass the grant returned by check_grant")
    info = dict(info)
    info.setdefault("engine_version", __version__)
    info.setdefault("created", datetime.now().astimezone().isoformat(timespec="seconds"))
    chunks = read_chunks(_read(path))
    if any(ct == b"caBX" for ct, _ in chunks):
        raise InputError(f"{path} already has a C2PA manifest; stamping it would break the signature",
                         hint="stamp the disclosure first, then sign with C2PA")
    kept = [(ct, b) for ct, b in chunks if _keyword(ct, b) not in _OUR_KEYWORDS]
    desc = disclosure_description(info)
    new = [
        itxt_chunk("Description", desc),
        itxt_chunk("Disclaimer", f"{DISCLOSURE_TEXT}.") ,
        itxt_chunk("Software", f"Atelier {info['engine_version']}"),
        itxt_chunk("Creation Time", str(info["created"])),
        itxt_chunk(_AI_KEYWORD, "True"),
        itxt_chunk(_SOURCE_KEYWORD, DIGITAL_SOURCE_TYPE),
    ]
    for key, (kw, _prop) in FIELDS.items():
        if info.get(key) not in (None, ""):
            new.append(itxt_chunk(kw, str(info[key])))
    new.append(itxt_chunk(XMP_KEYWORD, build_xmp(info)))
    idat = next(i for i, (ct, _) in enumerate(kept) if ct == b"IDAT")
    out = kept[:idat] + new + kept[idat:]
    with atomic_path(path) as tmp:
        tmp.write_bytes(write_chunks(out))
    return path


def read_disclosure(path: PathLikeStr) -> dict:
    """The Atelier disclosure of a PNG, JPEG or WebP image or an MP4 video, or ``{}`` when it has none.

    Returns a dict with ``ai_generated`` (bool), ``description``, ``digital_source_type`` and the
    :data:`FIELDS` keys present (``twin_id``, ``grant_id``, ``engine_version``, ``scene_hash``,
    ``campaign``, ``channel``, ``region``, ``created``), all strings. The PNG text chunks are read
    first; fields only in the XMP packet (e.g. after a tool rewrote the text chunks) fill the gaps.
    """
    path = Path(path)
    try:
        if path.is_file() and image_format(path) == "mp4":
            return _mp4_disclosure(path)
        data = _read(path)
        if not data.startswith(PNG_SIGNATURE):
            packet = _xmp_packet(path)
            return parse_xmp(packet) if packet else {}
        chunks = read_chunks(data)
    except InputError:
        return {}
    texts = text_chunks(chunks)
    out: dict = {}
    for key, (kw, _prop) in FIELDS.items():
        if kw in texts:
            out[key] = texts[kw]
    if _AI_KEYWORD in texts:
        out["ai_generated"] = texts[_AI_KEYWORD].strip().lower() == "true"
    if _SOURCE_KEYWORD in texts:
        out["digital_source_type"] = texts[_SOURCE_KEYWORD]
    if "Description" in texts and out:
        out["description"] = texts["Description"]
    if XMP_KEYWORD in texts:
        for k, v in parse_xmp(texts[XMP_KEYWORD]).items():
            out.setdefault(k, v)
    return out


def parse_xmp(packet: str) -> dict:
    """The disclosure fields of an XMP packet (see :func:`read_disclosure`); ``{}`` if unreadable."""
    try:
        body = packet[packet.index("<x:xmpmeta"):packet.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")]
        root = ET.fromstring(body)
    except (ValueError, ET.ParseError):
        return {}
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    out: dict = {}
    for d in root.iter(f"{rdf}Description"):
        for name, value in d.attrib.items():
            if name.startswith("{" + ATELIER_XMP_NS + "}"):
                prop = name[len(ATELIER_XMP_NS) + 2:]
                for key, (_kw, p) in FIELDS.items():
                    if p == prop:
                        out[key] = value
                if prop == "AIGenerated":
                    out["ai_generated"] = value.strip().lower() == "true"
            elif name == "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType":
                out["digital_source_type"] = value
        for li in d.iter(f"{rdf}li"):
            if li.text and out:
                out.setdefault("description", li.text)
    return out


# --------------------------------------------------------- visible label
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


def add_visible_label(path: PathLikeStr, text: str = "AI-generated", corner: str = "bottom-right",
                      scale: float = 0.035) -> Path:
    """Draw a small readable label (white text on a translucent dark box) in a corner of the image
    (of every frame of an MP4 video).

    Args:
        scale: text height as a fraction of the image height (at least 10 px).

    Changes pixels, so call it before :func:`stamp_png` and any C2PA signature; Atelier disclosure
    chunks already in the file are carried over. JPEG and WebP are encoded again (quality 95), an
    MP4's frames too (H.264, crf 18; its metadata kept). The file is replaced atomically.
    """
    from PIL import Image

    path = Path(path)
    if corner not in CORNERS:
        raise InputError(f"unknown corner {corner!r}", hint=f"use one of: {', '.join(CORNERS)}")
    fmt = image_format(path)
    if has_c2pa_manifest(path):
        raise InputError(f"{path} already has a C2PA manifest; a label would break the signature",
                         hint="add the label before signing")
    if fmt == "mp4":
        import numpy as np

        from ..render.video import remux_mp4

        overlays: dict = {}

        def labelled(rgb):
            h, w = rgb.shape[:2]
            if (w, h) not in overlays:
                overlays[(w, h)] = _label_overlay((w, h), text, corner, scale)
            base = Image.fromarray(rgb, "RGB").convert("RGBA")
            return np.asarray(Image.alpha_composite(base, overlays[(w, h)]).convert("RGB"))

        with atomic_path(path) as tmp:
            remux_mp4(path, tmp, frame_fn=labelled)
        return path
    chunks = read_chunks(_read(path)) if fmt == "png" else []
    carried = [(ct, b) for ct, b in chunks if _keyword(ct, b) in _OUR_KEYWORDS]
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        base = im.convert("RGBA")
    out = Image.alpha_composite(base, _label_overlay(base.size, text, corner, scale))
    if mode != "RGBA":
        out = out.convert("RGB" if mode not in ("LA", "L") else mode)
    if fmt != "png":  # a label changes pixels: JPEG and WebP are encoded again, at high quality
        packet = _xmp_packet(path)
        with atomic_path(path) as tmp:
            out.convert("RGB" if fmt == "jpeg" else out.mode).save(tmp, format=fmt.upper(), quality=95)
            if packet:
                body = _read(tmp)
                tmp.write_bytes(_jpeg_with_xmp(body, packet.encode()) if fmt == "jpeg"
                                else _webp_with_xmp(body, packet.encode(), tmp))
        return path
    with atomic_path(path) as tmp:
        out.save(tmp, format="PNG")
        if carried:
            new = read_chunks(tmp.read_bytes())
            idat = next(i for i, (ct, _) in enumerate(new) if ct == b"IDAT")
            tmp.write_bytes(write_chunks(new[:idat] + carried + new[idat:]))
    return path


def _label_overlay(size: tuple[int, int], text: str, corner: str, scale: float):
    """The visible label as a transparent RGBA image of ``size`` (width, height) pixels."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    px = max(10, int(round(h * scale)))
    font = ImageFont.load_default(size=px)
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = max(2, px // 3)
    bw, bh = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad
    margin = max(2, px // 2)
    bx = w - bw - margin if corner.endswith("right") else margin
    by = h - bh - margin if corner.startswith("bottom") else margin
    draw.rectangle([bx, by, bx + bw, by + bh], fill=(0, 0, 0, 160))
    draw.text((bx + pad - x0, by + pad - y0), text, font=font, fill=(255, 255, 255, 255))
    return overlay


# --------------------------------------------------- JPEG and WebP (XMP)
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
"""The image formats that carry the disclosure (PNG: text chunks + XMP; JPEG: an APP1 XMP
segment; WebP: an ``XMP `` chunk)."""


def image_format(path: PathLikeStr) -> str:
    """``"png"``, ``"jpeg"``, ``"webp"`` or ``"mp4"`` (an ISO media file: its first box is
    ``ftyp``) from the file's first bytes. Raises InputError otherwise."""
    with open(_existing(Path(path)), "rb") as f:
        head = f.read(16)
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    raise InputError(f"{path}: not a PNG, JPEG, WebP image or MP4 video",
                     hint="the AI disclosure is written into PNG, JPEG and WebP images and MP4 videos")


C2PA_BMFF_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
"""The ``uuid`` box type under which C2PA stores its manifest in an MP4 (ISO BMFF)."""


def has_c2pa_manifest(path: PathLikeStr) -> bool:
    """Whether a PNG (a ``caBX`` chunk) or an MP4 (a top-level C2PA ``uuid`` box) carries a C2PA
    manifest; JPEG and WebP are never signed here."""
    path = Path(path)
    fmt = image_format(path)
    if fmt == "png":
        return any(ct == b"caBX" for ct, _ in read_chunks(_read(path)))
    if fmt != "mp4":
        return False
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                return False
            size, kind = struct.unpack(">I", head[:4])[0], head[4:]
            skip = 8
            if size == 1:
                size, skip = struct.unpack(">Q", f.read(8))[0], 16
            if kind == b"uuid":
                if f.read(16) == C2PA_BMFF_UUID:
                    return True
                skip += 16
            if size == 0:  # the last box runs to the end of the file
                return False
            f.seek(size - skip, 1)


def stamp_image(path: PathLikeStr, info: dict) -> Path:
    """Write the AI disclosure into a PNG (:func:`stamp_png`), JPEG or WebP image in place,
    atomically, without re-encoding its pixels. JPEG and WebP carry it as XMP
    (``Iptc4xmpExt:DigitalSourceType`` = trainedAlgorithmicMedia, the Atelier fields)."""
    path = Path(path)
    fmt = image_format(path)
    if fmt == "png":
        return stamp_png(path, info)
    if fmt == "mp4":
        return stamp_mp4(path, info)
    from .. import __version__

    if not info.get("twin_id") or info.get("grant_id") in (None, ""):
        raise InputError("the disclosure needs a twin_id and a grant_id", hint="pass the grant returned by check_grant")
    info = dict(info)
    info.setdefault("engine_version", __version__)
    info.setdefault("created", datetime.now().astimezone().isoformat(timespec="seconds"))
    packet = build_xmp(info).encode("utf-8")
    data = _read(path)
    out = _jpeg_with_xmp(data, packet) if fmt == "jpeg" else _webp_with_xmp(data, packet, path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(out)
    return path


#: disclosure info key -> MP4 metadata tag (:func:`stamp_mp4`)
DISCLOSURE_KEYS = {
    "twin_id": "atelier_twin_id", "grant_id": "atelier_grant_id", "scene_hash": "atelier_scene_hash",
    "channel": "atelier_channel", "region": "atelier_region", "created": "creation_time",
    "campaign": "atelier_campaign", "body_sha256": "atelier_body_sha256",
}
#: the tags :func:`disclosure_metadata` writes besides those of :data:`DISCLOSURE_KEYS`
DISCLOSURE_TAGS = ("comment", "description", "encoder_software", "ai_generated", "digital_source_type")


def disclosure_metadata(info: dict) -> dict[str, str]:
    """MP4 metadata tags for a disclosure ``info`` dict (as :func:`stamp_png` takes)."""
    from .. import __version__

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


def stamp_mp4(path: PathLikeStr, info: dict) -> Path:
    """Write the AI disclosure into an MP4's container metadata (in place, atomically): the
    packets are copied, not re-encoded, and earlier Atelier tags are replaced
    (:func:`disclosure_metadata` lists them). Refused (InputError) for a
    video that already carries a C2PA manifest: stamp first, then sign."""
    from .. import __version__
    from ..render.video import remux_mp4

    path = Path(path)
    if not info.get("twin_id") or info.get("grant_id") in (None, ""):
        raise InputError("the disclosure needs a twin_id and a grant_id", hint="pass the grant returned by check_grant")
    if has_c2pa_manifest(path):
        raise InputError(f"{path} already has a C2PA manifest; stamping it would break the signature",
                         hint="stamp the disclosure first, then sign with C2PA")
    info = dict(info)
    info.setdefault("engine_version", __version__)
    info.setdefault("created", datetime.now().astimezone().isoformat(timespec="seconds"))
    with atomic_path(path) as tmp:
        remux_mp4(path, tmp, disclosure_metadata(info), replace=(*DISCLOSURE_TAGS, *DISCLOSURE_KEYS.values()))
    return path


def _mp4_disclosure(path: Path) -> dict:
    """:func:`read_disclosure` for an MP4: its container tags read back into disclosure fields."""
    from ..render.video import read_mp4_metadata

    meta = read_mp4_metadata(path)
    out = {key: meta[tag] for key, tag in DISCLOSURE_KEYS.items() if tag in meta and key != "created"}
    if not out and "ai_generated" not in meta:
        return {}
    if "creation_time" in meta:
        out["created"] = meta["creation_time"]
    if "ai_generated" in meta:
        out["ai_generated"] = meta["ai_generated"].strip().lower() == "true"
    if "digital_source_type" in meta:
        out["digital_source_type"] = meta["digital_source_type"]
    if "comment" in meta:
        out["description"] = meta["comment"]
    if meta.get("encoder_software", "").startswith("Atelier "):
        out["engine_version"] = meta["encoder_software"][len("Atelier "):]
    return out


def _jpeg_segments(data: bytes):
    """(marker, start, end) of each segment before the scan data (SOS), after SOI."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise InputError("malformed JPEG file", hint="the image was not written completely; render it again")
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            return
        (n,) = struct.unpack(">H", data[pos + 2:pos + 4])
        yield marker, pos, pos + 2 + n
        pos += 2 + n


def _jpeg_with_xmp(data: bytes, packet: bytes) -> bytes:
    if len(packet) + len(XMP_JPEG_HEADER) + 2 > 0xFFFF:
        raise InputError("the disclosure packet is too large for one JPEG segment")
    segs = list(_jpeg_segments(data))
    drop = [(a, b) for m, a, b in segs if m == 0xE1 and data[a + 4:a + 4 + len(XMP_JPEG_HEADER)] == XMP_JPEG_HEADER]
    after = 2
    for m, a, b in segs:  # after SOI and the APP0 (JFIF) / Exif APP1 segments
        if m in (0xE0,) or (m == 0xE1 and (a, b) not in drop):
            after = b
        else:
            break
    seg = b"\xff\xe1" + struct.pack(">H", len(XMP_JPEG_HEADER) + len(packet) + 2) + XMP_JPEG_HEADER + packet
    out, pos = bytearray(), 0
    for a, b in sorted(drop + [(after, after)]):
        out += data[pos:a]
        if (a, b) == (after, after):
            out += seg
        pos = b
    out += data[pos:]
    return bytes(out)


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InputError("not a WebP file")
    out, pos = [], 12
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        (n,) = struct.unpack("<I", data[pos + 4:pos + 8])
        out.append((fourcc, data[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    return out


def _webp_with_xmp(data: bytes, packet: bytes, path: Path) -> bytes:
    chunks = [(c, b) for c, b in _riff_chunks(data) if c != b"XMP "]
    if chunks[0][0] != b"VP8X":
        from PIL import Image

        with Image.open(path) as im:
            w, h = im.size
            alpha = "A" in im.getbands()
        flags = 0x10 if alpha and chunks[0][0] == b"VP8L" else 0
        chunks.insert(0, (b"VP8X", bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")))
    head = chunks[0][1]
    chunks[0] = (b"VP8X", bytes([head[0] | 0x04]) + head[1:])
    chunks.append((b"XMP ", packet))
    body = b"".join(c + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) & 1 else b"") for c, b in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _xmp_packet(path: Path) -> str | None:
    """The XMP packet of a JPEG or WebP file, or None."""
    data = _read(path)
    if data.startswith(b"\xff\xd8"):
        for m, a, b in _jpeg_segments(data):
            if m == 0xE1 and data[a + 4:a + 4 + len(XMP_JPEG_HEADER)] == XMP_JPEG_HEADER:
                return data[a + 4 + len(XMP_JPEG_HEADER):b].decode("utf-8", "replace")
        return None
    if data[:4] == b"RIFF":
        for c, b in _riff_chunks(data):
            if c == b"XMP ":
                return b.decode("utf-8", "replace")
    return None


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"image not found: {path}", hint="check the path")
    return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"image not found: {path}", hint="check the path") from exc
