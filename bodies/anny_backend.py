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

#: Anny phenotype value -> (years) at the anchors Anny interpolates between, for reports.
ANNY_AGE_ANCHORS = {0.0: 1.0, 0.1875: 11.0, 0.5: 25.0, 1.0: 90.0}


class AnnyBody(BodyModel):
    """Anny behind the :class:`~bodies.model.BodyModel` interface.

    Args:
        dtype: computation dtype inside Anny (float32 is ~2x faster and precise to well under
            0.1 mm at body scale; float64 is Anny's default).
    """

    name = "anny"

    def __init__(self, dtype: torch.dtype = torch.float32):
        super().__init__()
        import anny

        model = anny.Anny()
        model = model.to(dtype)
        self.anny = model
        self.shape_labels = tuple(model.phenotype_labels)
        self.pose_joint_names = tuple(model.bone_labels)
        self.named_joint_map = dict(ANNY_JOINT_MAP)
        self._named_idx = [self.pose_joint_names.index(ANNY_JOINT_MAP[n]) for n in ANNY_JOINT_MAP]
        c = torch.tensor(ZUP_TO_CANONICAL, dtype=dtype)
        self.register_buffer("_to_canonical", c, persistent=False)
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
        return torch.full((batch, self.num_shape), 0.5, dtype=torch.float32, device=self._device())

    def shape_bounds(self):
        n = self.num_shape
        return torch.zeros(n), torch.ones(n)

    def faces_numpy(self) -> np.ndarray:
        return self._faces

    def _run(self, shape: torch.Tensor, r_can: torch.Tensor):
        """Anny forward from (B, S) phenotypes and (B, P, 3, 3) canonical-axes rotations;
        returns canonical (vertices, named joints)."""
        c = self._to_canonical
        batch, p = r_can.shape[:2]
        # A rotation R in canonical axes acts in Anny's axes as C^T R C.
        delta = torch.zeros(batch, p, 4, 4, dtype=c.dtype, device=r_can.device)
        delta[:, :, :3, :3] = c.T @ r_can @ c
        delta[:, :, 3, 3] = 1.0
        out = self.anny(pose_parameters=delta, phenotype_kwargs=shape)
        return out["vertices"] @ c.T, out["bone_poses"][:, self._named_idx, :3, 3] @ c.T

    def _forward_native(self, shape: torch.Tensor, pose: torch.Tensor):
        dtype = self._to_canonical.dtype
        batch, p, _ = pose.shape
        shape = shape.to(dtype)
        r_user = axis_angle_to_matrix(pose.to(dtype).reshape(-1, 3)).reshape(batch, p, 3, 3)
        verts, heads = self._run(shape, r_user @ self._rest_correction)
        # Feet on y = 0 are defined by the unposed (T-pose) body of the same shape.
        rest_verts, _ = self._run(shape, self._rest_correction.expand(batch, -1, -1, -1))
        rest_min_y = rest_verts[..., 1].amin(dim=1)
        return verts.float(), heads.float(), rest_min_y.float()
