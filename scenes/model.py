"""The scene and campaign model: what artists write in TOML/YAML files or build in Python.

Every model is a pydantic v2 model with ``extra="forbid"`` (a misspelt key is an error naming the
key) and a docstring per field, so ``atelier schema scene`` / ``atelier schema campaign`` print a
JSON Schema that editors use to autocomplete and validate.

Units and frames follow the rest of Atelier: lengths in metres, angles in degrees where people
write them (converted to radians at the camera), the canonical frame (+Y up, the body faces +Z,
feet on y = 0). Colours are ``"#rrggbb"`` / ``"#rrggbbaa"`` strings or 3-4 floats in [0, 1]
(linear RGB(A)); :func:`rgba` turns either into a 4-tuple.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _check_colour(value):
    if isinstance(value, str):
        if not _HEX.match(value):
            raise ValueError(f"colour {value!r} must be '#rrggbb' or '#rrggbbaa'")
        return value
    vals = [float(x) for x in value]
    if len(vals) not in (3, 4) or not all(0.0 <= x <= 1.0 for x in vals):
        raise ValueError(f"colour {value!r} must be 3 or 4 numbers in [0, 1]")
    return vals


#: ``"#rrggbb"``, ``"#rrggbbaa"`` or ``[r, g, b]`` / ``[r, g, b, a]`` floats in [0, 1].
Colour = Annotated[Union[str, list[float]], AfterValidator(_check_colour)]
#: A short identifier used in file names and rules: letters, digits, ``_ . -``.
Name = Annotated[str, Field(pattern=_NAME)]


def rgba(colour) -> tuple[float, float, float, float]:
    """A :data:`Colour` -> (r, g, b, a) floats in [0, 1] (hex is read as given, no gamma); see
    :func:`engine.render.scene.rgba`."""
    from engine.render.scene import rgba as _to_rgba

    return _to_rgba(colour)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


# --- bodies ------------------------------------------------------------------------------------
class TwinSpec(_Model):
    """A body to dress: a twin folder written by ``atelier fit``, or a synthetic body given by its
    shape parameters (no scan, no real person)."""

    name: Name
    """Identifier of the twin in cell names and rules."""
    path: Optional[str] = None
    """Twin folder (``twin.json`` + ``body.ply``) from ``atelier fit``; relative paths are read
    from the scene file's folder. Leave out to use ``shape``."""
    registry_id: Optional[str] = None
    """The person's twin id in the rights registry (``atelier twins add``). Needed for a twin
    fitted from a real person's scan: every cell checks a live consent grant for it first."""
    model: Literal["anny"] = "anny"
    """Body model of a synthetic twin (Anny ships its data)."""
    shape: Optional[list[float]] = None
    """Anny phenotype values in [0, 1]: gender, age, muscle, weight, height, proportions (6 values).
    Defaults to 0.5 each when neither ``path`` nor ``shape`` is given."""
    pose: Optional[str] = None
    """Pose preset to dress and render in (``a-pose``, ``relaxed``, ``t-pose``); default: the
    twin's own pose (``a-pose`` for a synthetic twin). A campaign's ``poses`` list overrides it."""
    position: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3)
    """Where the twin stands in an exported scene, metres, canonical frame (renders frame each
    twin on its own)."""
    hair: Optional[str] = None
    """Hairstyle and colour, as ``--hair`` takes it: ``crop``, ``short``, ``bob``, ``long``,
    ``ponytail``, ``bun`` with an optional ``:#rrggbb`` or colour name (``bob:#3b2a20``), or
    ``none``; default the scene's or campaign's ``hair``, else what the twin's twin.json records
    (a synthetic twin then has none)."""

    @field_validator("hair")
    @classmethod
    def _hair(cls, v):
        return _check_hair(v)

    @field_validator("shape")
    @classmethod
    def _shape_range(cls, v):
        if v is None:
            return v
        if len(v) != 6:
            raise ValueError(f"shape needs 6 values (gender, age, muscle, weight, height, proportions), got {len(v)}")
        if not all(0.0 <= x <= 1.0 for x in v):
            raise ValueError(f"shape values must be in [0, 1], got {v}")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if self.path is not None and self.shape is not None:
            raise ValueError("give either path (a fitted twin folder) or shape (a synthetic body), not both")
        return self


