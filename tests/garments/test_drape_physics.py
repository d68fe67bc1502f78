"""The physics behind pattern drapes: flat rest shape, start placement, sliced ease."""

import numpy as np
import pytest
import trimesh

from bodies.measure import measure
from bodies.model import NAMED_JOINTS
from bodies.poses import pose_preset
from engine.blender.specs import ColliderSpec, DrapeJobSpec
from engine.meshio import load_npz_mesh, save_npz_mesh
from garments.clearance import BodyDistance
from garments.drape import DrapeSettings
from garments.fit import fit_table, sliced_ease, strain, weld_seams
from garments.mesher import mesh_pattern
from garments.pattern import library_pattern
from garments.placement import landmark_heights, place_pattern, relax_lengths, thin_body
from garments.sizes import grade


@pytest.fixture(scope="module")
def body(anny_model):
    out = anny_model(pose=pose_preset(anny_model, "a-pose"))
    v, f, j = out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy()
    return v, f, j, measure(v, f, j)


@pytest.mark.blender
def test_drape_job_takes_rest_lengths_from_the_flat_shape(tmp_path):
    # a 30 cm square that starts stretched to 45 cm must shrink back to its rest size (the start
    # shape is not its rest shape), without jumping to where the rest shape lies
    from engine.blender import run_blender_job

    n = 7
    g = np.linspace(0.0, 0.3, n)
    xx, zz = np.meshgrid(g, g)
    rest = np.stack([xx.ravel(), np.zeros(n * n), zz.ravel()], 1).astype(np.float32)
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a = r * n + c
            faces += [[a, a + n, a + 1], [a + 1, a + n, a + n + 1]]
    start = rest * [1.5, 1.0, 1.5] + [0.0, 1.0, 0.0]
    save_npz_mesh(tmp_path / "cloth.npz", start, np.asarray(faces), rest=rest)
    save_npz_mesh(tmp_path / "floor.npz", np.array([[-5, -1, -5], [5, -1, -5], [0, -1, 5]], np.float32),
                  np.array([[0, 2, 1]]))
    spec = DrapeJobSpec(**{**DrapeSettings().job_fields(), "cloth": str(tmp_path / "cloth.npz"),
                           "out": str(tmp_path / "out.npz"), "colliders": [{"path": str(tmp_path / "floor.npz")}],
                           "max_frames": 20, "min_frames": 20, "gravity": [0.0, 0.0, 0.0],
                           "cloth_settings": {"tension_stiffness": 80.0, "compression_stiffness": 80.0}})
    run_blender_job("drape", spec, workdir=tmp_path, timeout=120)
    out = load_npz_mesh(tmp_path / "out.npz")["vertices"]
    width = out[:, 0].max() - out[:, 0].min()
    assert width == pytest.approx(0.30, abs=0.02)
    assert abs(float(out[:, 1].mean()) - 1.0) < 0.02  # it stayed where it started
    # beside the last frame, each vertex's mean over the settle window: the shape the fit is measured on
    mean = load_npz_mesh(tmp_path / "out.npz")["mean_vertices"]
    assert mean.shape == out.shape and np.abs(mean - out).max() < 0.05


def test_placement_starts_outside_with_seams_nearly_closed(body):
    v, f, j, m = body
    cloth = mesh_pattern(grade(library_pattern("t-shirt"), "M"), 0.03)
    open_pos, sew = place_pattern(cloth, v, f, j, m, close_seams=False)
    pos, sew2 = place_pattern(cloth, v, f, j, m)
    gap = lambda p, s: np.linalg.norm(p[s[:, 0]] - p[s[:, 1]], axis=1)  # noqa: E731
    assert np.median(gap(pos, sew2)) < 0.75 * np.median(gap(open_pos, sew))
    d = BodyDistance(v, f)(pos)
    assert d.min() > 0.004  # every start vertex outside the body, with clearance
    # sleeves wrap the upper arm (not a tube blown up by the shoulder): within 15 cm of the bone
    sl = cloth.panel_of == [p.name for p in cloth.panels].index("sleeve_l")
    a, e = j[NAMED_JOINTS.index("left_shoulder")], j[NAMED_JOINTS.index("left_elbow")]
    u = (e - a) / np.linalg.norm(e - a)
    rel = open_pos[sl] - a
    radial = np.linalg.norm(rel - np.outer(rel @ u, u), axis=1)
    assert np.median(radial) < 0.12  # the arm is about 5 cm thick; before: 17 cm


