"""Drape benchmark: every library garment x sizes x fabrics on two bodies, plus the Cusick table.

    .venv/bin/python benchmarks/drape.py --quick            # t-shirt + skirt, M, one fabric, one body
    .venv/bin/python benchmarks/drape.py                    # all garments x XS, M, XXL x 3 fabrics x 2 bodies
    .venv/bin/python benchmarks/drape.py --cusick           # drape coefficient of every fabric preset
    .venv/bin/python benchmarks/drape.py --target           # the ~8k-vertex T-shirt target (<= 60 s)
    .venv/bin/python benchmarks/drape.py --garments t-shirt # the matrix for some garments only
    .venv/bin/python benchmarks/drape.py --sizes M          # ... or some sizes only
    .venv/bin/python benchmarks/drape.py --outfits          # layered outfits: seconds and penetration per layer

Prints one row per drape: garment, size, fabric, body, vertices, frames, settled, seconds (the
Blender job; total_s adds grading, meshing, placing and the fit numbers), s/frame, penetration %,
the last frame's largest vertex move (last_disp_mm) and the largest move per frame of a vertex's
mean position over the settle window (net_disp_mm, what the settle test reads), and writes the rows to OUT/benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _bodies(model, which):
    import torch

    from bodies.poses import pose_preset

    shapes = {"average": model.default_shape(),
              "heavy": torch.tensor([[0.5, 0.5, 0.5, 0.9, 0.6, 0.5]], dtype=torch.float32)}
    out = {}
    for name in which:
        o = model(shape=shapes[name], pose=pose_preset(model, "a-pose"))
        out[name] = (o.vertices[0].numpy(), o.faces.numpy(), o.joints[0].numpy())
    return out


def _chosen(text: str, choices: list[str], what: str) -> list[str]:
    """The comma-separated names in ``text``; stops the benchmark at once, naming the ``choices``,
    when one is not among them."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in choices]
    if unknown:
        raise SystemExit(f"drape benchmark: unknown {what}(s) {', '.join(unknown)}; choose from: {', '.join(choices)}")
    return names