# --- garments ----------------------------------------------------------------------------------
def _check_fabric(v):
    """A fabric of the one registry (garments/data/fabrics.json) or one of its aliases."""
    if v is None:
        return v
    from garments.fabrics import fabric_names, get_fabric
    from engine.errors import InputError

    try:
        get_fabric(v)
    except InputError:
        raise ValueError(f"unknown fabric {v!r}; choose one of {', '.join(fabric_names())} "
                         "or an alias (cotton, jersey, silk, wool)") from None
    return v


class GarmentSpec(_Model):
    """One garment of an outfit: the file form of :class:`garments.outfit.GarmentRequest`. Give
    one of ``pattern``, ``template``, ``mesh`` or ``garment`` (any of the three, by name); none
    means the ``tube-dress`` template (older files)."""

    pattern: Optional[str] = None
    """A library pattern (``atelier garment list``: ``t-shirt``, ``button-shirt``, ``shift-dress``,
    ``straight-trousers``, ``a-line-skirt``), graded to the cell's size."""
    template: Optional[str] = None
    """A garment template (``tube-dress``, ``skirt``), generated around the body; not graded."""
    mesh: Optional[str] = None
    """A garment mesh exported from CLO 3D / Marvelous Designer (``.obj``, ``.glb``, ``.gltf``);
    relative paths are read from the file's folder; draped as it was made, not graded."""
    garment: Optional[str] = None
    """Any of the above by name or path (the kind is found from it)."""
    size: Optional[str] = None
    """Patterns: this garment's size (a chart size ``XS``..``XXL`` or ``mtm``), instead of the
    cell's size."""
    fabric: Optional[str] = None
    """A fabric of the one registry (``garments/data/fabrics.json``: ``cotton-jersey``,
    ``cotton-poplin``, ``denim``, ``silk-charmeuse``, ``wool-suiting``, ``polyester``) or an
    alias of a calibrated preset: ``cotton`` (cotton-poplin), ``jersey`` (cotton-jersey), ``silk``
    (silk-charmeuse), ``wool`` (wool-suiting). Default: the garment kind's own (cotton-jersey for
    patterns and meshes, the template's cotton-like cloth)."""
    colour: Colour = "#2a4d8c"
    """Base colour of the garment."""
    layer: int = Field(0, ge=0, le=9)
    """Layering order: 0 is next to the skin; higher layers are draped over lower ones."""
    settings: dict[str, Union[float, str]] = Field(default_factory=dict)
    """Templates: template settings (e.g. ``ease`` in metres, ``flare``); meshes: import options
    (``units``, ``up``, ``avatar``, ``region``). Patterns take none (their size shapes them)."""

    @field_validator("fabric")
    @classmethod
    def _fabric(cls, v):
        return _check_fabric(v)

    @model_validator(mode="after")
    def _one_garment(self):
        given = [k for k in ("pattern", "template", "mesh", "garment") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of pattern, template, mesh or garment, not {' and '.join(given)}")
        return self

    @property
    def kind_and_name(self) -> tuple[str | None, str]:
        """(kind or None when it is found from the name, garment name or path)."""
        for k in ("pattern", "template", "mesh"):
            if getattr(self, k) is not None:
                return k, getattr(self, k)
        return None, self.garment or "tube-dress"

    def request(self, size: "Size | None" = None, base=None):
        """The :class:`garments.outfit.GarmentRequest` of this garment in a cell's ``size``
        (``base``: the folder relative mesh paths are read from). A pattern is graded to the
        garment's own size, else the size's chart size; a template takes the size's settings."""
        from garments.outfit import GarmentRequest, garment_kind

        kind, name = self.kind_and_name
        if kind == "mesh" and base is not None and not Path(name).is_absolute():
            name = str(Path(base) / name)
        kind = kind or garment_kind(name)
        d = {"garment": name, "kind": kind, "fabric": self.fabric, "colour": rgba(self.colour), "layer": self.layer,
             "settings": dict(self.settings), "size": self.size}
        if kind == "pattern" and size is not None and self.size is None:
            if size.settings:
                raise ValueError(f"size {size.name!r} sets template settings ({', '.join(size.settings)}), which "
                                 f"pattern {name!r} cannot use; give the size a chart size (chart = \"M\") instead")
            d["size"] = size.chart_size()
            if d["size"] is None:
                raise ValueError(f"size {size.name!r} is not on the size chart, so pattern {name!r} cannot be graded "
                                 "to it; name it XS..XXL or mtm, or give chart = \"M\"")
        if kind == "template" and size is not None:
            d["settings"] = {**d["settings"], **size.settings}
        return GarmentRequest.from_dict(d, base=base)


class Outfit(_Model):
    """Garments worn together, with optional colourways (alternative colours per garment)."""

    name: Name
    """Identifier of the outfit in cell names and rules."""
    garments: list[GarmentSpec] = Field(min_length=1)
    """The garments, draped in ``layer`` order (then list order)."""
    colourways: dict[str, list[Colour]] = Field(default_factory=dict)
    """Named alternative colours: one colour per garment, in list order. A locale picks one by name."""

    @model_validator(mode="after")
    def _colourway_lengths(self):
        for name, colours in self.colourways.items():
            if len(colours) != len(self.garments):
                raise ValueError(
                    f"colourway {name!r} has {len(colours)} colours for {len(self.garments)} garments")
        return self

    def layered(self) -> list[tuple[int, GarmentSpec]]:
        """(index in ``garments``, garment) sorted by layer, stable."""
        return sorted(enumerate(self.garments), key=lambda p: (p[1].layer, p[0]))

    def colours(self, colourway: str | None = None) -> list:
        """One colour per garment (list order) for a colourway name, or the base colours."""
        if colourway and colourway in self.colourways:
            return list(self.colourways[colourway])
        return [g.colour for g in self.garments]


class Size(_Model):
    """A garment size: pattern garments are graded to its chart size (the size chart of
    ``garments/data``, or ``mtm``: made to measure from each twin); templates take its settings."""

    name: Name
    """Size label, e.g. ``S``, ``M``, ``mtm``, ``40``."""
    chart: Optional[str] = None
    """The size chart's size patterns are graded to (``XS``..``XXL``) or ``mtm`` (each twin's own
    measurements); default the name when it is one of those."""
    settings: dict[str, float] = Field(default_factory=dict)
    """Template setting overrides for this size, e.g. ``{ease = 0.02}`` (metres); patterns refuse them."""

    @field_validator("chart")
    @classmethod
    def _chart(cls, v):
        if v is None or v.lower() == "mtm":
            return v if v is None else "mtm"
        from garments.sizes import size_names

        if v.upper() not in size_names():
            raise ValueError(f"chart size {v!r} is not on the size chart; choose one of {', '.join(size_names())} or mtm")
        return v.upper()

    def chart_size(self) -> str | None:
        """The chart size patterns are graded to, or None when the size has none."""
        if self.chart:
            return self.chart
        from garments.sizes import size_names

        if self.name.lower() == "mtm":
            return "mtm"
        return self.name.upper() if self.name.upper() in size_names() else None


# --- camera, light, backdrop, output -----------------------------------------------------------
class Shot(_Model):
    """A camera that frames the dressed twin automatically (the whole body with a margin)."""

    name: Name
    """Label in file names (``front``, ``back``, ``three-quarter``)."""
    azimuth_deg: float = 0.0
    """Camera direction around the vertical axis: 0 in front (+Z), 90 on the body's left (+X)."""
    elevation_deg: float = Field(5.0, gt=-89.0, lt=89.0)
    """Camera height above the body's centre, degrees."""
    yfov_deg: float = Field(30.0, gt=1.0, lt=170.0)
    """Vertical field of view, degrees."""
    margin: float = Field(0.08, ge=0.0, lt=0.5)
    """Free border around the body as a fraction of the image size."""
    preset: Optional[str] = None
    """A named shot of the one shot model (``engine.render.shots``): ``front``, ``three-quarter``,
    ``left``, ``back``, ``right``, ``back-three-quarter``... or a detail crop ``detail-head``,
    ``detail-upper-body``, ``detail-waist``, ``detail-hem``, ``detail-feet`` (85 mm lens). Its
    camera is the one ``atelier render --shots`` makes; the fields above are then left out."""

    @model_validator(mode="after")
    def _preset(self):
        if self.preset is None:
            return self
        from engine.errors import InputError
        from engine.render.shots import named_shot

        try:
            named_shot(self.preset)
        except InputError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None
        extra = sorted(set(self.model_fields_set) - {"name", "preset"})
        if extra:
            raise ValueError(f"shot {self.name!r}: preset {self.preset!r} sets the camera; leave out {', '.join(extra)}")
        return self

    def engine_shot(self):
        """The :class:`engine.render.shots.Shot` of this shot (the preset's, or one built from
        these fields), named after it."""
        from engine.render.shots import Shot as EngineShot, named_shot

        if self.preset:
            from dataclasses import replace

            return replace(named_shot(self.preset), name=self.name)
        return EngineShot(name=self.name, azimuth_deg=self.azimuth_deg, elevation_deg=self.elevation_deg,
                          yfov_deg=self.yfov_deg, margin=self.margin)


class LightSpec(_Model):
    """A directional light (canonical frame)."""

    name: Name
    direction: list[float] = Field(min_length=3, max_length=3)
    """Direction the light travels (from the light toward the body)."""
    colour: Colour = "#ffffff"
    intensity: float = Field(3.0, ge=0.0)
    """Irradiance, W/m^2 (Blender sun strength, pyrender intensity)."""


class Backdrop(_Model):
    """What is behind the body: the file form of :class:`engine.render.looks.Backdrop` (the one
    backdrop model, drawn the same way by ``atelier render --look``), plus the ambient light."""

    colour: Colour = [1.0, 1.0, 1.0, 0.0]
    """Background colour (the top of a gradient); alpha 0 leaves PNGs transparent."""
    kind: Optional[Literal["transparent", "solid", "gradient", "image"]] = None
    """``solid``, ``gradient`` (``colour`` at the top to ``colour2`` at the bottom), ``image``
    (``image`` scaled to cover the frame) or ``transparent``; default: transparent when the
    colour's alpha is 0, else solid."""
    colour2: Colour = "#d1d1d6"
    """Bottom colour of a gradient."""
    image: Optional[str] = None
    """Image file of an ``image`` backdrop (relative paths from the file's folder)."""
    ground_shadow: bool = False
    """A soft contact shadow under the feet."""
    ambient: list[float] = Field(default_factory=lambda: [0.25, 0.25, 0.25], min_length=3, max_length=3)
    """Ambient light level (linear RGB)."""

    @model_validator(mode="after")
    def _image(self):
        if self.kind == "image" and not self.image:
            raise ValueError("an image backdrop needs image = \"FILE\"")
        return self

    def resolved_kind(self) -> str:
        if self.kind:
            return self.kind
        return "transparent" if rgba(self.colour)[3] <= 0.0 else "solid"


class VideoSpec(_Model):
    """What a video format shows: the twin moving with her cloth simulated
    (:func:`scenes.motion.animate`), delivered as an H.264 MP4."""

    motion: str = "catwalk"
    """``catwalk``, ``turntable`` (the pose held while the camera spins), a fashion pose name held
    still, ``keys:POSE@S,POSE@S,...`` (pose keyframes at seconds) or a ``.bvh`` clip (relative
    paths from the file's folder)."""
    seconds: float = Field(8.0, gt=0.0, le=120.0)
    """Length of the video (e-commerce catwalk clips are ~10 s)."""
    fps: int = Field(30, ge=1, le=120)
    """Frames per second."""
    frames: Optional[int] = Field(None, ge=1, le=10000)
    """Output frames instead of ``seconds`` (e.g. 24, 36 or 72 for a spin set)."""
    camera: Literal["fixed", "follow", "turntable"] = "follow"
    """Camera move: ``fixed`` (frames the whole walk head-on), ``follow`` (tracks the pelvis) or
    ``turntable`` (one turn over the clip; a ``turntable`` motion always spins)."""
    pose: Optional[str] = None
    """The pose a ``turntable`` motion holds (default: the cell's pose, else ``soft-elbows``)."""
    preroll: int = Field(24, ge=0, le=1000)
    """Simulated frames from the A-pose drape into the first pose; not in the video."""

    @model_validator(mode="after")
    def _motion(self):
        from bodies.poses import FASHION_POSES, POSES

        m = self.motion
        if m.startswith("keys:"):
            from engine.errors import InputError
            from scenes.motion import parse_keys

            try:
                parse_keys(m)
            except InputError as exc:
                raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        elif m.lower().endswith(".bvh"):
            pass  # the file is checked where relative paths are resolved (campaign.make_cell)
        elif m not in ("catwalk", "turntable") and m not in FASHION_POSES:
            raise ValueError(f"unknown motion {m!r}: use catwalk, turntable, a fashion pose "
                             f"({', '.join(sorted(FASHION_POSES))}), keys:POSE@S,... or a .bvh clip")
        if self.pose is not None and self.pose not in POSES:
            raise ValueError(f"unknown pose {self.pose!r}; choose one of {', '.join(sorted(POSES))}")
        if self.pose is not None and m != "turntable":
            raise ValueError(f"pose {self.pose!r} is the pose a turntable holds; motion {m!r} sets its own poses")
        return self


class OutputFormat(_Model):
    """An image format to deliver, or with ``video`` a video format (an MP4 of the twin moving)."""

    name: Name = "square"
    width: int = Field(512, ge=16, le=8192)
    height: int = Field(512, ge=16, le=8192)
    type: Literal["png", "jpg", "webp", "mp4"] = "png"
    """File type; jpg has no alpha and is composited over the backdrop (white where transparent);
    mp4 (H.264, yuv420p) is the type of a video format (the default when ``video`` is given)."""
    quality: int = Field(92, ge=1, le=100)
    """jpg/webp quality."""
    video: Optional[VideoSpec] = None
    """Makes this a video format: the cell renders the motion (with cloth) instead of a still."""

    @model_validator(mode="after")
    def _video(self):
        if self.video is None:
            if self.type == "mp4":
                raise ValueError(f"format {self.name!r}: type mp4 is a video format; give its video spec "
                                 "(video = {motion = \"catwalk\", seconds = 8})")
            return self
        if "type" not in self.model_fields_set:
            object.__setattr__(self, "type", "mp4")
        elif self.type != "mp4":
            raise ValueError(f"format {self.name!r}: a video format is an mp4, not {self.type}")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"format {self.name!r}: a video is {self.width}x{self.height}; H.264 in yuv420p needs "
                             "an even width and height")
        return self


