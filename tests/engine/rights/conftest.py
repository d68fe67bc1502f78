"""Fixtures for the rights tests: a fresh SQLite registry and small PNG renders."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from PIL import Image

from engine.rights import Registry

D0, D1 = date(2030, 1, 1), date(2030, 12, 31)
"""The period of the standard test grant."""


@pytest.fixture
def registry(tmp_path):
    reg = Registry.open(tmp_path / "db" / "atelier.db")
    yield reg
    reg.close()


@pytest.fixture
def twin_grant(registry):
    """A twin with one grant: social + e-commerce in FR and DE for 2030."""
    twin = registry.add_twin("Test Person", contact_ref="agency #42", twin_id="twin-test")
    grant = registry.add_grant(twin.id, "Maison Test", "social,e-commerce", "FR,DE", D0, D1)
    return twin, grant


def make_png(path, size=(48, 32), seed=0):
    """A small random RGBA PNG (seeded) standing in for a render."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 256, size=(size[1], size[0], 4), dtype=np.uint8)
    px[..., 3] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px, "RGBA").save(path)
    return path
