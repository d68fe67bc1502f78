"""Anny body model backend (default; Apache-2.0, ships its data; MakeHuman topology).

Anny works Z-up facing -Y in float64; this backend feeds it float32-facing canonical tensors and
returns canonical-frame output (see :mod:`bodies.model`). Shape parameters are Anny's phenotype
values in [0, 1]: gender, age, muscle, weight, height, proportions.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.frames import ZUP_TO_CANONICAL

from .model import BodyModel


#: local changes of ``bodies.create("anny-detailed")``: MakeHuman's tape-measure modifiers for the
#: torso circumferences that :func:`bodies.phenotype.body_from_measurements` matches.
DETAILED_LOCAL_CHANGES = (
    "measure-bust-circ-incr",
    "measure-underbust-circ-incr",
    "measure-waist-circ-incr",
    "measure-hips-circ-incr",
)


def _short(label: str) -> str:
    """Shape label for a local change: its name without the ``-incr`` direction suffix."""
    return label[:-5] if label.endswith("-incr") else label


def skinning_blend(template, blendshapes, coeffs):
    """Anny's linear blendshape (template + coefficients x blendshapes)."""
    from anny.skinning.skinning import apply_linear_blendshape

    return apply_linear_blendshape(template, blendshapes, coeffs)
from .rotations import axis_angle_to_matrix

ANNY_JOINT_MAP = {
    "pelvis": "root",
    "spine": "spine03",
    "neck": "neck01",
    "head": "head",
    "left_shoulder": "upperarm01.L",
    "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L",
    "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L",
    "right_wrist": "wrist.R",
    "left_hip": "upperleg01.L",
    "right_hip": "upperleg01.R",
    "left_knee": "lowerleg01.L",
    "right_knee": "lowerleg01.R",
    "left_ankle": "foot.L",
    "right_ankle": "foot.R",
}



def _build_skinning_kernel_once() -> None:
    """Anny's Warp skinning (anny 0.6.2) builds its kernel object anew in every forward
    (``anny.skinning.warp_skinning.get_kernel``; Warp then finds the compiled code by hash): keep
    the kernel per argument set instead, once per process. Measured (2 shared cores, one thread):
    a forward with the shape held took 3.4 ms of CPU against 4.8 ms."""
    import functools

    try:
        import anny.skinning.warp_skinning as ws
    except ImportError:  # no Warp: anny skins with torch
        return
    if not hasattr(ws.get_kernel, "cache_info"):
        ws.get_kernel = functools.lru_cache(maxsize=16)(ws.get_kernel)