def run_matrix(args) -> list[dict]:
    import bodies
    from engine.errors import AtelierError
    from garments.drape import drape_garment
    from garments.pattern import library_names

    model = bodies.create("anny")
    if args.quick:
        garments, sizes, fabrics, body_names = ["t-shirt", "a-line-skirt"], ["M"], ["cotton-jersey"], ["average"]
    else:
        garments, sizes = library_names(), ["XS", "M", "XXL"]
        fabrics, body_names = ["cotton-jersey", "cotton-poplin", "denim"], ["average", "heavy"]
    from garments.sizes import size_names

    if args.garments:
        garments = _chosen(args.garments, library_names(), "garment")
    if args.sizes:
        sizes = _chosen(args.sizes, size_names(), "size")
    rows = []
    for bname, (v, f, j) in _bodies(model, body_names).items():
        for g in garments:
            for s in sizes:
                for fab in fabrics:
                    out = Path(args.out) / f"{bname}_{g}_{s}_{fab}"
                    t0 = time.monotonic()
                    row = {"garment": g, "size": s, "fabric": fab, "body": bname}
                    (out / "drape_report.json").unlink(missing_ok=True)
                    try:
                        r = drape_garment(v, f, j, g, out, resolution=args.vertices, max_frames=args.frames,
                                          size=s, fabric=fab, timeout=args.timeout)
                        row.update(vertices=len(r.vertices), frames=r.frames, settled=r.settled,
                                   seconds=round(r.seconds, 1), s_per_frame=round(r.seconds_per_frame, 3),
                                   penetration_pct=round(r.penetration_pct, 2),
                                   last_disp_mm=round(r.max_displacement_mm, 2),
                                   net_disp_mm=round(r.window_displacement_mm, 2), total_s=round(time.monotonic() - t0, 1),
                                   turned_up_cm=max(json.loads(r.report_path.read_text()).get("turned_up_cm", {}).values(),
                                                    default=0.0),
                                   error=None)
                    except AtelierError as exc:
                        row.update(seconds=round(time.monotonic() - t0, 1), error=str(exc).splitlines()[0][:90])
                        rep = out / "drape_report.json"
                        if rep.exists():  # the penetration guard raises after writing the report
                            r = json.loads(rep.read_text())
                            row.update(vertices=r["vertices"], frames=r["frames"], settled=r["settled"],
                                       penetration_pct=r["penetration_pct"], last_disp_mm=r["max_displacement_mm"],
                                       net_disp_mm=r.get("window_displacement_mm"))
                    row["load_avg_1min"] = round(os.getloadavg()[0], 2)
                    rows.append(row)
                    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def summarise(rows: list[dict]) -> None:
    """Print the matrix's totals: drapes, explosions, guard failures, settled, worst figures."""
    import numpy as np

    errors = [r for r in rows if r.get("error")]
    exploded = [r for r in errors if "explod" in r["error"]]
    pen = [r["penetration_pct"] for r in rows if r.get("penetration_pct") is not None]
    disp = [r["last_disp_mm"] for r in rows if r.get("last_disp_mm") is not None]
    net = [r["net_disp_mm"] for r in rows if r.get("net_disp_mm") is not None]
    frames = [r["frames"] for r in rows if r.get("settled")]
    secs = [r["seconds"] for r in rows if r.get("seconds") is not None]
    print(f"{len(rows)} drapes: {len(exploded)} exploded, {len(errors) - len(exploded)} other errors "
          f"(penetration guard), {sum(bool(r.get('settled')) for r in rows)} settled (no vertex's mean position moving 1 mm/frame)")
    turned = [r for r in rows if r.get("turned_up_cm")]
    if turned:
        print(f"turned up (sleeves or legs longer than the body's): {len(turned)} drapes, "
              + ", ".join(f"{r['garment']} {r['size']} on {r['body']} {r['turned_up_cm']} cm" for r in turned[:6])
              + (" ..." if len(turned) > 6 else ""))
    if frames:
        print(f"frames to settle: median {np.median(frames):.0f}, max {max(frames)}")
    if pen:
        print(f"penetration %: median {np.median(pen):.2f}, max {max(pen):.2f}")
    if disp:
        print(f"max vertex displacement in the last frame, mm: median {np.median(disp):.1f}, max {max(disp):.1f}")
    if net:
        print(f"largest move of a vertex's mean position per frame at the end (what the settle test reads), mm: median {np.median(net):.2f}, max {max(net):.2f}")
    if secs:
        print(f"seconds per drape: median {np.median(secs):.1f}, max {max(secs):.1f}")


#: the outfits of the benchmark, innermost first
OUTFITS = (("straight-trousers", "t-shirt"), ("a-line-skirt", "button-shirt"), ("straight-trousers", "button-shirt"))


def run_outfits(args) -> list[dict]:
    """One row per layer of each outfit of :data:`OUTFITS` in size M (or ``--sizes``) on each body:
    seconds, frames, settled, penetration of the body and of each layer under it (%)."""
    import bodies
    from engine.errors import AtelierError
    from garments.outfit import Outfit, drape_outfit

    model = bodies.create("anny")
    sizes = _chosen(args.sizes, ["XS", "S", "M", "L", "XL", "XXL"], "size") if args.sizes else ["M"]
    body_names = ["average"] if args.quick else ["average", "heavy"]
    outfits = OUTFITS[:1] if args.quick else OUTFITS
    rows = []
    for body_name, (v, f, j) in _bodies(model, body_names).items():
        for garments in outfits:
            for size in sizes:
                outfit = Outfit.of(*garments, size=size)
                out = Path(args.out) / "outfits" / f"{outfit.name}_{size}_{body_name}"
                t0 = time.monotonic()
                error = None
                try:
                    res = drape_outfit(outfit, (v, f, j), out, resolution=args.vertices, max_frames=args.frames,
                                       timeout=args.timeout)
                except AtelierError as exc:
                    error, res = str(exc).splitlines()[0][:120], None
                total = round(time.monotonic() - t0, 1)
                rep = out / "drape_report.json"
                layers = json.loads(rep.read_text())["layers"] if rep.exists() and res is not None else []
                if not layers:
                    rows.append({"outfit": outfit.name, "size": size, "body": body_name, "error": error, "total_s": total})
                    print(" ".join(f"{k}={val}" for k, val in rows[-1].items()), flush=True)
                for layer in layers:
                    below = layer["penetration_of_layers_below_pct"]
                    row = {"outfit": outfit.name, "layer": layer["name"], "size": size, "body": body_name,
                           "vertices": layer["vertices"], "frames": layer["frames"], "settled": layer["settled"],
                           "seconds": layer["seconds"], "penetration_body_pct": layer["penetration_pct"],
                           "penetration_below_pct": max(below.values()) if below else None, "error": error,
                           "outfit_total_s": total}
                    rows.append(row)
                    print(" ".join(f"{k}={val}" for k, val in row.items()), flush=True)
    return rows