def test_thin_body_draws_the_body_in(body):
    v, f, j, m = body
    t = thin_body(v, j, 0.6)
    assert t.shape == v.shape
    mid = np.array([0.0, 0.0, j[0, 2]])
    r0 = np.hypot(v[:, 0] - mid[0], v[:, 2] - mid[2])
    r1 = np.hypot(t[:, 0] - mid[0], t[:, 2] - mid[2])
    torso = (np.abs(v[:, 1] - m.waist_height_m) < 0.02) & (r0 < 0.25)
    assert np.median(r1[torso] / r0[torso]) < 0.8


def test_sliced_ease_of_an_offset_body_is_2_pi_times_the_offset(body):
    v, f, j, m = body
    normals = trimesh.Trimesh(v, f, process=False).vertex_normals
    shell = v + 0.010 * normals  # a 10 mm shell: its tape girth is the body's + 2 pi x 10 mm
    ease = sliced_ease(shell, f, v, f, j, m)
    for region in ("bust", "waist", "hips"):
        g, b = ease[region]
        assert g - b == pytest.approx(62.8, abs=10.0)
    rows = {r.region: r for r in fit_table(shell, np.full(len(v), 10.0), np.zeros(len(v)), np.zeros(len(v)), j, m,
                                           faces=f, body=(v, f))}
    assert rows["waist"].ease_method == "slice" and rows["waist"].ease_mm == pytest.approx(62.8, abs=10.0)
    # a looser shell has more ease
    loose = sliced_ease(v + 0.03 * normals, f, v, f, j, m)
    assert loose["waist"][0] - loose["waist"][1] > ease["waist"][0] - ease["waist"][1] + 80.0


def test_shirt_starts_hanging_from_the_shoulders_at_its_pattern_lengths(body):
    v, f, j, m = body
    cloth = mesh_pattern(grade(library_pattern("t-shirt"), "M"), 0.025)
    pos, sew = place_pattern(cloth, v, f, j, m)
    names = [p.name for p in cloth.panels]
    by = {p.name: p for p in cloth.panels}
    shoulder_line = landmark_heights(m, j)["shoulder"]
    # the shoulder seams start on top of the shoulders (above the shoulder joints), front and back
    # ends within 6 cm of each other
    front_sh, back_sh = by["front"].edges["shoulder_l"], by["back"].edges["shoulder_l"]
    assert pos[front_sh, 1].min() > shoulder_line and pos[back_sh, 1].min() > shoulder_line
    fb = (cloth.panel_of[sew[:, 0]] == names.index("front")) & (cloth.panel_of[sew[:, 1]] == names.index("back"))
    assert np.median(np.linalg.norm(pos[sew[fb, 0]] - pos[sew[fb, 1]], axis=1)) < 0.02  # side seams start closed
    # the cloth starts at (nearly) its flat pattern's edge lengths: the drape takes its rest from it
    e = np.concatenate([cloth.faces[:, [0, 1]], cloth.faces[:, [1, 2]], cloth.faces[:, [2, 0]]])
    flat = np.c_[cloth.flat, np.zeros(len(cloth.flat))]
    ratio = np.linalg.norm(pos[e[:, 0]] - pos[e[:, 1]], axis=1) / np.linalg.norm(flat[e[:, 0]] - flat[e[:, 1]], axis=1)
    assert 0.9 < np.percentile(ratio, 10) and np.percentile(ratio, 90) < 1.15
    # the hem hangs below the waist, the sleeves around the upper arms
    assert pos[by["front"].edges["hem"], 1].max() < m.waist_height_m
    assert BodyDistance(v, f)(pos).min() > 0.004


