"""How the library pattern files were drawn (run ``python -m garments.library._generate`` to redo them).

Each garment is drafted here as a function of body measurements (cm) for the base size M of
``garments/data/size_chart.json``; its grade rules are the draft's linear response to each
measurement (cm of point movement per cm of measurement), found by finite differences. The JSON
files written beside this script are the library; edit them directly or change a draft and rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("chest", "waist", "hips", "height", "shoulder_width", "upper_arm", "thigh")


def _mirror(panel: dict) -> dict:
    """Mirror a panel left-right (x -> -x) and keep its outline counter-clockwise."""
    pts = {k: [-x, y] for k, (x, y) in panel["points"].items()}
    edges = []
    for e in reversed(panel["edges"]):
        d = {"name": e["name"], "from": e["to"], "to": e["from"]}
        if "curve" in e:
            d["curve"] = [-e["curve"][0], e["curve"][1]]
        edges.append(d)
    out = dict(panel, points=pts, edges=edges)
    out["grain"] = [-panel.get("grain", [0, 1])[0], panel.get("grain", [0, 1])[1]]
    return out


def _qlen(p0, c, p1, n=64):
    """Length of the quadratic Bezier p0 -> p1 with control c (cm)."""
    pts = []
    for i in range(n + 1):
        t = i / n
        pts.append([(1 - t) ** 2 * p0[k] + 2 * t * (1 - t) * c[k] + t * t * p1[k] for k in (0, 1)])
    return sum(((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in zip(pts, pts[1:]))


def _armhole_length(panel: dict) -> float:
    """Length of a bodice's left/right armhole curve (cm): the two are mirror images."""
    for e in panel["edges"]:
        if e["name"].startswith("armhole"):
            return _qlen(panel["points"][e["from"]], e["curve"], panel["points"][e["to"]])
    raise KeyError("no armhole edge")


def _bodice(m, length, neck_depth, *, sides="front", arm_ease=10.0, hem_flare=0.0, waist_shape=False,
            armhole_depth=21.0):
    """Front or back bodice drawn whole (x = 0 centre line), HPS at y = 0; returns a panel dict.
    ``armhole_depth``: underarm point below the HPS for a 94 cm chest, 168 cm tall body (cm); a
    sleeved top needs a deeper armhole than a sleeveless one so its sleeve cap fits (see :func:`_sleeve`)."""
    h = m["height"] / 168.0
    cw = (m["chest"] + arm_ease) / 4.0          # quarter chest with ease
    hw = (m["hips"] + arm_ease) / 4.0 + hem_flare
    sh = m["shoulder_width"] / 2.0
    uy = -(m["chest"] / 94.0) * armhole_depth * h  # underarm depth below HPS
    L = -length * h
    # +x is body-left on the front, body-right on the back
    pos, neg = ("l", "r") if sides == "front" else ("r", "l")
    pts = {
        f"HEM_{neg}": [-max(cw, hw), L], f"HEM_{pos}": [max(cw, hw), L],
        f"UA_{pos}": [cw, uy], f"SH_{pos}": [sh, -4.5 * h], f"HPS_{pos}": [7.5, 0.0],
        f"HPS_{neg}": [-7.5, 0.0], f"SH_{neg}": [-sh, -4.5 * h], f"UA_{neg}": [-cw, uy],
    }
    arm_ctrl = lambda s: [s * (sh - 0.5), 0.5 * (uy - 4.5 * h) - 1.0]
    edges = [
        {"name": "hem", "from": f"HEM_{neg}", "to": f"HEM_{pos}"},
        {"name": f"side_{pos}", "from": f"HEM_{pos}", "to": f"UA_{pos}"},
        {"name": f"armhole_{pos}", "from": f"UA_{pos}", "to": f"SH_{pos}", "curve": arm_ctrl(1)},
        {"name": f"shoulder_{pos}", "from": f"SH_{pos}", "to": f"HPS_{pos}"},
        {"name": "neck", "from": f"HPS_{pos}", "to": f"HPS_{neg}", "curve": [0.0, -2.0 * neck_depth]},
        {"name": f"shoulder_{neg}", "from": f"HPS_{neg}", "to": f"SH_{neg}"},
        {"name": f"armhole_{neg}", "from": f"SH_{neg}", "to": f"UA_{neg}", "curve": arm_ctrl(-1)},
        {"name": f"side_{neg}", "from": f"UA_{neg}", "to": f"HEM_{neg}"},
    ]
    if waist_shape:
        wy = uy - 18.0 * h
        ww = (m["waist"] + arm_ease + 6.0) / 4.0
        for s, tag in ((1, pos), (-1, neg)):
            for e in edges:
                if e["name"] == f"side_{tag}":
                    e["curve"] = [s * (2 * ww - 0.5 * (cw + max(cw, hw))), wy]
    return {
        "points": pts, "edges": edges, "grain": [0.0, 1.0],
        "placement": {"region": "torso", "side": sides, "anchor": "HPS_l" if sides == "front" else "HPS_r",
                      "landmark": "shoulder", "offset_cm": 5.0},
    }


