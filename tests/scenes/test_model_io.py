"""Scene/campaign files: round-trips, JSON Schema, and errors that name the field and the line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import scenes as sc
from engine.errors import InputError
from scenes.io import load_campaign, load_scene, toml_key_lines
from scenes.model import Campaign, Scene, json_schema, rgba

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scenes" / "examples" / "campaign-templates.toml"  # the older template form
OUTFITS = ROOT / "scenes" / "examples" / "campaign.toml"  # the outfit form


def _scene():
    return sc.scene(
        "s1",
        twins=[sc.twin("ava", shape=[0.2, 0.4, 0.5, 0.45, 0.55, 0.5], pose="relaxed", position=(0.5, 0, 0))],
        outfit=sc.outfit("o", sc.garment("tube-dress", fabric="denim", colour=[0.1, 0.2, 0.3], ease=0.02),
                         colourways={"red": ["#aa0000"]}),
        colourway="red",
        shots=sc.turntable(4),
        lights=[sc.light("key", (0.5, -0.5, -0.6), intensity=2.5)],
        backdrop=sc.backdrop("#f0f0f0ff"),
        formats=[sc.fmt("web", 256, 320, "jpg", 80)],
    )


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_scene_round_trips_through_files(tmp_path, suffix):
    scene = _scene()
    path = sc.save(scene, tmp_path / f"scene{suffix}")
    back = sc.load(path)
    assert isinstance(back, Scene)
    assert back == scene
    assert [s.name for s in back.shots] == ["az000", "az090", "az180", "az270"]


def test_example_campaign_loads_and_round_trips(tmp_path):
    camp = load_campaign(EXAMPLE)
    assert isinstance(sc.load(EXAMPLE), Campaign)
    assert [t.name for t in camp.twins] == ["ava", "ben"]
    back = sc.load(sc.save(camp, tmp_path / "c.yaml"))
    assert back == camp


def test_colours_parse_hex_and_floats():
    assert rgba("#ff0000") == (1.0, 0.0, 0.0, 1.0)
    assert rgba([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5, 1.0)
    assert rgba("#00000080")[3] == pytest.approx(128 / 255)


def test_schema_lists_fields_for_editors():
    schema = json_schema("scene")
    assert schema["title"] == "Scene"
    assert {"twins", "outfit", "shots", "lights", "backdrop", "formats", "render"} <= set(schema["properties"])
    assert "description" in schema["$defs"]["Shot"]["properties"]["azimuth_deg"]
    camp = json_schema("campaign")
    assert {"sizes", "poses", "locales", "include", "exclude"} <= set(camp["properties"])


def test_schema_command_prints_json():
    out = subprocess.run([sys.executable, "-m", "scenes.cli", "schema", "campaign"], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert json.loads(out.stdout)["title"] == "Campaign"


BAD_TOML = """\
name = "bad"

[[twins]]
name = "ava"
shape = [0.2, 0.4, 0.5, 0.45, 0.55, 0.5]

[[outfits]]
name = "navy"

[[outfits.garments]]
template = "tube-dress"

[[outfits]]
name = "silk"

[[outfits.garments]]
template = "tube-dress"
fabric = "silck"

[[shots]]
name = "front"
"""


def test_malformed_toml_names_field_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_TOML)
    with pytest.raises(InputError) as err:
        load_campaign(path)
    msg = err.value.message
    assert f"{path}:18:" in msg
    assert "outfits[1].garments[0].fabric" in msg
    assert "silck" in msg
    assert err.value.line == 18


def test_unknown_key_and_inline_value_lines(tmp_path):
    text = BAD_TOML.replace('fabric = "silck"', 'fabric = "silk"').replace(
        '[[shots]]\nname = "front"', '[[shots]]\nname = "front"\nazimuth = 10\n\n[[locales]]\nname = "eu"\n'
        'backdrop = { colour = "#12" }')
    path = tmp_path / "bad2.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_campaign(path)
    msg = err.value.message
    assert f"{path}:22: shots[0].azimuth: unknown field" in msg
    assert f"{path}:26: locales[0].backdrop.colour" in msg


def test_toml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[[twins]]\nname = "a\n')
    with pytest.raises(InputError, match=r"broken.toml:3: not valid TOML"):
        load_campaign(path)


def test_malformed_yaml_names_field_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: s\ntwins:\n  - name: ava\n    shape: [0.5, 0.5, 0.5, 0.5, 0.5, 1.5]\n"
                    "shots:\n  - name: front\n    elevation_deg: 95\n")
    with pytest.raises(InputError) as err:
        load_scene(path)
    msg = err.value.message
    assert f"{path}:4: twins[0].shape" in msg
    assert f"{path}:7: shots[0].elevation_deg" in msg


def test_key_line_scanner_handles_nested_array_tables():
    lines = toml_key_lines(EXAMPLE.read_text())
    text = EXAMPLE.read_text().splitlines()
    assert 'fabric = "silk"' in text[lines[("outfits", 1, "garments", 0, "fabric")] - 1]
    assert "ease" in text[lines[("outfits", 1, "garments", 0, "settings", "ease")] - 1]
    assert 'name = "back"' in text[lines[("shots", 2, "name")] - 1]


def test_looks_shot_presets_and_backdrops_are_the_engine_models():
    from scenes.campaign import expand

    camp = load_campaign(OUTFITS).model_dump()
    camp["locales"] = [{"name": "eu", "look": "campaign"},
                       {"name": "jp", "backdrop": {"kind": "gradient", "colour": "#444450", "colour2": "#101010",
                                                   "ground_shadow": True}}]
    camp["shots"] = [{"name": "front", "preset": "front"}, {"name": "bust", "preset": "detail-upper-body"}]
    plan = expand(Campaign.model_validate(camp))
    eu = next(c for c in plan.cells if c.labels["locale"] == "eu")
    jp = next(c for c in plan.cells if c.labels["locale"] == "jp")
    assert eu.inputs["look"] == "campaign" and "look" not in jp.inputs
    assert jp.inputs["backdrop"]["kind"] == "gradient" and jp.inputs["backdrop"]["ground_shadow"] is True
    assert {c.inputs["shot"]["preset"] for c in plan.cells} == {"front", "detail-upper-body"}
    with pytest.raises(ValidationError, match="unknown look 'noir'"):
        Campaign.model_validate({**camp, "locales": [{"name": "eu", "look": "noir"}]})
    with pytest.raises(ValidationError, match="leave backdrop out"):
        Campaign.model_validate({**camp, "locales": [{"name": "eu", "look": "studio", "backdrop": {"colour": "#ffffff"}}]})
    with pytest.raises(ValidationError, match="unknown shot"):
        Campaign.model_validate({**camp, "shots": [{"name": "x", "preset": "sideways"}]})
    with pytest.raises(ValidationError, match="leave out azimuth_deg"):
        Campaign.model_validate({**camp, "shots": [{"name": "x", "preset": "front", "azimuth_deg": 10}]})
