"""Scene and campaign files: TOML, YAML (safe loader) or JSON in, the same out.

A malformed file raises :class:`engine.errors.InputError` whose message names the file, the line
and the field, e.g. ``campaign.toml:14: outfits[1].garments[0].fabric: unknown fabric 'silck'``.
Pydantic reports where a value sits in the data (``('outfits', 1, 'garments', 0, 'fabric')``);
this module maps that location back to a line: for YAML through the composed node tree's marks,
for TOML with a small scanner of table headers and keys (:func:`toml_key_lines`).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import InputError
from engine.storage import atomic_path
from engine.types import PathLikeStr

from .model import Campaign, Scene

M = TypeVar("M", bound=BaseModel)
SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
Loc = tuple


def _format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}", hint="use .toml, .yaml/.yml or .json")
    return fmt


# --- TOML key -> line -------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _inline_keys(text: str, base: Loc, line: int, out: dict) -> None:
    """Record keys of inline tables / arrays of inline tables on one line, e.g.
    ``garments = [{template = "x", fabric = "silk"}]`` -> (…, garments, 0, fabric)."""
    depth_stack: list = []  # elements: ["arr", index] or ["tbl", key]
    i, n = 0, len(text)
    path = list(base)
    pending_key = None
    while i < n:
        c = text[i]
        if c in "\"'":
            j = text.find(c, i + 1)
            if j < 0:
                return
            i = j + 1
            continue
        if c == "#":
            return
        if c == "[":
            if pending_key is not None:
                path.append(pending_key)
                depth_stack.append(("key", pending_key))
                pending_key = None
            path.append(0)
            depth_stack.append(("arr", None))
        elif c == "{":
            if pending_key is not None:
                path.append(pending_key)
                depth_stack.append(("key", pending_key))
                pending_key = None
            depth_stack.append(("tbl", None))
        elif c in "]}":
            if depth_stack and depth_stack[-1][0] in ("arr", "tbl"):
                kind = depth_stack.pop()[0]
                if kind == "arr":
                    path.pop()
            if depth_stack and depth_stack[-1][0] == "key":
                depth_stack.pop()
                path.pop()
        elif c == ",":
            if depth_stack and depth_stack[-1][0] == "arr":
                path[-1] += 1
            elif depth_stack and depth_stack[-1][0] == "tbl" and len(depth_stack) > 1:
                pass
        elif depth_stack and depth_stack[-1][0] == "tbl":
            m = _KEY.match(text[i:])
            if m:
                keys = _split_key(m.group(1))
                full = tuple(path + keys)
                out.setdefault(full, line)
                if len(keys) == 1:
                    pending_key = keys[0]
                i += m.end()
                # a scalar value: the key is done once a comma or closing brace comes
                rest = text[i:].lstrip()
                if rest[:1] not in "[{":
                    pending_key = None
                continue
        i += 1


def toml_key_lines(text: str) -> dict[Loc, int]:
    """Map every key path of a TOML document to its 1-based line.

    Paths use pydantic's location form: table names and keys as strings, array-of-tables and
    array items as integers (``("outfits", 1, "garments", 0, "fabric")``). Table headers
    (``[a.b]``, ``[[a]]``) are recorded too. Good enough for error messages, not a TOML parser.
    """
    out: dict[Loc, int] = {}
    counts: dict[Loc, int] = {}
    current: Loc = ()
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        h = _HEADER.match(line)
        if h and not _KEY.match(line):
            keys = _split_key(h.group(2))
            # resolve each prefix that names an array of tables to its latest index
            resolved: list = []
            for k in keys[:-1]:
                resolved.append(k)
                if tuple(resolved) in counts:
                    resolved.append(counts[tuple(resolved)])
            resolved.append(keys[-1])
            if h.group(1) == "[[":
                idx = counts.get(tuple(resolved), -1) + 1
                counts[tuple(resolved)] = idx
                out.setdefault(tuple(resolved), lineno)
                resolved.append(idx)
            current = tuple(resolved)
            out.setdefault(current, lineno)
            continue
        m = _KEY.match(line)
        if m:
            keys = _split_key(m.group(1))
            for k in range(1, len(keys) + 1):
                out.setdefault(current + tuple(keys[:k]), lineno)
            _inline_keys(line[m.end():], current + tuple(keys), lineno, out)
    return out


def _yaml_key_lines(text: str) -> dict[Loc, int]:
    import yaml

    out: dict[Loc, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return out

    def walk(node, loc: Loc) -> None:
        out.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                out[loc + (key,)] = k.start_mark.line + 1
                walk(v, loc + (key,))
                out[loc + (key,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, loc + (i,))

    if root is not None:
        walk(root, ())
    return out


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """Line of the longest prefix of ``loc`` found in ``lines``."""
    loc = tuple(loc)
    for k in range(len(loc), 0, -1):
        if loc[:k] in lines:
            return lines[loc[:k]]
    return None


def _dotted(loc: Loc) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s or "(top level)"


def _data_loc(loc: Loc) -> Loc:
    """Drop pydantic's union/validator branch names (e.g. 'str', 'list[float]', 'function-after[...]')."""
    return tuple(p for p in loc if isinstance(p, int) or not re.search(r"[\[\]()]|^(str|int|float|bool|list|dict)$", str(p)))


