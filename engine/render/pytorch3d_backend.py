"""PyTorch3D renderer: every view of a shot list rasterised in one batched call (CUDA when present).

PyTorch3D is an optional extra, not on the package registry: it is imported lazily, and a missing
install raises :class:`engine.errors.MissingDependencyError` pointing to README ("Optional:
PyTorch3D"). Its CPU rasteriser is brute force (35 s a view at 512 px for a 20k-face mesh,
measured), so ``backend="auto"`` picks it only on CUDA.

Camera conversion. Our :class:`~engine.render.camera.Camera` follows OpenGL in its own frame
(x right, y up, looking down -z). PyTorch3D's view frame has +X left, +Y up, +Z into the screen,
and maps world row vectors with ``X_view = X_world @ R + T``. With ``V`` our world-to-camera
rotation and ``t`` its translation and ``F = diag(-1, 1, -1)`` (OpenGL -> PyTorch3D view):
``R = (F V)^T = V^T F`` and ``T = F t``. PyTorch3D's NDC spans [-1, 1] on the image's *shorter*
side (the longer one extends past 1), so the camera is built with ``aspect_ratio = 1`` and the
field of view of the shorter side: ``yfov`` when ``width >= height``, the horizontal one otherwise.
Pixel (0, 0) is the top-left, as ours.

Shading is done here from the rasteriser's fragments (the "shader" part): interpolated vertex
normals, the mesh colour times its texture (sampled with repeat, sRGB decoded as pyrender does),
Lambert lighting from the same directional lights plus ambient, and a 1/2.2 gamma; depth is the
view-space z of the fragments, ids come from the face each pixel sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import MissingDependencyError
from .camera import Camera
from .outputs import RenderedView, check_outputs
from .scene import AMBIENT, TRANSPARENT_WHITE, Light, RenderMesh, studio_lights

#: OpenGL camera frame -> PyTorch3D view frame.
GL_TO_P3D = np.diag([-1.0, 1.0, -1.0])

_HINT = (
    "PyTorch3D is an optional extra that is not on the package registry: build it from source into "
    "the virtualenv as README.md ('Optional: PyTorch3D') describes, or use --backend pyrender"
)


def pytorch3d_available() -> bool:
    """True when ``import pytorch3d`` works (imports it)."""
    try:
        _import_pytorch3d()
    except MissingDependencyError:
        return False
    return True


def _import_pytorch3d():
    try:
        import pytorch3d  # noqa: F401
        from pytorch3d.renderer import FoVPerspectiveCameras, MeshRasterizer, RasterizationSettings
        from pytorch3d.structures import Meshes
    except Exception as exc:  # ImportError, or a build that does not match this torch
        raise MissingDependencyError(f"the PyTorch3D renderer needs the optional 'pytorch3d' extra: {exc}", hint=_HINT) from exc
    return FoVPerspectiveCameras, MeshRasterizer, RasterizationSettings, Meshes


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def camera_to_pytorch3d(camera: Camera) -> tuple[np.ndarray, np.ndarray, float]:
    """PyTorch3D parameters of a camera.

    Returns:
        R (3, 3) float64, T (3,) float64 (``X_view = X_world @ R + T``) and the field of view,
        radians, of the image's shorter side (to pass with ``aspect_ratio = 1``).
    """
    v = camera.view_matrix()
    r = v[:3, :3].T @ GL_TO_P3D
    t = GL_TO_P3D @ v[:3, 3]
    fov = camera.yfov if camera.width >= camera.height else camera.xfov
    return r, t, fov


def project_pytorch3d_math(camera: Camera, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates of points through the PyTorch3D camera parameters, computed here in numpy
    (the conventions of the module doc: view frame, shorter-side NDC, top-left origin).

    Args:
        points: (N, 3) metres, canonical frame.

    Returns:
        (N, 2) float64 pixels (x right, y down, origin at the top-left corner).
    """
    r, t, fov = camera_to_pytorch3d(camera)
    view = np.asarray(points, dtype=np.float64).reshape(-1, 3) @ r + t
    s = 1.0 / math.tan(fov / 2.0)
    ndc = s * view[:, :2] / view[:, 2:3]  # +x left, +y up; the shorter side spans [-1, 1]
    short = min(camera.width, camera.height)
    half = short / 2.0
    x = camera.width / 2.0 - ndc[:, 0] * half
    y = camera.height / 2.0 - ndc[:, 1] * half
    return np.c_[x, y]


