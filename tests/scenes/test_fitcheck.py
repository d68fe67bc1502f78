"""Fit-check previews: populations, colour maps, the size rule, and a tiny real fit check (2 sizes x
1 body, low-resolution drapes, 128 px) opened in headless Chromium."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.meshio import load_ply
from scenes.fitcheck import (CLEARANCE, STRAIN, Cell, FitcheckSettings, age_to_anny, default_authorise, legend_png,
                             population, population_names, recommend, run_fitcheck)
from scenes.fitcheck.run import VERDICTS, edge_strain_pct, region_table

SIZES = ["S", "L"]


# --- populations --------------------------------------------------------------------------------
def test_age_to_anny_follows_annys_own_anchors():
    assert age_to_anny(18) == pytest.approx(0.77, abs=1e-6)
    assert age_to_anny(64) == pytest.approx(0.83, abs=1e-6)
    ages = [age_to_anny(y) for y in (20, 23, 40, 60, 70)]
    assert all(a < b for a, b in zip(ages, ages[1:]))
    assert age_to_anny(41) == pytest.approx(0.77 + 0.06 * (41 - 18) / (64 - 18), abs=1e-6)
    with pytest.raises(InputError):
        age_to_anny(150)


def test_populations_span_ages_and_are_valid_phenotypes():
    names = population_names()
    assert {"ages", "sizes-f", "sizes-m", "mixed"} <= set(names)
    ages = population("ages")
    assert [b.age_years for b in ages] == [23, 40, 60]
    assert "curvy" in ages[1].name
    for name in names:
        for b in population(name):
            if b.targets is None:
                assert len(b.shape) == 6 and all(0.0 <= x <= 1.0 for x in b.shape)
    # the size chart's own bodies: one per row, built to its measurements
    chart = population("size-chart")
    assert [b.size for b in chart] == ["XS", "S", "M", "L", "XL", "XXL"]
    assert chart[2].targets == {"height_cm": 168.0, "bust_cm": 94.0, "waist_cm": 78.0, "hips_cm": 100.0}
    mixed = population("mixed")
    assert min(b.age_years for b in mixed) <= 20 and max(b.age_years for b in mixed) >= 70
    assert {b.shape[0] for b in mixed} == {0.0, 1.0}  # both genders
    with pytest.raises(InputError, match="unknown population"):
        population("nobody")


# --- colour maps --------------------------------------------------------------------------------
def test_colour_maps_hit_their_stops_and_legends_are_drawn(tmp_path):
    for cmap in (STRAIN, CLEARANCE):
        vals = np.array([s[0] for s in cmap.stops], np.float64)
        assert np.allclose(cmap.colors(vals), [s[1] for s in cmap.stops], atol=1e-6)
        # clipped beyond the ends, texture coordinates inside the strip
        assert np.allclose(cmap.colors([cmap.vmin - 100]), cmap.colors([cmap.vmin]))
        uv = cmap.uv(np.linspace(cmap.vmin - 5, cmap.vmax + 5, 50))
        assert uv.shape == (50, 2) and uv[:, 0].min() > 0 and uv[:, 0].max() < 1 and np.all(np.diff(uv[:, 0]) >= 0)
        from PIL import Image

        path = legend_png(cmap, tmp_path / f"{cmap.name}.png", width=300, height=60)
        im = np.asarray(Image.open(path).convert("RGBA"))
        assert im.shape == (60, 300, 4) and im[..., 3].max() == 255
    # the strain map goes from neutral to red as the cloth stretches
    lo, hi = STRAIN.colors([0.0, 25.0])
    assert hi[0] > hi[2] + 0.3 and abs(lo[0] - lo[2]) < 0.1


def test_edge_strain_of_a_uniformly_stretched_sheet_is_its_stretch():
    x, y = np.meshgrid(np.linspace(0, 0.2, 5), np.linspace(0, 0.2, 5))
    rest = np.c_[x.ravel(), y.ravel(), np.zeros(25)]
    f = []
    for i in range(4):
        for j in range(4):
            a = i * 5 + j
            f += [[a, a + 1, a + 6], [a, a + 6, a + 5]]
    s = edge_strain_pct(rest, rest * 1.1, np.array(f))
    assert np.allclose(s, 10.0, atol=1e-4)


# --- the size rule ------------------------------------------------------------------------------
def _cell(size, verdicts, status="ok"):
    return Cell(body="b", size=size, status=status,
                regions=[{"region": f"r{i}", "verdict": v, "ease_mm": 1.0} for i, v in enumerate(verdicts)])


def test_without_intended_ease_the_recommendation_is_the_smallest_size_with_no_tight_region():
    sizes = ["XS", "S", "M", "L", "XL"]
    cells = [_cell("XS", ["tight", "fitted"]), _cell("S", ["tight"]), _cell("M", ["fitted", "relaxed"]),
             _cell("L", ["loose", "relaxed"]), _cell("XL", ["loose"])]
    r = recommend(list(reversed(cells)), sizes)
    assert (r.size, r.fits) == ("M", True)
    # a failed drape is never recommended
    r = recommend([_cell("S", ["tight"]), _cell("M", [], status="failed"), _cell("L", ["fitted"])], sizes)
    assert r.size == "L"
    # every size tight: the fewest tight regions, the larger on a tie, flagged
    r = recommend([_cell("S", ["tight", "tight"]), _cell("M", ["tight"]), _cell("L", ["tight", "loose"])], sizes)
    assert (r.size, r.fits) == ("L", False) and "tight" in r.reason
    assert recommend([_cell("S", [], status="failed")], sizes).size is None


def _eased(size, ease, intended, tight=()):
    """A cell whose bust and waist have draped ``ease`` and ``intended`` ease (mm), tight at ``tight``."""
    regions = [{"region": r, "verdict": "tight" if r in tight else "relaxed", "ease_mm": ease, "ease_method": "slice",
                "intended_ease_mm": intended, "reason": f"ease {ease} mm"} for r in ("bust", "waist")]
    return Cell(body="b", size=size, regions=regions)


def test_recommendation_is_the_size_whose_draped_ease_is_closest_to_its_intended_ease():
    sizes = ["XS", "S", "M", "L", "XL"]
    # a loose garment (100 mm intended): the smallest size with no tight region would be XS
    cells = [_eased("XS", 20, 100), _eased("S", 45, 100), _eased("M", 95, 100), _eased("L", 150, 100),
             _eased("XL", 210, 100)]
    r = recommend(cells, sizes, chart_size="M")
    assert (r.size, r.fits) == ("M", True)
    assert "intended ease" in r.reason and "bust 95/100 mm" in r.reason and "not M" not in r.reason
    # the body's own chart row is further off: the reason says why not it, in size steps (60 mm)
    r = recommend(cells, sizes, chart_size="S")
    assert r.size == "M" and "not S (this body's size-chart row)" in r.reason and "0.92 size steps" in r.reason
    # a tight size is never recommended, however close its ease; the reason names the tight region
    cells[2] = _eased("M", 95, 100, tight=("waist",))
    r = recommend(cells, sizes, chart_size="M")
    assert r.size == "L" and "not M" in r.reason and "tight at waist" in r.reason
    # a tie goes to the smaller size
    assert recommend([_eased("S", 70, 100), _eased("M", 130, 100)], sizes).size == "S"
    # where the tape bridges folds (draped ease far from the pattern's), the pattern ease stands in:
    # loose trousers read ~75 mm of hip ease in every size
    folds = [_eased(x, 75, 100) for x in ("S", "M", "L")]
    for c, pe in zip(folds, (40, 110, 160)):
        for r in c.regions:
            r.update(pattern_ease_mm=pe, pattern_ease_differs=abs(pe - 75) > 30)
    r = recommend(folds, sizes)
    assert r.size == "M" and "bust 110p/100 mm" in r.reason


def test_size_steps_come_from_the_size_chart():
    from scenes.fitcheck.run import size_steps_mm

    steps = size_steps_mm()
    assert steps == pytest.approx({"bust": 60.0, "waist": 60.0, "hips": 60.0, "upper_arm": 20.0, "thigh": 30.0})


def test_grid_cell_says_when_sleeves_or_legs_are_turned_up():
    from scenes.fitcheck.report import _turned_up

    assert _turned_up({}) == "" and _turned_up(None) == ""
    note = _turned_up({"left_arm": 4.3, "right_arm": 3.6, "left_leg": 6.7})
    assert "sleeves too long: turned up 4 cm" in note and "legs too long: turned up 7 cm" in note


def test_real_twins_need_consent_and_generated_bodies_do_not(tmp_path, monkeypatch):
    from engine.rights import ConsentError
    from engine.storage import write_json

    monkeypatch.setenv("ATELIER_DB_URL", str(tmp_path / "rights.db"))
    tj = {"model": "anny", "shape": [0.5] * 6, "pose": [[0.0, 0.0, 0.0]], "source": {"synthetic": True}}
    info = default_authorise(tmp_path, tj, generated=True)  # made by this run from a population
    assert info["twin_id"] == "synthetic" and info["grant_id"]
    write_json(tmp_path / "twin.json", tj)
    with pytest.raises(ConsentError, match="unregistered body"):  # the flag in twin.json decides nothing
        default_authorise(tmp_path, tj)


def test_bad_inputs_fail_before_any_drape(tmp_path, anny_model):
    with pytest.raises(InputError, match="unknown garment"):
        run_fitcheck(FitcheckSettings(garment="ball-gown", sizes=["M"]), [], tmp_path, population="tiny", model=anny_model)
    with pytest.raises(InputError, match="unknown size"):
        run_fitcheck(FitcheckSettings(garment="t-shirt", sizes=["M", "XXXL"]), [], tmp_path, population="tiny",
                     model=anny_model)
    with pytest.raises(InputError, match="no bodies"):
        run_fitcheck(FitcheckSettings(garment="t-shirt", sizes=["M"]), [], tmp_path, model=anny_model)
    assert not (tmp_path / "drapes").exists() or not any((tmp_path / "drapes").iterdir())


def test_cli_arguments_become_settings():
    from scenes.fitcheck import cli

    parser = argparse.ArgumentParser()
    cli.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fitcheck", "--garment", "t-shirt", "--fabric", "denim", "--sizes", "xs,M,l",
                              "--twin", "a", "--twin", "b", "--population", "ages", "--out", "o", "--px", "256",
                              "--workers", "2"])
    s = cli.settings_from_args(args)
    assert (s.garment, s.fabric, s.sizes, s.image_px, s.pose) == ("t-shirt", "denim", ["xs", "M", "l"], 256, "a-pose")
    assert s.workers == 2
    assert args.twin == ["a", "b"] and args.population == "ages" and args.command in cli.COMMANDS


def test_workers_drape_cells_at_once_and_share_the_model_one_call_at_a_time(monkeypatch):
    import threading
    import time as _time

    from scenes.fitcheck import run as fr

    calls, busy, seen = [], [0], []

    class Model:
        name = "anny"

        def __call__(self, x):
            busy[0] += 1
            seen.append(busy[0])
            _time.sleep(0.01)
            busy[0] -= 1
            return x

    def fake_drape(e, size, garment, fabric, s, cache, model):
        calls.append(threading.get_ident())
        model(size)  # the body's forward pass, as drape_twin does
        _time.sleep(0.05)  # the Blender process
        return None, {"status": "failed", "message": size}

    monkeypatch.setattr(fr, "drape_cell", fake_drape)
    bodies = [fr.BodyEntry(name=n, slug=n, twin_dir=Path(n), synthetic=True) for n in ("a", "b")]
    s = FitcheckSettings(garment="t-shirt", sizes=["S", "M", "L"], workers=3)
    out = fr.drape_all(bodies, ["S", "M", "L"], {}, None, s, Path("."), Model())
    assert sorted(out) == sorted((b, z) for b in "ab" for z in ("S", "M", "L"))
    assert out[("b", "L")][1]["message"] == "L"
    assert len(set(calls)) > 1  # more than one thread draped
    assert max(seen) == 1  # the model was never called by two threads at once


# --- a real, tiny fit check -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitcheck(tmp_path_factory, anny_model):
    out = tmp_path_factory.mktemp("fitcheck")
    settings = FitcheckSettings(garment="t-shirt", sizes=SIZES, fabric="cotton-jersey", resolution=600, max_frames=20,
                                image_px=128, timeout=240, quiet=True)
    result = run_fitcheck(settings, [], out, population="tiny", model=anny_model)
    return settings, out, result


def test_fitcheck_writes_the_grid_maps_table_and_glbs(fitcheck):
    from engine.rights.disclosure import read_disclosure
    from PIL import Image

    _, out, r = fitcheck
    assert r.index == out / "index.html" and r.index.exists()
    assert [c.size for c in r.cells] == SIZES and len(r.bodies) == 1
    html = r.index.read_text()
    for c in r.cells:
        assert c.status in ("ok", "guard"), c.message
        assert {"front", "back", "strain-front", "strain-back", "clearance-front", "clearance-back"} <= set(c.images)
        for rel in c.images.values():
            png = out / rel
            assert Image.open(png).size == (96, 128)
            assert np.asarray(Image.open(png))[..., 3].max() == 255  # something was drawn
            d = read_disclosure(png)
            assert d.get("ai_generated") is True and d.get("twin_id") == "synthetic"
            assert rel in html
        assert c.regions and all(x["verdict"] in VERDICTS for x in c.regions)
        from html import escape

        for x in c.regions:  # the page says, per verdict, which number decided it
            assert x["decided_by"] in ("ease", "strain") and escape(x["reason"]) in html
        assert c.clearance_mm["median"] > 0  # the cloth sits on the outside of the body
        import trimesh

        scene = trimesh.load(out / c.glb)
        assert len(scene.geometry) == 2
        body, garment = scene.geometry["body"], scene.geometry["garment"]
        assert len(body.vertices) == 13718 and len(garment.vertices) > 200
        assert len(np.unique(garment.visual.vertex_colors[:, :3], axis=0)) > 10  # strain colours, not one colour
        js = (out / c.glb_js).read_text()
        assert f'window.ATELIER_GLB["{c.id}"] = "data:model/gltf-binary;base64,' in js
    rec = r.recommendations[r.bodies[0].slug]
    assert rec.size in SIZES
    assert "t-shirt" in html and "cotton-jersey" in html and "Atelier 0." in html
    assert "legend_strain.png" in html and "legend_clearance.png" in html
    assert (out / "fitcheck.json").exists()


def test_fitcheck_reuses_cached_drapes(fitcheck, anny_model):
    settings, out, first = fitcheck
    again = run_fitcheck(settings, [], out, population="tiny", model=anny_model)
    assert (again.drapes_made, again.drapes_cached) == (0, len(SIZES))
    assert [c.drape_dir for c in again.cells] == [c.drape_dir for c in first.cells]


def test_region_table_without_fit_json_is_computed_from_clearance(fitcheck, tmp_path, anny_model):
    from bodies.twin import Twin

    _, out, r = fitcheck
    c = r.cells[0]
    d = tmp_path / "drape"
    shutil.copytree(c.drape_dir, d)
    (d / "fit.json").unlink()
    bv, bf, _ = load_ply(d / "body.ply")
    gv, gf, attrs = load_ply(d / "garment.ply")
    _, _, joints = Twin.load(r.bodies[0].twin_dir).body(anny_model)
    rows, source = region_table(d, gv, attrs["clearance_mm"], None, bv, bf, joints)
    assert source == "fitcheck" and rows
    for row in rows:
        assert row["verdict"] in VERDICTS and row["max_strain_pct"] is None
        assert row["ease_mm"] == pytest.approx(2 * np.pi * row["mean_gap_mm"], abs=0.2)


def test_page_opens_in_headless_chromium(fitcheck):
    from scenes.fitcheck.browser import find_chromium, open_page

    if find_chromium() is None:
        pytest.skip("no chromium binary (Debian: apt-get install -y chromium); the browser check needs it")
    _, out, r = fitcheck
    shot = out / "screenshot.png"
    page = open_page(r.index, screenshot=shot, width=1100, height=900, timeout=120)
    assert not page.timed_out, f"the 3D viewer did not load: {page.console_messages}"
    assert page.console_errors == []
    assert page.viewers == 1 and page.viewers_loaded == 1
    assert 'data-loaded="true"' in page.dom and "loading 3D" not in page.title
    from PIL import Image

    im = Image.open(shot)
    assert im.size[0] == 1100 and im.size[1] > 900  # the whole page
    keep = os.environ.get("ATELIER_TEST_ARTIFACTS")  # a folder to keep the screenshot in, for people to look at
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / "fitcheck-screenshot.png")


# --- the size chart's self-consistency ------------------------------------------------------------
CHART_SIZES = ["S", "M", "L"]


@pytest.fixture(scope="module")
def chart_bodies(tmp_path_factory, anny_model):
    """Twin folders of bodies built to the size chart's S, M and L rows (as `atelier body` does)."""
    from scenes.fitcheck.populations import load_populations, make_population

    pops = load_populations()
    pops["populations"] = {"chart-sml": {**pops["populations"]["size-chart"], "sizes": CHART_SIZES}}
    path = tmp_path_factory.mktemp("pop") / "populations.json"
    path.write_text(__import__("json").dumps(pops))
    folders = make_population("chart-sml", tmp_path_factory.mktemp("chart-bodies"), model=anny_model, path=path)
    return dict(zip(CHART_SIZES, folders))