def _sleeve(m, length, hem_ratio, side, armhole_cm, cap_ease=1.0):
    """Set-in sleeve, cap top at (0, 0); +x is the back of the arm on the left sleeve.

    The cap height is solved so that each half of the cap is as long as the bodice armhole it is
    sewn to (``armhole_cm``) plus half of ``cap_ease`` (cm): a longer cap cannot be sewn in flat and
    pulls the underarm seam junction up into the armpit."""
    h = m["height"] / 168.0
    W = (m["upper_arm"] + 9.0) / 2.0
    target = armhole_cm + 0.5 * cap_ease
    if target <= W:
        raise ValueError(f"sleeve {W:.1f} cm wide at the cap cannot meet an armhole of {armhole_cm:.1f} cm: deepen the armhole")
    lo, hi = 0.0, target
    for _ in range(60):  # cap half length grows with the cap height
        cap = 0.5 * (lo + hi)
        if _qlen([W, -cap], [0.55 * W, -0.1 * cap], [0.0, 0.0]) < target:
            lo = cap
        else:
            hi = cap
    L = -length * h
    wh = W * hem_ratio
    pts = {"CAP": [0.0, 0.0], "UA_P": [W, -cap], "UA_N": [-W, -cap], "HEM_P": [wh, L], "HEM_N": [-wh, L]}
    edges = [
        {"name": "hem", "from": "HEM_N", "to": "HEM_P"},
        {"name": "under_p", "from": "HEM_P", "to": "UA_P"},
        {"name": "cap_p", "from": "UA_P", "to": "CAP", "curve": [0.55 * W, -0.1 * cap]},
        {"name": "cap_n", "from": "CAP", "to": "UA_N", "curve": [-0.55 * W, -0.1 * cap]},
        {"name": "under_n", "from": "UA_N", "to": "HEM_N"},
    ]
    return {"points": pts, "edges": edges, "grain": [0.0, 1.0],
            "placement": {"region": f"{side}_arm", "side": "top", "anchor": "CAP", "landmark": "root", "offset_cm": 3.0}}


def _top_seams(front="front", back="back", sleeves=True):
    seams = [
        {"a": f"{front}.side_l", "b": f"{back}.side_l"}, {"a": f"{front}.side_r", "b": f"{back}.side_r"},
        {"a": f"{front}.shoulder_l", "b": f"{back}.shoulder_l"}, {"a": f"{front}.shoulder_r", "b": f"{back}.shoulder_r"},
    ]
    if sleeves:
        seams += [
            {"a": "sleeve_l.under_p", "b": "sleeve_l.under_n"}, {"a": "sleeve_r.under_p", "b": "sleeve_r.under_n"},
            {"a": "sleeve_l.cap_n", "b": f"{front}.armhole_l"}, {"a": "sleeve_l.cap_p", "b": f"{back}.armhole_l"},
            {"a": "sleeve_r.cap_p", "b": f"{front}.armhole_r"}, {"a": "sleeve_r.cap_n", "b": f"{back}.armhole_r"},
        ]
    return seams


