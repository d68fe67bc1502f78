"""The typed drape job spec: one form for the callers and the worker, unknown keys refused."""

import pytest

from engine.blender.specs import DRAPE_SPEC_VERSION, ColliderSpec, DrapeJobSpec, SpecError
from garments.drape import MAX_FRAMES, DrapeSettings


def _spec(**kw):
    return DrapeJobSpec(cloth="/c.npz", out="/o.npz", colliders=[{"path": "/b.npz", "decimate": 0.2}],
                        **DrapeSettings().job_fields(), **kw)


def test_round_trip_and_the_frame_cap_comes_from_drape_settings():
    s = _spec(pose_frames=25)
    d = s.to_dict()
    assert d["version"] == DRAPE_SPEC_VERSION and d["max_frames"] == MAX_FRAMES == 250
    assert d["colliders"][0] == {"path": "/b.npz", "decimate": 0.2, "target": None, "thickness_outer": 0.003,
                                 "thickness_inner": 0.01, "friction": 5.0}
    back = DrapeJobSpec.from_dict(d)
    assert back == s and isinstance(back.colliders[0], ColliderSpec)


def test_the_worker_side_refuses_unknown_missing_and_other_versions():
    d = _spec().to_dict()
    with pytest.raises(SpecError, match="unknown keys body"):
        DrapeJobSpec.from_dict({**d, "body": "/b.npz"})
    with pytest.raises(SpecError, match="version 0"):
        DrapeJobSpec.from_dict({**d, "version": 0})
    missing = dict(d)
    del missing["max_frames"]
    with pytest.raises(SpecError, match="missing keys max_frames"):
        DrapeJobSpec.from_dict(missing)
    with pytest.raises(SpecError, match="unknown keys thickness"):
        DrapeJobSpec.from_dict({**d, "colliders": [{"path": "/b.npz", "thickness": 0.1}]})
    with pytest.raises(SpecError, match="at least one collider"):
        DrapeJobSpec.from_dict({**d, "colliders": []})


def test_the_worker_has_no_defaults_of_its_own():
    from pathlib import Path

    src = (Path(__file__).resolve().parents[2] / "engine" / "blender" / "drape_job.py").read_text()
    assert "spec.get(" not in src and "spec_c.get(" not in src
