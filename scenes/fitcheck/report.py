"""The fit-check page: one ``index.html`` that works offline from ``file://``.

Chromium will not run a ``<script type="module" src>`` from ``file://`` nor ``fetch()`` a
``file://`` URL, so the page uses only classic scripts: model-viewer's UMD bundle (npm package
``@google/model-viewer``, three.js included) copied to ``assets/model-viewer.min.js``, and one
``glb/<cell>.js`` per dressed body that puts its GLB in ``window.ATELIER_GLB`` as a ``data:`` URI.
Only the recommended size of each body is loaded at first; the size buttons load the others on
demand, so the page stays small however many sizes and bodies it shows.

For tests the page reports its viewers on ``<body>``: ``data-viewers`` (count),
``data-viewers-loaded`` and ``data-viewers-failed``; each ``<model-viewer>`` gets
``data-loaded="true"`` (or ``data-error``) from its ``load`` (``error``) event.
"""

from __future__ import annotations

import json
import os
import shutil
from html import escape
from pathlib import Path

from engine.storage import atomic_path
from engine.types import PathLikeStr

#: the UMD build: a classic script that defines <model-viewer> and bundles three.js.
MODEL_VIEWER_FILE = "node_modules/@google/model-viewer/dist/model-viewer-umd.min.js"
REPO_ROOT = Path(__file__).resolve().parents[2]


def model_viewer_bundle() -> Path | None:
    """The model-viewer UMD bundle: ``$ATELIER_MODEL_VIEWER`` if set, else the repository's
    ``node_modules`` (``npm ci`` at the repository root), or None when absent."""
    env = os.environ.get("ATELIER_MODEL_VIEWER")
    if env:
        return Path(env) if Path(env).is_file() else None
    p = REPO_ROOT / MODEL_VIEWER_FILE
    return p if p.is_file() else None