# --- load / save -----------------------------------------------------------------------------
def _parse(path: Path, text: str, fmt: str) -> tuple[Any, dict[Loc, int]]:
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            where = f"{path}:{m.group(1)}" if m else str(path)
            raise InputError(f"{where}: not valid TOML: {exc}", hint="check the quoting and brackets on that line") from None
        return data, toml_key_lines(text)
    if fmt == "yaml":
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise InputError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}",
                             hint="check the indentation on that line") from None
        return data, _yaml_key_lines(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    return data, {}


def validation_error(path: PathLikeStr, exc: ValidationError, lines: dict[Loc, int], limit: int = 5) -> InputError:
    """An InputError listing each problem as ``file:line: field: message``."""
    msgs = []
    first_line = None
    for err in exc.errors()[:limit]:
        loc = _data_loc(tuple(err["loc"]))
        line = line_of(lines, loc) if lines else None
        if line is None and lines:
            line = 1
        first_line = first_line or line
        where = f"{path}:{line}" if line else str(path)
        text = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            text = "unknown field (misspelt?)"
        elif err["type"] == "missing":
            text = "required field is missing"
        msgs.append(f"{where}: {_dotted(loc)}: {text}")
    more = len(exc.errors()) - limit
    if more > 0:
        msgs.append(f"... and {more} more")
    error = InputError("\n".join(msgs), hint="see `atelier schema scene` / `atelier schema campaign` for the fields")
    error.line = first_line  # type: ignore[attr-defined]
    return error


def load_model(path: PathLikeStr, model: type[M]) -> M:
    """Read a TOML/YAML/JSON file into ``model``; errors name the file, line and field."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    fmt = _format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r})",
                         hint="save the file as UTF-8 (scene and campaign files are TOML, YAML or JSON text)") from None
    data, lines = _parse(path, text, fmt)
    if not isinstance(data, dict):
        raise InputError(f"{path}:1: expected a table of fields at the top level, got {type(data).__name__}")
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(path, exc, lines) from None
    _resolve_paths(obj, path.parent)
    return obj


def _resolve_paths(obj, base: Path) -> None:
    """Make twin folders (backdrop images, garment meshes, BVH clips) relative to the file's folder absolute."""
    for twin in getattr(obj, "twins", []):
        if twin.path and not Path(twin.path).is_absolute():
            twin.path = str((base / twin.path).resolve())
    backdrops = [loc.backdrop for loc in getattr(obj, "locales", [])] + ([obj.backdrop] if hasattr(obj, "backdrop") else [])
    for b in backdrops:
        if b.image and not Path(b.image).is_absolute():
            b.image = str((base / b.image).resolve())
    for f in getattr(obj, "formats", []):  # a video format's BVH clip
        if f.video is not None and f.video.motion.lower().endswith(".bvh") and not Path(f.video.motion).is_absolute():
            f.video.motion = str((base / f.video.motion).resolve())
    outfits = list(getattr(obj, "outfits", None) or []) + ([obj.outfit] if getattr(obj, "outfit", None) else [])
    for outfit in outfits:
        for g in outfit.garments:
            for key in ("mesh", "garment"):
                value = getattr(g, key)
                if value and Path(value).suffix.lower() in (".obj", ".glb", ".gltf") and not Path(value).is_absolute():
                    setattr(g, key, str((base / value).resolve()))
            avatar = g.settings.get("avatar")
            if isinstance(avatar, str) and not Path(avatar).is_absolute():
                g.settings["avatar"] = str((base / avatar).resolve())


def dumps(obj: BaseModel, fmt: str = "toml") -> str:
    """Serialise a model to TOML, YAML or JSON text (defaults left out)."""
    data = obj.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data = {"name": obj.name, **data} if hasattr(obj, "name") else data
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(data)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False)
    return json.dumps(data, indent=2) + "\n"


def save_model(obj: BaseModel, path: PathLikeStr) -> Path:
    """Write a scene or campaign to ``path`` (format from the suffix), atomically."""
    path = Path(path)
    text = dumps(obj, _format(path))
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def load_scene(path: PathLikeStr) -> Scene:
    """Read a scene file (TOML, YAML or JSON)."""
    return load_model(path, Scene)


def load_campaign(path: PathLikeStr) -> Campaign:
    """Read a campaign file (TOML, YAML or JSON)."""
    return load_model(path, Campaign)


__all__ = ["dumps", "line_of", "load_campaign", "load_model", "load_scene", "save_model", "toml_key_lines",
           "validation_error"]
