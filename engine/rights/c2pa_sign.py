"""Optional C2PA manifest on a PNG image or an MP4 video, signed with the user's certificate
(``c2pa-python``; an MP4's manifest sits in a top-level ``uuid`` box, as the C2PA spec places it in
ISO BMFF files).

The manifest says the image (video) was created by Atelier as trained-algorithmic media (a ``c2pa.created``
action with the IPTC digital source type) and carries an ``org.atelier.rights`` assertion with the
twin id, grant id and scene hash. Sign after :func:`engine.rights.disclosure.stamp_image`: the
signature binds the final bytes.

Certificates that work (checked with c2pa-python 0.38.1): an ES256 (P-256) chain, a CA plus a leaf
with KeyUsage digitalSignature, ExtendedKeyUsage emailProtection (or documentSigning), and
SubjectKeyIdentifier and AuthorityKeyIdentifier extensions; the chain PEM is the leaf first, then
the CA. Without the key identifiers c2pa answers "the certificate is invalid". A chain from a test
CA verifies with only ``signingCredential.untrusted`` in the validation results.

``c2pa-python`` is an optional extra (``pip install 'atelier[c2pa]'``); without it these functions
raise MissingDependencyError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import AtelierError, InputError, MissingDependencyError
from ..storage import atomic_path
from ..types import PathLikeStr
from .disclosure import DIGITAL_SOURCE_TYPE, image_format, read_disclosure

EXTRA = "c2pa"
ASSERTION_LABEL = "org.atelier.rights"
_ALGS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


@dataclass(frozen=True)
class C2paCredentials:
    """The user's signing material.

    Attributes:
        cert_chain_pem: PEM certificates, leaf first then intermediates/CA.
        private_key_pem: PEM private key of the leaf (PKCS#8).
        alg: signing algorithm matching the key: es256 (P-256), es384, es512, ps256, ed25519...
        tsa_url: a time-stamp authority URL, or None (no time stamp; needs no network).
    """

    cert_chain_pem: str | bytes
    private_key_pem: str | bytes
    alg: str = "es256"
    tsa_url: str | None = None

    @classmethod
    def from_files(cls, cert_chain: PathLikeStr, private_key: PathLikeStr, alg: str = "es256",
                   tsa_url: str | None = None) -> "C2paCredentials":
        return cls(Path(cert_chain).read_text(), Path(private_key).read_text(), alg, tsa_url)


def c2pa_available() -> bool:
    """Whether c2pa-python can be imported."""
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def _c2pa():
    try:
        import c2pa
    except ImportError as exc:
        raise MissingDependencyError(
            "C2PA signing needs the optional dependency c2pa-python, which is not installed",
            hint=f"pip install 'atelier[{EXTRA}]' (or pip install c2pa-python)",
        ) from exc
    return c2pa


def _bytes(x: str | bytes) -> bytes:
    return x if isinstance(x, bytes) else x.encode()


#: what :func:`sign_c2pa` can sign: :func:`engine.rights.disclosure.image_format` -> MIME type
SIGNABLE = {"png": "image/png", "mp4": "video/mp4"}


def manifest_definition(info: dict, title: str | None = None, mime: str = "image/png") -> dict:
    """The C2PA manifest definition for an Atelier image (``mime`` image/png) or video
    (video/mp4) with disclosure ``info``."""
    from .. import __version__

    rights = {k: str(info[k]) for k in ("twin_id", "grant_id", "scene_hash", "campaign", "channel", "region")
              if info.get(k) not in (None, "")}
    rights["ai_generated"] = True
    return {
        "claim_generator_info": [{"name": "Atelier", "version": __version__}],
        "title": title or "Atelier render",
        "format": mime,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": DIGITAL_SOURCE_TYPE,
                    "softwareAgent": {"name": "Atelier", "version": __version__},
                    "description": f"AI-generated {'video' if mime.startswith('video/') else 'image'} of a digital twin",
                }]},
            },
            {"label": ASSERTION_LABEL, "data": rights},
        ],
    }


def sign_c2pa(path: PathLikeStr, cert_chain_pem: str | bytes, private_key_pem: str | bytes, *,
              alg: str = "es256", tsa_url: str | None = None, info: dict | None = None,
              title: str | None = None) -> dict:
    """Embed a signed C2PA manifest in the PNG or MP4 at ``path`` (in place, atomically).

    Args:
        cert_chain_pem: the user's certificate chain, PEM, leaf first.
        private_key_pem: the leaf's private key, PEM.
        alg: "es256" for a P-256 key (see the module notes for certificates that work).
        info: the fields for the ``org.atelier.rights`` assertion; default: the image's own
            Atelier disclosure (:func:`read_disclosure`).

    Returns:
        The manifest definition that was signed.

    Raises:
        MissingDependencyError: c2pa-python is not installed.
        AtelierError: c2pa refused the certificate, key or image (its message is included).
    """
    c2pa = _c2pa()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}", hint="sign an image after it is written")
    alg = alg.lower()
    if alg not in _ALGS:
        raise InputError(f"unknown signing algorithm {alg!r}", hint=f"use one of: {', '.join(_ALGS)}")
    fmt = image_format(path)
    if fmt not in SIGNABLE:
        raise InputError(f"{path}: C2PA signing here takes a PNG or an MP4, not {fmt.upper()}",
                         hint="deliver PNG images (or MP4 videos) to sign them")
    mime = SIGNABLE[fmt]
    info = read_disclosure(path) if info is None else info
    manifest = manifest_definition(info, title=title or path.name, mime=mime)
    try:
        signer_info = c2pa.C2paSignerInfo(getattr(c2pa.C2paSigningAlg, alg.upper()), _bytes(cert_chain_pem),
                                          _bytes(private_key_pem), tsa_url)
        with c2pa.Signer.from_info(signer_info) as signer, c2pa.Builder(json.dumps(manifest)) as builder:
            with atomic_path(path) as tmp:
                with open(path, "rb") as src, open(tmp, "w+b") as dst:
                    builder.sign(signer, mime, src, dst)
    except c2pa.C2paError as exc:
        raise AtelierError(
            f"C2PA signing of {path} failed: {exc}",
            hint=("use an ES256 chain (leaf first, then CA) whose leaf has KeyUsage digitalSignature, "
                  "ExtendedKeyUsage emailProtection, SubjectKeyIdentifier and AuthorityKeyIdentifier, "
                  "and the leaf's PKCS#8 private key"),
        ) from exc
    return manifest


def read_c2pa(path: PathLikeStr) -> dict:
    """The C2PA store of a PNG or MP4 as a dict, with ``validation_state`` and ``validation_codes`` added
    (the failure codes, e.g. ``["signingCredential.untrusted"]`` for a test CA). ``{}`` when the
    image has no manifest."""
    c2pa = _c2pa()
    path = Path(path)
    mime = SIGNABLE.get(image_format(path), "image/png")
    try:
        with open(path, "rb") as f, c2pa.Reader(mime, f) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc) or "not found" in str(exc).lower():
            return {}
        raise AtelierError(f"cannot read the C2PA manifest of {path}: {exc}", hint="is it a signed PNG or MP4?") from exc
    codes = [s.get("code") for s in store.get("validation_status", []) or []]
    store["validation_state"] = state
    store["validation_codes"] = codes
    return store


def active_manifest(store: dict) -> dict:
    """The active manifest of a store returned by :func:`read_c2pa` (``{}`` if none)."""
    label = store.get("active_manifest")
    return (store.get("manifests") or {}).get(label, {}) if label else {}


def rights_assertion(store: dict) -> dict:
    """The ``org.atelier.rights`` assertion data of the active manifest (``{}`` if none)."""
    for a in active_manifest(store).get("assertions", []):
        if a.get("label") == ASSERTION_LABEL:
            return a.get("data", {})
    return {}