def project_points_pytorch3d(cameras: Sequence[Camera], points: np.ndarray) -> np.ndarray:
    """(len(cameras), N, 2) pixel coordinates from PyTorch3D's own ``transform_points_screen``.

    Raises:
        MissingDependencyError: PyTorch3D is not installed.
    """
    import torch

    FoVPerspectiveCameras, *_ = _import_pytorch3d()
    out = []
    pts = torch.as_tensor(np.asarray(points, dtype=np.float32).reshape(1, -1, 3))
    for cam in cameras:
        r, t, fov = camera_to_pytorch3d(cam)
        pc = FoVPerspectiveCameras(
            znear=cam.znear, zfar=cam.zfar, aspect_ratio=1.0, fov=math.degrees(fov),
            R=torch.as_tensor(r, dtype=torch.float32)[None], T=torch.as_tensor(t, dtype=torch.float32)[None],
        )
        xy = pc.transform_points_screen(pts, image_size=((cam.height, cam.width),))[0, :, :2]
        out.append(xy.cpu().numpy().astype(np.float64))
    return np.stack(out)


@dataclass
class _Packed:
    """All meshes of a scene in one vertex/face list (torch tensors on the render device).

    vertices (V, 3), faces (F, 3), normals (V, 3), uv (V, 2), mesh_of_face (F,) long,
    colors (M, 4) linear, textures: list of (1, 4, h, w) linear tensors or None per mesh.
    """

    vertices: object
    faces: object
    normals: object
    uv: object
    mesh_of_face: object
    colors: object
    textures: list


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def pack_meshes(meshes: Sequence[RenderMesh], device="cpu") -> _Packed:
    """One vertex/face list for all meshes (flat-shaded meshes and meshes with per-corner UVs get one vertex per face corner)."""
    import torch

    verts, faces, normals, uvs, owner = [], [], [], [], []
    textures = []
    offset = 0
    for i, m in enumerate(meshes):
        if m.smooth and not m.corner_uvs:
            v, f, n = m.vertices, m.faces, m.vertex_normals()
            uv = m.uv if m.uv is not None else np.zeros((len(v), 2), np.float32)
        else:  # flat, or UVs per face corner: one vertex per corner
            u = m.unwelded()
            v, f, n = u["positions"], u["faces"], u["normals"]
            uv = u["uv"] if u["uv"] is not None else np.zeros((len(v), 2), np.float32)
        verts.append(v)
        faces.append(f + offset)
        normals.append(n)
        uvs.append(uv)
        owner.append(np.full(len(f), i))
        offset += len(v)
        img = m.texture_image()
        if img is None:
            textures.append(None)
        else:
            lin = _srgb_to_linear(img[..., :3].astype(np.float32) / 255.0)
            tex = np.concatenate([lin, img[..., 3:4].astype(np.float32) / 255.0], axis=-1)
            textures.append(torch.as_tensor(tex, device=device).permute(2, 0, 1)[None].contiguous())

    def t(x, dtype):
        return torch.as_tensor(np.concatenate(x), dtype=dtype, device=device)

    return _Packed(
        vertices=t(verts, torch.float32), faces=t(faces, torch.int64), normals=t(normals, torch.float32),
        uv=t(uvs, torch.float32), mesh_of_face=t(owner, torch.int64),
        colors=torch.as_tensor(np.array([m.color for m in meshes], np.float32), device=device), textures=textures,
    )