def t_shirt(m):
    front = _bodice(m, 68.0, 8.0, armhole_depth=28.0)
    arm = _armhole_length(front)
    return {
        "description": "crew-neck T-shirt with short set-in sleeves, hip length",
        "kind": "top", "ease_cm": {"chest": 10.0, "hips": 10.0, "upper_arm": 9.0},
        "panels": {"front": front, "back": _bodice(m, 68.0, 2.0, sides="back", armhole_depth=28.0),
                   "sleeve_l": _sleeve(m, 20.0, 0.9, "left", arm), "sleeve_r": _sleeve(m, 20.0, 0.9, "right", arm)},
        "seams": _top_seams(),
    }


def button_shirt(m):
    front = _bodice(m, 74.0, 8.0, arm_ease=12.0, armhole_depth=28.0)
    arm = _armhole_length(front)
    # split the front at the centre line into two fronts with a button stand each (sewn shut = buttoned)
    left = {"points": {}, "edges": [], "grain": [0.0, 1.0], "placement": dict(front["placement"], anchor="HPS_l")}
    right = {"points": {}, "edges": [], "grain": [0.0, 1.0], "placement": dict(front["placement"], anchor="HPS_r")}
    p = front["points"]
    neck_y = -8.0
    left["points"] = {"CF_HEM": [0.0, p["HEM_l"][1]], "HEM_l": p["HEM_l"], "UA_l": p["UA_l"], "SH_l": p["SH_l"],
                      "HPS_l": p["HPS_l"], "CF_NECK": [0.0, neck_y]}
    left["edges"] = [
        {"name": "hem", "from": "CF_HEM", "to": "HEM_l"},
        {"name": "side_l", "from": "HEM_l", "to": "UA_l"},
        dict(front["edges"][2]), dict(front["edges"][3]),
        {"name": "neck", "from": "HPS_l", "to": "CF_NECK", "curve": [1.0, neck_y]},
        {"name": "placket", "from": "CF_NECK", "to": "CF_HEM"},
    ]
    right = _mirror({"points": left["points"], "edges": left["edges"], "grain": [0.0, 1.0]})
    right["points"] = {k.replace("_l", "_r"): v for k, v in right["points"].items()}
    for e in right["edges"]:
        e["name"] = e["name"].replace("_l", "_r")
        e["from"], e["to"] = e["from"].replace("_l", "_r"), e["to"].replace("_l", "_r")
    right["placement"] = dict(front["placement"], anchor="HPS_r")
    seams = _top_seams("front_l", "back") + [{"a": "front_l.placket", "b": "front_r.placket"}]
    for s in seams:
        for k in ("a", "b"):
            if s[k].startswith("front_l.") and s[k].endswith("_r"):
                s[k] = "front_r." + s[k].split(".")[1]
    return {
        "description": "long-sleeved button shirt (the button stand sewn shut), no collar",
        "kind": "top", "ease_cm": {"chest": 12.0, "hips": 12.0, "upper_arm": 9.0},
        "panels": {"front_l": left, "front_r": right, "back": _bodice(m, 76.0, 2.0, sides="back", arm_ease=12.0, armhole_depth=28.0),
                   "sleeve_l": _sleeve(m, 58.0, 0.55, "left", arm), "sleeve_r": _sleeve(m, 58.0, 0.55, "right", arm)},
        "seams": seams,
    }


def shift_dress(m):
    return {
        "description": "sleeveless A-line shift dress to the knee",
        "kind": "full", "ease_cm": {"chest": 8.0, "waist": 14.0, "hips": 10.0},
        "panels": {"front": _bodice(m, 96.0, 9.0, arm_ease=8.0, hem_flare=6.0),
                   "back": _bodice(m, 96.0, 2.5, sides="back", arm_ease=8.0, hem_flare=6.0)},
        "seams": _top_seams(sleeves=False),
    }