def test_relax_lengths_restores_rest_lengths():
    rng = np.random.default_rng(3)
    g = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), -1).reshape(-1, 2) * 0.02
    rest = np.c_[g, np.zeros(len(g))]
    faces = np.array([[i * 6 + k, i * 6 + k + 1, i * 6 + k + 7] for i in range(5) for k in range(5)]
                     + [[i * 6 + k, i * 6 + k + 7, i * 6 + k + 6] for i in range(5) for k in range(5)])
    start = rest * [1.3, 1.0, 1.0] + rng.normal(0, 0.002, rest.shape)
    out = relax_lengths(start, faces, rest, iterations=400)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    before = np.abs(np.linalg.norm(start[e[:, 0]] - start[e[:, 1]], axis=1) / np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1) - 1)
    after = np.abs(np.linalg.norm(out[e[:, 0]] - out[e[:, 1]], axis=1) / np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1) - 1)
    assert before.max() > 0.2 and after.max() < 0.02


def test_sliced_ease_goes_round_every_panel_of_a_sewn_garment(body):
    v, f, j, m = body
    # a 20 mm shell cut into a front and a back panel along x = 0.0 (as a pattern's panels: separate
    # pieces of mesh, the seam vertices duplicated and joined only by seam pairs)
    normals = trimesh.Trimesh(v, f, process=False).vertex_normals
    shell = v + 0.020 * normals
    front_face = shell[f].mean(1)[:, 2] > 0.5 * (v[:, 2].max() + v[:, 2].min())
    verts = np.concatenate([shell, shell + [0.0, 0.0, -0.01]])  # the back 1 cm behind: seams not closed
    faces = np.concatenate([f[front_face], f[~front_face] + len(shell)])
    used_front, used_back = np.unique(f[front_face]), np.unique(f[~front_face])
    shared = np.intersect1d(used_front, used_back)
    sew = np.stack([shared, shared + len(shell)], 1)
    welded = weld_seams(faces, sew)
    assert len(welded) == len(faces)  # no face collapses: each seam pair is two ends of one point
    assert np.unique(welded).size == np.unique(faces).size - len(shared)
    assert weld_seams(np.array([[0, 1, 2], [1, 2, 3]]), np.array([[2, 3]])).tolist() == [[0, 1, 2]]
    sewn = sliced_ease(verts, faces, v, f, j, m, sew=sew)
    g, b = sewn["waist"]
    assert 2 * np.pi * 20.0 - 10.0 < g - b < 2 * np.pi * 20.0 + 40.0  # the whole garment (its back 1 cm off)


def _ring_piece(center, radius, a0, a1, heights, n=48):
    """Vertices and faces of a piece of vertical cylinder from angle a0 to a1 (radians)."""
    ang = np.linspace(a0, a1, n)
    rows = [np.c_[center[0] + radius * np.cos(ang), np.full(n, y), center[2] + radius * np.sin(ang)] for y in heights]
    verts = np.concatenate(rows)
    faces = []
    for r in range(len(heights) - 1):
        for k in range(n - 1):
            p, q = r * n + k, (r + 1) * n + k
            faces += [[p, q, p + 1], [p + 1, q, q + 1]]
    return verts, np.array(faces)


def test_torso_tape_goes_round_every_bodice_piece_and_leaves_sleeves_out(body):
    from garments.fit import region_planes

    v, f, j, m = body
    origin = region_planes(j, m)["bust"][0][0]
    heights = origin[1] + np.array([-0.04, 0.0, 0.04])
    # a bodice cut in two by its armhole openings (one piece 200 degrees round, the other 140),
    # 15 cm round the bust plane's middle, and a "sleeve" ring of 7.5 cm round the same middle
    front = _ring_piece(origin, 0.15, np.radians(-10.0), np.radians(190.0), heights)
    back = _ring_piece(origin, 0.15, np.radians(200.0), np.radians(340.0), heights)
    sleeve = _ring_piece(origin, 0.075, 0.0, 2 * np.pi, heights)
    verts, faces, arm, off = [], [], [], 0
    for (pv, pf), is_arm in ((front, False), (back, False), (sleeve, True)):
        verts.append(pv)
        faces.append(pf + off)
        arm.append(np.full(len(pv), is_arm))
        off += len(pv)
    verts, faces, arm = np.concatenate(verts), np.concatenate(faces), np.concatenate(arm)
    known = sliced_ease(verts, faces, v, f, j, m, arm_vertices=arm)
    assert known["bust"][0] == pytest.approx(2 * np.pi * 150.0, rel=0.02)  # round both bodice pieces
    # without knowing the sleeve, the shortest loop round the middle is the sleeve's
    assert sliced_ease(verts, faces, v, f, j, m)["bust"][0] == pytest.approx(2 * np.pi * 75.0, rel=0.02)
    # and the bodice alone, cut open: its biggest piece and chord is all the loop-based tape sees
    trunk = faces[~arm[faces[:, 0]]]
    from bodies.measure import plane_circumference
    from garments.fit import tape_girth

    n = np.array([0.0, 1.0, 0.0])
    assert plane_circumference(verts, trunk, origin, n, max_radius=0.5) < 0.9 * tape_girth(verts, trunk, origin, n, 0.5)