class RenderSettings(_Model):
    """Renderer and its settings."""

    renderer: Literal["pyrender", "blender"] = "pyrender"
    """``pyrender`` (fast OpenGL previews) or ``blender`` (Workbench or Cycles, in a worker process)."""
    engine: Literal["workbench", "cycles"] = "workbench"
    """Blender engine (Eevee is not offered: it compiles shaders for minutes on CPU)."""
    samples: int = Field(16, ge=1, le=4096)
    """Cycles samples per pixel."""
    denoise: bool = False
    """Cycles denoiser."""
    seed: int = 0
    """Cycles noise seed."""
    skin: Colour = [0.80, 0.64, 0.53, 1.0]
    """Body colour."""


class DrapeOptions(_Model):
    """Cloth simulation settings shared by every drape of a scene or campaign."""

    resolution: int = Field(3000, ge=50, le=50000)
    """Approximate cloth vertex count of each garment."""
    max_frames: int = Field(60, ge=1, le=1000)
    """Frame cap of the simulation."""
    min_frames: int = Field(5, ge=1, le=1000)
    """Frames always simulated."""
    timeout_s: float = Field(900.0, gt=0)
    """Seconds before one drape job is stopped."""


class RunSettings(_Model):
    """How cells are run (campaigns; a scene renders with the defaults)."""

    retries: int = Field(1, ge=0, le=10)
    """Extra attempts after a failed (crashed, timed-out, erroring) cell or drape."""
    cell_timeout_s: float = Field(300.0, gt=0)
    """Seconds before one cell's render is stopped."""


