"""The one delivery path: clear before drawing, then deliver (label, stamp, sign, record)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.rights import ConsentError, authorise, live_uses, read_disclosure, statement
from engine.rights.deliver import deliver
from engine.rights.disclosure import read_chunks

from .conftest import D0, D1, cleared, make_png

WHEN = datetime(2030, 5, 1, 9, tzinfo=timezone.utc)


def test_deliver_is_safe_to_repeat(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    assert authorise(registry, twin.id, "social", "FR", WHEN).id == grant.id
    c = cleared(registry, twin.id, "social", "FR", tmp_path, WHEN)
    imgs = [make_png(tmp_path / "cell" / f"v{i}.png", size=(96, 64), seed=i) for i in range(3)]
    raw = [p.read_bytes() for p in imgs]
    rows = deliver(c, imgs, "scenehash", campaign="ss30", when=WHEN)
    assert [r.image_path for r in rows] == [str(p.absolute()) for p in imgs]
    for p, before in zip(imgs, raw):
        d = read_disclosure(p)
        assert (d["twin_id"], d["grant_id"], d["scene_hash"], d["campaign"]) == (twin.id, str(grant.id), "scenehash", "ss30")
        assert p.read_bytes() != before
    # a resumed cell calls it again: no second label, no second record
    stamped = [p.read_bytes() for p in imgs]
    again = deliver(c, imgs, "scenehash", campaign="ss30", when=WHEN)
    assert again == rows and [p.read_bytes() for p in imgs] == stamped
    assert statement(registry, twin.id, D0, D1, rate=2).total == 6


def test_internal_fit_check_gets_no_visible_label(registry, tmp_path):
    t = registry.add_twin("P", twin_id="twin-p")
    registry.add_grant(t.id, "B", "internal-fit-check", "*", D0, D1)
    p = make_png(tmp_path / "v.png", seed=3)
    from PIL import Image
    import numpy as np

    before = np.asarray(Image.open(p)).copy()
    deliver(cleared(registry, t.id, "internal-fit-check", "FR", tmp_path, WHEN), [p], "h", when=WHEN)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), before)
    assert read_disclosure(p)["channel"] == "internal-fit-check"


def test_revoked_during_render_discards_and_records_nothing(registry, twin_grant, tmp_path):
    twin, grant = twin_grant
    c = cleared(registry, twin.id, "social", "FR", tmp_path, WHEN)
    imgs = [make_png(tmp_path / f"v{i}.png", seed=i) for i in range(2)]
    registry.revoke_grant(grant.id)  # revoked while the cell was rendering
    with pytest.raises(ConsentError, match="revoked .*2 rendered image\\(s\\) discarded"):
        deliver(c, imgs, "h", when=WHEN)
    assert not any(p.exists() for p in imgs) and live_uses(registry, twin.id) == []


def test_with_c2pa_signature(registry, twin_grant, tmp_path):
    from engine.rights import C2paCredentials, c2pa_available, read_c2pa

    if not c2pa_available():
        pytest.skip("c2pa-python is not installed (extra: atelier[c2pa])")
    pytest.importorskip("cryptography", reason="cryptography is needed to make the test certificate")
    from .certs import make_chain

    twin, grant = twin_grant
    cert, key = make_chain()
    p = make_png(tmp_path / "v.png")
    (row,) = deliver(cleared(registry, twin.id, "e-commerce", "DE", tmp_path, WHEN), [p], "h", when=WHEN,
                     c2pa=C2paCredentials(cert, key))
    assert any(ct == b"caBX" for ct, _ in read_chunks(p.read_bytes()))
    assert read_c2pa(p)["validation_codes"] == ["signingCredential.untrusted"]
    from engine.storage import file_sha256

    assert row.image_sha256 == file_sha256(p)  # the record hashes the final, signed bytes


def test_missing_c2pa_names_the_extra(tmp_path, monkeypatch):
    import sys

    from engine.errors import MissingDependencyError
    from engine.rights import sign_c2pa

    monkeypatch.setitem(sys.modules, "c2pa", None)  # as if c2pa-python were not installed
    with pytest.raises(MissingDependencyError, match="c2pa-python") as info:
        sign_c2pa(make_png(tmp_path / "v.png"), "cert", "key")
    assert "atelier[c2pa]" in info.value.hint