def test_relax_lengths_momentum_converges_faster():
    rng = np.random.default_rng(5)
    n = 16
    g = np.stack(np.meshgrid(np.arange(float(n)), np.arange(float(n))), -1).reshape(-1, 2) * 0.02
    rest = np.c_[g, np.zeros(len(g))]
    faces = np.array([[i * n + k, i * n + k + 1, i * n + k + n + 1] for i in range(n - 1) for k in range(n - 1)]
                     + [[i * n + k, i * n + k + n + 1, i * n + k + n] for i in range(n - 1) for k in range(n - 1)])
    start = rest * [1.4, 0.8, 1.0] + rng.normal(0, 0.002, rest.shape)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    err = lambda p: np.abs(np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1)  # noqa: E731
                           / np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1) - 1).max()
    plain = relax_lengths(start, faces, rest, iterations=300)
    fast = relax_lengths(start, faces, rest, iterations=300, momentum=0.95)
    assert err(plain) > 0.2  # plain Jacobi steps are still far off after 300 iterations
    assert err(fast) < 0.02


def test_long_sleeves_follow_the_forearm_and_tops_start_near_flat_lengths(body):
    v, f, j, m = body
    cloth = mesh_pattern(grade(library_pattern("button-shirt"), "M"), 0.03)
    pos, sew = place_pattern(cloth, v, f, j, m)
    by = {p.name: p for p in cloth.panels}
    for side in ("l", "r"):
        hem = pos[by[f"sleeve_{side}"].edges["hem"]].mean(0)
        wrist = j[NAMED_JOINTS.index(f"{'left' if side == 'l' else 'right'}_wrist")]
        # the cuff ends round the forearm near the wrist; a straight tube along the upper arm
        # ended 15 cm away from it
        assert np.linalg.norm(hem - wrist) < 0.09
    from garments.fit import strain

    warp, weft = strain(cloth.flat, pos, cloth.faces, cloth.grain[cloth.panel_of])
    assert np.percentile(np.maximum(warp, weft), 98) < 12.0  # % against the flat pattern


def test_library_sleeve_caps_match_their_armholes():
    for name in ("t-shirt", "button-shirt"):
        for size in ("XS", "M", "XXL"):
            pat = grade(library_pattern(name), size)
            cap = sum(pat.panels["sleeve_l"].edge_length(e) for e in ("cap_p", "cap_n"))
            front = next(p for p in pat.panels if p.startswith("front"))
            arm = pat.panels[front].edge_length("armhole_l") + pat.panels["back"].edge_length("armhole_l")
            assert 0.0 <= cap - arm < 3.0, (name, size, cap, arm)  # cm of cap ease


def test_knits_may_be_worn_stretched_and_the_upper_arm_is_on_the_sleeves(body):
    from garments.fit import load_thresholds, region_masks, tight_strain, verdict

    th = load_thresholds()
    # 10 % stretch with plenty of ease: tight in a woven (2 % stretch), not in a 30 % jersey
    assert verdict("bust", 120.0, 10.0, th, fabric_stretch_pct=2.0) == "tight"
    assert verdict("bust", 120.0, 10.0, th, fabric_stretch_pct=30.0) == "relaxed"
    assert verdict("bust", 120.0, 20.0, th, fabric_stretch_pct=30.0) == "tight"
    assert tight_strain("bust", th, 30.0) == pytest.approx(th["stretch_share"] * 30.0)
    assert tight_strain("bust", th) == th["regions"]["bust"]["tight_strain_pct"]
    v, f, j, m = body
    cloth = mesh_pattern(grade(library_pattern("t-shirt"), "M"), 0.03)
    pos, _ = place_pattern(cloth, v, f, j, m)
    arm_panel = np.array([p.placement.region.endswith("arm") for p in cloth.pattern.panels.values()])
    sleeve = arm_panel[cloth.panel_of]
    plain = region_masks(pos, j, m)
    known = region_masks(pos, j, m, arm_vertices=sleeve)
    assert known["upper_arm"].sum() > 20 and not (known["upper_arm"] & ~sleeve).any()
    assert (plain["upper_arm"] & ~sleeve).any()  # by distance alone the bodice under the arm was in it
    assert not (known["bust"] & sleeve).any()
    # a sleeveless garment has no upper-arm region
    assert not region_masks(pos, j, m, arm_vertices=np.zeros(len(pos), bool))["upper_arm"].any()