# --- scene -------------------------------------------------------------------------------------
class Scene(_Model):
    """A dressed twin (or several) with shots, lights, backdrop and outputs: what one artist sets
    up by hand. Each twin is framed and rendered on its own for every shot and format."""

    name: Name
    """Identifier of the scene."""
    twins: list[TwinSpec] = Field(min_length=1)
    outfit: Optional[Outfit] = None
    """What the twins wear (none: the bare body)."""
    size: Optional[Size] = None
    """Garment size applied to the outfit."""
    colourway: Optional[str] = None
    """Colourway of the outfit to use (default: the garments' own colours)."""
    shots: list[Shot] = Field(default_factory=lambda: [Shot(name="front")], min_length=1)
    lights: Optional[list[LightSpec]] = None
    """Directional lights; default: the studio key / fill / rim set."""
    backdrop: Backdrop = Field(default_factory=Backdrop)
    look: Optional[str] = None
    """A look of the one look model (``engine.render.looks``: ``studio``, ``ecommerce``,
    ``campaign``, or ``hdri-<name>`` lit by a CC0 HDRI of the bpy wheel): its lighting preset, skin tone, backdrop (solid or gradient) and ground shadow,
    as ``atelier render --look`` draws them. Leave ``backdrop`` and ``lights`` out with it."""

    @field_validator("look")
    @classmethod
    def _look(cls, v):
        return _check_look(v)
    formats: list[OutputFormat] = Field(default_factory=lambda: [OutputFormat()], min_length=1)
    render: RenderSettings = Field(default_factory=RenderSettings)
    drape: DrapeOptions = Field(default_factory=DrapeOptions)
    hair: Optional[str] = None
    """Hair of every twin that sets none (see :attr:`TwinSpec.hair`), e.g. ``bob:#3b2a20``."""

    @field_validator("hair")
    @classmethod
    def _hair(cls, v):
        return _check_hair(v)

    @model_validator(mode="after")
    def _unique(self):
        _check_unique("twins", self.twins)
        _check_unique("shots", self.shots)
        _check_unique("formats", self.formats)
        _check_look_alone(self, f"scene {self.name!r}")
        if self.colourway and (self.outfit is None or self.colourway not in self.outfit.colourways):
            raise ValueError(f"colourway {self.colourway!r} is not one of the outfit's colourways")
        return self


