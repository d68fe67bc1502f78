"""Fit-check benchmark: the size chart's self-consistency, pattern ease against draped ease, and
the time of a fit-check grid.

    .venv/bin/python benchmarks/fitcheck.py                   # every library garment x every chart size
    .venv/bin/python benchmarks/fitcheck.py --quick           # t-shirt + shift-dress, S, M, L, 2,000 vertices
    .venv/bin/python benchmarks/fitcheck.py --garments t-shirt --sizes M,L
    .venv/bin/python benchmarks/fitcheck.py --grid            # seconds for the T-shirt, 5 sizes x 3 bodies (ages)

Self-consistency: for each chart size X, a body built to the chart row's own height, bust, waist
and hips (the ``size-chart`` population: ``atelier body`` from the row) wears the garment in X
and in its neighbours. It passes when X has no tight region and the recommended size is X, or a
neighbour (the reason is printed; PASS only for X itself). Prints one row per garment x size (recommended size, the tight
regions of X with the number that made each tight, pass), then per garment x size x region the
draped ease beside the pattern ease (the flat pattern's width at the tape's line minus the body's
girth) and whether they differ by more than ``pattern_ease_tolerance_mm``; writes everything to
OUT/benchmark.json. Drapes are cached in OUT/drapes, so a second run only re-measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: garments whose fit is regular (not designed loose or close): all of the library's today
REGULAR_FIT = ("t-shirt", "button-shirt", "shift-dress", "a-line-skirt", "straight-trousers")


def _chosen(text: str | None, choices: list[str], what: str) -> list[str]:
    if not text:
        return list(choices)
    names = [x.strip() for x in text.split(",") if x.strip()]
    names = [x.upper() for x in names] if what == "size" else names
    unknown = [x for x in names if x not in choices]
    if unknown:
        raise SystemExit(f"fitcheck benchmark: unknown {what}(s) {', '.join(unknown)}; choose from: {', '.join(choices)}")
    return names


def self_consistency(args, out: Path) -> tuple[list[dict], list[dict]]:
    """(one row per garment x size, one row per garment x size x region) of the size-chart check."""
    import bodies
    from garments.fit import load_thresholds
    from garments.sizes import size_names
    from scenes.fitcheck import FitcheckSettings, run_fitcheck
    from scenes.fitcheck.populations import load_populations, make_population, population

    order = size_names()
    garments = _chosen(args.garments, [g for g in REGULAR_FIT], "garment")
    sizes = _chosen(args.sizes, order, "size")
    model = bodies.create("anny")
    t0 = time.monotonic()
    # only the sizes asked for: a population file of the chart's rows for them
    pops = load_populations()
    pops["populations"] = {"size-chart": {**pops["populations"]["size-chart"], "sizes": sizes}}
    pop_file = out / "populations.json"
    pop_file.write_text(json.dumps(pops))
    chart = {b.size: b for b in population("size-chart", pop_file)}
    folders = {p.name: p for p in make_population("size-chart", out / "bodies", model=model, path=pop_file)}
    print(f"size-chart bodies ready in {time.monotonic() - t0:.0f} s")
    tol = float(load_thresholds().get("pattern_ease_tolerance_mm", 30.0))
    rows, ease_rows = [], []
    for g in garments:
        for x in sizes:
            i = order.index(x)
            wear = order[max(i - 1, 0): i + 2]
            t1 = time.monotonic()
            s = FitcheckSettings(garment=g, sizes=wear, resolution=args.resolution, max_frames=args.frames,
                                 image_px=args.px, cache=str(out / "drapes"), quiet=True, workers=args.workers)
            res = run_fitcheck(s, [folders[chart[x].slug]], out / "pages" / g / x, model=model)
            body = res.bodies[0]
            rec = res.recommendations[body.slug]
            cell = res.cell(body.slug, x)
            tight = [f"{r['region']} ({r.get('reason', '')})" for r in cell.regions if r.get("verdict") == "tight"]
            ok = cell.status != "failed" and not tight and rec.size in wear
            own = ok and rec.size == x
            rows.append({"garment": g, "size": x, "recommended": rec.size, "fits": rec.fits, "reason": rec.reason,
                         "tight_in_own_size": tight, "status": cell.status, "settled": cell.settled,
                         "body_chart_size": body.chart_size, "pass": ok, "own_size": own, "seconds": round(time.monotonic() - t1, 1)})
            print(f"{g:18s} {x:4s} recommended {rec.size or '-':4s} {'PASS' if own else 'NEIGHBOUR' if ok else 'FAIL'}  "
                  f"tight in {x}: {', '.join(tight) or 'none'}"
                  + ("" if rec.size == x else f"  ({rec.reason})") + f"  [{time.monotonic() - t1:.0f} s]", flush=True)
            for r in cell.regions:
                pe = r.get("pattern_ease_mm")
                diff = None if pe is None else round(pe - r["ease_mm"], 1)
                ease_rows.append({"garment": g, "size": x, "region": r["region"], "draped_ease_mm": r["ease_mm"],
                                  "ease_method": r.get("ease_method"), "pattern_ease_mm": pe, "diff_mm": diff,
                                  "flag": diff is not None and abs(diff) > tol, "verdict": r["verdict"]})
    return rows, ease_rows


def print_ease_table(ease_rows: list[dict]) -> None:
    from garments.fit import load_thresholds

    tol = load_thresholds().get("pattern_ease_tolerance_mm")
    print(f"\npattern ease vs draped ease (mm; flagged past {tol} mm)")
    print(f"{'garment':18s} {'size':4s} {'region':10s} {'draped':>7s} {'pattern':>8s} {'diff':>6s}")
    for r in ease_rows:
        pe = "-" if r["pattern_ease_mm"] is None else f"{r['pattern_ease_mm']:.0f}"
        d = "-" if r["diff_mm"] is None else f"{r['diff_mm']:+.0f}"
        print(f"{r['garment']:18s} {r['size']:4s} {r['region']:10s} {r['draped_ease_mm']:7.0f} {pe:>8s} {d:>6s}"
              f"{'  <- differs' if r['flag'] else ''}{'  (gap)' if r['ease_method'] == 'gap' else ''}")


def grid_seconds(args, out: Path) -> dict:
    """Seconds for a fresh fit check of the T-shirt in XS..XL on the ``ages`` population."""
    import bodies
    from scenes.fitcheck import FitcheckSettings, run_fitcheck

    model = bodies.create("anny")
    cache = out / f"grid-drapes-{int(time.time())}"
    t0 = time.monotonic()
    s = FitcheckSettings(garment="t-shirt", sizes=["XS", "S", "M", "L", "XL"], resolution=args.resolution,
                         max_frames=args.frames, image_px=args.px, cache=str(cache), quiet=True, workers=args.workers)
    load0 = os.getloadavg()
    res = run_fitcheck(s, [], out / "grid", population="ages", model=model)
    secs = time.monotonic() - t0
    load1 = os.getloadavg()
    draped = [c.drape_seconds for c in res.cells if not c.cached]
    print(f"\ngrid: t-shirt XS-XL x 3 bodies (ages), {args.resolution} vertices, {args.frames} frames cap, "
          f"{args.workers} worker(s): {secs:.0f} s ({res.drapes_made} drapes, {sum(draped):.0f} s of drape time; "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after, on {os.cpu_count()} cores); "
          f"goal <= 180 s on 2 cores: {'met' if secs <= 180 else 'not met'}")
    for slug, rec in res.recommendations.items():
        print(f"  {slug}: {rec.size}{'' if rec.fits else ' (nothing fits)'} - {rec.reason}")
    return {"seconds": round(secs, 1), "drapes": res.drapes_made, "workers": args.workers,
            "load_before": round(load0[0], 2), "load_after": round(load1[0], 2),
            "drape_seconds": [round(x, 1) for x in draped],
            "recommendations": {k: {"size": r.size, "fits": r.fits, "reason": r.reason} for k, r in res.recommendations.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="t-shirt + shift-dress, S, M, L, 2,000 vertices")
    ap.add_argument("--garments", default=None, help="comma list (default: every regular-fit library garment)")
    ap.add_argument("--sizes", default=None, help="comma list of chart sizes (default: every size of the chart)")
    ap.add_argument("--resolution", type=int, default=5000, help="cloth vertices per drape (default 5000)")
    ap.add_argument("--frames", type=int, default=250, help="frame cap per drape (default 250)")
    ap.add_argument("--px", type=int, default=128, help="image height of the pages (default 128)")
    ap.add_argument("--workers", type=int, default=1, help="drapes at once (FitcheckSettings.workers, default 1)")
    ap.add_argument("--grid", action="store_true", help="only time the 5 sizes x 3 bodies T-shirt grid")
    ap.add_argument("--out", default="out/benchmark-fitcheck", help="output folder (drapes cached here)")
    args = ap.parse_args(argv)
    if args.quick:
        args.garments = args.garments or "t-shirt,shift-dress"
        args.sizes = args.sizes or "S,M,L"
        args.resolution = 2000 if args.resolution == 5000 else args.resolution
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"resolution": args.resolution, "frames": args.frames}
    if args.grid:
        report["grid"] = grid_seconds(args, out)
    else:
        rows, ease_rows = self_consistency(args, out)
        print_ease_table(ease_rows)
        passed = sum(r["pass"] for r in rows)
        own = sum(r["own_size"] for r in rows)
        print(f"\nself-consistency: {own} of {len(rows)} garment x size recommended their own size, {passed - own} a "
              f"neighbour (reason printed), {len(rows) - passed} fail; goal: every chart body X gets X, no tight "
              f"region: {'met' if own == len(rows) else 'not met'}")
        report.update({"self_consistency": rows, "ease": ease_rows})
    (out / "benchmark.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