def test_settle_test_takes_buzz_for_rest_and_drift_for_motion():
    pytest.importorskip("bpy")
    from engine.blender.drape_job import SettleTest

    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 3))
    buzz = lambda k: base + np.where(np.arange(50)[:, None] == 7, [0.0012 * (-1) ** k, 0.0, 0.0], 0.0)  # noqa: E731
    t = SettleTest(base, settle_mm=1.0, settle_frames=3, window=3)
    done = [t.update(buzz(k)) for k in range(1, 9)]
    assert not done[1] and done[-1]  # one vertex jumping 2.4 mm back and forth every frame
    one = SettleTest(base, settle_mm=1.0, settle_frames=3, window=1)
    assert not any(one.update(buzz(k)) for k in range(1, 30))  # the frame-to-frame test never settles
    drift = SettleTest(base, settle_mm=1.0, settle_frames=3, window=3)
    assert not any(drift.update(base + [0.0012 * k, 0.0, 0.0]) for k in range(1, 30))  # 1.2 mm per frame
    assert drift.net_mm == pytest.approx(1.2)
    # ten vertices jumping anywhere in a 5 mm box every frame (an armhole squeezed between arm and
    # torso) rest where they are; the same buzz on top of a 1.2 mm/frame drift still moves
    jump = lambda k: np.where(np.arange(50)[:, None] < 10, rng.uniform(-0.0025, 0.0025, (50, 3)), 0.0)  # noqa: E731
    rest = SettleTest(base, settle_mm=1.0, settle_frames=3, window=4)
    assert any(rest.update(base + jump(k)) for k in range(1, 40))
    moving = SettleTest(base, settle_mm=1.0, settle_frames=3, window=4)
    assert not any(moving.update(base + jump(k) + [0.0012 * k, 0.0, 0.0]) for k in range(1, 40))
    assert 1.0 < moving.net_mm < 2.0
    old = SettleTest(base, settle_mm=1.0, settle_frames=3, window=1)
    assert not any(old.update(base + jump(k)) for k in range(1, 40))


def test_sleeves_start_round_the_arms_of_a_heavy_body(anny_model):
    import torch

    out = anny_model(shape=torch.tensor([[0.5, 0.5, 0.5, 0.9, 0.6, 0.5]], dtype=torch.float32),
                     pose=pose_preset(anny_model, "a-pose"))
    v, f, j = out.vertices[0].numpy(), out.faces.numpy(), out.joints[0].numpy()
    m = measure(v, f, j)
    cloth = mesh_pattern(grade(library_pattern("t-shirt"), "M"), 0.03)
    pos, _ = place_pattern(cloth, v, f, j, m)
    names = [p.name for p in cloth.panels]
    radial = {}
    for side, name in (("left", "sleeve_l"), ("right", "sleeve_r")):
        a, e = j[NAMED_JOINTS.index(f"{side}_shoulder")], j[NAMED_JOINTS.index(f"{side}_elbow")]
        u = (e - a) / np.linalg.norm(e - a)
        rel = pos[cloth.panel_of == names.index(name)] - a
        radial[side] = np.median(np.linalg.norm(rel - np.outer(rel @ u, u), axis=1))
    # both sleeves round their arms, alike: one used to start 14 cm round its arm's axis
    assert max(radial.values()) < 0.09 and abs(radial["left"] - radial["right"]) < 0.01
    from garments.fit import strain

    warp, weft = strain(cloth.flat, pos, cloth.faces, cloth.grain[cloth.panel_of])
    assert np.max(np.maximum(warp, weft)) < 60.0  # %; the tangled sleeve had 600 %