# --- campaign ----------------------------------------------------------------------------------
class Locale(_Model):
    """A region's look: backdrop, lights and the outfit colourway used there."""

    name: Name
    """Identifier, e.g. ``eu``, ``jp``."""
    region: str = "*"
    """Region code the locale's images are for (checked against the consent grants), e.g. FR."""
    backdrop: Backdrop = Field(default_factory=Backdrop)
    lights: Optional[list[LightSpec]] = None
    """Directional lights; default: the campaign's (or the studio set)."""
    look: Optional[str] = None
    """A look of the one look model (``engine.render.looks``: ``studio``, ``ecommerce``,
    ``campaign``, or ``hdri-<name>`` lit by a CC0 HDRI of the bpy wheel): its lighting preset, skin tone, backdrop (solid or gradient) and ground shadow,
    as ``atelier render --look`` draws them. Leave ``backdrop`` and ``lights`` out with it."""

    @field_validator("look")
    @classmethod
    def _look(cls, v):
        return _check_look(v)
    colourway: Optional[str] = None
    """Colourway name picked from each outfit (outfits without it keep their own colours)."""

    @model_validator(mode="after")
    def _look_alone(self):
        _check_look_alone(self, f"locale {self.name!r}")
        return self


class Rule(_Model):
    """Matches cells: every field given must match (shell-style patterns like ``tw*`` allowed,
    or a list of patterns)."""

    twin: Union[str, list[str], None] = None
    outfit: Union[str, list[str], None] = None
    size: Union[str, list[str], None] = None
    pose: Union[str, list[str], None] = None
    shot: Union[str, list[str], None] = None
    locale: Union[str, list[str], None] = None
    format: Union[str, list[str], None] = None

    def matches(self, cell: dict[str, str]) -> bool:
        """True when every given field matches ``cell[field]``."""
        from fnmatch import fnmatchcase

        for key, pats in self.model_dump(exclude_none=True).items():
            pats = [pats] if isinstance(pats, str) else pats
            if not any(fnmatchcase(str(cell.get(key)), p) for p in pats):
                return False
        return True


