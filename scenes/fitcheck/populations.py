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
        shape: (6,) Anny phenotype [gender, age, muscle, weight, height, proportions] in [0, 1].
        population: the population's name.
    """

    name: str
    age_years: float
    shape: list[float]
    population: str

    @property
    def slug(self) -> str:
        """File-system name: lowercase letters, digits and hyphens."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "body"


def load_populations(path: PathLikeStr | None = None) -> dict:
    """The populations file as a dict (``{"populations": {name: {"description", "bodies"}}}``)."""
    return read_json(Path(path or POPULATIONS_FILE))


def population_names(path: PathLikeStr | None = None) -> list[str]:
    return sorted(load_populations(path)["populations"])


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


__all__ = ["PopulationBody", "age_to_anny", "load_populations", "population", "population_names",
           "make_population", "POPULATIONS_FILE"]