def _slope_slide(tmp_path, fabric: str, degrees: float, friction=None) -> float:
    """How far (m) a 10 cm square of ``fabric`` slides down a board tilted ``degrees`` in 1 s."""
    from engine.blender import run_blender_job
    from garments.fabrics import cloth_settings

    t = np.radians(degrees)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])  # downhill: +z
    board = trimesh.creation.box((0.4, 0.02, 1.0))
    board.apply_translation((0, -0.01, 0))  # top face at y = 0 before the tilt
    g = np.linspace(-0.05, 0.05, 8)
    sq = np.array([[a, 0.007, b] for b in g for a in g])
    faces = np.array([[i * 8 + j, i * 8 + j + 8, i * 8 + j + 1] for i in range(7) for j in range(7)]
                     + [[i * 8 + j + 1, i * 8 + j + 8, i * 8 + j + 9] for i in range(7) for j in range(7)])
    save_npz_mesh(tmp_path / "board.npz", (board.vertices @ rot.T).astype(np.float32), board.faces)
    save_npz_mesh(tmp_path / "square.npz", (sq @ rot.T).astype(np.float32), faces)
    cs, col = cloth_settings(fabric, 0.01 / len(sq))
    fric = col.pop("friction") if friction is None else friction
    col.pop("friction", None)
    spec = DrapeJobSpec(**{**DrapeSettings().job_fields(), "cloth": str(tmp_path / "square.npz"),
                           "out": str(tmp_path / "slid.npz"),
                           "colliders": [{"path": str(tmp_path / "board.npz"), "decimate": 1.0, "thickness_outer": 0.002,
                                          "friction": fric}],
                           "max_frames": 24, "min_frames": 24, "settle_mm": 0.0, "explode_m": 0.5,
                           "cloth_settings": {"quality": 6, **cs}, "collision_settings": {**col, "distance_min": 0.005},
                           "gravity": [0.0, -9.81, 0.0], "garment": "slope"})
    run_blender_job("drape", spec, workdir=tmp_path, timeout=120)
    moved = load_npz_mesh(tmp_path / "slid.npz")["vertices"].mean(0) - (sq @ rot.T).mean(0)
    return float(moved @ (rot @ [0.0, 0.0, 1.0]))


@pytest.mark.blender
def test_fabric_friction_holds_jersey_on_a_gentle_slope(tmp_path):
    # jersey on skin-like friction (preset 0.6) stays on a 15 degree board; frictionless it slides
    # off downhill. The preset's friction went to Blender as 5 + 10 x 0.6 before, which let it slide
    # 1.3 cm in the second, and loose dresses rock on the bust for 200 frames.
    assert abs(_slope_slide(tmp_path / "a", "cotton-jersey", 15.0)) < 0.01
    assert _slope_slide(tmp_path / "b", "cotton-jersey", 15.0, friction=0.0) > 0.05


def test_hands_stay_whole_in_the_collider(body, tmp_path):
    bpy = pytest.importorskip("bpy")
    from engine.blender.drape_job import _add_collider
    from garments.dress import hand_vertices

    v, f, j, _m = body
    hands = hand_vertices(v, j)
    wrists = j[[NAMED_JOINTS.index("left_wrist"), NAMED_JOINTS.index("right_wrist")]]
    assert 1000 < hands.sum() < 0.4 * len(v)
    assert np.linalg.norm(v[hands][:, None] - wrists[None], axis=2).min(1).max() < 0.25
    assert v[hands][:, 1].min() > j[NAMED_JOINTS.index("left_hip"), 1] - 0.2  # nothing from the legs
    save_npz_mesh(tmp_path / "body.npz", v, f, keep=hands.astype(np.float32))
    _add_collider(ColliderSpec(str(tmp_path / "body.npz"), decimate=0.2), "testbody", 0)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    rest = bpy.data.objects["testbody"].evaluated_get(depsgraph).data
    kept = bpy.data.objects["testbody_kept"].evaluated_get(depsgraph).data
    hand_faces = int(np.all(hands[f], axis=1).sum())
    assert len(kept.polygons) == hand_faces  # every hand triangle, undecimated
    assert len(rest.polygons) < 0.3 * (len(f) - hand_faces)  # the rest of the body decimated
    assert "Collision" in [m.type.title() for m in bpy.data.objects["testbody_kept"].modifiers]


