"""Consent for campaign cells: the default ``authorise`` / ``deliver`` hooks of a campaign run,
both through the one consent path (:func:`engine.rights.consent.clear`).

- Before a cell is started (and again right before it is submitted, so a grant revoked during a
  run stops the cells not yet started) the cell's body is identified: a twin folder (``path``) by
  the model and shape in its ``twin.json``, a body given by ``shape`` by those parameters. A
  registered person's body (or her likeness) needs her live grant for the campaign's channel, the
  locale's region and today, whatever ``registry_id`` says (a different id is refused, naming
  her); a twin folder the registry does not know is refused as an unregistered body, whatever
  its ``synthetic`` flag says. A ``shape`` that is nobody's likeness is synthetic. A refused cell
  is *refused* (not failed, not retried).
- Delivery (:func:`engine.rights.deliver.deliver`) labels, discloses and, for a person, records
  every image of the cell (PNG, JPEG, WebP) exactly once, then rewrites the cell's manifest so its
  hashes are those of the delivered files. A cell refused at delivery (the grant was revoked while
  it rendered) is removed entirely, images and manifest, so ``--resume`` sees it as not done.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .campaign import Cell, Plan, Refused


def consent_hooks(plan: Plan, db: str | None = None, base: Path | None = None):
    """``(authorise, deliver)`` callables enforcing consent for the plan's campaign."""
    campaign = plan.campaign
    twins = {t.name: t for t in campaign.twins}
    locales = {loc.name: loc for loc in campaign.locales}
    channel = campaign.channel
    db = db or campaign.rights_db
    state: dict = {}

    def registry():
        if "reg" not in state:
            from engine.rights import Registry

            state["reg"] = Registry.open_existing(db)
        return state["reg"]

    def drawn(spec):
        from engine.rights.consent import DrawnBody

        if spec.path:
            path = Path(spec.path)
            if base is not None and not path.is_absolute():
                path = base / path
            return DrawnBody.twin(path)
        return DrawnBody.generated(spec.model, spec.shape if spec.shape is not None else [0.5] * 6,
                                   f"campaign twin {spec.name!r}")

    def clearance(cell: Cell):
        from engine.errors import InputError
        from engine.rights import ConsentError
        from engine.rights.consent import clear

        spec = twins[cell.labels["twin"]]
        region = locales[cell.labels["locale"]].region if cell.labels.get("locale") in locales else None
        try:
            return clear(registry(), drawn(spec), channel, None if region in (None, "*") else region,
                         twin_id=spec.registry_id)
        except (ConsentError, InputError) as exc:
            raise Refused(exc.message) from None

    def authorise(cell: Cell) -> bool:
        clearance(cell)
        return True

    def deliver(cell: Cell, images: list[Path]) -> None:
        from engine.rights import ConsentError
        from engine.rights.deliver import deliver as deliver_images

        paths = [Path(p) for p in images]
        folder = paths[0].parent if paths else None
        try:
            deliver_images(clearance(cell), paths, cell.id, campaign=campaign.name, scope=f"cell:{cell.id}")
        except (Refused, ConsentError) as exc:
            if _delivered(registry(), paths):
                return  # delivered and recorded before the grant went away: it stays
            if folder is not None and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)  # a refused cell leaves no image, no manifest
            raise Refused(getattr(exc, "message", None) or str(exc)) from None
        if folder is not None:
            _rehash_manifest(folder, paths)

    return authorise, deliver


def _delivered(registry, paths: list[Path]) -> bool:
    """Whether every image has a live ledger record (a cell delivered by an earlier run)."""
    if registry is None or not paths:
        return False
    from engine.rights.ledger import recorded_paths

    return recorded_paths(registry, paths) == {str(p.absolute()) for p in paths}


def _rehash_manifest(folder: Path, paths: list[Path]) -> None:
    """Rewrite ``manifest.json``'s output hashes and sizes for the delivered (stamped) files."""
    from engine.storage import file_sha256, read_json, write_json

    from .jobs import MANIFEST

    m = folder / MANIFEST
    if not m.exists():
        return
    manifest = read_json(m)
    by_name = {p.name: p for p in paths}
    changed = False
    for o in manifest.get("outputs", []):
        p = by_name.get(o.get("file"))
        if p is not None and p.is_file():
            sha, size = file_sha256(p), p.stat().st_size
            if (o.get("sha256"), o.get("bytes")) != (sha, size):
                o["sha256"], o["bytes"], changed = sha, size, True
    if changed:
        write_json(m, manifest)
