import argparse
import json

import numpy as np
import pytest

from engine.errors import InputError
from garments import cli
from garments.fabrics import cloth_settings, fabric_names, get_fabric
from garments.fit import strain, verdict, load_thresholds
from garments.mesher import edge_for_vertices, mesh_pattern, seam_pairs, triangulate_polygon
from garments.pattern import library_names, library_pattern, pattern_from_dict
from garments.sizes import grade, load_size_chart, mtm_measurements, size_names


def test_library_has_the_five_garments_and_they_validate():
    names = library_names()
    assert {"t-shirt", "a-line-skirt", "straight-trousers", "shift-dress", "button-shirt"} <= set(names)
    for n in names:
        p = library_pattern(n)
        assert p.name == n and p.panels and p.seams
        # sewn edges match within the sleeve-cap ease
        assert max(abs(d) for d in p.seam_length_mismatch_cm().values()) < 4.0


def test_bad_pattern_files_say_what_is_wrong():
    good = library_pattern("a-line-skirt").to_dict()
    bad = json.loads(json.dumps(good))
    bad["panels"]["front"]["edges"][1]["to"] = "HEM_r"
    with pytest.raises(InputError, match="not closed"):
        pattern_from_dict(bad)
    bad = json.loads(json.dumps(good))
    bad["seams"].append({"a": "front.hem", "b": "sleeve.cap"})
    with pytest.raises(InputError, match="unknown panel"):
        pattern_from_dict(bad)
    assert pattern_from_dict(good).name == "a-line-skirt"  # round trip


def _girth(p, panels, left, right):
    return sum(p.panels[pn].points[left[i]][0] - p.panels[pn].points[right[i]][0] for i, pn in enumerate(panels))


def test_sizes_grade_monotonically_and_hit_the_chart():
    chart = load_size_chart()
    base = library_pattern("t-shirt")
    chest = []
    for s in size_names(chart):
        g = grade(base, s)
        # chest girth of the garment (front + back at the underarm) = body chest + 10 cm ease
        c = abs(_girth(g, ["front", "back"], ["UA_l", "UA_r"], ["UA_r", "UA_l"]))
        assert c == pytest.approx(chart["sizes"][s]["chest"] + 10.0, abs=0.2)
        chest.append(c)
        assert g.size == s
    assert np.all(np.diff(chest) > 0)
    skirt = library_pattern("a-line-skirt")
    waists = [abs(_girth(grade(skirt, s), ["front", "back"], ["W_l", "W_r"], ["W_r", "W_l"])) for s in ("XS", "M", "XXL")]
    assert waists[0] < waists[1] < waists[2]
    assert waists[1] == pytest.approx(chart["sizes"]["M"]["waist"] + 2.0, abs=0.2)
    lengths = [grade(skirt, s).panels["front"].edge_length("side_l") for s in ("XS", "M", "XXL")]
    assert lengths[0] < lengths[1] < lengths[2]
    with pytest.raises(InputError, match="XXL"):
        grade(base, "XXXL")


def test_made_to_measure_follows_the_body():
    base = library_pattern("t-shirt")
    g = grade(base, mtm_measurements({"chest_cm": 101.0, "waist_cm": 80, "hips_cm": 99, "height_cm": 170, "shoulder_width_cm": 36}))
    assert g.size == "mtm"
    assert abs(_girth(g, ["front", "back"], ["UA_l", "UA_r"], ["UA_r", "UA_l"])) == pytest.approx(111.0, abs=0.2)


def test_meshing_pairs_seams_and_hits_the_resolution():
    p = library_pattern("t-shirt")
    cloth = mesh_pattern(p, edge_for_vertices(p, 3000))
    assert 2500 < cloth.num_vertices < 3600
    assert cloth.flat_area_m2() == pytest.approx(sum(q.area_cm2() for q in p.panels.values()) / 1e4, rel=0.01)
    sew = seam_pairs(cloth, [False] * len(p.seams))
    assert len(sew) > 50 and sew.max() < cloth.num_vertices
    pts, tri = triangulate_polygon(_square(1.0, 0.1), 0.1)
    a = pts[tri]
    assert np.all(np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0]) > 0)
    assert 0.5 * np.cross(a[:, 1] - a[:, 0], a[:, 2] - a[:, 0]).sum() == pytest.approx(1.0)


def _square(size, h):
    c = np.array([[0, 0], [size, 0], [size, size], [0, size]], float)
    n = int(round(size / h))
    return np.concatenate([np.linspace(c[i], c[(i + 1) % 4], n, endpoint=False) for i in range(4)])