def _skirt_panel(m, side, length=58.0, flare=9.0, back=False):
    h = m["height"] / 168.0
    ww = (m["waist"] + 2.0) / 4.0
    hw = (m["hips"] + 4.0) / 4.0
    hy = -20.0 * h
    L = -length * h
    pos, neg = ("l", "r") if side == "front" else ("r", "l")
    top = 0.0 if side == "front" else -1.0
    pts = {f"HEM_{neg}": [-(hw + flare), L], f"HEM_{pos}": [hw + flare, L], f"W_{pos}": [ww, 0.0], f"W_{neg}": [-ww, 0.0]}
    edges = [
        {"name": "hem", "from": f"HEM_{neg}", "to": f"HEM_{pos}", "curve": [0.0, L - 1.5]},
        {"name": f"side_{pos}", "from": f"HEM_{pos}", "to": f"W_{pos}", "curve": [hw + 0.35 * flare, hy + 4.0]},
        {"name": "waist", "from": f"W_{pos}", "to": f"W_{neg}", "curve": [0.0, top]},
        {"name": f"side_{neg}", "from": f"W_{neg}", "to": f"HEM_{neg}", "curve": [-(hw + 0.35 * flare), hy + 4.0]},
    ]
    return {"points": pts, "edges": edges, "grain": [0.0, 1.0], "elastic": ["waist"],
            "placement": {"region": "torso", "side": side, "anchor": f"W_{pos}", "landmark": "waist", "offset_cm": 1.0}}


def a_line_skirt(m):
    return {
        "description": "A-line skirt to just above the knee with an elastic waistband",
        "kind": "bottom", "ease_cm": {"waist": 2.0, "hips": 4.0},
        "panels": {"front": _skirt_panel(m, "front"), "back": _skirt_panel(m, "back")},
        "seams": [{"a": "front.side_l", "b": "back.side_l"}, {"a": "front.side_r", "b": "back.side_r"}],
    }


def _trouser_front(m):
    """Front left leg seen from the front: +x = outer side (body left), x = 0 the crease."""
    h = m["height"] / 168.0
    q = (m["hips"] + 4.0) / 4.0
    wq = (m["waist"] + 2.0) / 4.0
    t = (m["thigh"] + 8.0) / 4.0
    hy, cy, L = -18.0 * h, -26.0 * h, -100.0 * h
    hem = 10.5
    pts = {"HEM_I": [-hem, L], "HEM_O": [hem, L], "HIP_O": [q / 2.0, hy], "W_O": [q / 2.0 - 3.0, 0.0],
           "W_I": [-(wq - (q / 2.0 - 3.0)), 0.0], "CF": [-q / 2.0, hy], "CROTCH": [-q / 2.0 - 0.2 * t - 0.5, cy]}
    edges = [
        {"name": "hem", "from": "HEM_I", "to": "HEM_O"},
        {"name": "side_low", "from": "HEM_O", "to": "HIP_O"},
        {"name": "side_high", "from": "HIP_O", "to": "W_O", "curve": [q / 2.0, -6.0 * h]},
        {"name": "waist", "from": "W_O", "to": "W_I"},
        {"name": "cf", "from": "W_I", "to": "CF"},
        {"name": "crotch", "from": "CF", "to": "CROTCH", "curve": [-q / 2.0, cy]},
        {"name": "inseam", "from": "CROTCH", "to": "HEM_I", "curve": [-q / 2.0 + 1.0, 0.55 * (cy + L)]},
    ]
    return {"points": pts, "edges": edges, "grain": [0.0, 1.0], "elastic": ["waist"],
            "placement": {"region": "left_leg", "side": "front", "anchor": "W_O", "landmark": "waist", "offset_cm": 1.0}}


