"""Contact sheets: the views of a render laid out in a labelled grid (one PNG)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..storage import atomic_path
from ..types import PathLikeStr


@dataclass(frozen=True)
class SheetLayout:
    """Geometry of a contact sheet, pixels.

    Attributes:
        tile_width, tile_height: the cell given to each image (the largest image's size).
        label_height: text band under each tile (0 without labels).
        title_height: text band above the grid (0 without a title).
        padding: gap around and between cells.
        columns, rows: grid size.
    """

    tile_width: int
    tile_height: int
    label_height: int
    title_height: int
    padding: int
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the sheet."""
        w = self.columns * self.tile_width + (self.columns + 1) * self.padding
        h = self.title_height + self.rows * (self.tile_height + self.label_height) + (self.rows + 1) * self.padding
        return w, h


def sheet_layout(
    image_sizes: Sequence[tuple[int, int]],
    columns: int = 4,
    labels: bool = True,
    title: bool = False,
    padding: int = 8,
    label_height: int = 20,
    title_height: int = 28,
) -> SheetLayout:
    """The layout :func:`make_contact_sheet` uses for images of the given (width, height)."""
    if not image_sizes:
        raise InputError("a contact sheet needs at least one image")
    cols = max(1, min(int(columns), len(image_sizes)))
    rows = math.ceil(len(image_sizes) / cols)
    return SheetLayout(
        tile_width=max(w for w, _ in image_sizes),
        tile_height=max(h for _, h in image_sizes),
        label_height=label_height if labels else 0,
        title_height=title_height if title else 0,
        padding=padding,
        columns=cols,
        rows=rows,
    )


def make_contact_sheet(
    images: Sequence[PathLikeStr],
    out_path: PathLikeStr,
    columns: int = 4,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    background=(255, 255, 255),
    padding: int = 8,
) -> Path:
    """Lay images out in a grid with a label under each, and write one PNG atomically.

    Transparent images are composited over ``background``; each image is centred in its cell.

    Args:
        images: PNG/JPEG paths, in reading order (left to right, top to bottom).
        out_path: the sheet's path (``.png``).
        columns: cells per row (fewer when there are fewer images).
        labels: one text per image; default: each file's stem. Pass ``[]`` for no labels.
        title: optional text above the grid.
        background: RGB 0-255 of the sheet.
        padding: pixels around and between cells.

    Returns:
        ``out_path``. The sheet's size is :func:`sheet_layout` (...).size.
    """
    from PIL import Image, ImageDraw, ImageFont

    paths = [Path(p) for p in images]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: image not found for the contact sheet")
    if labels is None:
        labels = [p.stem for p in paths]
    show_labels = len(labels) > 0
    if show_labels and len(labels) != len(paths):
        raise InputError(f"{len(paths)} images but {len(labels)} labels")
    tiles = [Image.open(p).convert("RGBA") for p in paths]
    layout = sheet_layout(
        [t.size for t in tiles], columns=columns, labels=show_labels, title=bool(title), padding=padding
    )
    sheet = Image.new("RGB", layout.size, tuple(background))
    draw = ImageDraw.Draw(sheet)
    try:  # a scalable default font (Pillow >= 10.1 with FreeType) sized to the label band
        font = ImageFont.load_default(size=max(10, int(0.6 * (layout.label_height or 20))))
    except (TypeError, ImportError, OSError):
        font = ImageFont.load_default()
    pad = layout.padding
    if title:
        draw.text((pad, pad + layout.title_height // 2), title, fill=(0, 0, 0), font=font, anchor="lm")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, layout.columns)
        x0 = pad + c * (layout.tile_width + pad)
        y0 = layout.title_height + pad + r * (layout.tile_height + layout.label_height + pad)
        ox = x0 + (layout.tile_width - tile.width) // 2
        oy = y0 + (layout.tile_height - tile.height) // 2
        sheet.paste(tile, (ox, oy), mask=tile)
        if show_labels:
            text = str(labels[i])
            cx = x0 + layout.tile_width // 2
            cy = y0 + layout.tile_height + layout.label_height // 2
            draw.text((cx, cy), text, fill=(40, 40, 40), font=font, anchor="mm")
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        sheet.save(tmp, format="PNG")
    return out_path
