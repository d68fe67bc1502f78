"""Named populations of synthetic bodies for fit-check previews (``--population NAME``).

Populations live in ``scenes/fitcheck/data/populations.json``: each body has a name, an age in
years and Anny phenotype values (gender, muscle, weight, height, proportions in [0, 1]).
:func:`age_to_anny` maps years to Anny's ``age`` parameter with Anny's own calibration (the
morphological-age anchors it ships in ``anny/data/shape_calibration``: 18 years is 0.77, 64 years
0.83, 110 years 1.0, linear in between), so "a 60-year-old" means what Anny means by it.
:func:`make_population` writes one twin folder per body (A-pose, ``source.synthetic = true``),
reusing folders whose parameters did not change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.storage import read_json
from engine.types import PathLikeStr

POPULATIONS_FILE = Path(__file__).resolve().parent / "data" / "populations.json"

#: Anny phenotype order of ``Twin.shape``.
PHENOTYPE = ("gender", "age", "muscle", "weight", "height", "proportions")


def age_to_anny(years: float) -> float:
    """Anny's ``age`` parameter in [0, 1] for an age in years, on Anny's own calibration anchors
    (:func:`bodies.phenotype.age_to_param`).

    Raises:
        InputError: an age outside the body model's range (0-110 years).
    """
    from bodies.phenotype import age_to_param

    return age_to_param(years)


@dataclass
class PopulationBody:
    """One synthetic body of a population.

    Attributes:
        name: label shown on the page ("40-year-old curvy").
        age_years: age, years.
        shape: (6,) Anny phenotype [gender, age, muscle, weight, height, proportions] in [0, 1]
            ([] for a body made from the size chart: found when it is made).
        population: the population's name.
        size, targets: for a population made from the size chart, the chart row's size and the
            tape measurements (cm) the body is built to (``atelier body --height --bust --waist
            --hips``); None otherwise.
    """

    name: str
    age_years: float
    shape: list[float]
    population: str
    size: str | None = None
    targets: dict | None = None

    @property
    def slug(self) -> str:
        """File-system name: lowercase letters, digits and hyphens."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "body"


def load_populations(path: PathLikeStr | None = None) -> dict:
    """The populations file as a dict (``{"populations": {name: {"description", "bodies"}}}``)."""
    return read_json(Path(path or POPULATIONS_FILE))


def population_names(path: PathLikeStr | None = None) -> list[str]:
    return sorted(load_populations(path)["populations"])


def _chart_rows(name: str, spec: dict) -> list[tuple[str, dict]]:
    """(size, atelier-body targets in cm) for a population made from the size chart."""
    from garments.sizes import load_size_chart

    chart = load_size_chart(spec.get("chart"))
    sizes = [s.upper() for s in spec.get("sizes", chart["order"])]
    bad = [s for s in sizes if s not in chart["sizes"]]
    if bad:
        raise InputError(f"population {name!r}: sizes {', '.join(bad)} are not in the size chart",
                         hint=f"the chart has {', '.join(chart['order'])}")
    return [(s, {"height_cm": chart["sizes"][s]["height"], "bust_cm": chart["sizes"][s]["chest"],
                 "waist_cm": chart["sizes"][s]["waist"], "hips_cm": chart["sizes"][s]["hips"]}) for s in sizes]


def population(name: str, path: PathLikeStr | None = None) -> list[PopulationBody]:
    """The bodies of population ``name``.

    Raises:
        InputError: unknown population, or a value outside [0, 1].
    """
    pops = load_populations(path)["populations"]
    if name not in pops:
        raise InputError(f"unknown population {name!r}", hint=f"choose one of {', '.join(sorted(pops))} "
                         f"(or add one to {POPULATIONS_FILE})")
    out = []
    if pops[name].get("from_size_chart"):
        years = float(pops[name].get("age_years", 25))
        return [PopulationBody(name=f"size {s} body", age_years=years, shape=[], population=name, size=s, targets=t)
                for s, t in _chart_rows(name, pops[name])]
    for b in pops[name]["bodies"]:
        years = float(b.get("age_years", 35))
        values = {"age": age_to_anny(years)}
        for k in PHENOTYPE:
            if k != "age":
                values[k] = float(b.get(k, 0.5))
                if not 0.0 <= values[k] <= 1.0:
                    raise InputError(f"population {name!r}, body {b.get('name')!r}: {k}={values[k]} is outside [0, 1]")
        out.append(PopulationBody(name=str(b["name"]), age_years=years, shape=[values[k] for k in PHENOTYPE],
                                  population=name))
    if len({b.slug for b in out}) != len(out):
        raise InputError(f"population {name!r}: two bodies have the same name")
    return out


def make_population(name: str, out_dir: PathLikeStr, model=None, path: PathLikeStr | None = None) -> list[Path]:
    """Write a twin folder per body of population ``name`` under ``out_dir/<slug>/`` (A-pose,
    marked synthetic) and return them in the file's order. A folder whose ``twin.json`` already
    has the same shape is reused."""
    import bodies
    from bodies.poses import pose_preset
    from bodies.twin import Twin

    folders = []
    for b in population(name, path):
        folder = Path(out_dir) / b.slug
        if b.targets is not None:
            folders.append(_chart_body(b, folder))
            continue
        tj = folder / "twin.json"
        if tj.exists():
            try:
                old = json.loads(tj.read_text())
                if np.allclose(old.get("shape", []), b.shape, atol=1e-9):
                    folders.append(folder)
                    continue
            except (ValueError, TypeError):
                pass
        if model is None:
            model = bodies.create("anny")
        Twin(model="anny", shape=list(b.shape), pose=pose_preset(model, "a-pose")[0].tolist(), pose_name="a-pose",
             source={"synthetic": True, "population": name, "name": b.name, "age_years": b.age_years}).save(folder, model)
        folders.append(folder)
    return folders


def _chart_body(b: PopulationBody, folder: Path) -> Path:
    """The twin folder of a size-chart body, made as ``atelier body`` makes one from the chart
    row's height, bust, waist and hips (female, :func:`bodies.cli.run`); reused when its
    ``twin.json`` was made for the same targets."""
    import argparse
    import contextlib
    import io

    from bodies.cli import run as atelier_body

    tj = folder / "twin.json"
    if tj.exists():
        try:
            if json.loads(tj.read_text()).get("source", {}).get("targets_cm") == b.targets:
                return folder
        except (ValueError, TypeError):
            pass
    args = argparse.Namespace(out=str(folder), height=b.targets["height_cm"], bust=b.targets["bust_cm"], underbust=None,
                              waist=b.targets["waist_cm"], high_hip=None, hips=b.targets["hips_cm"], gender="female",
                              age=b.age_years, weight=None, muscle=0.5, proportions=0.5, pose="a-pose", model="anny")
    with contextlib.redirect_stdout(io.StringIO()):
        atelier_body(args)
    return folder


__all__ = ["PopulationBody", "age_to_anny", "load_populations", "population", "population_names",
           "make_population", "POPULATIONS_FILE"]
