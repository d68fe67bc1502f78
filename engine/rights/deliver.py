"""Delivering rendered images and videos: :func:`deliver` once a render's files are written, under
the clearance :func:`engine.rights.consent.clear` gave before the first pixel. It is the one
delivery path: stills (PNG, JPEG, WebP) and videos (MP4) alike.

.. code-block:: python

    clearance = clear(reg, DrawnBody.mesh(drape / "body.ply"), "social", "FR")  # ConsentError -> refused
    paths = render(...)                                                        # images written atomically
    rows = deliver(clearance, paths, scene_hash, campaign="ss26", scope=cell_id)

:func:`deliver` checks the grant again (a revocation during the render stops the delivery and
deletes its unrecorded images), then per image applies the visible label (per channel policy),
the disclosure and an optional C2PA signature through one rename, and appends the ledger row under
an idempotency key. It is safe to call again after a crash at any step: nothing is labelled twice
and nothing is recorded twice. An MP4 is one use of the twin (one ledger row; its frames are parts
of it): its disclosure is remuxed into the container metadata, the packets copied (a visible label
re-encodes its frames), and a C2PA manifest for ``video/mp4`` may bind the final bytes.
:func:`authorise` answers only whether a grant covers a use (no body identified, nothing drawn).
"""

from __future__ import annotations

import glob
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..types import PathLikeStr
from .c2pa_sign import SIGNABLE, C2paCredentials, sign_c2pa
from ..storage import file_sha256, pid_alive
from .disclosure import add_visible_label, has_c2pa_manifest, image_format, needs_visible_label, read_disclosure, stamp_image
from .ledger import LedgerRow, record_image
from .registry import ConsentError, Grant, Registry, check_grant
from .db import utcnow

if TYPE_CHECKING:
    from .consent import Clearance


def authorise(registry: Registry, twin_id: str, channel: str, region: str,
              when: date | datetime | None = None) -> Grant:
    """The live grant for this use; call it before any pixel is drawn. Raises ConsentError
    (mark the cell *refused*: not failed, not retried) when none covers it."""
    return check_grant(registry, twin_id, channel, region, when)


def deliver(
    clearance: "Clearance",
    images: list[PathLikeStr],
    scene_hash: str,
    campaign: str | None = None,
    *,
    scope: str | None = None,
    when: datetime | None = None,
    label_policy: dict[str, bool] | None = None,
    label_text: str = "AI-generated",
    label_corner: str = "bottom-right",
    c2pa: C2paCredentials | None = None,
    discard_if_refused: bool = True,
) -> list[LedgerRow]:
    """Deliver rendered images (PNG, JPEG, WebP) and videos (MP4) under a clearance from
    :func:`engine.rights.consent.clear`.

    For each file, all or nothing: the visible label (per channel policy), the disclosure and an
    optional C2PA signature are applied to a temporary copy which then replaces the image in one
    rename, so a file is either untouched or fully disclosed; then, for a real twin, its ledger
    row is appended under an idempotency key (``scope``, the final content hash, the twin, the
    grant), so a delivery resumed after a crash at any step is recorded exactly once. A synthetic
    body's images are disclosed and not recorded (nobody is owed anything).

    Args:
        images: the files, complete (written atomically) and not yet delivered (or delivered by
            an earlier call that crashed part way: those are finished, not redone).
        scene_hash: the content hash of the scene that produced them (written into the metadata).
        scope: what the delivery belongs to (a campaign cell id, an output folder); default the
            image's absolute path.
        when: the time of use (default now); its UTC date is what the grant must cover.
        label_policy: channel -> visible label wanted; default
            :data:`engine.rights.disclosure.LABEL_POLICY`.
        c2pa: the user's signing credentials (PNG and MP4), or None for no C2PA manifest.

    Returns:
        The ledger rows, one per image, in order (empty for a synthetic body).

    Raises:
        ConsentError: the twin's grant no longer covers the use (revoked during the render); the
            images without a ledger row are deleted first when ``discard_if_refused``.
    """
    from .consent import recheck

    paths = [Path(p) for p in images]
    when = when or utcnow()
    try:
        clearance = recheck(clearance, when)
    except ConsentError as exc:
        if discard_if_refused:
            _discard(clearance.registry, paths, exc)
        raise
    info = clearance.disclosure(scene_hash, campaign)
    info["created"] = when.isoformat(timespec="seconds")
    rows = []
    for p in paths:
        _disclose(p, info, label_policy, label_text, label_corner, c2pa)
        fault_point("after-stamp")
        if clearance.synthetic:
            continue
        sha = file_sha256(p)
        key = idempotency_key(scope or str(p.absolute()), sha, clearance.twin_id, clearance.grant.id)
        rows.append(record_image(clearance.registry, clearance.twin_id, clearance.grant.id, clearance.channel,
                                 _ledger_region(clearance.region), p, campaign=campaign, when=when, sha256=sha,
                                 note=_note(p), idempotency_key=key))
        fault_point("after-ledger")
    return rows


