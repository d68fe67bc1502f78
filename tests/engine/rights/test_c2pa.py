"""C2PA: sign a stamped render with a self-signed test chain and verify it with c2pa's Reader."""

from __future__ import annotations

import pytest

from engine.errors import AtelierError
from engine.rights import DIGITAL_SOURCE_TYPE, c2pa_available, read_c2pa, read_disclosure, sign_c2pa, stamp_png
from engine.rights.c2pa_sign import active_manifest, rights_assertion

from .conftest import make_png

pytestmark = pytest.mark.skipif(not c2pa_available(), reason="c2pa-python is not installed (extra: atelier[c2pa])")

INFO = {"twin_id": "twin-test", "grant_id": 3, "scene_hash": "5ce7e1a5", "channel": "social", "region": "FR"}


@pytest.fixture(scope="module")
def chain():
    pytest.importorskip("cryptography", reason="cryptography is needed to make the test certificate")
    from .certs import make_chain

    return make_chain()


def test_sign_and_verify_a_render(tmp_path, chain):
    cert, key = chain
    p = stamp_png(make_png(tmp_path / "r.png"), INFO)
    assert read_c2pa(p) == {}
    sign_c2pa(p, cert, key)
    store = read_c2pa(p)
    # a test CA is not on any trust list: that is the only complaint
    assert store["validation_codes"] == ["signingCredential.untrusted"]
    m = active_manifest(store)
    assert m["signature_info"]["common_name"] == "Atelier test signer"
    actions = next(a for a in m["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    r = rights_assertion(store)
    assert (r["twin_id"], r["grant_id"], r["scene_hash"]) == ("twin-test", "3", "5ce7e1a5")
    assert read_disclosure(p)["twin_id"] == "twin-test"  # the text chunks survive signing


def test_tampering_is_detected(tmp_path, chain):
    cert, key = chain
    p = stamp_png(make_png(tmp_path / "r.png"), INFO)
    sign_c2pa(p, cert, key)
    data = bytearray(p.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip pixel bytes
    p.write_bytes(bytes(data))
    store = read_c2pa(p)
    assert any(c != "signingCredential.untrusted" for c in store["validation_codes"])


def test_stamping_after_signing_is_refused_and_bad_keys_explained(tmp_path, chain):
    cert, key = chain
    p = stamp_png(make_png(tmp_path / "r.png"), INFO)
    sign_c2pa(p, cert, key)
    with pytest.raises(AtelierError, match="already has a C2PA manifest"):
        stamp_png(p, INFO)
    q = stamp_png(make_png(tmp_path / "q.png"), INFO)
    with pytest.raises(AtelierError, match="C2PA signing of .* failed") as info:
        sign_c2pa(q, cert, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert "ES256" in info.value.hint
    assert read_c2pa(q) == {}  # the failed signing left the image as it was
