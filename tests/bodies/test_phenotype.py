"""Bodies from measurements and from a phenotype."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from bodies.measure import measure_model
from bodies.phenotype import age_to_param, body_from_measurements, body_from_phenotype, param_to_age
from engine.errors import InputError
from engine.storage import read_json


def test_age_mapping_follows_anny_anchors():
    assert age_to_param(0) == pytest.approx(0.0)
    assert 0.6 < age_to_param(25) < 0.9
    assert age_to_param(30) < age_to_param(70)
    assert param_to_age(age_to_param(40)) == pytest.approx(40, abs=1e-6)
    with pytest.raises(InputError, match="age"):
        age_to_param(300)


def test_body_from_reachable_measurements_within_1cm(anny_model):
    truth = torch.tensor([[0.8, age_to_param(25), 0.5, 0.65, 0.7, 0.5]])
    m = measure_model(anny_model, truth)
    targets = {k: m[k] for k in ("height_cm", "waist_cm", "hips_cm")}
    body = body_from_measurements(anny_model, targets, gender=0.8, rounds=6, steps_per_round=20)
    assert set(body.residuals) == set(targets)
    assert body.converged and all(abs(r) < 1.0 for r in body.residuals.values()), body.report()
    with pytest.raises(InputError, match="shoe"):
        body_from_measurements(anny_model, {"shoe_cm": 27})
    with pytest.raises(InputError, match="centimetres"):
        body_from_measurements(anny_model, {"height_cm": 1.72})


def test_body_from_phenotype_matches_height(anny_model):
    body = body_from_phenotype(anny_model, gender="female", age=35, height_cm=165)
    assert abs(body.residuals["height_cm"]) < 1.0
    assert body.shape[0] == 1.0 and body.shape[1] == pytest.approx(age_to_param(35))
    tall = body_from_phenotype(anny_model, gender="male", height_cm=185)
    assert tall.measurements["height_cm"] > body.measurements["height_cm"] + 15
    with pytest.raises(InputError, match="gender"):
        body_from_phenotype(anny_model, gender="robot")


def test_cli_body_writes_twin(anny_model, tmp_path):
    from bodies.cli import add_fit_arguments, add_parsers, fit_kwargs

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_parsers(sub)
    args = parser.parse_args(["body", "--height", "170", "--gender", "female", "--age", "30", "--out", str(tmp_path)])
    assert args.func(args) == 0
    for name in ("twin.json", "body.ply", "measurements.json", "body_report.json"):
        assert (tmp_path / name).exists(), name
    rep = read_json(tmp_path / "body_report.json")
    assert rep["mode"] == "phenotype" and abs(rep["residuals_cm"]["height_cm"]) < 1.0
    assert np.isfinite(read_json(tmp_path / "measurements.json")["measurements"]["waist_cm"])
    fp = argparse.ArgumentParser()
    add_fit_arguments(fp)
    kw = fit_kwargs(fp.parse_args(["--detail", "--keep-floor", "--max-points", "5000"]))
    assert kw["settings"].detail and not kw["clean"].remove_floor and kw["clean"].max_points == 5000