class AnnyBody(BodyModel):
    """Anny behind the :class:`~bodies.model.BodyModel` interface.

    Args:
        dtype: computation dtype inside Anny (float32 is ~2x faster and precise to well under
            0.1 mm at body scale; float64 is Anny's default).
        local_changes: extra shape dimensions, opt-in: names of Anny's local-change blendshapes
            (MakeHuman modifiers such as ``measure-waist-circ-incr``) appended after the six
            phenotype values, each in [-1, 1] (0 = no change). The default model has none (its
            shape vector stays gender, age, muscle, weight, height, proportions); see
            :data:`DETAILED_LOCAL_CHANGES` and ``bodies.create("anny-detailed")``.
        name: the model name written into twin files.
    """

    name = "anny"

    def __init__(self, dtype: torch.dtype = torch.float32, local_changes: tuple[str, ...] = (), name: str | None = None):
        super().__init__()
        import anny

        model = anny.Anny(local_changes=list(local_changes)) if local_changes else anny.Anny()
        _build_skinning_kernel_once()
        model = model.to(dtype)
        self.anny = model
        if name:
            self.name = name
        self.phenotype_labels = tuple(model.phenotype_labels)
        self.local_change_labels = tuple(model.local_change_labels) if local_changes else ()
        self.shape_labels = self.phenotype_labels + tuple(_short(x) for x in self.local_change_labels)
        self.pose_joint_names = tuple(model.bone_labels)
        self.named_joint_map = dict(ANNY_JOINT_MAP)
        self._named_idx = [self.pose_joint_names.index(ANNY_JOINT_MAP[n]) for n in ANNY_JOINT_MAP]
        c = torch.tensor(ZUP_TO_CANONICAL, dtype=dtype)
        self.register_buffer("_to_canonical", c, persistent=False)
        self._cache = None  # (shape, rest model) of the last shape seen without gradient
        self._faces = model.get_triangular_faces().cpu().numpy().astype(np.int64)
        # Anny rests with its arms lowered ~48 degrees; the interface's zero pose is a T-pose on
        # every backend, so a fixed correction lifts each upper arm to horizontal.
        self.register_buffer("_rest_correction", self._t_pose_correction(), persistent=False)

    def _t_pose_correction(self) -> torch.Tensor:
        """(P, 3, 3) canonical-axes rotations applied under the user's pose (identity except the
        upper arms, which are turned about the forward axis to lie along +-X)."""
        dtype = self._to_canonical.dtype
        p = self.num_pose
        eye = torch.eye(3, dtype=dtype).repeat(p, 1, 1)
        with torch.no_grad():
            _, heads = self._run(self.default_shape().to(dtype), eye[None])[:2]
        names = list(self.named_joint_map)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            s = heads[0, names.index(f"{side}_shoulder")]
            e = heads[0, names.index(f"{side}_elbow")]
            d = e - s
            # angle of the arm below horizontal, in the frontal (x, y) plane
            angle = torch.atan2(-d[1], sign * d[0])
            aa = torch.tensor([0.0, 0.0, sign * float(angle)], dtype=dtype)
            eye[self.pose_index(f"{side}_shoulder")] = axis_angle_to_matrix(aa[None])[0]
        return eye

    def default_shape(self, batch: int = 1) -> torch.Tensor:
        shape = torch.full((batch, self.num_shape), 0.5, dtype=torch.float32, device=self._device())
        shape[:, len(self.phenotype_labels):] = 0.0
        return shape

    def shape_bounds(self):
        n, k = self.num_shape, len(self.phenotype_labels)
        lo = torch.zeros(n)
        lo[k:] = -1.0
        return lo, torch.ones(n)

    def faces_numpy(self) -> np.ndarray:
        return self._faces

    def corner_uvs(self) -> np.ndarray | None:
        """(F, 3, 2) float32: Anny's own UV atlas (``texture_coordinates`` indexed by
        ``face_texture_coordinate_indices``), aligned with :meth:`faces_numpy` (Anny's faces are
        triangles already, in the same order)."""
        uv = getattr(self.anny, "texture_coordinates", None)
        idx = getattr(self.anny, "face_texture_coordinate_indices", None)
        if uv is None or idx is None or len(idx) != len(self._faces):
            return None
        return uv.detach().cpu().numpy().astype(np.float32)[idx.detach().cpu().numpy().astype(np.int64)]

    def _rest_model(self, shape: torch.Tensor) -> dict:
        """Anny's unposed model for (B, S) phenotypes: blendshape coefficients, rest vertices and
        rest bone poses. When ``shape`` needs no gradient and equals the last one asked for, the
        last answer is reused (a fit with its shape frozen, repeated forwards of one body)."""
        cache = self._cache
        frozen = not shape.requires_grad
        if frozen and shape.shape[0] > 1 and shape.stride(0) == 0:
            # one body expanded over a batch of poses: one rest model, skinned for every pose
            return self._rest_model(shape[:1])
        if frozen and cache is not None and cache[0].shape == shape.shape and cache[0].dtype == shape.dtype \
                and cache[0].device == shape.device and torch.equal(cache[0], shape):
            return cache[1]
        anny_model = self.anny
        k = len(self.phenotype_labels)
        local_in = shape[:, k:] if self.local_change_labels else None
        _, phen, local, face = anny_model.get_tensor_inputs(None, shape[:, :k], local_in, None)
        coeffs = anny_model._get_phenotype_blendshape_coefficients(phen, local, face)
        if frozen or getattr(anny_model, "bone_orientation", None) != "cached":
            rest = anny_model.get_rest_model(coeffs)
        else:
            # The bones' rest orientations (an eigen-solve per bone) are taken without gradient:
            # they move little with the phenotype, and their backward pass was most of the cost of
            # a shape step. Values are exact; the vertices and bone heads keep their gradient.
            with torch.no_grad():
                poses = anny_model.get_rest_model(coeffs.detach())["rest_bone_poses"]
            heads = skinning_blend(anny_model.template_bone_heads, anny_model.bone_heads_blendshapes, coeffs)
            top = torch.cat([poses[..., :3, :3], heads[..., None]], dim=-1)
            rest = {
                "rest_vertices": anny_model.get_rest_vertices(coeffs),
                "rest_bone_heads": heads,
                "rest_bone_poses": torch.cat([top, poses[..., 3:, :].expand(top.shape[0], -1, -1, -1)], dim=-2),
            }
        if frozen:
            rest = {k: v.detach() for k, v in rest.items()}
            self._cache = (shape.detach().clone(), rest)
        return rest

    def _skin(self, rest: dict, r_can: torch.Tensor):
        """Posed canonical (vertices (B, V, 3), named joints (B, J, 3)) from a rest model and
        (B, P, 3, 3) canonical-axes rotations (Anny's ``local-ref`` deltas)."""
        c = self._to_canonical
        batch, p = r_can.shape[:2]
        # A rotation R in canonical axes acts in Anny's axes as C^T R C.
        delta = torch.zeros(batch, p, 4, 4, dtype=c.dtype, device=r_can.device)
        delta[:, :, :3, :3] = c.T @ r_can @ c
        delta[:, :, 3, 3] = 1.0
        rest_poses, rest_v = rest["rest_bone_poses"], rest["rest_vertices"]
        if rest_poses.shape[0] != batch:  # one body for every pose, or the batch repeated
            reps = batch // rest_poses.shape[0]
            rest_poses = rest_poses.repeat(reps, 1, 1, 1)
            rest_v = rest_v.repeat(reps, 1, 1)
        transforms, bone_poses = self.anny.get_bone_transforms(delta, rest_poses)
        verts = self.anny.get_skinned_vertices(bone_transforms=transforms, rest_vertices=rest_v)
        return verts @ c.T, bone_poses[:, self._named_idx, :3, 3] @ c.T

    def _run(self, shape: torch.Tensor, r_can: torch.Tensor):
        """Anny forward from (B, S) phenotypes and (B, P, 3, 3) canonical-axes rotations;
        returns canonical (vertices, named joints)."""
        return self._skin(self._rest_model(shape), r_can)

    def _forward_native(self, shape: torch.Tensor, pose: torch.Tensor):
        dtype = self._to_canonical.dtype
        batch, p, _ = pose.shape
        shape = shape.to(dtype)
        r_user = axis_angle_to_matrix(pose.to(dtype).reshape(-1, 3)).reshape(batch, p, 3, 3)
        rest = self._rest_model(shape)
        if "min_y" in rest:  # cached shape: its T-pose floor is known
            verts, heads = self._skin(rest, r_user @ self._rest_correction)
            return verts.float(), heads.float(), rest["min_y"].float()
        # Feet on y = 0 are defined by the unposed (T-pose) body of the same shape: skin it in the
        # same call (one rest model for both), keeping the floor offset's gradient.
        tpose = self._rest_correction.expand(batch, -1, -1, -1)
        verts2, heads2 = self._skin(rest, torch.cat([r_user @ self._rest_correction, tpose]))
        rest_min_y = verts2[batch:, :, 1].amin(dim=1)
        if not shape.requires_grad and self._cache is not None and self._cache[1] is rest:
            rest["min_y"] = rest_min_y.detach()[: rest["rest_vertices"].shape[0]]
        return verts2[:batch].float(), heads2[:batch].float(), rest_min_y.float()