def test_strain_of_an_unstretched_panel_is_zero_and_stretch_is_measured():
    pts, tri = triangulate_polygon(_square(0.3, 0.03), 0.03)
    # wrapped on a cylinder (bent, not stretched)
    r = 0.2
    wrapped = np.stack([r * np.sin(pts[:, 0] / r), pts[:, 1], r * np.cos(pts[:, 0] / r)], 1)
    warp, weft = strain(pts, wrapped, tri, np.array([0.0, 1.0]))
    assert np.abs(warp).max() < 0.5 and np.abs(weft).max() < 0.5
    stretched = np.stack([pts[:, 0] * 1.1, pts[:, 1], np.zeros(len(pts))], 1)
    warp, weft = strain(pts, stretched, tri, np.array([0.0, 1.0]))
    assert np.allclose(warp, 0.0, atol=1e-3) and np.allclose(weft, 10.0, atol=1e-3)


def test_verdict_thresholds_come_from_the_file():
    th = load_thresholds()
    b = th["regions"]["bust"]
    assert verdict("bust", b["tight_below_mm"] - 1, 0.0) == "tight"
    assert verdict("bust", b["fitted_below_mm"] - 1, 0.0) == "fitted"
    assert verdict("bust", b["relaxed_below_mm"] - 1, 0.0) == "relaxed"
    assert verdict("bust", b["relaxed_below_mm"] + 1, 0.0) == "loose"
    assert verdict("bust", 100.0, b["tight_strain_pct"] + 1) == "tight"


def test_fabric_presets_map_to_blender_settings():
    assert {"cotton-jersey", "cotton-poplin", "denim", "silk-charmeuse", "wool-suiting", "polyester"} <= set(fabric_names())
    denim, silk = get_fabric("denim"), get_fabric("silk")
    assert silk.name == "silk-charmeuse"
    assert denim.density_gsm > silk.density_gsm and denim.bending > silk.bending
    cd, _ = cloth_settings(denim, 2e-4)
    cs, col = cloth_settings(silk, 2e-4)
    assert cd["mass"] > cs["mass"] > 0 and col["distance_min"] > 0
    # the cloth's total mass does not depend on the resolution
    assert cloth_settings(denim, 1e-4)[0]["mass"] * 2 == pytest.approx(cd["mass"])
    for n in fabric_names():
        lo, hi = get_fabric(n).drape_coefficient
        assert 0 < lo < hi < 1
    with pytest.raises(InputError, match="cotton-jersey"):
        get_fabric("tweed")


def _parser():
    p = argparse.ArgumentParser()
    cli.add_parsers(p.add_subparsers(dest="command"))
    return p


def test_cli_list_and_show_svg(tmp_path, capsys):
    assert cli.run(_parser().parse_args(["garment", "list"])) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [ln.split("\t")[0] for ln in lines]
    assert {"t-shirt", "a-line-skirt", "tube-dress", "skirt"} <= set(names)
    out = tmp_path / "ts.svg"
    assert cli.run(_parser().parse_args(["garment", "show", "t-shirt", "--size", "M", "--out", str(out)])) == 0
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.count('class="outline"') == 4
    # every seam marked on both of its edges
    n_seams = len(library_pattern("t-shirt").seams)
    assert svg.count('class="seam-mark"') == 2 * n_seams and 'data-seam="1"' in svg
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)
    with pytest.raises(InputError):
        cli.run(_parser().parse_args(["garment", "show", "t-shirt", "--size", "Q", "--out", str(out)]))
    dp = argparse.ArgumentParser()
    cli.add_drape_arguments(dp)
    assert cli.drape_kwargs(dp.parse_args(["--size", "xl", "--fabric", "denim"])) == {"size": "XL", "fabric": "denim"}
    with pytest.raises(InputError):
        cli.drape_kwargs(dp.parse_args(["--fabric", "tweed"]))
    assert cli.drape_kwargs(dp.parse_args(["--no-turn-up"]))["settings"].turn_up is False
    assert "settings" not in cli.drape_kwargs(dp.parse_args([]))
    cli.add_mesh_arguments(dp)
    dp.add_argument("--garment-mesh")
    dp.add_argument("--resolution", type=int)
    with pytest.raises(InputError, match="--no-turn-up does not apply to --garment-mesh"):
        cli.mesh_kwargs(dp.parse_args(["--garment-mesh", "dress.obj", "--no-turn-up"]))
