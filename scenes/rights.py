"""Consent for campaign cells: the default ``authorise`` / ``deliver`` hooks of a campaign run.

- A synthetic twin (given by ``shape``, or a twin folder whose ``twin.json`` says synthetic)
  depicts no person: its images are stamped as AI-generated, nothing is recorded.
- A twin fitted from a real person's scan needs ``registry_id``: before a cell is started (and
  again right before it is submitted, so a grant revoked during a run stops the cells not yet
  started) a live grant must cover its channel, its locale's region and today; otherwise the cell
  is *refused* (not failed, not retried). Delivered PNGs are re-checked, stamped and recorded in
  the ledger (:func:`engine.rights.authorise_and_stamp`, which is idempotent on resume).
"""

from __future__ import annotations

import json
from pathlib import Path

from .campaign import Cell, Plan, Refused


def _twin_is_synthetic(spec, base: Path | None) -> bool:
    if not spec.path:
        return True
    path = Path(spec.path)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        return bool(json.loads((path / "twin.json").read_text()).get("source", {}).get("synthetic"))
    except (OSError, ValueError):
        return False


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

            state["reg"] = Registry.open(db)
        return state["reg"]

    def where(cell: Cell):
        spec = twins[cell.labels["twin"]]
        region = locales[cell.labels["locale"]].region if cell.labels.get("locale") in locales else "*"
        return spec, region

    def authorise(cell: Cell) -> bool:
        from engine.rights import ConsentError, check_grant

        spec, region = where(cell)
        if spec.registry_id is None:
            if _twin_is_synthetic(spec, base):
                return True
            raise Refused(f"twin {spec.name!r} comes from a real person's scan but has no registry_id: "
                          "add it to the rights registry (`atelier twins add`) and give its id")
        try:
            check_grant(registry(), spec.registry_id, channel, region)
        except ConsentError as exc:
            raise Refused(exc.message) from None
        return True

    def deliver(cell: Cell, images: list[Path]) -> None:
        from engine.rights import ConsentError, authorise_and_stamp
        from engine.rights.disclosure import read_disclosure, stamp_png

        pngs = [Path(p) for p in images if Path(p).suffix.lower() == ".png"]
        spec, region = where(cell)
        if spec.registry_id is None:
            for p in pngs:
                if read_disclosure(p).get("twin_id") != "synthetic":
                    stamp_png(p, {"twin_id": "synthetic", "grant_id": "none: synthetic body, no person depicted",
                                  "scene_hash": cell.id, "campaign": campaign.name, "channel": channel,
                                  "region": region})
            return
        if pngs and all(read_disclosure(p).get("twin_id") == spec.registry_id for p in pngs):
            # stamped already (a resumed run): make sure each has its ledger record
            from engine.rights import reconcile

            reconcile(registry(), pngs[0].parent)
            return
        try:
            authorise_and_stamp(registry(), spec.registry_id, channel, region, pngs, cell.id, campaign=campaign.name)
        except ConsentError as exc:
            raise Refused(exc.message) from None

    return authorise, deliver
