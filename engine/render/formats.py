"""Output formats for channels: an aspect ratio and a pixel size.

Named aspect ratios: ``1:1`` (square feed), ``4:5`` (portrait feed), ``9:16`` (stories, reels),
``16:9`` (landscape video, web banners). A size is given by its width, its height or its long
side; the other side is rounded to whole pixels. Text specs: ``"4:5"`` (default long side 1080),
``"4:5@1350"`` (long side), ``"4:5@1080x1350"`` (explicit, must match the ratio within a pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

#: Named aspect ratios (width, height).
ASPECTS: dict[str, tuple[int, int]] = {"1:1": (1, 1), "4:5": (4, 5), "9:16": (9, 16), "16:9": (16, 9)}

#: Long side used when a spec gives none, pixels.
DEFAULT_LONG_SIDE = 1080
#: Largest image side, pixels, on every surface (CLI, scene and campaign files): 8192² RGBA is
#: 256 MiB in memory before the renderer's own buffers.
MAX_SIDE = 8192


@dataclass(frozen=True)
class Format:
    """A channel's image format.

    Attributes:
        name: the aspect ratio's name, e.g. ``"4:5"``.
        width, height: pixels.
    """

    name: str
    width: int
    height: int

    @property
    def aspect(self) -> float:
        """width / height."""
        return self.width / self.height

    @property
    def label(self) -> str:
        """File-name friendly label, e.g. ``4x5_1080x1350``."""
        return f"{self.name.replace(':', 'x')}_{self.width}x{self.height}"


def make_format(aspect: str, width: int | None = None, height: int | None = None, long_side: int | None = None) -> Format:
    """A format of a named aspect ratio at a chosen size (give at most one of width, height, long_side).

    Raises:
        InputError: unknown aspect ratio, several sizes given, or a side below 8 or above
            :data:`MAX_SIDE` pixels.
    """
    if aspect not in ASPECTS:
        raise InputError(f"unknown aspect ratio {aspect!r}", hint=f"choose one of {', '.join(ASPECTS)}")
    given = [x for x in (width, height, long_side) if x is not None]
    if len(given) > 1:
        raise InputError("give only one of width, height, long_side")
    aw, ah = ASPECTS[aspect]
    if width is not None:
        w, h = int(width), int(round(int(width) * ah / aw))
    elif height is not None:
        w, h = int(round(int(height) * aw / ah)), int(height)
    else:
        ls = int(long_side if long_side is not None else DEFAULT_LONG_SIDE)
        if aw >= ah:
            w, h = ls, int(round(ls * ah / aw))
        else:
            w, h = int(round(ls * aw / ah)), ls
    if min(w, h) < 8:
        raise InputError(f"format {aspect} at {w}x{h} pixels is too small (at least 8 pixels a side)")
    if max(w, h) > MAX_SIDE:
        raise InputError(f"format {aspect} at {w}x{h} pixels is too large (at most {MAX_SIDE} pixels a side)",
                         hint=f"give a long side up to {MAX_SIDE}, e.g. {aspect}@{min(max(w, h), 4096)}")
    return Format(aspect, w, h)


def parse_format(spec: str) -> Format:
    """Parse ``"4:5"``, ``"4:5@1350"`` (long side) or ``"4:5@1080x1350"``.

    Raises:
        InputError: a malformed spec, or an explicit size that does not match the ratio.
    """
    text = str(spec).strip()
    aspect, _, size = text.partition("@")
    if not size:
        return make_format(aspect)
    try:
        if "x" in size:
            w, h = (int(x) for x in size.split("x"))
        else:
            return make_format(aspect, long_side=int(size))
    except ValueError:
        raise InputError(f"bad format {spec!r}", hint='write "4:5", "4:5@1350" or "4:5@1080x1350"') from None
    fmt = make_format(aspect, width=w)
    if abs(fmt.height - h) > 1:
        raise InputError(f"format {spec!r}: {w}x{h} is not {aspect}", hint=f"{aspect} at width {w} is {w}x{fmt.height}")
    return Format(aspect, w, h)


def standard_formats(long_side: int = DEFAULT_LONG_SIDE) -> list[Format]:
    """The four channel formats at one long side."""
    return [make_format(a, long_side=long_side) for a in ASPECTS]
