"""Shared fixtures: one Anny model per test session (building it is the slow part)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture(scope="session")
def anny_model():
    import bodies

    return bodies.create("anny")