def _note(p: Path) -> str | None:
    """The ledger note of a delivered file: a video says so, with its frame count."""
    if image_format(p) != "mp4":
        return None
    from ..render.video import mp4_frame_count

    return f"video, {mp4_frame_count(p)} frames"


def _ledger_region(region: str | None) -> str:
    """A use in no particular region is recorded under the region code ``ZZ`` (ISO's code for
    an unknown or unspecified region)."""
    return region or "ZZ"


def idempotency_key(scope: str, image_sha256: str, twin_id: str, grant_id: int) -> str:
    """The key of one delivery: hex SHA-256 of (scope, image content hash, twin, grant)."""
    import hashlib

    return hashlib.sha256(f"{scope}\x00{image_sha256}\x00{twin_id}\x00{grant_id}".encode()).hexdigest()


def _disclose(p: Path, info: dict, label_policy, label_text, label_corner, c2pa) -> None:
    """Label, stamp and sign ``p`` through a temporary copy replaced in one rename; a file
    already disclosed for this twin and grant (and signed, when asked) is left as it is."""
    import shutil

    have = read_disclosure(p)
    done = have.get("twin_id") == str(info["twin_id"]) and str(have.get("grant_id")) == str(info["grant_id"])
    signable = c2pa is not None and image_format(p) in SIGNABLE
    if done and (not signable or has_c2pa_manifest(p)):
        return
    # left by a killed delivery: its copy, and the writers' own temporaries of that copy
    # (atomic_path names them ".<copy's name>.<pid>.<random>.part<suffix>")
    for stale in p.parent.glob(f"*.{glob.escape(p.stem)}.deliver-*"):
        m = re.match(rf"\.+{re.escape(p.stem)}\.deliver-(\d+)\.part", stale.name)
        if m and int(m[1]) != os.getpid() and not pid_alive(int(m[1])):
            stale.unlink(missing_ok=True)
    tmp = p.with_name(f".{p.stem}.deliver-{os.getpid()}.part{p.suffix}")  # one per process: two may deliver it
    shutil.copyfile(p, tmp)
    try:
        if not done:
            if needs_visible_label(info["channel"], label_policy):
                add_visible_label(tmp, text=label_text, corner=label_corner)
            stamp_image(tmp, info)
        if signable:
            sign_c2pa(tmp, c2pa.cert_chain_pem, c2pa.private_key_pem, alg=c2pa.alg, tsa_url=c2pa.tsa_url, info=info)
        fault_point("before-rename")
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()


def _discard(registry: Registry | None, paths: list[Path], exc: ConsentError) -> None:
    """Delete the images that have no live ledger record (a refused delivery leaves nothing)."""
    from .ledger import recorded_paths

    recorded = recorded_paths(registry, paths) if registry is not None else set()
    removed = [p for p in paths if p.is_file() and str(p.absolute()) not in recorded]
    for p in removed:
        p.unlink()
    if removed:
        exc.message += f" ({len(removed)} rendered image(s) discarded, not delivered)"
        exc.args = (exc.message,)


def fault_point(name: str) -> None:
    """Fault injection for the crash tests: when ``$ATELIER_FAULT`` names this point, the process
    dies here at once (as ``kill -9`` would: no cleanup, no exception handlers)."""
    if os.environ.get("ATELIER_FAULT") == name:
        os.kill(os.getpid(), 9)


def grant_channel(channel: str) -> str:
    """The canonical channel name (``ecommerce`` -> ``e-commerce``)."""
    from .registry import normalise_channels

    return normalise_channels([channel])[0]