def run_cusick(args) -> list[dict]:
    from garments.cusick import cusick_test
    from garments.fabrics import drape_source_note, fabric_names

    rows = []
    print(f"{'fabric':16s} {'DC':>6s}  published   in range  frames  s")
    for n in fabric_names():
        r = cusick_test(n, Path(args.out) / f"cusick_{n}", edge_m=0.015, max_frames=100)
        rows.append(r.__dict__)
        print(f"{r.fabric:16s} {r.coefficient:6.3f}  {r.published[0]:.2f}-{r.published[1]:.2f}   {str(r.in_range):8s}  "
              f"{r.frames:5d}  {r.seconds:.1f}", flush=True)
    print("source:", drape_source_note())
    return rows


def main(argv=None) -> int:
    from garments.drape import MAX_FRAMES

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a small subset")
    p.add_argument("--cusick", action="store_true", help="only the Cusick drape test table")
    p.add_argument("--target", action="store_true", help="only the ~8k-vertex T-shirt")
    p.add_argument("--outfits", action="store_true", help="only the layered outfits (a top over a bottom), per layer")
    p.add_argument("--garments", default="", help="comma-separated library garments instead of all of them")
    p.add_argument("--sizes", default="", help="comma-separated sizes instead of XS, M, XXL")
    p.add_argument("--vertices", type=int, default=3000, help="cloth vertices per garment (default 3000)")
    p.add_argument("--frames", type=int, default=MAX_FRAMES, help=f"frame cap (default {MAX_FRAMES}, DrapeSettings' own)")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--out", default="/tmp/atelier_drape_bench")
    args = p.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.cusick:
        rows = run_cusick(args)
    elif args.outfits:
        rows = run_outfits(args)
    elif args.target:
        args.quick, args.vertices = True, 8000
        import bodies
        from garments.drape import drape_garment

        from engine.errors import AtelierError

        v, f, j = _bodies(bodies.create("anny"), ["average"])["average"]
        out = Path(args.out) / "target"
        (out / "drape_report.json").unlink(missing_ok=True)
        error = None
        t0 = time.monotonic()
        try:
            drape_garment(v, f, j, "t-shirt", out, resolution=8000, max_frames=args.frames,
                          size="M", fabric="cotton-jersey", timeout=args.timeout)
        except AtelierError as exc:
            error = str(exc).splitlines()[0][:120]
        total = round(time.monotonic() - t0, 1)
        row = {"error": error, "total_s": total, "load_avg_1min": round(os.getloadavg()[0], 2)}
        rep = out / "drape_report.json"
        if rep.exists():  # written before the guards raise
            r = json.loads(rep.read_text())
            row.update(vertices=r["vertices"], frames=r["frames"], settled=r["settled"], seconds=r["seconds"],
                       s_per_frame=r["seconds_per_frame"], penetration_pct=r["penetration_pct"],
                       last_disp_mm=r["max_displacement_mm"], net_disp_mm=r.get("window_displacement_mm"),
                       strain=r.get("strain"), target_met=bool(error is None and r["settled"] and total <= 60.0))
        rows = [row]
        print(rows[0])
    else:
        rows = run_matrix(args)
        summarise(rows)
    (Path(args.out) / "benchmark.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
