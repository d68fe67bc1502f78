"""Shared fixtures: one Anny model per test session (building it is the slow part)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture(scope="session")
def anny_model():
    import bodies

    return bodies.create("anny")


@pytest.fixture(autouse=True)
def _own_rights_database(tmp_path, monkeypatch):
    """Each test's default rights registry is its own file (commands that record bodies, such as
    `atelier body` and the demo, would otherwise write ./atelier-data in the working folder).
    A test that wants another database passes --db or sets ATELIER_DB_URL itself."""
    monkeypatch.setenv("ATELIER_DB_URL", str(tmp_path / "atelier-data" / "atelier.db"))
