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


def make_twin_folder(folder, shape=(0.5, 0.5, 0.5, 0.5, 0.5, 0.5), model="anny", synthetic=False, offset=0.0):
    """A twin folder as `atelier fit` writes one, small: twin.json (model, shape, pose, source)
    and body.ply (a tetrahedron standing in for the body, moved by ``offset`` metres)."""
    from engine.meshio import save_ply
    from engine.storage import write_json

    folder.mkdir(parents=True, exist_ok=True)
    v = np.array([[0, 0, 0], [0.3, 0, 0], [0, 1.7, 0], [0, 0, 0.2]], np.float32) + np.float32(offset)
    save_ply(folder / "body.ply", v, np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]))
    write_json(folder / "twin.json", {"model": model, "shape": list(shape), "pose": [[0.0, 0.0, 0.0]],
                                      "source": {"synthetic": synthetic}})
    return folder