def _trouser_back(m):
    """Back left leg seen from behind: +x = inner side (body right), x = 0 the crease."""
    h = m["height"] / 168.0
    q = (m["hips"] + 4.0) / 4.0 + 2.0
    wq = (m["waist"] + 2.0) / 4.0 + 1.0
    t = (m["thigh"] + 8.0) / 4.0
    hy, cy, L = -18.0 * h, -27.0 * h, -100.0 * h
    hem = 11.5
    pts = {"HEM_O": [-hem, L], "HEM_I": [hem, L], "CROTCH": [q / 2.0 + 0.4 * t, cy], "CB": [q / 2.0, hy],
           "W_I": [q / 2.0 - 1.5, 3.0], "W_O": [q / 2.0 - 1.5 - wq, 0.0], "HIP_O": [-q / 2.0, hy]}
    edges = [
        {"name": "hem", "from": "HEM_O", "to": "HEM_I"},
        {"name": "inseam", "from": "HEM_I", "to": "CROTCH", "curve": [q / 2.0 - 1.0, 0.55 * (cy + L)]},
        {"name": "crotch", "from": "CROTCH", "to": "CB", "curve": [q / 2.0 + 1.0, cy]},
        {"name": "cb", "from": "CB", "to": "W_I"},
        {"name": "waist", "from": "W_I", "to": "W_O"},
        {"name": "side_high", "from": "W_O", "to": "HIP_O", "curve": [-q / 2.0, -6.0 * h]},
        {"name": "side_low", "from": "HIP_O", "to": "HEM_O"},
    ]
    return {"points": pts, "edges": edges, "grain": [0.0, 1.0], "elastic": ["waist"],
            "placement": {"region": "left_leg", "side": "back", "anchor": "W_O", "landmark": "waist", "offset_cm": 1.0}}


def straight_trousers(m):
    fl, bl = _trouser_front(m), _trouser_back(m)
    fr, br = _mirror(fl), _mirror(bl)
    fr["placement"] = dict(fl["placement"], region="right_leg")
    br["placement"] = dict(bl["placement"], region="right_leg")
    seams = []
    for a, b in (("side_low", "side_low"), ("side_high", "side_high"), ("inseam", "inseam")):
        seams += [{"a": f"front_l.{a}", "b": f"back_l.{b}"}, {"a": f"front_r.{a}", "b": f"back_r.{b}"}]
    seams += [{"a": "front_l.cf", "b": "front_r.cf"}, {"a": "front_l.crotch", "b": "front_r.crotch"},
              {"a": "back_l.cb", "b": "back_r.cb"}, {"a": "back_l.crotch", "b": "back_r.crotch"}]
    return {
        "description": "straight-leg trousers with an elastic waist, full length",
        "kind": "bottom", "ease_cm": {"waist": 2.0, "hips": 4.0, "thigh": 8.0},
        "panels": {"front_l": fl, "back_l": bl, "front_r": fr, "back_r": br},
        "seams": seams,
    }


DRAFTS = {"t-shirt": t_shirt, "button-shirt": button_shirt, "shift-dress": shift_dress,
          "a-line-skirt": a_line_skirt, "straight-trousers": straight_trousers}


def build(name: str, chart: dict) -> dict:
    base = chart["sizes"]["M"]
    m = {k: float(base[k]) for k in KEYS}
    draft = DRAFTS[name]
    out = draft(m)
    grade = {}
    for k in KEYS:
        m2 = dict(m, **{k: m[k] + 1.0})
        moved = draft(m2)
        for pn, panel in out["panels"].items():
            for pt, (x, y) in panel["points"].items():
                x2, y2 = moved["panels"][pn]["points"][pt]
                for axis, d in (("x", x2 - x), ("y", y2 - y)):
                    if abs(d) > 1e-6:
                        grade.setdefault(f"{pn}.{pt}", {}).setdefault(axis, {})[k] = round(d, 4)
    rnd = lambda v: [round(float(c), 2) for c in v]
    for panel in out["panels"].values():
        panel["points"] = {k: rnd(v) for k, v in panel["points"].items()}
        for e in panel["edges"]:
            if "curve" in e:
                e["curve"] = rnd(e["curve"])
    return {"name": name, "format": "atelier-pattern/1", "units": "cm", "base_size": "M", **out, "grade": grade}


def main():
    chart = json.loads((HERE.parent / "data" / "size_chart.json").read_text())
    for name in DRAFTS:
        (HERE / f"{name}.json").write_text(json.dumps(build(name, chart), indent=1) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