def model_viewer_version(bundle: Path) -> str | None:
    """The version in the bundle's package.json, or None."""
    pkg = bundle.parent.parent / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def copy_viewer(out: Path) -> dict | None:
    """Copy the model-viewer bundle and its licence(s) into ``out/assets``; None without a bundle."""
    bundle = model_viewer_bundle()
    if bundle is None:
        return None
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    js = assets / "model-viewer.min.js"
    text = bundle.read_text(encoding="utf-8")
    with atomic_path(js) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    licences = []
    for pkg in (bundle.parent.parent, bundle.parent.parent.parent.parent / "three"):
        lic = pkg / "LICENSE"
        if lic.is_file():
            dest = assets / f"LICENSE.{pkg.name}.txt"
            shutil.copyfile(lic, dest)
            licences.append(dest.name)
    return {"script": "assets/model-viewer.min.js", "version": model_viewer_version(bundle), "licences": licences}


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#f6f5f2}
header{background:#20242c;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:2px 0;color:#c9ccd3;font-size:13px}
.disclosure{background:#fff4d6;color:#5a4300;padding:8px 28px;font-size:13px;border-bottom:1px solid #e8d9a8}
main{padding:8px 28px 40px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #e0ddd6;padding:6px 8px;font-size:13px;vertical-align:top;text-align:left}
th{background:#efede8;font-weight:600}
.grid td{text-align:center}
.grid img{height:var(--img-h);width:auto;background:#fff}
.pair{display:flex;gap:4px;justify-content:center}
.scroll{overflow-x:auto;max-width:100%}
.rec{outline:3px solid #2f8f4e;outline-offset:-3px}
.badge{display:inline-block;border-radius:9px;padding:1px 7px;margin:1px;font-size:11px;color:#fff}
.tight{background:#b3261e}.fitted{background:#2f8f4e}.relaxed{background:#3b73b9}.loose{background:#7a5bb0}
.warn{color:#9a4b00;font-size:12px}.note{color:#555;font-size:12px}.grid .warn{max-width:calc(var(--img-h) * 1.5);margin:auto}.fail{color:#b3261e;font-size:12px}
.muted{color:#777;font-size:12px}.why{color:#444;font-size:11px;max-width:220px}
.legend img{height:64px;margin-right:24px}
.viewers{display:flex;flex-wrap:wrap;gap:18px}
.viewer{background:#fff;border:1px solid #e0ddd6;padding:8px;width:380px}
.viewer model-viewer{width:100%;height:460px;background:#eceae4}
.viewer button{margin:2px;padding:3px 9px;border:1px solid #aaa;background:#fff;border-radius:4px;cursor:pointer}
.viewer button.on{background:#20242c;color:#fff;border-color:#20242c}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px}
dt{font-weight:600}
"""

JS = r"""
(function () {
  var GLB_JS = %(glb_js)s;
  var body = document.body;
  var viewers = Array.prototype.slice.call(document.querySelectorAll('model-viewer[data-cell]'));
  var loaded = 0, failed = 0;
  body.dataset.viewers = String(viewers.length);
  body.dataset.viewersLoaded = '0';
  body.dataset.viewersFailed = '0';
  function fail(mv, why) {
    if (!mv.dataset.error) { failed += 1; body.dataset.viewersFailed = String(failed); }
    mv.dataset.error = why;
    console.error('fit-check 3D view: ' + why);
  }
  function show(mv, id) {
    mv.dataset.cell = id;
    if (window.ATELIER_GLB && window.ATELIER_GLB[id]) { mv.src = window.ATELIER_GLB[id]; return; }
    var s = document.createElement('script');
    s.src = GLB_JS[id];
    s.onload = function () { mv.src = window.ATELIER_GLB[id]; };
    s.onerror = function () { fail(mv, 'could not load ' + GLB_JS[id]); };
    document.head.appendChild(s);
  }
  viewers.forEach(function (mv) {
    mv.addEventListener('load', function () {
      if (!mv.dataset.loaded) { loaded += 1; body.dataset.viewersLoaded = String(loaded); }
      mv.dataset.loaded = 'true';
      mv.dataset.shown = mv.dataset.cell;
      if (loaded + failed === viewers.length) { document.title = document.title.replace(/ \u2013 loading 3D$/, ''); }
    });
    mv.addEventListener('error', function (e) { fail(mv, 'model error ' + JSON.stringify(e.detail || {})); });
    var box = mv.closest('.viewer');
    box.querySelectorAll('button[data-cell]').forEach(function (b) {
      b.addEventListener('click', function () {
        box.querySelectorAll('button[data-cell]').forEach(function (o) { o.classList.remove('on'); });
        b.classList.add('on');
        show(mv, b.dataset.cell);
      });
    });
    if (!window.customElements || !customElements.get('model-viewer')) { fail(mv, 'model-viewer is not bundled'); return; }
    show(mv, mv.dataset.cell);
  });
})();
"""


def _turned_up(turned: dict | None) -> str:
    """A cell's note on sleeves or legs turned up because the size is longer than the body's."""
    if not turned:
        return ""
    parts = {}
    for region, cm in sorted(turned.items()):
        parts.setdefault("sleeves" if region.endswith("arm") else "legs", []).append(float(cm))
    text = "; ".join(f"{k} too long: turned up {max(v):.0f} cm" for k, v in parts.items())
    return f'<div class="note">{escape(text)}</div>'


def _why(r: dict) -> str:
    """What decided a region's verdict, one short line (the reason of :func:`garments.fit.judge`)."""
    if r.get("reason"):
        return f"{r.get('decided_by') or 'ease'}: {r['reason']}"
    return f"ease {r.get('ease_mm')} mm"


def _badges(regions: list) -> str:
    return "".join(f'<span class="badge {escape(r.get("verdict", ""))}" title="{escape(r["region"])}: '
                   f'{escape(_why(r))}">{escape(r["region"].replace("_", " "))}</span>' for r in regions)


def _region_cell(r: dict, tolerance_mm: float | None = None) -> str:
    """One region of one size in the fit table: ease, band strain, girth strain, the verdict, the
    number that decided it, how the ease was found when it is not a plain slice, and the pattern's
    own ease, flagged when it is more than ``tolerance_mm`` from the draped ease, and the ease the
    size was drafted to give its own chart body (the size rule's target)."""
    girth = f" · round {_fmt(r.get('girth_strain_pct'), '', 1)}" if r.get("girth_strain_pct") is not None else ""
    strain = r.get("strain_pct", r.get("max_strain_pct"))
    out = (f"{_fmt(r.get('ease_mm'), '', 0)} · {_fmt(strain, '', 1)}{girth} · "
           f"<span class=\"badge {escape(r['verdict'])}\">{escape(r['verdict'])}</span>"
           f"<div class=\"why\">{escape(_why(r))}</div>")
    if r.get("ease_note"):
        how = "ease from 2π × mean gap" if r.get("ease_method") == "gap" else "ease"
        out += f'<div class="warn">{escape(how)}: {escape(r["ease_note"])}</div>'
    elif r.get("ease_method") == "gap":  # a region without a tape line (the shoulders)
        out += '<div class="why">ease from 2π × mean gap (no tape line here)</div>'
    pe = r.get("pattern_ease_mm")
    if pe is not None:
        off = tolerance_mm is not None and r.get("ease_mm") is not None and abs(pe - r["ease_mm"]) > tolerance_mm
        ie = r.get("intended_ease_mm")
        out += (f'<div class="{"warn" if off else "why"}">pattern ease {pe:.0f} mm'
                + (f" (draped {r['ease_mm']:.0f}: differs by more than {tolerance_mm:g})" if off else "")
                + (f"; intended {ie:.0f} mm" if ie is not None else "") + "</div>")
    return out


def _fmt(x, unit: str = "", nd: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:.{nd}f}{unit}"


def _img(path: str | None, alt: str) -> str:
    return f'<img src="{escape(path)}" alt="{escape(alt)}">' if path else ""


def write_report(out: PathLikeStr, m: dict) -> Path:
    """Write ``out/index.html`` from a fit-check manifest (see :func:`scenes.fitcheck.run.run_fitcheck`)
    and copy the model-viewer bundle beside it. Returns the page's path."""
    out = Path(out)
    viewer = copy_viewer(out)
    m["viewer"] = viewer
    sizes, bodies = m["sizes"], m["bodies"]
    cells = {(c["body"], c["size"]): c for c in m["cells"]}
    recs = m["recommendations"]
    g, fab = m["garment"], m["fabric"]
    img_h = max(64, min(int(m["image_px"]), 240))
    title = f"Fit check: {g['name']}" + (f" in {fab['name']}" if fab else "")
    h = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         f"<title>{escape(title)}{' – loading 3D' if viewer else ''}</title>",
         f"<style>{CSS}</style>"]
    if viewer:
        h.append(f'<script src="{viewer["script"]}"></script>')
    h.append(f'</head><body style="--img-h:{img_h}px">')
    h.append(f"<header><h1>{escape(title)}</h1>"
             f"<p>sizes {escape(', '.join(sizes))} on {len(bodies)} bodies · pose {escape(str(m['pose']))} · "
             f"~{m['resolution']} cloth vertices, ≤{m['max_frames']} frames</p>"
             f"<p>Atelier {escape(m['engine_version'])} · Blender {escape(str(m.get('blender_version') or '–'))} · "
             f"{escape(m['created'])}</p></header>")
    h.append('<div class="disclosure">Internal fit check. Every image and 3D view here is AI-generated: a digital twin '
             "or a synthetic body made from a parametric body model, not a photograph of a person. "
             "Images carry this disclosure in their metadata.</div><main>")

    # recommendations
    h.append("<h2>Recommended size</h2><table><tr><th>body</th><th>height · chest · waist · hips (cm)</th>"
             "<th>size chart says</th><th>recommended</th><th>why</th></tr>")
    for b in bodies:
        r = recs.get(b["slug"], {})
        ms = b.get("measurements", {})
        meas = " · ".join(_fmt(ms.get(k), "", 0) for k in ("height_cm", "chest_cm", "waist_cm", "hips_cm"))
        size = r.get("size") or "–"
        mark = "" if r.get("fits") else ' <span class="warn">(nothing fits)</span>'
        desc = f'<div class="muted">{escape(b["description"])}</div>' if b.get("description") else ""
        h.append(f"<tr><td>{escape(b['name'])}{desc}</td><td>{meas}</td><td>{escape(b.get('chart_size') or '–')}</td>"
                 f"<td><b>{escape(size)}</b>{mark}</td><td>{escape(r.get('reason', ''))}</td></tr>")
    h.append("</table><p class=\"muted\">Rule: among the sizes with no region judged tight, the one whose ease is "
             "closest to the ease the garment was drafted to give the size chart's own body of that size (its intended "
             "ease: the pattern's width at each tape line minus the chart's girth), in size steps of the chart; the "
             "pattern's ease stands in where the drape's differs from it past the tolerance. If every size is tight "
             "somewhere, the size with the fewest tight regions. The size chart column is the chart row nearest the "
             "body's measurements; when another size is recommended, the reason says why not that row.</p>")

    # size grid
    h.append('<h2>Size grid</h2><div class="scroll"><table class="grid"><tr><th>body</th>'
             + "".join(f"<th>{escape(s)}</th>" for s in sizes) + "</tr>")
    for b in bodies:
        row = [f"<th>{escape(b['name'])}</th>"]
        for s in sizes:
            c = cells.get((b["slug"], s))
            cls = ' class="rec"' if recs.get(b["slug"], {}).get("size") == s else ""
            if c is None or c["status"] == "failed":
                msg = escape(c["message"]) if c else "not draped"
                row.append(f'<td{cls}><span class="fail">drape failed: {msg}</span></td>')
                continue
            imgs = _img(c["images"].get("front"), f"{b['name']} size {s} front") + _img(c["images"].get("back"), f"{b['name']} size {s} back")
            warn = f'<div class="warn">{escape(c["message"])}</div>' if c["status"] == "guard" else ""
            warn += _turned_up(c.get("turned_up_cm"))
            if c.get("settled") is False:
                warn += ('<div class="warn">not settled by the frame cap: its strain and verdicts are of cloth '
                         "still moving</div>")
            row.append(f"<td{cls}><div class=\"pair\">{imgs}</div><div>{_badges(c['regions'])}</div>{warn}</td>")
        h.append("<tr>" + "".join(row) + "</tr>")
    h.append('</table></div><p class="muted">Front and back; the outlined cell is the recommended size. Badges: region verdicts '
             '(<span class="badge tight">tight</span><span class="badge fitted">fitted</span>'
             '<span class="badge relaxed">relaxed</span><span class="badge loose">loose</span>).</p>')

    # maps
    h.append("<h2>Strain and clearance maps</h2><div class=\"legend\">"
             + "".join(f'<img src="{escape(p)}" alt="{escape(k)} legend">' for k, p in m["legends"].items()) + "</div>")
    h.append("<p class=\"muted\">" + " ".join(escape(f"{v['title']} ({v['unit']}): {v['meaning']}") for v in m["maps"].values())
             + " Colours use the same scale in every image.</p>")
    h.append('<div class="scroll"><table class="grid"><tr><th>body</th>' + "".join(f"<th>{escape(s)}</th>" for s in sizes) + "</tr>")
    for b in bodies:
        row = [f"<th>{escape(b['name'])}</th>"]
        for s in sizes:
            c = cells.get((b["slug"], s))
            if c is None or c["status"] == "failed":
                row.append("<td>–</td>")
                continue
            im = c["images"]
            strain = (_img(im.get("strain-front"), "strain front") + _img(im.get("strain-back"), "strain back")) or '<span class="muted">no strain data</span>'
            clear = _img(im.get("clearance-front"), "clearance front") + _img(im.get("clearance-back"), "clearance back")
            sp, cm = c.get("strain_pct") or {}, c.get("clearance_mm") or {}
            row.append(f"<td><div class=\"pair\">{strain}</div><div class=\"muted\">strain p98 {_fmt(sp.get('p98'), ' %', 1)}</div>"
                       f"<div class=\"pair\">{clear}</div><div class=\"muted\">clearance median {_fmt(cm.get('median'), ' mm', 0)}, "
                       f"min {_fmt(cm.get('min'), ' mm', 0)}</div></td>")
        h.append("<tr>" + "".join(row) + "</tr>")
    h.append("</table></div>")

    # region tables
    h.append("<h2>Fit by region</h2>")
    regions = []
    for c in m["cells"]:
        for r in c["regions"]:
            if r["region"] not in regions:
                regions.append(r["region"])
    for b in bodies:
        h.append(f"<h3>{escape(b['name'])}</h3><table><tr><th>region</th>"
                 + "".join(f"<th>{escape(s)}<br><span class=\"muted\">ease mm · strain % · round the girth % · verdict"
                           "</span></th>" for s in sizes) + "</tr>")
        for reg in regions:
            row = [f"<th>{escape(reg.replace('_', ' '))}</th>"]
            for s in sizes:
                c = cells.get((b["slug"], s))
                r = next((x for x in (c or {}).get("regions", []) if x["region"] == reg), None)
                if r is None:
                    row.append("<td>–</td>")
                else:
                    row.append(f"<td>{_region_cell(r, (m.get('thresholds') or {}).get('pattern_ease_tolerance_mm'))}</td>")
            h.append("<tr>" + "".join(row) + "</tr>")
        src = {c["fit_source"] for c in m["cells"] if c["body"] == b["slug"] and c["fit_source"]}
        h.append(f"</table><p class=\"muted\">source: {escape(', '.join(sorted(src)) or '–')}. Ease is circumferential, "
                 "in mm: the garment's tape girth minus the body's, cut by the same plane (2π × the mean cloth-to-body "
                 "gap where no tape slice goes round, said in the cell). Strain is the region's band strain: the median "
                 "of the settled, smoothed stretch of its cloth away from hems and seam allowances; round the girth is "
                 "the stretch of the cloth cut by the region's tape planes. Under each verdict: the number that "
                 "decided it (docs/fitcheck.md, 'Verdicts').</p>")

    # 3D views
    h.append("<h2>3D view</h2>")
    glb_js = {c["id"]: c["glb_js"] for c in m["cells"] if c.get("glb_js")}
    if viewer is None:
        h.append('<p class="warn">The 3D viewer is not bundled (run <code>npm ci</code> at the repository root, then '
                 "run the fit check again). The GLB files are in <code>glb/</code>.</p>")
    else:
        h.append(f'<p class="muted">Drag to turn, scroll to zoom. Garment coloured by {escape(m["glb_colors"])} '
                 "(same scale as the maps). Only the recommended size loads first; the buttons load the others.</p>"
                 '<div class="viewers">')
        for b in bodies:
            avail = [s for s in sizes if (b["slug"], s) in cells and cells[(b["slug"], s)].get("glb_js")]
            if not avail:
                continue
            rec = recs.get(b["slug"], {}).get("size")
            first = rec if rec in avail else avail[0]
            on = ' class="on"'
            buttons = "".join(
                f'<button type="button" data-cell="{escape(cells[(b["slug"], s)]["id"])}"'
                f'{on if s == first else ""}>{escape(s)}</button>' for s in avail)
            cid = cells[(b["slug"], first)]["id"]
            glb = cells[(b["slug"], first)]["glb"]
            h.append(f'<div class="viewer"><div><b>{escape(b["name"])}</b></div>'
                     f'<model-viewer data-cell="{escape(cid)}" loading="eager" camera-controls interaction-prompt="none" '
                     f'shadow-intensity="0.6" exposure="1.0" camera-orbit="0deg 80deg auto" '
                     f'alt="{escape(b["name"])} wearing {escape(g["name"])}"></model-viewer>'
                     f'<div>{buttons}</div><div class="muted">GLB: <a href="{escape(glb)}">{escape(glb)}</a></div></div>')
        h.append("</div>")

    # what it was made with
    h.append("<h2>Made with</h2><dl>")
    h.append(f"<dt>garment</dt><dd>{escape(g['name'])} ({escape(g['kind'])}"
             + (f", {g['panels']} panels, {g['seams']} seams" if g.get("panels") else "") + f") {escape(g.get('description') or '')}</dd>")
    if g.get("pattern_sha256"):
        h.append(f"<dt>pattern sha256</dt><dd><code>{escape(g['pattern_sha256'])}</code></dd>")
    if fab:
        props = ", ".join(f"{k} {v}" for k, v in fab.items() if k not in ("name", "description"))
        h.append(f"<dt>fabric</dt><dd>{escape(fab['name'])}: {escape(fab.get('description', ''))}"
                 f"<div class=\"muted\">{escape(props)}</div></dd>")
    else:
        h.append("<dt>fabric</dt><dd>the template's default cloth settings</dd>")
    h.append(f"<dt>engine</dt><dd>Atelier {escape(m['engine_version'])}, Blender {escape(str(m.get('blender_version') or '–'))}, "
             f"pyrender images at {m['image_px']} px</dd>")
    if viewer:
        h.append(f"<dt>3D viewer</dt><dd>@google/model-viewer {escape(str(viewer.get('version') or ''))} "
                 f"(Apache-2.0, bundles three.js, MIT): {', '.join(escape(x) for x in viewer['licences'])}</dd>")
    d = m["drapes"]
    h.append(f"<dt>drapes</dt><dd>{d['made']} draped, {d['cached']} from the cache, {d['failed']} failed "
             f"(cache <code>{escape(d['cache'])}</code>)</dd>")
    th = m.get("thresholds") or {}
    rows = dict(th.get("regions") or {}) or {"all regions": th.get("default", {})}
    dflt = th.get("default", {})
    text = "; ".join(f"{k.replace('_', ' ')}: tight under {v.get('tight_below_mm')} mm or over {v.get('tight_strain_pct')} % "
                     f"strain (with {v.get('clear_ease_mm', dflt.get('clear_ease_mm'))} mm of ease or more only when "
                     f"the stretch goes round the girth), fitted under {v.get('fitted_below_mm')} mm, relaxed under "
                     f"{v.get('relaxed_below_mm')} mm" for k, v in rows.items())
    if th.get("stretch_share"):
        text += (f"; a fabric that stretches may be stretched up to {th['stretch_share']:g} x its stretch "
                 f"before it is tight" + (f" ({th['stretch_share'] * fab['stretch_pct']:g} % for {fab['name']})"
                                          if fab and fab.get("stretch_pct") is not None else ""))
    h.append(f"<dt>verdict thresholds</dt><dd>{escape(text)} (ease in mm)</dd>")
    h.append("</dl></main>")
    h.append("<script>" + JS % {"glb_js": json.dumps(glb_js)} + "</script></body></html>")
    page = out / "index.html"
    with atomic_path(page) as tmp:
        Path(tmp).write_text("\n".join(h), encoding="utf-8")
    return page


__all__ = ["write_report", "model_viewer_bundle", "copy_viewer", "MODEL_VIEWER_FILE"]
