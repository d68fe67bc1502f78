"""Example: build a scene in Python (a T-shirt over trousers, library patterns in size M), save it
as TOML, load it back, render it and export a GLB.

Run it headless:  atelier run scenes/examples/look.py -- --out out/look [--quick]
(--quick: a coarse cloth and 128 px images, as CI runs it). The twin is a synthetic Anny body.
"""

import argparse
from pathlib import Path

import scenes as sc

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="out/look")
parser.add_argument("--quick", action="store_true", help="coarse cloth, small images (CI)")
args = parser.parse_args()
out = Path(args.out)

size = 128 if args.quick else 768
scene = sc.scene(
    "look-01",
    twins=[sc.twin("ava", shape=[0.2, 0.4, 0.5, 0.45, 0.55, 0.5], pose="a-pose")],
    outfit=sc.outfit(
        "summer",
        sc.garment("straight-trousers", fabric="denim", colour="#1d2b4f"),
        sc.garment("t-shirt", fabric="jersey", colour="#c8553d", layer=1),  # draped over the trousers
        colourways={"night": ["#1d2b4f", "#f2f2f2"]},
    ),
    size=sc.size("M"),  # the patterns are graded to M of the size chart; sc.size("mtm") grades to the twin
    colourway="night",
    shots=[sc.shot("front"), sc.shot("three-quarter", azimuth_deg=35, elevation_deg=8), sc.shot("back", 180)],
    backdrop=sc.backdrop("#f4efe9"),
    formats=[sc.fmt("web", size, size, type="jpg"), sc.fmt("cutout", size, size, type="png")],
    drape=sc.DrapeOptions(resolution=400 if args.quick else 3000, max_frames=12 if args.quick else 120,
                          min_frames=2 if args.quick else 5),
)

# Files round-trip through the API: what you save is what you load.
path = sc.save(scene, out / "look-01.toml")
assert sc.load(path) == scene

result = sc.render(scene, out / "renders")
for label, image in result.by_label.items():
    print(f"{label}: {image}")
glb = sc.export_glb(scene, out / "look-01.glb", cache=out / "renders" / "drapes")
print(f"GLB for the web: {glb}")