@pytest.mark.blender
@pytest.mark.parametrize("garment", ["t-shirt", "shift-dress"])
def test_a_size_chart_body_is_not_tight_in_its_own_size(chart_bodies, garment, tmp_path, anny_model):
    """A body made to the chart's measurements for size X, in a regular-fit garment of size X, has no
    tight region (low resolution: ~900 cloth vertices, settled over up to 90 frames)."""
    from engine.rights import Registry

    with Registry.open() as registry:  # each test has its own registry: record the bodies made for the module here
        for folder in chart_bodies.values():
            registry.register_synthetic(folder, "atelier body (the size chart's rows)")
    for size, folder in chart_bodies.items():
        # the M body also wears its neighbours: the size rule must still pick M (draped ease closest
        # to the intended ease; the smallest size with no tight region was S)
        wear = CHART_SIZES if size == "M" else [size]
        s = FitcheckSettings(garment=garment, sizes=wear, resolution=900, max_frames=90, image_px=64,
                             timeout=300, quiet=True, cache=str(tmp_path / "drapes"))
        r = run_fitcheck(s, [folder], tmp_path / size, model=anny_model)
        body = r.bodies[0]
        assert body.chart_size == size  # the body measures as its size
        cell = r.cell(body.slug, size)
        assert cell.status in ("ok", "guard"), cell.message
        assert cell.regions and not cell.tight_regions(), (garment, size, [(x["region"], x.get("reason")) for x in cell.regions])
        for x in cell.regions:  # every verdict says what decided it
            assert x["decided_by"] in ("ease", "strain") and x["reason"]
        rec = r.recommendations[body.slug]
        assert rec.size == size and rec.fits, (garment, size, rec.reason)
        if size == "M":
            assert "intended ease" in rec.reason


def test_the_drape_cache_key_is_the_body_not_when_its_folder_was_written(tmp_path):
    from engine.storage import write_json
    from scenes.fitcheck.run import drape_key

    tj = {"format": 1, "model": "anny", "shape": [0.5] * 6, "pose": [[0.0, 0.0, 0.0]], "created": "2026-12-02T10:00:00+00:00"}
    garment = {"name": "t-shirt", "kind": "pattern", "pattern_sha256": "x"}
    s = FitcheckSettings(garment="t-shirt")
    keys = []
    for name, extra in (("a", {}), ("b", {"created": "2026-12-02T11:00:00+00:00"}), ("c", {"shape": [0.6] * 6})):
        write_json(tmp_path / name / "twin.json", {**tj, **extra})
        keys.append(drape_key(tmp_path / name, garment, "M", None, s))
    assert keys[0] == keys[1] != keys[2]
