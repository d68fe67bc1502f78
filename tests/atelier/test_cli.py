"""The `atelier` command: help texts and bad input handled without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from atelier.cli import build_parser


def atelier(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "atelier.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("command", ["demo", "fit", "drape", "render"])
def test_each_subcommand_describes_its_options(command, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and len(text.splitlines()) > 6


def test_top_level_help_lists_commands():
    r = atelier("--help")
    assert r.returncode == 0
    for command in ("demo", "fit", "drape", "render"):
        assert command in r.stdout


def _write_ply_points(path, pts):
    pts = np.asarray(pts, dtype=np.float32)
    header = f"ply\nformat ascii 1.0\nelement vertex {len(pts)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    path.write_text(header + "\n".join(" ".join(repr(float(c)) for c in p) for p in pts) + "\n")


def _body_points(anny_model, scale=1.0):
    v = anny_model().vertices[0].numpy()
    return v * scale


def _assert_clean_failure(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    text = r.stderr.lower()
    assert "error" in text
    for w in words:
        assert w.lower() in text, r.stderr


def test_fit_missing_file(tmp_path):
    r = atelier("fit", str(tmp_path / "nope.ply"), "--out", str(tmp_path / "twin"))
    _assert_clean_failure(r, "nope.ply", "not found")


def test_fit_empty_file(tmp_path):
    p = tmp_path / "empty.ply"
    p.write_bytes(b"")
    r = atelier("fit", str(p), "--out", str(tmp_path / "twin"))
    _assert_clean_failure(r, "empty")


def test_fit_nan_file(tmp_path):
    p = tmp_path / "nans.ply"
    _write_ply_points(p, np.full((2000, 3), np.nan))
    r = atelier("fit", str(p), "--out", str(tmp_path / "twin"))
    _assert_clean_failure(r, "nan")


def test_fit_millimetre_mesh(tmp_path, anny_model):
    p = tmp_path / "mm.ply"
    _write_ply_points(p, _body_points(anny_model, 1000.0))
    # (4 iterations leave a poor fit: this test is about the unit, so the quality gate is told to accept it)
    r = atelier("fit", str(p), "--out", str(tmp_path / "twin"), "--iterations", "4", "--accept-poor")
    assert r.returncode == 0, r.stderr
    assert "units: mm (detected)" in r.stdout + r.stderr
    report = json.loads((tmp_path / "twin" / "fit_report.json").read_text())
    assert report["units"] == "mm" and report["scan_info"]["units_source"] == "detected"
    r = atelier("fit", str(p), "--out", str(tmp_path / "twin_cm"), "--units", "cm")
    _assert_clean_failure(r, "--units mm")
    assert not (tmp_path / "twin_cm" / "twin.json").exists()


def test_fit_batch_fits_each_scan_and_reports_the_bad_one(tmp_path, anny_model):
    good = tmp_path / "ava.ply"
    _write_ply_points(good, _body_points(anny_model))
    bad = tmp_path / "empty.ply"
    bad.write_bytes(b"")
    out = tmp_path / "twins"
    r = atelier("fit", str(good), str(bad), "--out", str(out), "-q")
    _assert_clean_failure(r, "1 of 2 scans")
    assert (out / "ava" / "twin.json").exists() and (out / "ava" / "fit_report.json").exists()
    assert not (out / "empty").exists() or not (out / "empty" / "twin.json").exists()
    rows = __import__("json").loads((out / "batch.json").read_text())["scans"]
    assert [r["error"] is None for r in rows] == [True, False] and "empty" in rows[1]["error"]
    assert rows[0]["seed"] == 0 and rows[0]["mean_mm"] < 30.0


def test_drape_without_twin(tmp_path):
    r = atelier("drape", "--twin", str(tmp_path / "none"), "--garment", "tube-dress", "--out", str(tmp_path / "d"))
    _assert_clean_failure(r, "twin")


def test_drape_refuses_options_a_template_cannot_use(tmp_path):
    r = atelier("drape", "--twin", str(tmp_path / "none"), "--garment", "tube-dress", "--size", "XS",
                "--out", str(tmp_path / "d"))
    _assert_clean_failure(r, "not graded")
    r = atelier("drape", "--twin", str(tmp_path / "none"), "--garment", "skirt", "--no-turn-up", "--out", str(tmp_path / "d"))
    _assert_clean_failure(r, "turn")


def test_drape_takes_an_outfit_and_checks_it_before_blender(tmp_path):
    from atelier.pipeline import outfit_from_args

    args = build_parser().parse_args(["drape", "--twin", "T", "--garment", "straight-trousers", "--garment", "t-shirt",
                                      "--size", "m", "--fabric", "jersey", "--out", "O"])
    outfit = outfit_from_args(args)
    assert [(g.name, g.layer, g.size, g.fabric) for g in outfit.layered()] == [
        ("straight-trousers", 0, "M", "cotton-jersey"), ("t-shirt", 1, "M", "cotton-jersey")]
    (tmp_path / "o.toml").write_text('[[garments]]\npattern = "t-shirt"\nfabric = "chiffon"\n')
    r = atelier("drape", "--twin", str(tmp_path / "none"), "--outfit", str(tmp_path / "o.toml"), "--out", str(tmp_path / "d"))
    _assert_clean_failure(r, "unknown fabric")


def test_render_without_drape(tmp_path):
    r = atelier("render", str(tmp_path / "none"), "--out", str(tmp_path / "r"))
    _assert_clean_failure(r, "atelier drape")


@pytest.mark.parametrize("option", [["--format", "1:1@100000"], ["--size", "100000"], ["--format", "1:1@10x"],
                                    ["--views", "0"]])
def test_render_refuses_impossible_sizes_before_any_work(tmp_path, option):
    r = atelier("render", str(tmp_path / "missing"), "--out", str(tmp_path / "r"), *option)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert option[0] in r.stderr and not (tmp_path / "r").exists()


def test_out_is_checked_before_the_work(tmp_path, anny_model):
    scan = tmp_path / "s.ply"
    _write_ply_points(scan, _body_points(anny_model))
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    r = atelier("fit", str(scan), "--out", str(taken))
    _assert_clean_failure(r, "is a file, not a folder")
    assert "fitting" not in r.stdout  # refused before the fit started
    r = atelier("fit", str(scan), "--out", str(taken / "twin"))
    _assert_clean_failure(r, "is a file")


def test_the_demo_dresses_the_twin_in_a_pattern_top_over_a_bottom_made_to_measure():
    from atelier.pipeline import DEMO_OUTFIT
    from garments.outfit import Outfit

    args = build_parser().parse_args(["demo"])
    assert args.garment is None and args.garment_size == "mtm"
    outfit = Outfit.of(*DEMO_OUTFIT, size=args.garment_size)
    bottom, top = outfit.layered()
    assert (bottom.kind, top.kind) == ("pattern", "pattern") and (bottom.size, top.size) == ("mtm", "mtm")
    assert bottom.name == "straight-trousers" and top.name == "t-shirt" and top.layer > bottom.layer
