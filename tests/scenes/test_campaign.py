"""Campaign expansion: cross product, rules, stable ids, shared drapes, plan, executors, hooks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import InputError
from scenes.campaign import expand
from scenes.executor import LocalExecutor
from scenes.io import load_campaign
from scenes.model import Campaign, Rule
from scenes.runner import CampaignRunner, Refused

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scenes" / "examples" / "campaign-templates.toml"  # the older template form: still loads


def _campaign(**kw) -> Campaign:
    data = load_campaign(EXAMPLE).model_dump()
    data.update(kw)
    return Campaign.model_validate(data)


def test_example_expands_to_cross_product_minus_rules():
    plan = expand(load_campaign(EXAMPLE))
    # 2 twins x 2 outfits x 3 shots x 2 locales = 24, the exclude rule drops silk/jp/back for 2 twins
    assert len(plan.cells) == 22 and plan.excluded == 2
    assert all(not (c.labels["outfit"] == "silk-dress" and c.labels["locale"] == "jp" and c.labels["shot"] == "back")
               for c in plan.cells)
    # colours do not change the drape: one drape per twin x outfit
    assert len(plan.drapes) == 4
    assert sum(len(d.cells) for d in plan.drapes.values()) == 22
    assert len({c.id for c in plan.cells}) == 22


def test_cell_ids_are_stable_and_follow_inputs():
    a = expand(load_campaign(EXAMPLE))
    b = expand(load_campaign(EXAMPLE))
    assert [c.id for c in a.cells] == [c.id for c in b.cells]
    changed = _campaign(render={"renderer": "pyrender", "skin": "#ffffff"})
    ids = {c.id for c in expand(changed).cells}
    assert not ids & {c.id for c in a.cells}
    # a new shot adds cells without changing the others' ids, and reuses the drapes
    more = _campaign(shots=[*load_campaign(EXAMPLE).model_dump()["shots"], {"name": "side", "azimuth_deg": 90}])
    pm = expand(more)
    assert {c.id for c in a.cells} < {c.id for c in pm.cells}
    assert set(pm.drapes) == set(a.drapes)


def test_sizes_and_poses_multiply_cells_and_drapes():
    camp = _campaign(sizes=[{"name": "S", "settings": {"ease": 0.008}}, {"name": "L", "settings": {"ease": 0.02}}],
                     poses=["a-pose", "relaxed"], exclude=[], locales=[{"name": "eu"}])
    plan = expand(camp)
    assert len(plan.cells) == 2 * 2 * 2 * 2 * 3
    assert len(plan.drapes) == 2 * 2 * 2 * 2
    s = next(c for c in plan.cells if c.labels["size"] == "S")
    assert s.inputs["garments"][0]["settings"]["ease"] == 0.008


def test_include_rules_with_patterns():
    camp = _campaign(include=[Rule(twin="a*", shot=["front", "back"])], exclude=[])
    plan = expand(camp)
    assert {c.labels["twin"] for c in plan.cells} == {"ava"}
    assert {c.labels["shot"] for c in plan.cells} == {"front", "back"}
    with pytest.raises(InputError, match="leave no cell"):
        expand(_campaign(include=[Rule(twin="nobody")]))


def test_plan_command_shows_cells_and_estimate():
    out = subprocess.run([sys.executable, "-m", "scenes.cli", "campaign", "plan", str(EXAMPLE), "--workers", "2"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "22 cells (0 done, 2 excluded by rules), 4 drapes" in out
    assert "estimate:" in out and "with 2 worker(s)" in out
    assert "ava/navy-dress/std/a-pose/front/eu/square" in out


def test_a_huge_campaign_is_refused_before_planning_unless_allowed(tmp_path):
    import tomli_w

    data = load_campaign(EXAMPLE).model_dump(mode="json", exclude_none=True)
    base = data["shots"][0]
    data["shots"] = [dict(base, name=f"turn-{i}", azimuth_deg=i * 0.5) for i in range(400)]  # 24 x 400 / 3 = 3,200
    fmt = data["formats"][0]
    data["formats"] = [dict(fmt, name=f"square-{i}", width=512 + 8 * i, height=512 + 8 * i) for i in range(10)]  # x 10 = 32,000
    path = tmp_path / "huge.toml"
    path.write_text(tomli_w.dumps(data))
    big = _campaign_cli("plan", str(path), "-q")
    assert big.returncode != 0 and "Traceback" not in big.stderr, big.stderr
    assert "32,000 combinations" in big.stderr and "--max-cells 32000" in big.stderr
    with pytest.raises(InputError, match="more than the limit of 100"):
        expand(load_campaign(path), max_cells=100)
    # -q prints the summary, not a line per cell
    small = _campaign_cli("plan", str(EXAMPLE), "-q")
    assert small.returncode == 0 and "22 cells" in small.stdout and "/front/" not in small.stdout


def test_an_unknown_garment_is_found_at_plan_time(tmp_path):
    text = OUTFITS.read_text().replace('pattern = "t-shirt"', 'pattern = "t-shirtt"', 1)
    (tmp_path / "typo.toml").write_text(text)
    with pytest.raises(InputError, match="unknown garment 't-shirtt'") as info:
        expand(load_campaign(tmp_path / "typo.toml"))
    assert "t-shirt" in info.value.hint


def _campaign_cli(*args):
    return subprocess.run([sys.executable, "-m", "atelier", "campaign", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_missing_twin_folder_is_an_input_error(tmp_path):
    camp = _campaign(twins=[{"name": "t", "path": str(tmp_path / "nope")}])
    with pytest.raises(InputError, match="does not exist"):
        expand(camp)


def test_local_executor_time_limit_crash_and_error():
    t0 = time.monotonic()
    with LocalExecutor(2) as ex:
        ex.submit("ok", {"kind": "sleep", "seconds": 0.2}, 30)
        ex.submit("slow", {"kind": "sleep", "seconds": 60}, 1.0)
        ex.submit("crash", {"kind": "crash"}, 30)
        ex.submit("fail", {"kind": "fail", "message": "nope"}, 30)
        ex.submit("after", {"kind": "sleep", "seconds": 0.1}, 30)
        got = {}
        while ex.busy and time.monotonic() - t0 < 60:
            for r in ex.poll(0.5):
                got[r.job_id] = r
    assert got["ok"].ok and got["after"].ok
    assert not got["slow"].ok and got["slow"].value["type"] == "Timeout"
    assert not got["crash"].ok and got["crash"].value["type"] == "WorkerCrash"
    assert not got["fail"].ok and got["fail"].value["message"] == "nope" and got["fail"].value["user_error"]


def test_refused_cells_are_not_computed_or_retried(tmp_path):
    plan = expand(load_campaign(EXAMPLE))
    calls = []

    def authorise(cell):
        calls.append(cell.id)
        if cell.labels["twin"] == "ben":
            raise Refused("no consent on file for ben")
        return cell.labels["outfit"] != "silk-dress"

    class NoJobs(LocalExecutor):
        def submit(self, job_id, payload, timeout):
            submitted.append(job_id)

    submitted: list = []
    with NoJobs(1) as ex:
        summary = CampaignRunner(plan, tmp_path / "out", ex, authorise=authorise, quiet=True).run()
    assert len(calls) == 22
    assert summary.failed == []
    reasons = {r["reason"] for r in summary.refused}
    assert "no consent on file for ben" in reasons and "not authorised" in reasons
    assert len(summary.refused) == 22 - 6  # ava x navy-dress x 3 shots x 2 locales are allowed
    # only the allowed cells' drape was asked for
    assert submitted == [f"drape:{next(c.drape_key for c in plan.cells if c.labels == dict(c.labels, twin='ava', outfit='navy-dress'))}"]


OUTFITS = ROOT / "scenes" / "examples" / "campaign.toml"


def test_outfit_example_grades_patterns_and_shares_drapes_across_colourways():
    plan = expand(load_campaign(OUTFITS))
    # 2 twins x 2 outfits x 2 sizes x 3 shots x 2 locales; one drape per twin x outfit x size
    assert len(plan.cells) == 48 and len(plan.drapes) == 8
    cell = next(c for c in plan.cells if c.labels["outfit"] == "tee-trousers" and c.labels["size"] == "M")
    drape = plan.drapes[cell.drape_key].inputs["garments"]
    assert [(g["garment"], g["kind"], g["size"], g["fabric"]) for g in drape] == [
        ("straight-trousers", "pattern", "M", "denim"), ("t-shirt", "pattern", "M", "cotton-jersey")]
    assert all("colour" not in g for g in drape)  # colourways share the drape
    mtm = next(c for c in plan.cells if c.labels["size"] == "mtm")
    assert plan.drapes[mtm.drape_key].inputs["garments"][0]["size"] == "mtm"


def test_sizes_a_pattern_cannot_use_are_refused():
    data = load_campaign(OUTFITS).model_dump()
    data["sizes"] = [{"name": "roomy", "settings": {"ease": 0.02}}]
    with pytest.raises(InputError, match="template settings"):
        expand(Campaign.model_validate(data))
    data["sizes"] = [{"name": "40"}]
    with pytest.raises(InputError, match="not on the size chart"):
        expand(Campaign.model_validate(data))
    data["sizes"] = [{"name": "40", "chart": "l"}]
    assert {g["size"] for d in expand(Campaign.model_validate(data)).drapes.values() for g in d.inputs["garments"]} == {"L"}


def test_the_old_scene_fabric_names_are_registry_aliases():
    from garments.fabrics import get_fabric

    plan = expand(load_campaign(EXAMPLE))
    fabrics = {g["fabric"] for d in plan.drapes.values() for g in d.inputs["garments"]}
    assert fabrics == {get_fabric("cotton").name, get_fabric("silk").name} == {"cotton-poplin", "silk-charmeuse"}
    with pytest.raises(Exception, match="unknown fabric 'chiffon'"):
        _campaign(outfits=[{"name": "x", "garments": [{"template": "tube-dress", "fabric": "chiffon"}]}])


def test_hair_of_twins_scenes_and_campaigns_reaches_the_cells():
    from scenes.campaign import expand_scene
    from scenes.model import Scene

    base = expand(load_campaign(EXAMPLE))
    assert all("hair" not in c.inputs for c in base.cells)  # no hair asked: the ids stay as they were
    data = load_campaign(EXAMPLE).model_dump()
    data["hair"] = "bob:#3b2a20"
    data["twins"][0]["hair"] = "ponytail:blonde"
    plan = expand(Campaign.model_validate(data))
    first, second = data["twins"][0]["name"], data["twins"][1]["name"]
    assert {c.inputs["hair"] for c in plan.cells if c.labels["twin"] == first} == {"ponytail:blonde"}
    assert {c.inputs["hair"] for c in plan.cells if c.labels["twin"] == second} == {"bob:#3b2a20"}
    assert not {c.id for c in plan.cells} & {c.id for c in base.cells}  # the hair is part of the image
    assert set(plan.drapes) == set(base.drapes)  # but not of the drape: hair sits over the garment
    scene = Scene.model_validate({"name": "s", "twins": [{"name": "ava", "shape": [0.5] * 6}], "hair": "none"})
    assert [c.inputs["hair"] for c in expand_scene(scene).cells] == ["none"]
    for bad in ("mohawk", "bob:#12"):
        with pytest.raises(ValueError, match="hair"):
            Scene.model_validate({"name": "s", "twins": [{"name": "ava", "hair": bad}]})


def test_cells_draw_hair_and_fabric_through_the_one_appearance_function(anny_model, tmp_path):
    """scenes.jobs builds a cell's meshes with garments.appearance.dressed_meshes: the cell's hair
    (or none), the garment's fabric surface, skin shading on the body."""
    import numpy as np

    from engine.meshio import save_ply
    from engine.storage import write_json
    from scenes.jobs import _meshes

    with __import__("torch").no_grad():
        out = anny_model(anny_model.default_shape(1), anny_model.zero_pose(1))
    v, f = out.vertices[0].numpy(), anny_model.faces_numpy()
    save_ply(tmp_path / "body.ply", v, f)
    (tmp_path / "g").mkdir()
    save_ply(tmp_path / "g" / "garment.ply", v[:200] * 1.05, np.array([[0, 1, 2], [1, 2, 3]]))
    write_json(tmp_path / "drape.json", {"body": "body.ply", "layers": [{"dir": "g"}]})
    inputs = {"twin": {"name": "ava", "model": "anny", "shape": [0.5] * 6}, "render": {"skin": [0.8, 0.6, 0.5, 1.0]},
              "garments": [{"name": "dress", "fabric": "denim", "colour": [0.2, 0.3, 0.5, 1.0]}]}
    bare = _meshes(tmp_path, inputs, workdir=tmp_path / "w")
    assert [m.name for m in bare] == ["body", "garment0_dress"]
    assert bare[0].material["kind"] == "skin" and bare[1].material["kind"] == "fabric"
    haired = _meshes(tmp_path, {**inputs, "hair": "bun:#2a1a10"}, workdir=tmp_path / "w")
    assert [m.name for m in haired] == ["body", "hair", "garment0_dress"]
    hair = haired[1]
    assert hair.material["kind"] == "hair" and hair.vertices[:, 1].max() > v[:, 1].max()  # on top of the head
    assert hair.color[:3] == pytest.approx(haired[1].material["color"])