def test_turn_up_folds_the_axis_and_keeps_its_length():
    from garments.placement import _turn_up

    t = np.linspace(0.0, -0.5, 501)  # 1 mm steps down a limb, to 50 cm
    tf, extra = _turn_up(t, -0.40, rho=0.01)
    # before the limit nothing moves; past it the points fold back up, outside the limb
    assert np.array_equal(tf[t >= -0.40], t[t >= -0.40]) and not extra[t >= -0.40].any()
    assert tf.min() >= -0.40 - 0.01 - 1e-9
    assert extra[-1] == pytest.approx(0.02) and tf[-1] == pytest.approx(-0.40 + 0.10 - np.pi * 0.01)
    # the folded path (along the axis, off it) is as long, step for step, as the straight one
    steps = np.hypot(np.diff(tf), np.diff(extra))
    assert np.allclose(steps, 0.001, rtol=0.02)


@pytest.mark.parametrize("garment, region", [("button-shirt", "arm"), ("straight-trousers", "leg")])
def test_too_long_sleeves_and_legs_start_turned_up(body, garment, region):
    # the XXL shirt's sleeves reach 4-5 cm past the average body's wrists and the XXL trousers 5 cm
    # below its soles: hanging there they did not settle in 200 frames; turned up they do
    from garments import placement as P

    v, f, j, m = body
    cloth = mesh_pattern(grade(library_pattern(garment), "XXL"), 0.04)
    strain_p98 = lambda p: np.percentile(np.maximum(*strain(cloth.flat, p, cloth.faces, cloth.grain[cloth.panel_of])), 98)  # noqa: E731
    info, free = {}, {}
    pos, _ = place_pattern(cloth, v, f, j, m, info=info)
    long, _ = place_pattern(cloth, v, f, j, m, turn_up=False, info=free)
    limb = np.array([p.placement.region.endswith(region) for p in cloth.pattern.panels.values()])[cloth.panel_of]
    assert set(info["turned_up_cm"]) == {f"left_{region}", f"right_{region}"}
    assert min(info["turned_up_cm"].values()) > 1.0 and free["turned_up_cm"] == {}
    # the flat panel's reach past the limit does not depend on whether it is turned up
    assert free["too_long_cm"] == info["too_long_cm"] == info["turned_up_cm"]
    if region == "arm":
        e, w = j[NAMED_JOINTS.index("left_elbow")], j[NAMED_JOINTS.index("left_wrist")]
        u = (w - e) / np.linalg.norm(w - e)
        left = limb & (pos[:, 0] > 0)
        past = lambda p: 100 * (float(((p[left] - e) @ u).max()) - np.linalg.norm(w - e))  # noqa: E731
        # hanging free, the cuff ends past the point where a turn-up starts (2 + 1 cm past the
        # wrist). How far past (3.6-5.3 cm here) is not a pattern fact: the final heavy-ball relax
        # crumples the free cuff over the hand and amplifies the last bits of numpy's BLAS kernel
        # (OPENBLAS_CORETYPE=Haswell 3.63 cm, SkylakeX 4.21 cm, same packages), so the bound is the limit
        assert past(long) > 100 * (P.SLEEVE_PAST_WRIST + P.TURN_UP_MIN) + 0.3
        # turned up, the cuff ends at the crease of the limit, short of the knuckles. The same
        # relax moves the fold's end too, by CPU rather than by kernel: 3.38 cm here with every
        # kernel, 3.75 cm on CI's CPU; the margin is that spread (0.4 cm) with room (1 cm in all)
        assert past(pos) < 100 * (P.SLEEVE_PAST_WRIST + P.TURN_UP_RADIUS) + 1.0
    else:
        floor = float(v[:, 1].min())
        assert float(long[limb, 1].min()) < floor - 0.02  # below the soles
        assert float(pos[limb, 1].min()) > floor - 0.005
    assert strain_p98(pos) < 8.0  # the fold keeps the cloth's lengths
    # a garment that fits is left as it is
    m_info = {}
    place_pattern(mesh_pattern(grade(library_pattern(garment), "M"), 0.04), v, f, j, m, info=m_info)
    assert m_info["turned_up_cm"] == {}
