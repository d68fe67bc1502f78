"""Typed, versioned specs of the Blender jobs, shared by the callers and the worker (no bpy).

A caller builds a :class:`DrapeJobSpec` and hands it to :func:`engine.blender.run_blender_job`,
which writes ``spec.to_dict()`` as JSON; the worker's job module reads it back with
:meth:`DrapeJobSpec.from_dict`, which refuses a spec of another version, unknown keys and missing
ones, so the two sides cannot drift apart. The simulation's settings (frame cap, settle test,
explosion limit, gravity) have no defaults here: they come from one place,
:class:`garments.drape.DrapeSettings` (``job_fields()``), or from the caller that sets them all
(the Cusick drape test). Only the optional phases (sewing, gravity ramp, posing) and the
collider's contact values default, here and nowhere else.

Paths are absolute; meshes are canonical-frame ``.npz`` files (metres, +Y up) with ``vertices``
(V, 3) float32 and ``faces`` (F, 3) int64; see :mod:`engine.blender.drape_job` for what each
field does in Blender.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

from ..errors import InputError

#: the drape spec's version; a worker reading another version refuses the job
DRAPE_SPEC_VERSION = 1


class SpecError(InputError):
    """A job spec the worker cannot use (another version, unknown or missing keys)."""


def _check_keys(cls, data: dict, what: str) -> None:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(f"{what}: unknown keys {', '.join(unknown)}",
                        hint=f"a {cls.__name__} takes: {', '.join(sorted(names))}")
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in data]
    if missing:
        raise SpecError(f"{what}: missing keys {', '.join(missing)}")


@dataclass(frozen=True)
class ColliderSpec:
    """One collision mesh of a drape.

    Attributes:
        path: its ``.npz`` (a ``keep`` (V,) array marks vertices the decimation spares).
        decimate: Blender Decimate ratio before the Collision modifier (1: full mesh).
        target: an ``.npz`` of the same vertex count the collider moves to over ``pose_frames``
            (draping into a pose), or None.
        thickness_outer, thickness_inner: Blender collision thicknesses, metres.
        friction: Blender collision friction (see :func:`garments.fabrics.cloth_settings`).
    """

    path: str
    decimate: float = 1.0
    target: str | None = None
    thickness_outer: float = 0.003
    thickness_inner: float = 0.01
    friction: float = 5.0

    @classmethod
    def from_dict(cls, data: dict) -> "ColliderSpec":
        _check_keys(cls, data, "drape collider")
        return cls(**data)


@dataclass(frozen=True)
class DrapeJobSpec:
    """The ``drape`` job: one cloth mesh simulated over colliders until it settles.

    Attributes:
        cloth: the cloth ``.npz`` (optional arrays ``pin``, ``rest``, ``sew``, ``shrink``,
            ``pin_target``: see :mod:`engine.blender.drape_job`).
        out: the ``.npz`` the draped ``vertices`` and ``faces`` are written to.
        colliders: :class:`ColliderSpec` (the body first, then draped lower layers).
        max_frames: frame cap; min_frames: frames always simulated before the settle test.
        settle_mm, settle_frames, settle_window: the settle test (see
            :class:`garments.drape.DrapeSettings`).
        explode_m: a per-frame vertex move beyond this (metres) is an explosion.
        gravity: (3,) canonical-frame gravity, m/s^2.
        settle_air_damping: air damping reached after the quiet phase when higher than the cloth's.
        cloth_settings, collision_settings: Blender ClothSettings / ClothCollisionSettings overrides.
        garment: a name for logs.
        gravity_off_frames, gravity_ramp_frames: gravity off, then fading in, over these frames.
        sew_frames: frames the settle test waits while seams close.
        pose_frames: frames over which colliders (and pinned vertices) move to their targets.
        snapshot_every: when > 0, also write the cloth every that many frames.
        version: :data:`DRAPE_SPEC_VERSION`.
    """

    cloth: str
    out: str
    colliders: tuple
    max_frames: int
    min_frames: int
    settle_mm: float
    settle_frames: int
    settle_window: int
    explode_m: float
    gravity: tuple
    settle_air_damping: float = 0.0
    cloth_settings: dict = field(default_factory=dict)
    collision_settings: dict = field(default_factory=dict)
    garment: str = "cloth"
    gravity_off_frames: int = 0
    gravity_ramp_frames: int = 0
    sew_frames: int = 0
    pose_frames: int = 0
    snapshot_every: int = 0
    version: int = DRAPE_SPEC_VERSION

    def __post_init__(self):
        cols = tuple(c if isinstance(c, ColliderSpec) else ColliderSpec.from_dict(dict(c)) for c in self.colliders)
        if not cols:
            raise SpecError("a drape job needs at least one collider (the body)")
        object.__setattr__(self, "colliders", cols)
        object.__setattr__(self, "gravity", tuple(float(x) for x in self.gravity))
        if len(self.gravity) != 3:
            raise SpecError(f"gravity must be 3 numbers (m/s^2), got {self.gravity}")
        if self.version != DRAPE_SPEC_VERSION:
            raise SpecError(f"drape job spec version {self.version}, this worker reads version {DRAPE_SPEC_VERSION}",
                            hint="run the caller and the worker from the same Atelier checkout")
        if int(self.max_frames) < 1:
            raise SpecError(f"max_frames must be at least 1, got {self.max_frames}")

    def to_dict(self) -> dict:
        """The JSON form the worker reads (:meth:`from_dict`)."""
        d = asdict(self)
        d["colliders"] = [asdict(c) for c in self.colliders]
        d["gravity"] = list(self.gravity)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "DrapeJobSpec":
        """A spec from its JSON form; SpecError on another version or unknown / missing keys."""
        data = dict(data)
        if data.get("version", None) != DRAPE_SPEC_VERSION:
            raise SpecError(f"drape job spec version {data.get('version')!r}, this worker reads version "
                            f"{DRAPE_SPEC_VERSION}", hint="build the spec with engine.blender.specs.DrapeJobSpec")
        _check_keys(cls, data, "drape job spec")
        return cls(**data)


__all__ = ["ColliderSpec", "DrapeJobSpec", "DRAPE_SPEC_VERSION", "SpecError"]