def shade_fragments(
    packed: _Packed,
    face: "torch.Tensor",
    bary: "torch.Tensor",
    zbuf: "torch.Tensor",
    view_rotations: "torch.Tensor",
    lights: Sequence[Light],
    ambient=AMBIENT,
):
    """Shade rasterised fragments (the shader half of the renderer; pure torch).

    Args:
        packed: :func:`pack_meshes` output.
        face: (N, H, W) long face index into ``packed.faces``; -1 where nothing was hit.
        bary: (N, H, W, 3) barycentric coordinates of the hit.
        zbuf: (N, H, W) view-space depth, metres.
        view_rotations: (N, 3, 3) world-to-camera rotations (OpenGL camera frame).
        lights: directional lights (canonical frame); ambient: RGB.

    Returns:
        rgba (N, H, W, 4) float in [0, 1] (gamma-encoded colour, alpha = hit), depth (N, H, W),
        normals (N, H, W, 3) camera frame facing the viewer, ids (N, H, W) long (0 background).
    """
    import torch

    hit = face >= 0
    f = face.clamp(min=0)
    corners = packed.faces[f]  # (N, H, W, 3)
    b = bary.unsqueeze(-1)
    n = (packed.normals[corners] * b).sum(-2)
    n = torch.nn.functional.normalize(n, dim=-1)
    uv = (packed.uv[corners] * b).sum(-2)
    owner = packed.mesh_of_face[f]
    base = packed.colors[owner]  # (N, H, W, 4)
    for i, tex in enumerate(packed.textures):
        if tex is None:
            continue
        sel = hit & (owner == i)
        if not bool(sel.any()):
            continue
        st = uv[sel] - torch.floor(uv[sel])  # repeat
        grid = torch.stack([st[:, 0] * 2 - 1, 1 - st[:, 1] * 2], dim=-1).view(1, -1, 1, 2)
        sample = torch.nn.functional.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=False)
        base[sel] = base[sel] * sample[0, :, :, 0].T
    # Face the viewer (two-sided cloth): flip normals pointing away from the camera.
    n_cam = torch.einsum("nij,nhwj->nhwi", view_rotations, n)
    flip = (n_cam[..., 2:3] < 0).to(n.dtype) * -2 + 1
    n_cam = n_cam * flip
    n_world = n * flip
    light = torch.as_tensor(ambient, dtype=n.dtype, device=n.device).expand(*n.shape[:-1], 3).clone()
    for lt in lights:
        to_light = -torch.as_tensor(lt.direction, dtype=n.dtype, device=n.device)
        lam = (n_world @ to_light).clamp(min=0).unsqueeze(-1)
        light = light + lam * float(lt.intensity) / math.pi * torch.as_tensor(lt.color, dtype=n.dtype, device=n.device)
    rgb = (base[..., :3] * light).clamp(0, 1) ** (1 / 2.2)
    alpha = hit.to(rgb.dtype).unsqueeze(-1)
    rgba = torch.cat([rgb * alpha, alpha], dim=-1)
    depth = torch.where(hit, zbuf, torch.zeros_like(zbuf))
    n_cam = n_cam * alpha
    ids = torch.where(hit, owner + 1, torch.zeros_like(owner))
    return rgba, depth, n_cam, ids


