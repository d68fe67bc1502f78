"""The body-model interface shared by every backend (Anny by default, SMPL-X from a user folder).

Every backend maps its own parameters to one canonical output:

- ``shape``: (B, S) float32, the backend's own shape parameters (Anny: phenotype values in
  [0, 1] for ``shape_labels``; SMPL-X: betas).
- ``pose``: (B, P, 3) float32 axis-angle rotations in radians, one per entry of
  ``pose_joint_names``, each expressed in canonical world-aligned axes at its joint and carried
  by its parents (SMPL-X's own convention; Anny's ``local-ref``). Index 0 is the root orientation.
- ``translation``: (B, 3) float32 metres, added after the body is placed with its rest-pose feet
  on y = 0.

and returns :class:`BodyOutput` in the canonical frame (metres, +Y up, facing +Z, feet on y = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: Joints every backend provides, in this order, in ``BodyOutput.joints``.
NAMED_JOINTS = (
    "pelvis",
    "spine",
    "neck",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclass
class BodyOutput:
    """Output of :meth:`BodyModel.forward`.

    Attributes:
        vertices: (B, V, 3) float32, metres, canonical frame.
        joints: (B, len(NAMED_JOINTS), 3) float32, metres, canonical frame, in NAMED_JOINTS order.
        faces: (F, 3) int64 triangle indices, shared by the batch.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    faces: torch.Tensor


class BodyModel(torch.nn.Module):
    """Base class of body-model backends. Subclasses set the attributes and implement
    :meth:`_forward_native`; model data lives in buffers so ``.to(device)`` moves it."""

    #: backend name written into twin files ("anny", "smplx").
    name: str = "base"
    #: names of the columns of ``shape``.
    shape_labels: tuple[str, ...] = ()
    #: model joint name for each row of ``pose``; row 0 is the root.
    pose_joint_names: tuple[str, ...] = ()
    #: model joint name for each of NAMED_JOINTS.
    named_joint_map: dict[str, str] = {}

    @property
    def num_shape(self) -> int:
        return len(self.shape_labels)

    @property
    def num_pose(self) -> int:
        return len(self.pose_joint_names)

    def default_shape(self, batch: int = 1) -> torch.Tensor:
        """(B, S) float32 shape parameters of the model's average body."""
        raise NotImplementedError

    def shape_bounds(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(S,), (S,) lower/upper bounds for shape parameters, or None if unbounded."""
        return None

    def zero_pose(self, batch: int = 1) -> torch.Tensor:
        """(B, P, 3) float32 rest pose (all zeros)."""
        return torch.zeros(batch, self.num_pose, 3, dtype=torch.float32, device=self._device())

    def pose_index(self, named_joint: str) -> int:
        """Row of ``pose`` that rotates the model joint standing for a named joint."""
        return self.pose_joint_names.index(self.named_joint_map[named_joint])

    def _device(self) -> torch.device:
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def corner_uvs(self) -> np.ndarray | None:
        """(F, 3, 2) float32 texture coordinates per face corner (a UV atlas, (0, 0) its
        bottom-left), aligned with :meth:`faces_numpy`; None when the model has no atlas (then
        twins get a flat skin tone, no texture)."""
        return None

    def faces_numpy(self) -> np.ndarray:
        """(F, 3) int64 triangle indices."""
        raise NotImplementedError

    def forward(
        self,
        shape: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and shape the body.

        Args:
            shape: (B, S) float32 or None for :meth:`default_shape`.
            pose: (B, P, 3) float32 axis-angle, radians, or None for the rest pose.
            translation: (B, 3) float32 metres, or None for zero.

        Returns:
            BodyOutput with vertices and joints of shape (B, ...) in the canonical frame.
        """
        batch = max(
            x.shape[0] for x in (shape, pose, translation) if x is not None
        ) if any(x is not None for x in (shape, pose, translation)) else 1
        if shape is None:
            shape = self.default_shape(batch)
        if pose is None:
            pose = self.zero_pose(batch)
        if shape.shape[0] != batch:
            shape = shape.expand(batch, -1)
        if pose.shape[0] != batch:
            pose = pose.expand(batch, -1, -1)
        if shape.ndim != 2 or shape.shape[1] != self.num_shape:
            raise ValueError(f"shape must be (B, {self.num_shape}) for {self.name}, got {tuple(shape.shape)}")
        if pose.ndim != 3 or pose.shape[1:] != (self.num_pose, 3):
            raise ValueError(f"pose must be (B, {self.num_pose}, 3) for {self.name}, got {tuple(pose.shape)}")
        vertices, joints, rest_min_y = self._forward_native(shape, pose)
        offset = torch.zeros(batch, 1, 3, dtype=vertices.dtype, device=vertices.device)
        offset[:, 0, 1] = -rest_min_y
        if translation is not None:
            offset = offset + translation.reshape(-1, 1, 3).to(vertices.dtype)
        return BodyOutput(vertices + offset, joints + offset, torch.as_tensor(self.faces_numpy()))

    def _forward_native(self, shape: torch.Tensor, pose: torch.Tensor):
        """Return (vertices (B,V,3), named joints (B,J,3), rest_min_y (B,)) in the canonical
        frame before placement; ``rest_min_y`` is the lowest y of the unposed body."""
        raise NotImplementedError
