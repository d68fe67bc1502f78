"""Fit-check previews for designers: every size of a garment on every body, in one offline page.

- :func:`run_fitcheck` (with :class:`FitcheckSettings`) drapes each size on each body (drapes
  cached), renders front/back images and strain/clearance maps, exports a GLB per dressed body,
  recommends a size per body and writes ``index.html`` (:mod:`.report`);
- :mod:`.populations`: named sets of synthetic bodies across ages, sizes and genders
  (:func:`age_to_anny` maps years to Anny's age parameter);
- :mod:`.maps`: the colour maps and legends; :mod:`.browser`: open the page in headless Chromium;
- :mod:`.cli`: ``atelier fitcheck``.
"""

from .maps import CLEARANCE, STRAIN, ColorMap, legend_png
from .populations import age_to_anny, make_population, population, population_names
from .run import (BodyEntry, Cell, FitcheckResult, FitcheckSettings, Recommendation, default_authorise,
                  default_deliver, recommend, run_fitcheck)

__all__ = ["run_fitcheck", "FitcheckSettings", "FitcheckResult", "BodyEntry", "Cell", "Recommendation", "recommend",
           "default_authorise", "default_deliver", "age_to_anny", "make_population", "population",
           "population_names", "ColorMap", "STRAIN", "CLEARANCE", "legend_png"]
