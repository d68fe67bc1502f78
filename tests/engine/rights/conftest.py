"""Fixtures for the rights tests: a fresh SQLite registry and small PNG renders."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.rights import Registry

D0, D1 = date(2030, 1, 1), date(2030, 12, 31)
"""The period of the standard test grant."""


REPO = Path(__file__).resolve().parents[3]
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str):
    """PostgreSQL cannot be used: in CI that is a failure (with the reason), elsewhere a skip."""
    if IN_CI:
        pytest.fail(f"the PostgreSQL rights tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL backend not available: {reason}")


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a PostgreSQL server for the tests: ``$ATELIER_TEST_PG_URL``, else a throwaway
    server started (and stopped at the end) by ``.ci/postgres.sh``."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install psycopg)")
    url = os.environ.get("ATELIER_TEST_PG_URL")
    if url:
        yield url
        return
    r = subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "start"], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        _unavailable(f".ci/postgres.sh start failed: {r.stderr.strip() or r.stdout.strip()}")
    env = dict(re.findall(r"export (\w+)='([^']*)'", r.stdout))
    try:
        yield env["ATELIER_TEST_PG_URL"]
    finally:
        subprocess.run(["bash", str(REPO / ".ci" / "postgres.sh"), "stop", env["ATELIER_TEST_PG_DIR"]],
                       capture_output=True, timeout=120)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty rights database on each backend: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "db" / "atelier.db")
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(request.getfixturevalue("pg_server"))
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = dict(host=base.query.get("host") or base.host, user=base.username, dbname=base.database)
    with psycopg.connect(**{k: v for k, v in admin.items() if v}, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**{k: v for k, v in admin.items() if v}, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def registry(db_url):
    reg = Registry.open(db_url)
    yield reg
    reg.close()


def db_arg(registry) -> str:
    """The registry's database as a --db argument (a SQLite path or a PostgreSQL URL)."""
    return registry.url.render_as_string(hide_password=False)


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


def cleared(registry, twin_id, channel, region, folder, when):
    """The clearance a render of ``twin_id``'s body gets from the one consent path
    (:func:`engine.rights.consent.clear`): a small body mesh (``folder/body-TWIN/body.ply``, a
    tetrahedron placed by the twin id) is registered as hers, then cleared for the use on ``when``."""
    from engine.rights.consent import DrawnBody, clear, mesh_sha256

    body = make_twin_folder(folder / f"body-{twin_id}", offset=sum(twin_id.encode()) % 97 * 0.01) / "body.ply"
    registry.register_body(mesh_sha256(body), "mesh", twin_id, made_by="tests/engine/rights/conftest.py")
    return clear(registry, DrawnBody.mesh(body), channel, region, when=when)
