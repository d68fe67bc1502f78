"""The two calls a render or campaign cell makes: :func:`authorise` before drawing anything and
:func:`authorise_and_stamp` once its images are written.

.. code-block:: python

    grant = authorise(reg, twin_id, "social", "FR")          # ConsentError -> cell "refused"
    paths = render(...)                                        # images written atomically
    rows = authorise_and_stamp(reg, twin_id, "social", "FR", paths, scene_hash, campaign="ss26")

:func:`authorise_and_stamp` checks the grant again (a revocation during the render stops the
delivery), then for each image adds the visible label if the channel's policy asks for one,
stamps the disclosure, optionally signs a C2PA manifest, and appends the ledger record. It is
safe to call again after a crash: images already stamped are not labelled twice, images already
recorded are not recorded twice.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from ..types import PathLikeStr
from .c2pa_sign import C2paCredentials, sign_png_c2pa
from .disclosure import add_visible_label, needs_visible_label, read_chunks, read_disclosure, stamp_png
from .ledger import LedgerRow, record_image
from .registry import ConsentError, Grant, Registry, check_grant
from .db import utcnow


def authorise(registry: Registry, twin_id: str, channel: str, region: str,
              when: date | datetime | None = None) -> Grant:
    """The live grant for this use; call it before any pixel is drawn. Raises ConsentError
    (mark the cell *refused*: not failed, not retried) when none covers it."""
    return check_grant(registry, twin_id, channel, region, when)


def authorise_and_stamp(
    registry: Registry,
    twin_id: str,
    channel: str,
    region: str,
    images: list[PathLikeStr],
    scene_hash: str,
    campaign: str | None = None,
    *,
    when: datetime | None = None,
    label_policy: dict[str, bool] | None = None,
    label_text: str = "AI-generated",
    label_corner: str = "bottom-right",
    c2pa: C2paCredentials | None = None,
    discard_if_refused: bool = True,
) -> list[LedgerRow]:
    """Deliver rendered PNGs: re-check the grant, label, stamp, sign, record.

    Args:
        images: PNG files, complete (written atomically) and not yet delivered (or delivered by an
            earlier call that crashed part way: those are finished, not redone).
        scene_hash: the content hash of the scene that produced them (written into the metadata).
        when: the time of use (default now); its UTC date is what the grant must cover.
        label_policy: channel -> visible label wanted; default
            :data:`engine.rights.disclosure.LABEL_POLICY`.
        c2pa: the user's signing credentials, or None for no C2PA manifest.
        discard_if_refused: if the grant no longer covers the use (revoked during the render),
            delete the images that have no ledger record yet before raising, so no undelivered
            image of the twin is left behind without a record.

    Returns:
        One ledger row per image, in order.

    Raises:
        ConsentError: no live grant covers the use any more.
        MissingDependencyError: ``c2pa`` given but c2pa-python is not installed.
    """
    paths = [Path(p) for p in images]
    when = when or utcnow()
    try:
        grant = check_grant(registry, twin_id, channel, region, when)
    except ConsentError as exc:
        if discard_if_refused:
            from .ledger import live_uses

            recorded = {r.image_path for r in live_uses(registry, twin_id)}
            removed = [p for p in paths if p.is_file() and str(p.absolute()) not in recorded]
            for p in removed:
                p.unlink()
            if removed:
                exc.message += f" ({len(removed)} rendered image(s) discarded, not delivered)"
                exc.args = (exc.message,)
        raise
    info = {
        "twin_id": twin_id, "grant_id": grant.id, "scene_hash": scene_hash, "campaign": campaign,
        "channel": grant_channel(channel), "region": region.strip().upper(),
        "created": when.isoformat(timespec="seconds"),
    }
    rows = []
    for p in paths:
        have = read_disclosure(p)
        stamped = have.get("twin_id") == twin_id and str(have.get("grant_id")) == str(grant.id)
        if not stamped:
            if needs_visible_label(info["channel"], label_policy):
                add_visible_label(p, text=label_text, corner=label_corner)
            stamp_png(p, info)
        if c2pa is not None and not any(ct == b"caBX" for ct, _ in read_chunks(p.read_bytes())):
            sign_png_c2pa(p, c2pa.cert_chain_pem, c2pa.private_key_pem, alg=c2pa.alg, tsa_url=c2pa.tsa_url, info=info)
        rows.append(record_image(registry, twin_id, grant.id, info["channel"], info["region"], p,
                                 campaign=campaign, when=when))
    return rows


def grant_channel(channel: str) -> str:
    """The canonical channel name (``ecommerce`` -> ``e-commerce``)."""
    from .registry import normalise_channels

    return normalise_channels([channel])[0]