class Campaign(_Model):
    """A batch: the cross product twins x outfits x sizes x poses x shots x locales x formats,
    filtered by ``include`` / ``exclude`` rules, each combination one cell (one image)."""

    name: Name
    channel: str = "internal-fit-check"
    """Use of the images (social, e-commerce, print, out-of-home, internal-fit-check): every cell
    of a real person's twin needs a live grant for it."""
    rights_db: Optional[str] = None
    """Rights registry (database URL or SQLite file); default $ATELIER_DB_URL or ./atelier-data."""
    twins: list[TwinSpec] = Field(min_length=1)
    outfits: list[Outfit] = Field(min_length=1)
    sizes: list[Size] = Field(default_factory=list)
    """Garment sizes (empty: the templates' own fit, one size named ``std``)."""
    poses: list[str] = Field(default_factory=list)
    """Pose presets (empty: each twin's own pose)."""
    shots: list[Shot] = Field(min_length=1)
    locales: list[Locale] = Field(default_factory=lambda: [Locale(name="default")], min_length=1)
    formats: list[OutputFormat] = Field(default_factory=lambda: [OutputFormat()], min_length=1)
    lights: Optional[list[LightSpec]] = None
    """Default lights of every locale that has none."""
    look: Optional[str] = None
    """Default look (``engine.render.looks``: studio, ecommerce, campaign, hdri-<name>) of every locale that
    sets neither its own look nor its backdrop and lights."""

    @field_validator("look")
    @classmethod
    def _look(cls, v):
        return _check_look(v)
    render: RenderSettings = Field(default_factory=RenderSettings)
    drape: DrapeOptions = Field(default_factory=DrapeOptions)
    run: RunSettings = Field(default_factory=RunSettings)
    hair: Optional[str] = None
    """Hair of every twin that sets none (see :attr:`TwinSpec.hair`), e.g. ``bob:#3b2a20``."""

    @field_validator("hair")
    @classmethod
    def _hair(cls, v):
        return _check_hair(v)
    include: list[Rule] = Field(default_factory=list)
    """When given, only cells matching at least one rule are kept."""
    exclude: list[Rule] = Field(default_factory=list)
    """Cells matching any rule are dropped (after ``include``)."""

    @model_validator(mode="after")
    def _unique(self):
        for field in ("twins", "outfits", "sizes", "shots", "locales", "formats"):
            _check_unique(field, getattr(self, field))
        if len(set(self.poses)) != len(self.poses):
            raise ValueError(f"poses has duplicates: {self.poses}")
        return self