def render_pytorch3d_arrays(
    meshes: Sequence[RenderMesh],
    cameras: Sequence[Camera],
    lights: Sequence[Light] | None = None,
    background=TRANSPARENT_WHITE,
    ambient=AMBIENT,
    outputs: Sequence[str] | None = None,
    device: str | None = None,
    supersample: int = 1,
) -> list[RenderedView]:
    """Render all cameras with PyTorch3D, one batched rasterisation per image size.

    Args:
        meshes, cameras, lights, background, ambient, outputs: as :func:`render_pyrender_arrays`.
        device: torch device; default CUDA when available, else CPU (slow: keep images small).
        supersample: render at this many times the size and average down (antialiased colour
            and coverage); depth, normals and ids take one sample per pixel.

    Returns:
        One :class:`RenderedView` per camera, in order.

    Raises:
        MissingDependencyError: PyTorch3D is not installed.
    """
    import torch

    FoVPerspectiveCameras, MeshRasterizer, RasterizationSettings, Meshes = _import_pytorch3d()
    wanted = set(check_outputs(outputs))
    if not cameras:
        return []
    device = device or default_device()
    lights = studio_lights() if lights is None else list(lights)
    packed = pack_meshes(meshes, device)
    labels = tuple(m.name for m in meshes)
    s = max(1, int(supersample))
    results: list[RenderedView | None] = [None] * len(cameras)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, cam in enumerate(cameras):
        by_size.setdefault((cam.width, cam.height), []).append(i)
    for (w, h), idx in by_size.items():
        params = [camera_to_pytorch3d(cameras[i]) for i in idx]
        R = torch.as_tensor(np.stack([p[0] for p in params]), dtype=torch.float32, device=device)
        T = torch.as_tensor(np.stack([p[1] for p in params]), dtype=torch.float32, device=device)
        fov = torch.as_tensor([math.degrees(p[2]) for p in params], dtype=torch.float32, device=device)
        znear = torch.as_tensor([cameras[i].znear for i in idx], dtype=torch.float32, device=device)
        zfar = torch.as_tensor([cameras[i].zfar for i in idx], dtype=torch.float32, device=device)
        p3d_cams = FoVPerspectiveCameras(znear=znear, zfar=zfar, aspect_ratio=1.0, fov=fov, R=R, T=T, device=device)
        settings = RasterizationSettings(
            image_size=(h * s, w * s), blur_radius=0.0, faces_per_pixel=1, cull_backfaces=False,
            bin_size=0 if str(device).startswith("cpu") else None,
        )
        mesh = Meshes(verts=[packed.vertices], faces=[packed.faces]).extend(len(idx))
        with torch.no_grad():
            frags = MeshRasterizer(cameras=p3d_cams, raster_settings=settings)(mesh)
            nf = packed.faces.shape[0]
            p2f = frags.pix_to_face[..., 0]
            face = torch.where(p2f >= 0, p2f % nf, torch.full_like(p2f, -1))
            view_r = torch.as_tensor(np.stack([cameras[i].view_matrix()[:3, :3] for i in idx]), dtype=torch.float32, device=device)
            rgba, depth, normals, ids = shade_fragments(packed, face, frags.bary_coords[..., 0, :], frags.zbuf[..., 0], view_r, lights, ambient)
            if s > 1:
                rgba = torch.nn.functional.avg_pool2d(rgba.permute(0, 3, 1, 2), s).permute(0, 2, 3, 1)
                c = s // 2
                depth, normals, ids = depth[:, c::s, c::s], normals[:, c::s, c::s], ids[:, c::s, c::s]
        rgba = rgba.cpu().numpy()
        depth, normals, ids = depth.cpu().numpy(), normals.cpu().numpy(), ids.cpu().numpy()
        bg = np.asarray(background, np.float32)
        for k, i in enumerate(idx):
            a = rgba[k, ..., 3:4]
            rgb = np.where(a > 0, rgba[k, ..., :3] / np.maximum(a, 1e-6), 0.0)  # straight alpha
            out_a = a + bg[3] * (1 - a)
            out_rgb = np.where(out_a > 0, (rgb * a + bg[:3] * bg[3] * (1 - a)) / np.maximum(out_a, 1e-6), 0.0)
            color = np.clip(np.concatenate([out_rgb, out_a], -1) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            results[i] = RenderedView(
                cameras[i], color,
                depth=depth[k].astype(np.float32) if "depth" in wanted else None,
                normals=normals[k].astype(np.float32) if "normals" in wanted else None,
                ids=ids[k].astype(np.uint8) if "mask" in wanted else None,
                labels=labels,
            )
    return results  # type: ignore[return-value]
