"""Four processes deliver into one database at once: every delivery is recorded exactly once, the
statement is exact to the cent, and no "database is locked" reaches anyone."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

from engine.rights import ledger_rows, statement

from .conftest import D0, D1, REPO, cleared, db_arg, make_png

WORKER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from engine.rights import Registry
from engine.rights.consent import DrawnBody, clear
from engine.rights.deliver import deliver

db, folder, k, n, body = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
when = datetime(2030, 5, 1, 9, tzinfo=timezone.utc)
shared = sorted((folder / "shared").glob("*.png"))
with Registry.open(db) as reg:
    clearance = clear(reg, DrawnBody.mesh(body), "internal-fit-check", "FR", when=when)
    for i in range(n):
        img = folder / f"p{k}" / f"v{i:03d}.png"
        deliver(clearance, [img], "scene", campaign="own", when=when)
        if i % 25 == 0:  # the shared images, delivered by every process at once: recorded once
            deliver(clearance, [shared[i // 25]], "scene", campaign="shared", when=when)
"""

PROCESSES, EACH, SHARED = 4, 250, 10


def test_four_processes_deliver_a_thousand_images_exactly_once(registry, tmp_path):
    twin = registry.add_twin("Test Person", twin_id="twin-test")
    registry.add_grant(twin.id, "Maison", "internal-fit-check", "FR", D0, D1)
    for k in range(PROCESSES):
        for i in range(EACH):
            make_png(tmp_path / f"p{k}" / f"v{i:03d}.png", size=(8, 8), seed=k * 1000 + i)
    for j in range(SHARED):
        make_png(tmp_path / "shared" / f"s{j}.png", size=(8, 8), seed=99_000 + j)
    from datetime import datetime, timezone

    body = cleared(registry, twin.id, "internal-fit-check", "FR", tmp_path, datetime(2030, 5, 1, 9, tzinfo=timezone.utc))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, db_arg(registry), str(tmp_path), str(k), str(EACH),
                               body.drawn.where],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(PROCESSES)]
    results = [p.communicate(timeout=900) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0 and "Traceback" not in err and "locked" not in err, err
    rows = ledger_rows(registry, twin.id)
    own = [r for r in rows if r.campaign == "own"]
    assert len(own) == PROCESSES * EACH == 1000
    assert len({r.image_path for r in own}) == 1000
    assert len([r for r in rows if r.campaign == "shared"]) == SHARED  # four tries each, one row each
    st = statement(registry, twin.id, D0, D1, rate="19.99")
    assert st.count == 1010 and st.total == Decimal("20189.90")