def _check_hair(v):
    """A hairstyle text of bodies.appearance.hair.parse_hair (``bob:#3b2a20``, ``none``)."""
    if v is None:
        return v
    from bodies.appearance.hair import parse_hair
    from engine.errors import InputError

    try:
        parse_hair(v)
    except InputError as exc:
        raise ValueError(f"hair {v!r}: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")) from None
    return v


def _check_look(v):
    """A look name of engine.render.looks.LOOKS."""
    if v is None:
        return v
    from engine.render.looks import LOOKS

    if v not in LOOKS:
        raise ValueError(f"unknown look {v!r}; choose one of {', '.join(LOOKS)}")
    return v


def _check_look_alone(obj, where: str) -> None:
    if obj.look is not None:
        both = sorted({"backdrop", "lights"} & set(obj.model_fields_set))
        if both:
            raise ValueError(f"{where}: look {obj.look!r} sets the {' and '.join(both)}; leave {', '.join(both)} out")


def _check_unique(field: str, items) -> None:
    names = [i.name for i in items]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{field}: names must be unique, repeated: {', '.join(dup)}")


def json_schema(kind: str = "scene") -> dict[str, Any]:
    """JSON Schema of ``Scene`` (kind="scene") or ``Campaign`` (kind="campaign")."""
    model = {"scene": Scene, "campaign": Campaign}[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", model.__name__)
    return schema


__all__ = ["Backdrop", "Campaign", "Colour", "DrapeOptions", "GarmentSpec", "LightSpec", "Locale",
           "OutputFormat", "Outfit", "RenderSettings", "Rule", "RunSettings", "Scene", "Shot", "Size",
           "TwinSpec", "VideoSpec", "json_schema", "rgba"]
