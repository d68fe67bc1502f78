"""Twin rights: consent grants, the usage ledger, and AI disclosure on every image.

A twin is a real person's likeness. The registry (:class:`Registry`, SQLite by default, any
SQLAlchemy database URL, schema migrated by Alembic) records her twins, scans, the bodies it knows
(hers and synthetic ones) and consent grants. Every render describes the body it will draw and
passes the one consent path first (:func:`clear`: the body's hash names the twin, whose live grant
must cover the use); every delivered image (PNG, JPEG, WebP) or video (MP4) is then labelled, stamped as
AI-generated and recorded once in the append-only ledger (:func:`engine.rights.deliver.deliver`), from which statements
of what is owed are drawn (:func:`statement`). See docs/rights.md.

Names are loaded on first use, so importing :mod:`engine.rights.cli` to build the ``atelier``
parser does not load SQLAlchemy. ``c2pa-python`` is optional (extra ``c2pa``); everything else needs
only SQLAlchemy and Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS: dict[str, str] = {
    # registry
    "Registry": "registry", "Twin": "registry", "Scan": "registry", "FittedVersion": "registry",
    "Grant": "registry", "DeletionReport": "registry", "ConsentError": "registry", "UnknownTwinError": "registry",
    "check_grant": "registry", "delete_twin": "registry",
    "CHANNELS": "constants", "ANY_REGION": "constants",
    # database and migrations
    "resolve_db_url": "db", "MIGRATIONS": "migrations", "LATEST_VERSION": "migrations",
    "current_version": "migrations", "migrate": "migrations",
    # the one consent path
    "clear": "consent", "DrawnBody": "consent", "Clearance": "consent", "Body": "registry",
    "stamp_image": "disclosure",
    # ledger
    "LedgerRow": "ledger", "Statement": "ledger", "ReconcileReport": "ledger", "record_image": "ledger",
    "void_record": "ledger", "ledger_rows": "ledger", "live_uses": "ledger", "statement": "ledger",
    "reconcile": "ledger",
    # disclosure
    "stamp_png": "disclosure", "read_disclosure": "disclosure", "add_visible_label": "disclosure",
    "needs_visible_label": "disclosure", "LABEL_POLICY": "disclosure", "DIGITAL_SOURCE_TYPE": "disclosure",
    # C2PA
    "C2paCredentials": "c2pa_sign", "sign_c2pa": "c2pa_sign", "read_c2pa": "c2pa_sign",
    "c2pa_available": "c2pa_sign",
    # render-side helpers
    "authorise": "deliver",
}

__all__ = sorted([*_EXPORTS, "open_registry"])


def __getattr__(name: str):
    if name == "open_registry":
        return importlib.import_module(".registry", __name__).Registry.open
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


if TYPE_CHECKING:  # for type checkers and editors
    from .c2pa_sign import C2paCredentials, c2pa_available, read_c2pa, sign_c2pa  # noqa: F401
    from .consent import Clearance, DrawnBody, clear  # noqa: F401
    from .constants import ANY_REGION, CHANNELS  # noqa: F401
    from .db import resolve_db_url  # noqa: F401
    from .deliver import authorise  # noqa: F401
    from .disclosure import (  # noqa: F401
        DIGITAL_SOURCE_TYPE, LABEL_POLICY, add_visible_label, needs_visible_label, read_disclosure, stamp_image,
        stamp_png,
    )
    from .ledger import (  # noqa: F401
        LedgerRow, ReconcileReport, Statement, ledger_rows, live_uses, reconcile, record_image, statement,
        void_record,
    )
    from .migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate  # noqa: F401
    from .registry import (  # noqa: F401
        Body, ConsentError, DeletionReport, FittedVersion, Grant, Registry, Scan, Twin, UnknownTwinError, check_grant,
        delete_twin,
    )
