"""The one consent path: may this body be drawn, for this channel, region and day, and whom does
the image belong to?

Every render path (``atelier render``, campaign cells, fit-check cells) describes the body it is
about to draw as a :class:`DrawnBody` and calls :func:`clear` before the first pixel. The answer
is a :class:`Clearance`: either a registered synthetic body (no person depicted, no consent
needed), or a registered person's twin with the live grant that covers the use. The twin is the
one whose body is drawn, found by the body's hash in the registry, never the id someone typed:

- ``DrawnBody.mesh(path)``: a mesh drawn as it is (a draped folder's ``body.ply``), identified by
  the hash of its geometry (:func:`mesh_sha256`). Meshes are registered when a twin's fit is
  attached (``twins attach --fit``) and when ``atelier drape`` poses a registered body.
- ``DrawnBody.twin(folder)``: a body generated from a twin folder's ``twin.json``, identified by
  its model and shape parameters (:func:`params_sha256`: the pose, the ``source`` block and its
  ``synthetic`` flag are not part of the identity, so editing them changes nothing).
- ``DrawnBody.generated(model, shape)``: a body a campaign makes from parameters in its own file.
  It is synthetic unless its shape is a registered person's likeness
  (:meth:`engine.rights.registry.Registry.likeness`), in which case it is hers.

A body the registry does not know is refused as an "unregistered body", whatever its files say:
"synthetic" is a fact the pipeline that made a body records in the registry
(:meth:`~engine.rights.registry.Registry.register_synthetic`), not a flag a user can edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ..types import PathLikeStr
from .identity import MESH_QUANTUM_M, mesh_sha256, params_of, params_sha256  # noqa: F401 (re-exported)
from .registry import Body, ConsentError, Grant, Registry, check_grant, normalise_channels, normalise_regions

SYNTHETIC_ID = "synthetic"
"""The twin id written into the images of a synthetic body."""

SYNTHETIC_GRANT = "none: synthetic body, no person depicted"
"""The grant id written into the images of a synthetic body."""

@dataclass(frozen=True)
class DrawnBody:
    """The body a render is about to draw, as :func:`clear` identifies it.

    Attributes:
        kind: ``"mesh"``, ``"twin"`` or ``"generated"`` (see the module notes).
        sha256: the identity hash (:func:`mesh_sha256` or :func:`params_sha256`).
        where: what to name in messages (a path, or a campaign's twin name).
        model, shape: the parameters (``twin`` and ``generated``).
        file_sha256: for a twin folder, the hash of ``twin.json`` (bodies registered before
            migration 3 are known by it).
    """

    kind: str
    sha256: str
    where: str
    model: str | None = None
    shape: tuple[float, ...] | None = None
    file_sha256: str | None = None

    @classmethod
    def mesh(cls, path: PathLikeStr) -> "DrawnBody":
        p = Path(path)
        return cls("mesh", mesh_sha256(p), str(p))

    @classmethod
    def twin(cls, folder: PathLikeStr) -> "DrawnBody":
        from ..storage import file_sha256

        model, shape, p = params_of(folder)
        return cls("twin", params_sha256(model, shape), str(p.parent), model, tuple(shape), file_sha256(p))

    @classmethod
    def generated(cls, model: str, shape, where: str) -> "DrawnBody":
        shape = tuple(float(x) for x in shape)
        return cls("generated", params_sha256(model, shape), where, model, shape)


@dataclass(frozen=True)
class Clearance:
    """What :func:`clear` allowed.

    Attributes:
        twin_id: the twin whose body is drawn (bill her), or None for a synthetic body.
        grant: the live grant covering the use (None for a synthetic body).
        body: the registered body, or None for a generated body that is nobody's likeness.
        channel, region: the use (region None: no particular region, e.g. an internal fit check).
    """

    twin_id: str | None
    grant: Grant | None
    body: Body | None
    drawn: DrawnBody
    channel: str
    region: str | None
    when: date | datetime | None = None
    registry: Registry | None = field(default=None, compare=False, repr=False)

    @property
    def synthetic(self) -> bool:
        return self.twin_id is None

    def disclosure(self, scene_hash: str | None = None, campaign: str | None = None) -> dict:
        """The fields stamped into each image (:func:`engine.rights.disclosure.stamp_image`)."""
        info = {"twin_id": self.twin_id or SYNTHETIC_ID,
                "grant_id": SYNTHETIC_GRANT if self.grant is None else self.grant.id,
                "channel": self.channel, "region": self.region or "*", "body_sha256": self.drawn.sha256}
        if scene_hash:
            info["scene_hash"] = scene_hash
        if campaign:
            info["campaign"] = campaign
        return info


def clear(registry: Registry | None, body: DrawnBody, channel: str, region: str | None, *,
          twin_id: str | None = None, when: date | datetime | None = None) -> Clearance:
    """Decide, before the first pixel, whether ``body`` may be drawn for ``channel`` in ``region``
    on ``when`` (default today, UTC), and whose it is.

    Args:
        registry: the rights registry; None only where none exists yet (then only a generated
            body can be cleared: no person is registered whose likeness it could be).
        twin_id: the twin the caller says it is (``--twin-id``, a campaign's ``registry_id``):
            checked against the body, never trusted instead of it.

    Returns:
        The clearance: a synthetic body, or the body's twin with her covering grant. For a real
        twin the database is also checked to be writable, so that a delivery is never drawn and
        then left without its ledger row.

    Raises:
        ConsentError: an unregistered body; a body of another twin than ``twin_id``; a synthetic
            body given a ``twin_id``; no live grant of the body's twin covers the use. The message
            names the twin the body belongs to, or says "unregistered body".
    """
    channel = normalise_channels([channel])[0]
    region = None if region is None else normalise_regions([region], allow_any=False)[0]
    known = _lookup(registry, body)
    if known is None and body.kind in ("generated", "twin"):
        owner = None if registry is None else registry.likeness(body.model, body.shape)
        if owner is not None:
            known = owner
    if known is None:
        if body.kind == "generated" and twin_id is None:
            return Clearance(None, None, None, body, channel, region, when, registry)
        hint = ("register the twin's fitted body (`atelier twins attach TWIN_ID --fit TWIN_DIR`; a draped folder "
                "is registered when `atelier drape` drapes a registered twin), or, for a body generated from "
                "parameters, let the pipeline that made it record it as synthetic")
        if body.kind == "generated":
            why = (f"unregistered body: {body.where} is generated from parameters that match no registered body "
                   f"of twin {twin_id}")
            hint = f"register twin {twin_id}'s fitted body and give its folder (path) instead of a shape"
        else:
            why = f"unregistered body: the body in {body.where} is not in the rights registry"
            if twin_id:
                why += f", so it cannot be shown as twin {twin_id}"
        raise ConsentError(why, hint=hint, twin_id=twin_id or "", channel=channel, region=region or "")
    if known.twin_id is None:
        if twin_id is not None and twin_id != SYNTHETIC_ID:
            raise ConsentError(
                f"the body in {body.where} is a registered synthetic body, not twin {twin_id}: nobody is billed "
                "for it and no grant applies", hint="leave out the twin id for synthetic bodies",
                twin_id=twin_id, channel=channel, region=region or "")
        return Clearance(None, None, known, body, channel, region, when, registry)
    owner = known.twin_id
    if twin_id is not None and twin_id != owner:
        raise ConsentError(
            f"the body in {body.where} belongs to twin {owner}, not to twin {twin_id}: it may be shown only under "
            f"twin {owner}'s own grants and billed to her",
            hint=f"render it with twin {owner}'s id (or none), under a grant of hers",
            twin_id=owner, channel=channel, region=region or "")
    grant = check_grant(registry, owner, channel, region, when)
    registry.check_writable()
    return Clearance(owner, grant, known, body, channel, region, when, registry)


def recheck(clearance: Clearance, when: date | datetime | None = None) -> Clearance:
    """The same clearance, checked again (a grant revoked since :func:`clear` raises
    ConsentError); a synthetic clearance stands."""
    if clearance.synthetic:
        return clearance
    grant = check_grant(clearance.registry, clearance.twin_id, clearance.channel, clearance.region,
                        when or clearance.when)
    from dataclasses import replace

    return replace(clearance, grant=grant)


def record_draped_body(registry: Registry, twin_dir: PathLikeStr, body_ply: PathLikeStr, made_by: str,
                       twin_json_sha256: str | None = None) -> Body | None:
    """Register the posed body a drape wrote (``body_ply``) as the body of the twin folder it was
    made from, when that folder's body is registered; returns the new (or existing) record, or
    None when the twin's body is not registered (a render of the folder is then refused as an
    unregistered body).

    Call it only from the stage that made ``body_ply`` from ``twin_dir`` in this process (the
    drape): this is where the registry learns that a posed mesh is a person's (or a synthetic)
    body. ``twin_json_sha256``, the hash of ``twin.json`` read before the drape, must still match
    (a file changed meanwhile is not trusted)."""
    from ..storage import file_sha256

    drawn = DrawnBody.twin(twin_dir)
    if twin_json_sha256 is not None and drawn.file_sha256 != twin_json_sha256:
        return None
    parent = _lookup(registry, drawn)
    if parent is None:
        return None
    p = Path(body_ply)
    return registry.register_body(mesh_sha256(p), "mesh", parent.twin_id, file_sha256=file_sha256(p),
                                  path=str(p.absolute()), derived_from=parent.id, made_by=made_by)


def _lookup(registry: Registry | None, body: DrawnBody) -> Body | None:
    if registry is None:
        return None
    found = registry.find_body(body.sha256)
    if found is None and body.file_sha256:
        found = registry.find_body(body.file_sha256)  # registered before bodies had shape identities
    return found


__all__ = ["Clearance", "DrawnBody", "MESH_QUANTUM_M", "SYNTHETIC_GRANT", "SYNTHETIC_ID", "clear", "mesh_sha256",
           "params_of", "params_sha256", "recheck", "record_draped_body"]
